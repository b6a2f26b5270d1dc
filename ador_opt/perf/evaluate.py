"""Static-batch evaluation of one design, as `ador-opt evaluate` and `compare` report it.

Pure functions returning plain dicts (the JSON contract of DESIGN §9): times in milliseconds,
throughput in output tokens per second, areas in mm², cost in US dollars, power in W, energy in
J, utilisation as a fraction of each unit's datasheet peak (busy time / wall time).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ador_opt.errors import InputError
from ador_opt.hardware.area import area_breakdown
from ador_opt.hardware.cost import cost_breakdown
from ador_opt.hardware.loader import hardware_from_dict
from ador_opt.hardware.power import tdp_w
from ador_opt.hardware.presets import HARDWARE_PRESETS, Hardware
from ador_opt.limits import MAX_TP, check_bounded, read_input_bytes
from ador_opt.models.ops import BatchComposition
from ador_opt.models.spec import PRECISION_ALIASES, ModelSpec, Precision, parse_scheme
from ador_opt.perf.expert import expert_imbalance
from ador_opt.perf.memory import check_memory
from ador_opt.perf.parallel import Parallelism, parallel_breakdown, resolve_parallelism
from ador_opt.perf.speculative import SpeculativeConfig, proposer_bytes_per_device
from ador_opt.perf.static import check_static_args, evaluate_static_batch


def parse_precision(text: str) -> str:
    """A `--precision` scheme (models/spec.PRECISION_SCHEMES: fp16 (bf16 is timed alike), fp8,
    int8, w8a16, w4a16 / int4, fp4 / mxfp4), canonical name; anything else is an
    `InputError`."""
    parse_scheme(text)
    value = text.strip().lower()
    return PRECISION_ALIASES.get(value, value)


def model_with_formats(
    model: ModelSpec,
    precision: str = "fp16",
    weights: str | None = None,
    activations: str | None = None,
    kv: str | None = None,
) -> ModelSpec:
    """`model` in the `precision` scheme, then with the per-tensor-kind overrides
    (`--weight-precision`, `--act-precision`, `--kv-precision`) applied."""
    return model.with_precision(parse_precision(precision)).with_formats(weights, activations, kv)


def effective_tp(hw: Hardware, tp: int | None) -> int:
    """`--tp` when given, else the design's own `tp` field (HDA templates), else 1."""
    if tp is not None:
        return tp
    return hw.arch.tp if hw.arch is not None and hw.gpu is None else 1


def hardware_facts(hw: Hardware, precision: Precision) -> dict[str, Any]:
    """Area, peak (in `precision`, the MAC format of the weight GEMMs), cost and TDP of one
    device. Templates (and `a100`, whose area is the GA100
    template) use the area/cost model; GPU-only presets report the datasheet die area and
    peak, and no cost (the cost model covers 7 nm templates only). `tdp_w` is the template's
    full-load power (hardware/power.py), or the datasheet TDP for presets timed by the GPU
    model (whose energy follows the datasheet rule of perf/energy.py)."""
    if hw.arch is not None:
        peak = hw.arch.peak_tflops_for(precision.value)
        if hw.gpu is not None:
            peak = hw.gpu.peak_tflops_for(precision.value)
        area = area_breakdown(hw.arch)
        return {
            "area_mm2": area.total_mm2,
            "peak_tflops": peak,
            "cost_usd": cost_breakdown(hw.arch).total_usd,
            "tdp_w": hw.gpu.tdp_w if hw.gpu is not None else tdp_w(hw.arch, precision.value),
            "shoreline_ok": area.shoreline_ok,
            "performance_model": "gpu" if hw.gpu is not None else "hda",
            "power_model": "datasheet-tdp" if hw.gpu is not None else "template",
        }
    assert hw.gpu is not None
    return {
        "area_mm2": hw.gpu.die_area_mm2,
        "peak_tflops": hw.gpu.peak_tflops_for(precision.value),
        "cost_usd": None,
        "cost_note": "no cost model for GPU-only presets (the 7 nm model covers templates)",
        "tdp_w": hw.gpu.tdp_w,
        "performance_model": "gpu",
        "power_model": "datasheet-tdp",
    }


