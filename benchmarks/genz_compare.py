"""ador_opt and GenZ side by side on MoE and speculative-decoding scenarios (docs/bench-eval.md).

GenZ (`genz-llm` on the package index, import `GenZ`; Bambhaniya et al., arXiv 2406.01698) is an
optional benchmark tool, not a dependency of the project: this script exits with a message when
it is missing. Both tools get the same model, platform datasheet numbers, batch, lengths and
parallelism; GenZ runs with its defaults (efficiency 1, its own system presets).

Scenarios
* MoE — Mixtral-8x7B (GenZ `mixtral_8x7b`), TP 2, 1024-token prompts: TTFT (prefill of the
  batch) and one decode step at context 1024 + 128, batch 1 and 16, on A100-80GB, H100 and the
  ADOR paper design (GenZ: a system dict with the design's peak, DRAM and P2P figures), in
  bf16/fp16, fp8 (H100 and A100) and 4-bit weights (GenZ `int4`: every tensor and its compute
  in int4; ador_opt `w4a16`: int4 weights, fp16 activations, KV and MACs).
* Speculative decoding — Llama-3.1-70B verified, Llama-3.1-8B drafting (GenZ
  `spec_decode_modeling`), H100, TP 4, prompts of 1024, context 1024 + 128, 4 draft tokens,
  acceptance 0.6 and 0.8, batch 1 and 16: the time per emitted token and its parts.

    python benchmarks/genz_compare.py [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
import warnings
from typing import Any

from ador_opt.hardware.presets import HARDWARE_PRESETS, Hardware
from ador_opt.models import MODEL_PRESETS
from ador_opt.models.ops import BatchComposition
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.speculative import SpeculativeConfig, per_token_step, verify_batch
from ador_opt.perf.step import step_time

PROMPT = 1024
CONTEXT = 1024 + 128  # decode step in the middle of a 256-token output
BATCHES = (1, 16)
MOE_TP = 2
SPEC_TP = 4
DRAFT_TOKENS = 4
ACCEPTANCES = (0.6, 0.8)

# ador_opt hardware → GenZ system (its preset name, or a dict of datasheet numbers).
PLATFORMS: dict[str, Any] = {
    "a100-sxm-80gb": "A100_80GB_GPU",
    "h100-sxm-80gb": "H100_GPU",
    "ador-paper": None,  # built from the design below
}
# ador_opt precision scheme → GenZ `bits`.
PRECISIONS = {"fp16": "bf16", "fp8": "fp8", "w4a16": "int4"}


def genz_system(hw_name: str) -> Any:
    preset = PLATFORMS[hw_name]
    if preset is not None:
        return preset
    arch = HARDWARE_PRESETS[hw_name].arch
    assert arch is not None
    return {
        "Flops": arch.peak_tflops,
        "Memory_size": arch.dram_gib,
        "Memory_BW": arch.dram_gbps,
        "ICN": arch.p2p_gbps,
        "real_values": True,
    }


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """GenZ prints tables and warnings; keep stdout for our results."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _ms(st: Any) -> float:
    return float(st.seconds) * 1e3


def moe_rows() -> list[dict[str, Any]]:
    from GenZ import decode_moddeling, prefill_moddeling

    model = MODEL_PRESETS["mixtral-8x7b"]
    rows = []
    for hw_name in PLATFORMS:
        hw = HARDWARE_PRESETS[hw_name]
        for scheme, bits in PRECISIONS.items():
            spec = model.with_precision(scheme)
            for batch in BATCHES:
                t0 = time.perf_counter()
                ttft = _ms(
                    step_time(hw, spec, BatchComposition.prefill_only(batch, PROMPT), MOE_TP)
                )
                tbt = _ms(
                    step_time(hw, spec, BatchComposition.decode_only(batch, CONTEXT), MOE_TP)
                )
                t_ador = time.perf_counter() - t0
                system = genz_system(hw_name)
                t0 = time.perf_counter()
                g_pre = _quiet(
                    prefill_moddeling,
                    model="mixtral_8x7b",
                    batch_size=batch,
                    input_tokens=PROMPT,
                    system_name=system,
                    bits=bits,
                    tensor_parallel=MOE_TP,
                )
                g_dec = _quiet(
                    decode_moddeling,
                    model="mixtral_8x7b",
                    batch_size=batch,
                    input_tokens=CONTEXT,
                    output_tokens=0,
                    system_name=system,
                    bits=bits,
                    tensor_parallel=MOE_TP,
                )
                t_genz = time.perf_counter() - t0
                rows.append(
                    {
                        "scenario": "moe",
                        "hardware": hw_name,
                        "precision": scheme,
                        "genz_bits": bits,
                        "batch": batch,
                        "ador_ttft_ms": ttft,
                        "genz_ttft_ms": float(g_pre["Latency"]),
                        "ador_tbt_ms": tbt,
                        "genz_tbt_ms": float(g_dec["Latency"]),
                        "ador_wall_s": t_ador,
                        "genz_wall_s": t_genz,
                    }
                )
    return rows


