"""Fit the GPU baseline's constants in layers and cross-validate them by source.

    /work/venv/bin/python benchmarks/fit_gpu.py            # fit, print tables, write params
    /work/venv/bin/python benchmarks/fit_gpu.py --no-write # fit and report only
    /work/venv/bin/python benchmarks/fit_gpu.py --no-cv    # skip cross-validation

Data: `ador_opt/data/calibration_cases.csv` and `ador_opt/data/operator_cases.csv`.

Layers, fitted one after the other so that errors of one layer cannot cancel errors of another:

1. `gemm`  — the GEMM/streaming-kernel constants (main-loop efficiency, tile overhead, HBM
   efficiency, roofline blend, kernel fixed cost) on the GPU-time-only `gemm` rows.
2. `allreduce` — NCCL's hop and per-call latency in SM cycles (shared by every GPU) and the
   NVLink3/NVLink4 bandwidth efficiency on the NCCL `allreduce` rows.
   All-reduce rows that contradict every NCCL algorithm (`validate/consistency.py`) are left
   out of this fit and kept in every error figure.
3. `engine` — the GPU-side gap per kernel, the cost of a step that holds prompts (compiled and
   eager engine), and the Python-eager engine's host launch time per kernel and host time per
   request, on the whole-step rows (`prefill`, `decode_step`,
   `static_batch`), each row on its source's engine (`validate/engines.py`), layers 1–2 fixed,
   every source weighted alike. An engine seen in one source only is cross-validated row by
   row within that source (LOSO column) and, strictly, as an unknown engine (strict column).

`offline` and `closed_loop` rows are fitted by nothing (they also exercise the serving
simulator): they are an out-of-fit check.

Method per layer: bounded, robust least squares (Levenberg–Marquardt on the logarithms of the
layer's parameters, clipped to physical bounds; soft-L1 or Cauchy loss by iteratively
reweighted least squares; numpy only) on log(predicted / measured).

Cross-validation: leave-one-source-out (LOSO) — refit the layer without every row of one source
(a publication, or one profiling file of an operator data set) and predict those rows; a link
generation left with fewer than three rows takes the other generation's fitted bandwidth
efficiency (held-out A100 rows are then predicted from H100 ones). For the all-reduce layer the
script also prints leave-one-payload-out (every row of one message size predicted by a fit
without that size). The per-row table, the in-sample and LOSO MAPE per layer, per scenario and
overall are printed; the result is written to `ador_opt/perf/gpu_params.py`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ador_opt.hardware.gpu import GpuSpec
from ador_opt.hardware.presets import Hardware
from ador_opt.models.ops import BatchComposition
from ador_opt.models.spec import ModelSpec
from ador_opt.perf import gpu as gpu_model
from ador_opt.perf import gpu_params
from ador_opt.perf.gpu import (
    DEFAULT_PARAMS,
    PARAM_NAMES,
    Engine,
    GpuModelParams,
    allreduce_kernel_s,
    gemm_kernel,
    gpu_step_time_with,
)
from ador_opt.perf.result import StepTime
from ador_opt.perf.static import StaticBatchResult, static_batch
from ador_opt.validate.cases import Case, Scenario, load_cases
from ador_opt.validate.consistency import contradicted_allreduce_rows
from ador_opt.validate.engines import engine_for_source
from ador_opt.validate.runner import Predictor, predict_case, serving_scenarios

ROOT = Path(__file__).resolve().parents[1]
CASE_FILES = (
    ROOT / "ador_opt" / "data" / "calibration_cases.csv",
    ROOT / "ador_opt" / "data" / "operator_cases.csv",
)
PARAMS_FILE = ROOT / "ador_opt" / "perf" / "gpu_params.py"

# Physical bounds of each parameter (lower, upper).
BOUNDS: dict[str, tuple[float, float]] = {
    "gemm_mainloop_eff": (0.5, 1.0),  # a GEMM main loop cannot beat the datasheet peak
    # Prologue (first loads ≈ DRAM latency, ≈ 500–800 cycles) + epilogue (store the tile).
    "tile_overhead_cycles": (100.0, 5000.0),
    # Streaming microbenchmarks (BabelStream-class) reach ≈ 85–92 % of A100/H100 HBM peak.
    "hbm_eff": (0.6, 0.95),
    "roofline_blend": (1.0, 30.0),  # 1 = no overlap of memory and compute; 30 ≈ max()
    "kernel_fixed_s": (0.5e-6, 20e-6),
    # NCCL's per-hop and per-call latencies in SM cycles: 0.2–20 µs and 0.5–50 µs at 1.4–1.8 GHz
    "nccl_hop_latency_cycles": (300.0, 36000.0),
    "nccl_base_latency_cycles": (700.0, 90000.0),
    "nvlink3_bw_eff": (0.3, 1.0),
    "nvlink4_bw_eff": (0.3, 1.0),
    "kernel_gap_s": (0.1e-6, 30e-6),
    # Host cost of one eager PyTorch kernel launch from Python (dispatcher + CUDA launch,
    # ≈ 5–10 µs for a bare op; custom ops, views and TP-rank contention raise it).
    "eager_launch_s": (2e-6, 100e-6),
    # Python input preparation and sampling per request per step.
    "eager_seq_s": (1e-6, 2e-3),
    # Per prompt in a step, not overlapped with the GPU: a compiled engine's context-phase
    # set-up and first-token return (request admission, input copy, sampling, output copy)
    "prefill_step_s": (1e-7, 5e-3),
    # the same for a Python eager engine's prompt path (attention-mask and prompt metadata
    # built in Python, prompt attention op dispatched per layer)
    "eager_prefill_step_s": (1e-7, 50e-3),
}
LAYERS: dict[str, tuple[tuple[str, ...], tuple[Scenario, ...]]] = {
    "gemm": (
        ("gemm_mainloop_eff", "tile_overhead_cycles", "hbm_eff", "roofline_blend",
         "kernel_fixed_s"),
        (Scenario.GEMM,),
    ),
    "allreduce": (
        ("nccl_hop_latency_cycles", "nccl_base_latency_cycles", "nvlink3_bw_eff",
         "nvlink4_bw_eff"),
        (Scenario.ALLREDUCE,),
    ),
    "engine": (
        ("kernel_gap_s", "eager_launch_s", "eager_seq_s", "prefill_step_s",
         "eager_prefill_step_s"),
        (Scenario.PREFILL, Scenario.DECODE_STEP, Scenario.STATIC_BATCH),
    ),
}  # fmt: skip
assert set(BOUNDS) == set(PARAM_NAMES)
LINK_GENERATIONS = {"nvlink3": "a100", "nvlink4": "h"}  # hardware name prefix per generation
LINK_PARAMS_PER_GENERATION = 3  # rows a generation needs before its own efficiency is fitted


def source_of(case: Case) -> str:
    """The source a row belongs to for cross-validation: its publication, or for operator
    profiles the profiling file (`... mlp.csv row 12` → `... mlp.csv`)."""
    return re.sub(r"\s+row\s+\d+$", "", case.source.strip()) or case.case_id


def predictor_for(params: GpuModelParams, serving: bool = False) -> Predictor:
    def step(
        hw: Hardware, model: ModelSpec, batch: BatchComposition, tp: int, engine: Engine
    ) -> StepTime:
        assert hw.gpu is not None
        return gpu_step_time_with(params, hw.gpu, model, batch, tp, engine)

    def static(
        hw: Hardware, model: ModelSpec, batch: int, input_len: int, output_len: int, tp: int,
        engine: Engine,
    ) -> StaticBatchResult:  # fmt: skip
        return static_batch(lambda b: step(hw, model, b, tp, engine), batch, input_len, output_len)

    def gemm_s(gpu: GpuSpec, m: int, k: int, n: int, weight_bytes: int) -> float:
        return gemm_kernel(gpu, m, k, n, weight_bytes, params=params).seconds

    def allreduce(gpu: GpuSpec, message_bytes: float, devices: int) -> float:
        return allreduce_kernel_s(gpu, message_bytes, devices, params)

    return Predictor(
        step=step, static=static, gemm_s=gemm_s, allreduce_s=allreduce, serving=serving
    )


def predictions(params: GpuModelParams, cases: Sequence[Case]) -> np.ndarray:
    predictor = predictor_for(params)
    out = []
    for case in cases:
        value = predict_case(case, predictor).predicted
        assert value is not None
        out.append(value)
    return np.array(out)


def _with(params: GpuModelParams, names: Sequence[str], x: np.ndarray) -> GpuModelParams:
    values = {n: float(math.exp(v)) for n, v in zip(names, x, strict=True)}
    return dataclasses.replace(params, **values)


def _identified_generations(cases: Sequence[Case]) -> set[str]:
    """Link generations with at least as many all-reduce rows as they have parameters (3)."""
    return {
        gen
        for gen, prefix in LINK_GENERATIONS.items()
        if sum(c.scenario is Scenario.ALLREDUCE and c.hardware.startswith(prefix) for c in cases)
        >= LINK_PARAMS_PER_GENERATION
    }


def _tie_missing_generations(params: GpuModelParams, cases: Sequence[Case]) -> GpuModelParams:
    """A link generation with too few rows to fit takes the other generation's values."""
    present = _identified_generations(cases)
    if len(present) != 1:
        return params
    (have,) = present
    (miss,) = set(LINK_GENERATIONS) - present
    values = {n.replace(have, miss): getattr(params, n) for n in PARAM_NAMES if n.startswith(have)}
    return dataclasses.replace(params, **values)