def energy_metrics(energy_j: float, e2e_ms: float, tokens: int, tp: int) -> dict[str, float]:
    """`power_w`: one device's mean power over the static batch; `energy_per_token_j`: the TP
    group's energy per output token; `tokens_per_joule` its inverse."""
    group_j = energy_j * tp
    per_token = group_j / tokens
    return {
        "energy_j": group_j,
        "power_w": energy_j / (e2e_ms / 1e3),
        "energy_per_token_j": per_token,
        "tokens_per_joule": 1.0 / per_token if per_token > 0 else 0.0,
    }


def evaluate_design(
    hw: Hardware,
    model: ModelSpec,
    batch: int,
    input_len: int,
    output_len: int,
    tp: int | None = None,
    sa_backend: str = "closed-form",
    speculative: SpeculativeConfig | None = None,
    ep: int | None = None,
    pp: int | None = None,
    dp: int | None = None,
    micro_batches: int | None = None,
) -> dict[str, Any]:
    """Static batch on `hw` (DESIGN §9 `evaluate`). `model` carries its precision. A design
    that cannot hold the weights and the batch's KV cache, or whose local SRAM cannot hold a
    token, comes back with `feasible: false` and the reason. `speculative`: speculative
    decoding (perf/speculative.py; reported under `speculative`).

    Parallelism (docs/parallelism.md): `tp`, `ep`, `pp`, `micro_batches` default to the HDA
    design's own fields (1/1/1/0 on GPUs); one replica of tp · ep · pp devices serves `batch`
    requests, and `dp` replicas (default 1) serve side by side — throughput, area, cost and
    energy cover all of them. A layout the model cannot be split into is an `InputError`."""
    tp_used = effective_tp(hw, tp)
    check_static_args(batch, input_len, output_len, tp_used)
    par = resolve_parallelism(hw, tp_used, ep, pp, micro_batches)
    par.check(model)
    replicas = 1 if dp is None else dp
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise InputError(f"dp must be a positive integer, got {dp!r}")
    check_bounded("dp", replicas, MAX_TP)
    devices = par.devices * replicas
    parallel = par.ep > 1 or par.pp > 1
    precision = model.gemm_precision
    doc: dict[str, Any] = {
        "hardware": hw.name,
        "model": model.name,
        "precision": model.precision_label,
        "formats": {
            "weights": model.precision.value,
            "activations": model.activation_precision.value,
            "kv_cache": model.kv_format.value,
            "gemm": precision.value,
        },
        "batch": batch,
        "input_len": input_len,
        "output_len": output_len,
        "tp": tp_used,
        "ep": par.ep,
        "pp": par.pp,
        "dp": replicas,
        "devices": devices,
        "sa_backend": sa_backend if hw.gpu is None else None,
        **hardware_facts(hw, precision),
    }
    if speculative is not None:
        doc["speculative"] = speculative.to_dict()
    kv_tokens = batch * (input_len + output_len)
    memory = check_memory(hw, model, tp_used, kv_tokens, batch, par.ep, par.pp)
    if not memory.ok:
        return {**doc, "feasible": False, "reason": memory.reason}
    if speculative is not None:
        weights, kv_per_token = proposer_bytes_per_device(speculative, model, tp_used)
        short = memory.weights_fit + weights + kv_per_token * kv_tokens
        if short > 0:
            reason = (
                f"the {speculative.method} proposer's weights and KV do not fit beside the "
                f"target's (short {short / 2**30:.1f} GiB per device)"
            )
            return {**doc, "feasible": False, "reason": reason}
    if parallel:
        result = evaluate_static_batch(
            hw, model, batch, input_len, output_len, tp_used, sa_backend, speculative,
            par.ep, par.pp, par.micro_batches,
        )  # fmt: skip
    else:
        result = evaluate_static_batch(
            hw, model, batch, input_len, output_len, tp_used, sa_backend, speculative
        )
    if not (math.isfinite(result.e2e_ms) and result.e2e_ms > 0):
        # e.g. a denormal bandwidth: the times overflow; a design that never finishes.
        return {**doc, "feasible": False, "reason": "step times are not finite (a bandwidth "
                "or size too small to evaluate)"}  # fmt: skip
    area_total = doc["area_mm2"] * devices
    tput = result.throughput_tokens_per_s * replicas
    extra = (
        {"parallelism": parallelism_facts(hw, model, batch, input_len, par, sa_backend)}
        if parallel
        else {}
    )
    return {
        **doc,
        "feasible": True,
        "ttft_ms": result.ttft_ms,
        "tbt_ms": result.tbt_ms,
        "e2e_ms": result.e2e_ms,
        "throughput_tokens_per_s": tput,
        "throughput_tokens_per_s_per_device": tput / devices,
        "area_total_mm2": area_total,
        "throughput_per_mm2": tput / area_total,
        "cost_total_usd": None if doc["cost_usd"] is None else doc["cost_usd"] * devices,
        **extra,
        **energy_metrics(result.energy_j, result.e2e_ms, batch * output_len * replicas, devices),
        "utilisation": dict(result.utilisation),
        "dram_bandwidth_utilisation": result.utilisation.get("dram", 0.0),
        "phases": {
            "prefill": {
                "ms": result.ttft_ms,
                "bound": result.prefill.bound,
                "utilisation": result.prefill.utilisation(),
            },
            "decode": {
                "ms": result.e2e_ms - result.ttft_ms,
                "steps": result.decode_steps,
                "bound": result.decode_last.bound,
                "utilisation": dict(result.decode_utilisation),
            },
        },
        "bound": {"prefill": result.prefill.bound, "decode": result.decode_last.bound},
    }


