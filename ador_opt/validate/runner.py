"""Run cases through the product's performance code and tabulate the error.

Every scenario goes through the function the product uses for it: `step_time` (prefill,
decode_step), `evaluate_static_batch` (static_batch), the GPU kernel and collective models
that `step_time` itself composes (gemm, allreduce), and the serving simulator's scenarios
(offline, closed_loop) when `ador_opt.serving.scenarios` is importable. Rows that cannot be
predicted are listed with `supported: false` and a reason, counted, and excluded from the error
statistics — never dropped silently.
"""

from __future__ import annotations

import importlib
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ador_opt.errors import InputError
from ador_opt.hardware.gpu import GpuSpec
from ador_opt.hardware.presets import HARDWARE_PRESETS, Hardware
from ador_opt.models.ops import BatchComposition
from ador_opt.models.presets import MODEL_PRESETS
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.gpu import (
    DEFAULT_ENGINE,
    DEFAULT_PARAMS,
    Engine,
    allreduce_kernel_s,
    gemm_kernel,
    gpu_step_time_with,
)
from ador_opt.perf.result import StepTime
from ador_opt.perf.static import StaticBatchResult, evaluate_static_batch, static_batch
from ador_opt.perf.step import step_time
from ador_opt.validate.cases import Case, Scenario
from ador_opt.validate.engines import engine_for_source

SERVING_MODULE = "ador_opt.serving.scenarios"


@dataclass(frozen=True, slots=True)
class Predictor:
    """The performance functions a validation run calls. `PRODUCT` is the shipped model; the
    GPU fit (`benchmarks/fit_gpu.py`) builds one with trial parameters."""

    # hardware, model, batch, tp, engine of the measured setup
    step: Callable[[Hardware, ModelSpec, BatchComposition, int, Engine], StepTime]
    # hardware, model, batch, input_len, output_len, tp, engine
    static: Callable[[Hardware, ModelSpec, int, int, int, int, Engine], StaticBatchResult]
    gemm_s: Callable[[GpuSpec, int, int, int, int], float]  # gpu, m, k, n, bytes/weight
    allreduce_s: Callable[[GpuSpec, float, int], float]  # gpu, message bytes, devices
    serving: bool = True  # run offline / closed_loop through the serving simulator


def _product_gemm_s(gpu: GpuSpec, m: int, k: int, n: int, weight_bytes: int) -> float:
    return gemm_kernel(gpu, m, k, n, weight_bytes).seconds


def _product_step(
    hw: Hardware, model: ModelSpec, batch: BatchComposition, tp: int, engine: Engine
) -> StepTime:
    """The product's step model; a row measured on another engine than the product's default
    runs the GPU model with that engine."""
    if engine == DEFAULT_ENGINE or hw.gpu is None:
        return step_time(hw, model, batch, tp)
    return gpu_step_time_with(DEFAULT_PARAMS, hw.gpu, model, batch, tp, engine)


def _product_static(
    hw: Hardware, model: ModelSpec, batch: int, input_len: int, output_len: int, tp: int,
    engine: Engine,
) -> StaticBatchResult:  # fmt: skip
    if engine == DEFAULT_ENGINE or hw.gpu is None:
        return evaluate_static_batch(hw, model, batch, input_len, output_len, tp)
    return static_batch(
        lambda b: _product_step(hw, model, b, tp, engine), batch, input_len, output_len
    )


PRODUCT = Predictor(
    step=_product_step,
    static=_product_static,
    gemm_s=_product_gemm_s,
    allreduce_s=allreduce_kernel_s,
)


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: Case
    predicted: float | None
    reason: str = ""

    @property
    def supported(self) -> bool:
        return self.predicted is not None

    @property
    def error_pct(self) -> float | None:
        if self.predicted is None:
            return None
        return (self.predicted - self.case.value) / self.case.value * 100.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "case_id": self.case.case_id,
            "scenario": self.case.scenario.value,
            "hardware": self.case.hardware,
            "model": self.case.model,
            "metric": self.case.metric,
            "measured": self.case.value,
            "predicted": self.predicted,
            "error_pct": self.error_pct,
            "supported": self.supported,
        }
        if self.reason:
            out["reason"] = self.reason
        return out