# Whole-step rows come from different serving engines (TensorRT-LLM, NeMo, vLLM, SplitwiseSim's
# profiler) whose overheads differ; each source weighs the same so that the engine with most
# rows does not set the engine constants for all.
SOURCE_WEIGHTED = ("engine",)


def source_weights(rows: Sequence[Case]) -> np.ndarray:
    """Residual weights giving every source the same total weight (1/√n per row, squared in
    the cost), so that one publication's many rows cannot set a layer's constants alone."""
    counts: dict[str, int] = {}
    for c in rows:
        counts[source_of(c)] = counts.get(source_of(c), 0) + 1
    w = np.array([1.0 / math.sqrt(counts[source_of(c)]) for c in rows])
    return w / math.sqrt(float(np.mean(w**2)))


LOSS_SCALE = 0.1  # residuals (log ratio) beyond ≈ 10 % weigh less than quadratically
# Per layer: soft-L1 (linear beyond the scale) or Cauchy (logarithmic: rejects outliers). The
# NCCL rows hold small-message times that no latency model can give at once — A100: 46–56 µs
# at TP2 but 16 µs at TP4 (10 KiB); H100: 34–42 µs at TP4 but 19–23 µs at TP8 — latency cannot
# fall as the ring grows, so the all-reduce layer uses the outlier-rejecting loss.
LOSS: dict[str, str] = {"gemm": "soft_l1", "allreduce": "cauchy", "engine": "soft_l1"}