def _spec_ador(hw: Hardware, target: ModelSpec, draft: ModelSpec, batch: int, a: float) -> dict:
    spec = SpeculativeConfig(DRAFT_TOKENS, (a,), draft)

    def t(b: BatchComposition) -> Any:
        return step_time(hw, target, b, SPEC_TP)

    def d(b: BatchComposition) -> Any:
        return step_time(hw, draft, b, SPEC_TP)

    cached = CONTEXT - 1
    verify = _ms(t(verify_batch(batch, cached, DRAFT_TOKENS)))
    draft_step = _ms(d(BatchComposition.decode_only(batch, CONTEXT)))
    per_token = _ms(per_token_step(t, d, spec, batch, cached))
    return {
        "verify_ms": verify,
        "draft_step_ms": draft_step,
        "tokens_per_step": spec.expected_tokens,
        "per_token_ms": per_token,
        "plain_tbt_ms": _ms(t(BatchComposition.decode_only(batch, CONTEXT))),
    }


def spec_rows() -> list[dict[str, Any]]:
    from GenZ import decode_moddeling
    from GenZ.LLM_inference.llm_spec_decode import spec_decode_modeling

    hw = HARDWARE_PRESETS["h100-sxm-80gb"]
    target, draft = MODEL_PRESETS["llama-3.3-70b"], MODEL_PRESETS["llama-3.1-8b"]
    rows = []
    for batch in BATCHES:
        for a in ACCEPTANCES:
            ours = _spec_ador(hw, target, draft, batch, a)
            kw = {"system_name": "H100_GPU", "bits": "bf16", "tensor_parallel": SPEC_TP}
            g = _quiet(
                spec_decode_modeling,
                model="meta-llama/Llama-3.1-70B",
                draft_model="meta-llama/meta-llama-3.1-8b",
                batch_size=batch,
                input_tokens=PROMPT,
                output_tokens=CONTEXT - PROMPT,
                token_acceptance_rate=a,
                num_parallel_tokens=DRAFT_TOKENS,
                **kw,
            )
            g_draft = _quiet(
                decode_moddeling,
                model="meta-llama/meta-llama-3.1-8b",
                batch_size=batch,
                input_tokens=CONTEXT,
                output_tokens=0,
                **kw,
            )
            g_plain = _quiet(
                decode_moddeling,
                model="meta-llama/Llama-3.1-70B",
                batch_size=batch,
                input_tokens=CONTEXT,
                output_tokens=0,
                **kw,
            )
            step = float(g["Latency"])
            tokens = float(g["tokens_generated"])
            draft_ms = float(g_draft["Latency"])
            rows.append(
                {
                    "scenario": "speculative",
                    "hardware": hw.name,
                    "batch": batch,
                    "acceptance": a,
                    "draft_tokens": DRAFT_TOKENS,
                    **{f"ador_{k}": v for k, v in ours.items()},
                    "genz_verify_ms": step - DRAFT_TOKENS * draft_ms,
                    "genz_draft_step_ms": draft_ms,
                    "genz_tokens_per_step": tokens,
                    "genz_per_token_ms": step / tokens,
                    "genz_plain_tbt_ms": float(g_plain["Latency"]),
                }
            )
    return rows


def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    body = ""
    for r in rows:
        cells = [f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c]) for c in cols]
        body += "| " + " | ".join(cells) + " |\n"
    return head + body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    try:
        import GenZ  # noqa: F401
    except ImportError:
        sys.exit("GenZ is not installed (pip install genz-llm); nothing to compare")
    moe, spec = moe_rows(), spec_rows()
    if args.json:
        print(json.dumps({"moe": moe, "speculative": spec}, indent=1))
        return
    print(f"## MoE: Mixtral-8x7B, TP {MOE_TP}, prompt {PROMPT}, decode at context {CONTEXT}\n")
    print(
        _table(
            moe,
            [
                "hardware",
                "precision",
                "genz_bits",
                "batch",
                "ador_ttft_ms",
                "genz_ttft_ms",
                "ador_tbt_ms",
                "genz_tbt_ms",
            ],
        )
    )
    print(
        f"## Speculative: Llama-3.1-70B + 8B draft, H100 TP {SPEC_TP}, k = {DRAFT_TOKENS}, "
        f"context {CONTEXT}\n"
    )
    print(
        _table(
            spec,
            [
                "batch",
                "acceptance",
                "ador_plain_tbt_ms",
                "genz_plain_tbt_ms",
                "ador_verify_ms",
                "genz_verify_ms",
                "ador_draft_step_ms",
                "genz_draft_step_ms",
                "ador_tokens_per_step",
                "genz_tokens_per_step",
                "ador_per_token_ms",
                "genz_per_token_ms",
            ],
        )
    )
    wall_a = sum(r["ador_wall_s"] for r in moe) / len(moe)
    wall_g = sum(r["genz_wall_s"] for r in moe) / len(moe)
    print(
        f"mean wall time per MoE row: ador_opt {wall_a * 1e3:.1f} ms, GenZ {wall_g * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
