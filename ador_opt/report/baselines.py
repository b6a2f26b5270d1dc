"""Metrics of the preset baselines (A100, LLMCompass-L/-T, ADOR paper) on a study's scenarios.

Definitions follow the engine's (`ador_opt/explore/objectives.py`), so a preset's numbers sit in
the same columns as the study's designs:

* static batch (`ador_opt.perf.evaluate_static_batch`): `ttft_ms`, `tbt_ms`, `e2e_ms`,
  `throughput_tokens_per_s` (× TP replicas), `throughput_per_mm2` = throughput / (devices ·
  area), `throughput_per_usd` likewise per $;
* serving (`ador_opt.serving.find_capacity`): `capacity_rps`
  (× replicas), `capacity_per_mm2`, `capacity_per_usd`, `ttft_p90_ms`, `tbt_p99_ms`;
* with several models or scenarios the worst value of each metric counts (a design must serve
  all of them).

A preset that cannot hold the model (weights + the batch's KV over DRAM) gets no numbers and a
note instead of failing the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ador_opt.errors import InputError
from ador_opt.explore.objectives import aggregate
from ador_opt.hardware import area_breakdown, cost_breakdown
from ador_opt.hardware.presets import HARDWARE_PRESETS, Hardware
from ador_opt.models import load_model
from ador_opt.models.spec import ModelSpec
from ador_opt.perf import evaluate_static_batch
from ador_opt.perf.memory import check_memory
from ador_opt.report.scenario import ServingCase, StudyScenario
from ador_opt.serving import find_capacity, resolve_slo, workload_preset

BASELINE_PRESETS = ("a100", "llmcompass-l", "llmcompass-t", "ador-paper")


@dataclass(frozen=True, slots=True)
class DesignMetrics:
    name: str
    area_mm2: float
    cost_usd: float
    peak_tflops: float
    metrics: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def worst(name: str, values: list[float]) -> float:
    return aggregate(name, values)


def area_efficiency(
    metrics: Mapping[str, float], area_mm2: float, devices: int
) -> dict[str, float]:
    """The paper's area efficiency (§VI-B): latency⁻¹ per mm² of silicon, in 1/(s·mm²)."""
    out: dict[str, float] = {}
    silicon = area_mm2 * max(1, devices)
    for src, dst in (("ttft_ms", "ttft_area_eff"), ("tbt_ms", "tbt_area_eff")):
        value = metrics.get(src)
        if value is not None and value > 0 and silicon > 0:
            out[dst] = 1e3 / (value * silicon)
    return out


def _capacity(
    hw: Hardware, model: ModelSpec, case: ServingCase, sc: StudyScenario
) -> dict[str, float]:
    # The study's own SLO: its [slo] limits, the project default for any it leaves unset.
    slo = resolve_slo(model, sc.slo_limit("ttft_p90_ms"), sc.slo_limit("tbt_p99_ms"))
    result = find_capacity(
        hw,
        model,
        workload_preset(case.workload),
        slo,
        num_requests=case.num_requests,
        seed=case.seed,
        tp=sc.tp,
    )
    out = {"capacity_rps": float(result.max_rate_per_s)}
    report = result.report
    if report is not None:  # None when even the lowest rate fails the SLO
        out.update(
            ttft_p90_ms=report.ttft_ms.p90,
            tbt_p99_ms=report.tbt_ms.p99,
            throughput_tokens_per_s=report.throughput_tokens_per_s,
        )
    return out


def evaluate_hardware(hw: Hardware, sc: StudyScenario) -> DesignMetrics:
    """Metrics of `hw` (one device type, `sc.devices` devices in TP groups of `sc.tp`)."""
    assert hw.arch is not None, "baselines need an area model (an ArchConfig)"
    area = area_breakdown(hw.arch).total_mm2
    cost = cost_breakdown(hw.arch).total_usd
    peak = hw.arch.peak_tflops
    devices, tp = sc.devices, sc.tp
    replicas = max(1, devices // tp)
    per_pair: list[dict[str, float]] = []
    notes: list[str] = []
    unfit = False  # some model/scenario does not fit: no aggregate is honest then
    for model_name in sc.models:
        try:
            model = load_model(model_name).with_precision(sc.precision)
        except InputError as exc:
            notes.append(f"model {model_name}: {exc}")
            unfit = True
            continue
        for case in sc.static:
            check = check_memory(hw, model, tp, case.batch * (case.input_len + case.output_len))
            if not check.ok:
                notes.append(f"{model.name}/{case.name}: {check.reason}")
                unfit = True
                continue
            r = evaluate_static_batch(hw, model, case.batch, case.input_len, case.output_len, tp)
            tput = r.throughput_tokens_per_s * replicas
            per_pair.append(
                {
                    "ttft_ms": r.ttft_ms,
                    "tbt_ms": r.tbt_ms,
                    "e2e_ms": r.e2e_ms,
                    "throughput_tokens_per_s": tput,
                    "throughput_per_mm2": tput / (devices * area),
                    "throughput_per_usd": tput / (devices * cost),
                }
            )
        for scase in sc.serving:
            check = check_memory(hw, model, tp, model.max_context)
            if not check.ok:
                notes.append(f"{model.name}/{scase.name}: {check.reason}")
                unfit = True
                continue
            m = _capacity(hw, model, scase, sc)
            cap = m["capacity_rps"] * replicas
            m.update(
                capacity_rps=cap,
                capacity_per_mm2=cap / (devices * area),
                capacity_per_usd=cap / (devices * cost),
            )
            if "throughput_tokens_per_s" in m:
                tput = m["throughput_tokens_per_s"] * replicas
                m.update(
                    throughput_tokens_per_s=tput,
                    throughput_per_mm2=tput / (devices * area),
                    throughput_per_usd=tput / (devices * cost),
                )
            per_pair.append(m)
    metrics: dict[str, float] = {}
    if per_pair and not unfit:
        for key in sorted({k for m in per_pair for k in m}):
            metrics[key] = worst(key, [m[key] for m in per_pair if key in m])
        metrics.update(area_efficiency(metrics, area, devices))
    metrics.update(area_mm2=area, cost_usd=cost, peak_tflops=peak)
    return DesignMetrics(hw.name, area, cost, peak, metrics, tuple(dict.fromkeys(notes)))


def evaluate_baselines(
    sc: StudyScenario, names: tuple[str, ...] = BASELINE_PRESETS
) -> list[DesignMetrics]:
    return [evaluate_hardware(HARDWARE_PRESETS[n], sc) for n in names]