def _cost(r: np.ndarray, loss: str) -> float:
    z = (r / LOSS_SCALE) ** 2
    rho = np.log1p(z) if loss == "cauchy" else 2.0 * (np.sqrt(1.0 + z) - 1.0)
    return float(np.sum(rho) * LOSS_SCALE**2 / 2)


def _irls_weights(r: np.ndarray, loss: str) -> np.ndarray:
    """√ρ'(z): the residual weights of one IRLS step."""
    z = (r / LOSS_SCALE) ** 2
    return 1.0 / np.sqrt(1.0 + z) if loss == "cauchy" else 1.0 / np.sqrt(np.sqrt(1.0 + z))


def robust_lm(
    fun: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    loss: str = "soft_l1",
    iterations: int = 40,
    step: float = 1e-3,
) -> tuple[np.ndarray, float]:
    """Minimise the robust cost of `fun(x)` over lo ≤ x ≤ hi: Levenberg–Marquardt steps on
    the IRLS-weighted residuals, forward-difference Jacobian, steps clipped to the box."""
    x = np.clip(x0, lo, hi)
    r = fun(x)
    cost = _cost(r, loss)
    damping = 1e-2
    for _ in range(iterations):
        w = _irls_weights(r, loss)
        jac = np.empty((r.size, x.size))
        for j in range(x.size):
            xj = x.copy()
            xj[j] = xj[j] + step if xj[j] + step <= hi[j] else xj[j] - step
            jac[:, j] = (fun(xj) - r) / (xj[j] - x[j])
        jw, rw = jac * w[:, None], r * w
        a, g = jw.T @ jw, jw.T @ rw
        improved = False
        for _ in range(8):
            dx = -np.linalg.solve(a + damping * np.diag(np.diag(a) + 1e-12), g)
            x_new = np.clip(x + dx, lo, hi)
            r_new = fun(x_new)
            c_new = _cost(r_new, loss)
            if c_new < cost:
                gain = cost - c_new
                x, r, cost = x_new, r_new, c_new
                damping = max(damping / 3, 1e-7)
                improved = gain > 1e-10 * max(cost, 1e-12)
                break
            damping *= 4
        if not improved:
            break
    return x, cost