def parallelism_facts(
    hw: Hardware,
    model: ModelSpec,
    batch: int,
    input_len: int,
    par: Parallelism,
    sa_backend: str,
) -> dict[str, Any]:
    """Where the prefill and the first decode step of a static batch spend their time under
    expert / pipeline parallelism (perf/parallel.py): one stage-step, its all-to-alls, one
    stage-to-stage send (ms), micro-batches, the pipeline bubble, the expert load
    imbalance (expected max / mean load of the expert devices)."""
    out: dict[str, Any] = {"micro_batches_setting": par.micro_batches}
    for phase, comp in (
        ("prefill", BatchComposition.prefill_only(batch, input_len)),
        ("decode", BatchComposition.decode_only(batch, input_len + 1)),
    ):
        _, bd = parallel_breakdown(hw, model, comp, par, sa_backend)
        imbalance = 1.0
        if bd.expert_tokens:
            imbalance = expert_imbalance(
                bd.expert_tokens, model.num_experts, model.experts_per_token, par.ep
            )
        out[phase] = {
            "stage_ms": bd.stage_s * 1e3,
            "all_to_all_ms": bd.all_to_all_s * 1e3,
            "stage_send_ms": bd.send_s * 1e3,
            "micro_batches": bd.micro_batches,
            "bubble_fraction": bd.bubble_fraction,
            "expert_load_imbalance": imbalance,
        }
    return out


def design_from_json(value: Any, where: str) -> Hardware:
    """A `--designs` line (parsed JSON): a preset name, `{"base": preset, overrides...}` or a
    full config. A bare preset name without quotes is read by `iter_design_lines`."""
    if isinstance(value, str):
        return HARDWARE_PRESETS[value]
    return hardware_from_dict(value, where=where)


def iter_design_lines(path: str | Path) -> Iterator[tuple[int, Hardware | InputError]]:
    """(line number, design or the error that makes this line infeasible) for every non-blank
    line. Only an unreadable file is an error of the whole batch."""
    path = Path(path)
    data = read_input_bytes(path, "designs file")
    for number, raw in enumerate(data.splitlines(), start=1):
        where = f"{path.name} line {number}"
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:  # this line only: the batch goes on
            yield number, InputError(f"{where}: not UTF-8 text (byte {exc.start})")
            continue
        if not line.strip():
            continue
        bare = line.strip()
        if not bare.startswith(("{", "[", '"')):  # a bare preset name, as the README writes it
            try:
                yield number, HARDWARE_PRESETS[bare]
            except InputError as exc:
                yield number, InputError(f"{where}: {exc}")
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, InputError(f"{where}: malformed JSON: {exc.msg}")
            continue
        except (ValueError, RecursionError) as exc:  # 5,000-digit integer, nesting too deep
            yield number, InputError(f"{where}: unreadable JSON ({str(exc)[:80]})")
            continue
        try:
            yield number, design_from_json(value, where)
        except InputError as exc:
            yield number, exc
        except (TypeError, ValueError, KeyError, OverflowError, RecursionError) as exc:
            # e.g. `{"name": [1]}`: a wrong type the loader did not anticipate — this line only
            yield number, InputError(f"{where}: invalid design ({exc.__class__.__name__}: {exc})")