def serving_scenarios() -> ModuleType | None:
    """The serving simulator's scenario module, or None while it does not exist."""
    try:
        return importlib.import_module(SERVING_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name in (SERVING_MODULE, "ador_opt.serving"):
            return None
        raise


def _model(case: Case) -> ModelSpec:
    assert case.model is not None  # the schema requires it for model scenarios
    return MODEL_PRESETS[case.model].with_precision(case.precision)


def _from_static(case: Case, result: StaticBatchResult) -> float:
    if case.metric == "output_tokens_per_s":
        return result.throughput_tokens_per_s
    if case.metric == "output_tokens_per_s_per_device":
        return result.throughput_tokens_per_s / case.tp
    return {"e2e_latency_ms": result.e2e_ms, "ttft_ms": result.ttft_ms, "itl_ms": result.tbt_ms}[
        case.metric
    ]


def _from_serving(case: Case, module: ModuleType, hw: Hardware, model: ModelSpec) -> float:
    assert case.input_len is not None and case.output_len is not None
    if case.scenario is Scenario.OFFLINE:
        tokens_per_s = float(
            module.offline_throughput(hw, model, case.tp, case.input_len, case.output_len, seed=0)
        )
        return tokens_per_s / case.tp if case.metric.endswith("per_device") else tokens_per_s
    assert case.batch is not None
    result = module.closed_loop(
        hw, model, case.tp, case.batch, case.input_len, case.output_len, seed=0
    )
    if case.metric.startswith("output_tokens_per_s"):
        value = float(result["output_tokens_per_s"])
        return value / case.tp if case.metric.endswith("per_device") else value
    return float(result[case.metric])


def predict_case(
    case: Case, predictor: Predictor = PRODUCT, serving: ModuleType | None = None
) -> CaseResult:
    """Predict one case in the unit of its metric; unsupported cases carry a reason."""
    hw = HARDWARE_PRESETS[case.hardware]
    scenario = case.scenario
    if scenario in (Scenario.GEMM, Scenario.ALLREDUCE):
        if hw.gpu is None:
            return CaseResult(case, None, f"{scenario.value} cases need a GPU hardware preset")
        if scenario is Scenario.GEMM:
            assert case.gemm_m and case.gemm_k and case.gemm_n
            weight_bytes = 1 if case.precision == "fp8" else 2
            seconds = predictor.gemm_s(hw.gpu, case.gemm_m, case.gemm_k, case.gemm_n, weight_bytes)
        else:
            assert case.message_bytes is not None
            seconds = predictor.allreduce_s(hw.gpu, float(case.message_bytes), case.tp)
        return CaseResult(case, seconds * 1e3)
    model = _model(case)
    engine = engine_for_source(case.source)
    assert case.batch is not None or scenario is Scenario.OFFLINE
    assert case.input_len is not None
    if scenario is Scenario.PREFILL:
        assert case.batch is not None
        batch = BatchComposition.prefill_only(case.batch, case.input_len)
        return CaseResult(case, predictor.step(hw, model, batch, case.tp, engine).seconds * 1e3)
    if scenario is Scenario.DECODE_STEP:
        assert case.batch is not None
        batch = BatchComposition.decode_only(case.batch, case.input_len)
        return CaseResult(case, predictor.step(hw, model, batch, case.tp, engine).seconds * 1e3)
    if scenario is Scenario.STATIC_BATCH:
        assert case.batch is not None and case.output_len is not None
        result = predictor.static(
            hw, model, case.batch, case.input_len, case.output_len, case.tp, engine
        )
        return CaseResult(case, _from_static(case, result))
    if not predictor.serving:
        return CaseResult(case, None, "serving scenarios disabled for this run")
    if serving is None:
        return CaseResult(case, None, f"serving simulator ({SERVING_MODULE}) not available")
    return CaseResult(case, _from_serving(case, serving, hw, model))


def run_cases(
    cases: Sequence[Case],
    predictor: Predictor = PRODUCT,
    progress: Callable[[int, int], None] | None = None,
) -> list[CaseResult]:
    """Predict every case; a case the model rejects (e.g. tp not dividing the heads) raises
    `InputError` naming the case. `progress(done, total)` is called after each case."""
    serving = serving_scenarios() if predictor.serving else None
    results = []
    for case in cases:
        try:
            results.append(predict_case(case, predictor, serving))
        except InputError as exc:
            raise InputError(f"case {case.case_id} (line {case.line}): {exc}") from None
        if progress is not None:
            progress(len(results), len(cases))
    return results


def _stats(results: Sequence[CaseResult]) -> dict[str, Any]:
    ape = [abs(r.error_pct) for r in results if r.error_pct is not None]
    return {
        "count": len(results),
        "supported": len(ape),
        "unsupported": len(results) - len(ape),
        "mape_pct": statistics.fmean(ape) if ape else None,
        "median_ape_pct": statistics.median(ape) if ape else None,
        "max_ape_pct": max(ape) if ape else None,
    }


def summarise(results: Sequence[CaseResult]) -> dict[str, Any]:
    """The `validate --json` document (DESIGN §9): cases, MAPE and median APE over the
    supported cases, the same per scenario, and the unsupported count."""
    overall = _stats(results)
    by_scenario = {
        scenario.value: _stats([r for r in results if r.case.scenario is scenario])
        for scenario in Scenario
        if any(r.case.scenario is scenario for r in results)
    }
    return {
        "cases": [r.to_dict() for r in results],
        "mape_pct": overall["mape_pct"],
        "median_ape_pct": overall["median_ape_pct"],
        "max_ape_pct": overall["max_ape_pct"],
        "supported_count": overall["supported"],
        "unsupported_count": overall["unsupported"],
        "by_scenario": by_scenario,
    }


def validate_cases(
    cases: Sequence[Case],
    predictor: Predictor = PRODUCT,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    return summarise(run_cases(cases, predictor, progress))