def fit_layer(layer: str, cases: Sequence[Case], start: GpuModelParams) -> GpuModelParams:
    """Refit the parameters of `layer` on its rows among `cases`, the rest held at `start`."""
    names, scenarios = LAYERS[layer]
    rows = [c for c in cases if c.scenario in scenarios]
    if layer == "allreduce":
        # Rows that contradict every NCCL algorithm (slower than a row with ≥ payload and ≥
        # devices, validate/consistency.py) cannot be followed by any monotone cost model and
        # would bias the link constants: they stay out of the fit (and in the reported error).
        contradicted = contradicted_allreduce_rows(rows)
        rows = [c for c in rows if c.case_id not in contradicted]
        gens = _identified_generations(rows)
        names = tuple(n for n in names if n.split("_")[0] in gens or n.startswith("nccl_"))
        rows = [c for c in rows if any(c.hardware.startswith(LINK_GENERATIONS[g]) for g in gens)]
    if layer == "engine" and not any(engine_for_source(c.source).python_eager for c in rows):
        names = tuple(n for n in names if not n.startswith("eager_"))  # no eager rows
    measured = np.log([c.value for c in rows])
    weights = source_weights(rows) if layer in SOURCE_WEIGHTED else np.ones(len(rows))

    def residuals(x: np.ndarray) -> np.ndarray:
        return (np.log(predictions(_with(start, names, x), rows)) - measured) * weights

    lo = np.log([BOUNDS[n][0] for n in names])
    hi = np.log([BOUNDS[n][1] for n in names])
    x0 = np.clip(np.log([getattr(start, n) for n in names]), lo + 1e-9, hi - 1e-9)
    best_x, best_cost = x0, math.inf
    # Two starts (the given point and the middle of the box) guard against local minima.
    for start_x in (x0, (lo + hi) / 2):
        x, cost = robust_lm(residuals, start_x, lo, hi, LOSS[layer])
        if cost < best_cost:
            best_x, best_cost = x, cost
    fitted = _with(start, names, best_x)
    return _tie_missing_generations(fitted, rows) if layer == "allreduce" else fitted


def fit_all(cases: Sequence[Case], start: GpuModelParams) -> GpuModelParams:
    params = start
    for layer in LAYERS:
        params = fit_layer(layer, cases, params)
    return params


def layer_of(case: Case) -> str | None:
    for layer, (_, scenarios) in LAYERS.items():
        if case.scenario in scenarios:
            return layer
    return None


def _pct(pred: float, case: Case) -> float:
    return (pred - case.value) / case.value * 100.0


def _engine_sources(cases: Sequence[Case], engine: Engine) -> set[str]:
    return {source_of(c) for c in cases if engine_for_source(c.source) == engine}


def loso(cases: list[Case], params: GpuModelParams) -> tuple[np.ndarray, np.ndarray]:
    """Signed % error of every fitted row predicted by its layer refitted without its source
    (the other layers at their full fit); NaN for rows no layer fits.

    An engine measured by one source only cannot be fitted without that source. Its rows get
    two numbers: the first array holds leave-one-row-out within the source (the engine's
    constants from its other rows: does the engine *model* hold on rows it did not see?), the
    second the strict source-out figure with the engine unknown (predicted as the default
    engine). Elsewhere both arrays hold the same LOSO error."""
    errors = np.full(len(cases), np.nan)
    strict = np.full(len(cases), np.nan)
    for layer in LAYERS:
        idx = [i for i, c in enumerate(cases) if layer_of(c) == layer]
        for source in sorted({source_of(cases[i]) for i in idx}):
            held = [i for i in idx if source_of(cases[i]) == source]
            train = [c for i, c in enumerate(cases) if i not in held]
            refit = fit_layer(layer, train, params)
            engine = engine_for_source(cases[held[0]].source)
            alone = layer == "engine" and _engine_sources(cases, engine) == {source}
            if not alone:
                pred = predictions(refit, [cases[i] for i in held])
                for i, p in zip(held, pred, strict=True):
                    errors[i] = strict[i] = _pct(p, cases[i])
                continue
            unknown = [dataclasses.replace(cases[i], source="") for i in held]
            for i, p in zip(held, predictions(refit, unknown), strict=True):
                strict[i] = _pct(p, cases[i])
            for i in held:
                one_out = fit_layer(layer, [c for j, c in enumerate(cases) if j != i], params)
                errors[i] = _pct(float(predictions(one_out, [cases[i]])[0]), cases[i])
    return errors, strict