def evaluate_design_lines(
    path: str | Path,
    model: ModelSpec,
    batch: int,
    input_len: int,
    output_len: int,
    tp: int | None = None,
    sa_backend: str = "closed-form",
    speculative: SpeculativeConfig | None = None,
    ep: int | None = None,
    pp: int | None = None,
    dp: int | None = None,
    micro_batches: int | None = None,
) -> Iterator[dict[str, Any]]:
    """One document per design line; a bad or infeasible design yields `feasible: false`."""
    par = {"ep": ep, "pp": pp, "dp": dp, "micro_batches": micro_batches}
    for number, design in iter_design_lines(path):
        if isinstance(design, InputError):
            yield {"line": number, "feasible": False, "reason": str(design)}
            continue
        try:
            yield {
                "line": number,
                **evaluate_design(
                    design,
                    model,
                    batch,
                    input_len,
                    output_len,
                    tp,
                    sa_backend,
                    speculative,
                    **par,
                ),
            }
        except InputError as exc:
            yield {"line": number, "hardware": design.name, "feasible": False, "reason": str(exc)}
        except (ArithmeticError, ValueError, TypeError) as exc:  # one line, not the batch
            reason = f"cannot evaluate ({exc.__class__.__name__}: {exc})"
            yield {"line": number, "hardware": design.name, "feasible": False, "reason": reason}


def compare_designs(
    hardware: list[Hardware],
    model: ModelSpec,
    batches: list[int],
    input_len: int,
    output_len: int,
    tp: int | None = None,
    ep: int | None = None,
    pp: int | None = None,
    dp: int | None = None,
    micro_batches: int | None = None,
) -> dict[str, Any]:
    """The paper's Fig. 15 comparison: for every batch and hardware, TTFT, TBT, throughput and
    area efficiency (throughput per mm², 1/TTFT and 1/TBT per mm² of the TP group's silicon),
    with ratios against the first hardware at the same batch (> 1 = better than it).
    `ep`/`pp`/`dp`/`micro_batches` as in `evaluate_design` (None: each design's own)."""
    rows: list[dict[str, Any]] = []
    for batch in batches:
        base: dict[str, Any] | None = None
        for index, hw in enumerate(hardware):
            doc = evaluate_design(
                hw, model, batch, input_len, output_len, tp,
                ep=ep, pp=pp, dp=dp, micro_batches=micro_batches,
            )  # fmt: skip
            if doc["feasible"]:
                area = doc["area_total_mm2"]
                doc["ttft_area_eff_per_s_mm2"] = 1e3 / doc["ttft_ms"] / area
                doc["tbt_area_eff_per_s_mm2"] = 1e3 / doc["tbt_ms"] / area
            if index == 0:
                base = doc if doc["feasible"] else None
            doc["vs_baseline"] = _ratios(doc, base)
            rows.append(doc)
    return {
        "model": model.name,
        "precision": model.precision_label,
        "input_len": input_len,
        "output_len": output_len,
        "baseline": hardware[0].name,
        "rows": rows,
    }


def _ratios(doc: dict[str, Any], base: dict[str, Any] | None) -> dict[str, float] | None:
    if base is None or not doc["feasible"]:
        return None
    return {
        "ttft_speedup": base["ttft_ms"] / doc["ttft_ms"],
        "tbt_speedup": base["tbt_ms"] / doc["tbt_ms"],
        "throughput_ratio": doc["throughput_tokens_per_s"] / base["throughput_tokens_per_s"],
        "throughput_per_mm2_ratio": doc["throughput_per_mm2"] / base["throughput_per_mm2"],
        "ttft_area_eff_ratio": doc["ttft_area_eff_per_s_mm2"] / base["ttft_area_eff_per_s_mm2"],
        "tbt_area_eff_ratio": doc["tbt_area_eff_per_s_mm2"] / base["tbt_area_eff_per_s_mm2"],
    }