def leave_one_payload_out(cases: list[Case], params: GpuModelParams) -> np.ndarray:
    """Signed % error of every all-reduce row predicted by the link layer refitted without every
    row of its payload (all GPUs and TP degrees): do the protocol/algorithm switches and the
    latency/bandwidth split hold on payloads the fit never saw? NaN for other rows."""
    errors = np.full(len(cases), np.nan)
    idx = [i for i, c in enumerate(cases) if c.scenario is Scenario.ALLREDUCE]
    for size in sorted({cases[i].message_bytes for i in idx}):
        held = [i for i in idx if cases[i].message_bytes == size]
        refit = fit_layer("allreduce", [c for i, c in enumerate(cases) if i not in held], params)
        for i, p in zip(held, predictions(refit, [cases[i] for i in held]), strict=True):
            errors[i] = _pct(p, cases[i])
    return errors


def serving_errors(cases: Sequence[Case], params: GpuModelParams) -> dict[str, float]:
    """Signed % error of the out-of-fit serving rows under `params` (serving simulator)."""
    module = serving_scenarios()
    rows = [c for c in cases if layer_of(c) is None]
    if module is None:
        return {}
    out = {}
    for case in rows:
        r = predict_case(case, predictor_for(params, serving=True), module)
        assert r.error_pct is not None
        out[case.case_id] = r.error_pct
    return out


def summary(errors: Sequence[float]) -> str:
    e = [abs(x) for x in errors]
    if not e:
        return "no rows"
    return f"MAPE {statistics.fmean(e):5.1f} %  median {statistics.median(e):5.1f} %  " \
        f"max {max(e):6.1f} %  ({len(e)} rows)"  # fmt: skip


def write_params(params: GpuModelParams, notes: list[str]) -> None:
    lines = [
        '"""Fitted constants of the GPU baseline model (`perf/gpu.py`).',
        "",
        "GENERATED by benchmarks/fit_gpu.py from ador_opt/data/calibration_cases.csv and",
        "ador_opt/data/operator_cases.csv, layer by layer (gemm rows → GEMM constants,",
        "allreduce rows → NVLink constants, whole-step rows → engine overheads); do not edit",
        "by hand, re-run the script. Meanings and units in `GpuModelParams` (perf/gpu.py).",
        *notes,
        '"""',
        "",
    ]
    for name in PARAM_NAMES:
        lines.append(f"{name.upper()} = {getattr(params, name):.6g}")
    lines += [
        "",
        "# Not fitted. NVLink SHARP (NVLS) all-reduce is off for the GPU baselines: on the",
        "# measured H100 DGX rows the 32 MiB all-reduce takes 167 µs at TP4 and 196 µs at TP8,",
        "# the ring's (p−1)/p ratio (1.17); NVLS moves the same bytes at any TP (ratio 1.0), so",
        "# that system ran rings. The NVLS path stays in perf/collectives.py for links with it.",
        f"GPU_NVLS = {gpu_params.GPU_NVLS}",
        "# NVLS switch latency: NCCL 2.18 src/graph/tuning.cc hwLat NVLink/NVLS = 23 µs.",
        f"NVLS_LATENCY_S = {gpu_params.NVLS_LATENCY_S:.6g}",
    ]
    PARAMS_FILE.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-write", action="store_true", help="do not write gpu_params.py")
    parser.add_argument("--no-cv", action="store_true", help="skip cross-validation")
    args = parser.parse_args(argv)

    cases = [c for path in CASE_FILES for c in load_cases(path)]
    fitted_rows = [c for c in cases if layer_of(c) is not None]
    t0 = time.perf_counter()
    params = fit_all(fitted_rows, DEFAULT_PARAMS)
    print(f"fitted {len(PARAM_NAMES)} parameters in 3 layers on {len(fitted_rows)} rows "
          f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    for layer, (names, _) in LAYERS.items():
        print(f"  [{layer}]")
        for name in names:
            lo, hi = BOUNDS[name]
            value = getattr(params, name)
            edge = "  (at bound)" if min(value / lo, hi / value) < 1.01 else ""
            print(f"    {name.upper():<24} = {value:.4g}{edge}")

    pred = predictions(params, fitted_rows)
    insample = (
        (pred - np.array([c.value for c in fitted_rows]))
        / np.array([c.value for c in fitted_rows])
        * 100.0
    )
    cv = np.full(len(fitted_rows), np.nan)
    cv_strict = cv.copy()
    if not args.no_cv:
        t0 = time.perf_counter()
        cv, cv_strict = loso(fitted_rows, params)
        print(f"leave-one-source-out cross-validation in {time.perf_counter() - t0:.1f} s")

    header = f"{'case':<7}{'scenario':<13}{'hardware':<15}{'tp':>3} {'model':<13}"
    header += f"{'measured':>10}{'predicted':>11}{'err %':>8}{'LOSO %':>8}{'strict':>8}"
    print(header)
    for i, case in enumerate(fitted_rows):
        print(
            f"{case.case_id:<7}{case.scenario.value:<13}{case.hardware:<15}{case.tp:>3} "
            f"{case.model or '-':<13}{case.value:>10.4g}{pred[i]:>11.4g}{insample[i]:>8.1f}"
            f"{cv[i]:>8.1f}{cv_strict[i]:>8.1f}"
        )
    print("\n'strict': rows of an engine seen in one source only, predicted with that source")
    print("left out and the engine unknown (default engine); LOSO: leave-one-row-out there.")
    print("\nerror by layer              in-sample                               LOSO")
    for layer in LAYERS:
        sel = [i for i, c in enumerate(fitted_rows) if layer_of(c) == layer]
        print(f"  {layer:<10} {summary(insample[sel])}   |   {summary(cv[sel])}")
        if not np.allclose(cv[sel], cv_strict[sel], equal_nan=True):
            print(f"  {'':<10} {'':<52}strict |   {summary(cv_strict[sel])}")
    bad = contradicted_allreduce_rows(fitted_rows)
    print(f"all-reduce rows contradicted by a row with ≥ payload and ≥ devices ({len(bad)}):")
    for why in bad.values():
        print(f"    {why}")
    sel = [
        i
        for i, c in enumerate(fitted_rows)
        if c.scenario is Scenario.ALLREDUCE and c.case_id not in bad
    ]
    print(f"  consistent {summary(insample[sel])}   |   {summary(cv[sel])}")
    if not args.no_cv:
        lopo = leave_one_payload_out(fitted_rows, params)
        every = [i for i, c in enumerate(fitted_rows) if c.scenario is Scenario.ALLREDUCE]
        print("  all-reduce, leave-one-payload-out (each payload predicted by a fit without it):")
        print(f"    all        {summary(lopo[every])}")
        print(f"    consistent {summary(lopo[sel])}")
    print("error by scenario")
    for scenario in Scenario:
        sel = [i for i, c in enumerate(fitted_rows) if c.scenario is scenario]
        if sel:
            print(f"  {scenario.value:<12} {summary(insample[sel])}   |   {summary(cv[sel])}")
            if not np.allclose(cv[sel], cv_strict[sel], equal_nan=True):
                print(f"  {'':<12} {'':<52}strict |   {summary(cv_strict[sel])}")
    notes: list[str] = []
    gpu_model.DEFAULT_PARAMS = params  # the serving simulator calls the product's step model
    serving = serving_errors(cases, params)
    if serving:
        out_rows = [c for c in cases if c.case_id in serving]
        for scenario in (Scenario.OFFLINE, Scenario.CLOSED_LOOP):
            errs = [serving[c.case_id] for c in out_rows if c.scenario is scenario]
            if errs:
                print(f"  {scenario.value:<12} {summary(errs)}   (out of fit: = LOSO)")
        every_in = [*insample, *serving.values()]
        every_cv = [*cv, *serving.values()]
        every_strict = [*cv_strict, *serving.values()]
        print(f"all rows     in-sample {summary(every_in)}")
        if not args.no_cv:
            print(f"all rows     LOSO      {summary(every_cv)}")
            print(f"all rows     strict    {summary(every_strict)}")
            notes += [
                f"All {len(every_in)} rows: in-sample MAPE {np.mean(np.abs(every_in)):.1f} %, "
                f"leave-one-source-out MAPE {np.mean(np.abs(every_cv)):.1f} %",
                f"({np.mean(np.abs(every_strict)):.1f} % with the Python-eager engine, seen in "
                "one source only, unknown).",
            ]
    else:
        print("(serving simulator not available: serving rows not scored)")
    if not args.no_write:
        write_params(params, notes)
        print(f"wrote {PARAMS_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
