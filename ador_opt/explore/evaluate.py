"""Evaluate one design point through the pruning stages (no Optuna here: pure functions).

`evaluate_point(ctx, params)` maps sampled parameters to an ArchConfig and runs the stages of
`constraints.STAGES` cheapest first, stopping at the first violated one. Infeasible points get
placeholder objective values (each objective's reference value: finite, never NaN) and no
simulation. The serving stage calls `ador_opt.serving.find_capacity` (imported lazily);
`EvalContext.capacity_fn` swaps it (tests, benchmarks).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ador_opt.errors import InputError
from ador_opt.explore.constraints import first_violated_stage, relative_violation
from ador_opt.explore.objectives import METRICS
from ador_opt.explore.space import SearchSpace, realise
from ador_opt.explore.spec import ServingScenario, StaticScenario, StudySpec
from ador_opt.hardware import area_breakdown, cost_breakdown
from ador_opt.hardware.arch import ArchConfig
from ador_opt.hardware.power import tdp_w
from ador_opt.hardware.presets import Hardware
from ador_opt.models.spec import ModelSpec
from ador_opt.perf import evaluate_static_batch
from ador_opt.perf.evaluate import energy_metrics
from ador_opt.perf.memory import (
    check_memory,
    dram_bytes_per_device,
    kv_bytes_per_token_per_device,
)
from ador_opt.perf.parallel import check_parallelism
from ador_opt.serving.arrivals import PoissonArrivals
from ador_opt.serving.scheduler import SchedulerConfig
from ador_opt.serving.simulator import rng_streams
from ador_opt.serving.slo import Slo, resolve_slo

# (hw, model, scenario, slo_ttft_p90_ms, slo_tbt_p99_ms, tp) → metrics of one TP group:
# capacity_rps, ttft_p90_ms, tbt_p99_ms, throughput_tokens_per_s.
CapacityFn = Callable[[Hardware, ModelSpec, ServingScenario, float, float, int], dict[str, float]]


def serving_slo(spec: StudySpec, model: ModelSpec) -> Slo:
    """The serving SLO of `model` in this study: the spec's `[slo]` limits, the project's one
    default (`serving.slo.resolve_slo`) for any it leaves unset."""
    slo = spec.file.slo
    return resolve_slo(model, slo.ttft_p90_ms, slo.tbt_p99_ms)


# Capacity precision inside a study: the bisection stops when the bracket is within 5 % (the
# CLI's `capacity` keeps serving.capacity.DEFAULT_REL_TOL, 2 %). Assumption: a design's rank
# on the front is decided by differences larger than that — the shipped studies' neighbouring
# designs differ by 5–40 % in capacity per mm² — and the reported capacity stays a lower bound
# (the highest rate that met the SLO). Saves one to two simulations per trial.
STUDY_CAPACITY_REL_TOL = 0.05


# Warm start: the first step just inside the study's bracket width (a feasible probe at the
# predicted rate and an infeasible one a step above already end the search).
WARM_FIRST_STEP = 1 + 0.999 * STUDY_CAPACITY_REL_TOL
WARM_NEIGHBOURS = 4  # nearest simulated designs whose capacity / estimate predict a new one
WARM_MIN_KNOWN = 3  # fewer simulated designs: start from the plain estimate
# From this many simulated designs on, the ratio is predicted by a log-linear fit over all of
# them instead (`_fitted_ratio`). Measured on 152 simulated designs of two 80-trial chatbot
# studies (seeds 0, 1; each predicted from the designs before it): median |log error| 0.033
# and p90 0.10 against 0.049 and 0.20 for the 4 nearest neighbours, i.e. a median of 2
# instead of 3 probes per search. WARM_RIDGE (the penalty on the centred log2 features) was
# the best of 0.01–10 there (0.1–0.3 within noise of each other); the ratio is driven mostly
# by the array size, the core count and the DRAM bandwidth (correlations 0.75, 0.56, 0.48).
WARM_FIT_MIN_KNOWN = 8
WARM_RIDGE = 0.3


def _features(config: Mapping[str, Any]) -> dict[str, float]:
    """log2 of the positive numeric config fields (the distance of the warm start)."""
    out = {}
    for k, v in config.items():
        if isinstance(v, int | float) and not isinstance(v, bool) and v > 0:
            out[k] = float(np.log2(v))
    return out


def _fitted_ratio(mine: Mapping[str, float], known: list[tuple[dict[str, float], float]]) -> float:
    """exp of a ridge fit of log(ratio) on the centred log2 features of the `known` designs
    (`WARM_RIDGE` penalty, intercept unpenalised), evaluated at `mine` (missing fields: 0)."""
    keys = sorted({k for f, _ in known for k in f} | set(mine))
    x = np.array([[f.get(k, 0.0) for k in keys] for f, _ in known])
    y = np.log([r for _, r in known])
    mu, y_mu = x.mean(axis=0), y.mean()
    xc = x - mu
    beta = np.linalg.solve(xc.T @ xc + WARM_RIDGE * np.eye(len(keys)), xc.T @ (y - y_mu))
    here = np.array([mine.get(k, 0.0) for k in keys]) - mu
    return float(np.exp(here @ beta + y_mu))


def capacity_start_scale(ctx: EvalContext, arch: ArchConfig) -> float | None:
    """Predicted capacity / saturation-estimate ratio of `arch` from the designs simulated so
    far: a log-linear fit over all of them (`_fitted_ratio`) from `WARM_FIT_MIN_KNOWN` on,
    before that the median ratio of the `WARM_NEIGHBOURS` nearest (Euclidean in log2 of the
    numeric fields, categorical fields count 1 when they differ); None with fewer than
    `WARM_MIN_KNOWN` known."""
    if len(ctx.neighbours) < WARM_MIN_KNOWN:
        return None
    here = arch.to_dict()
    mine = _features(here)
    if len(ctx.neighbours) >= WARM_FIT_MIN_KNOWN:
        return _fitted_ratio(mine, [(_features(c), r) for c, r in ctx.neighbours])
    scored = []
    for config, ratio in ctx.neighbours:
        theirs = _features(config)
        d = sum((mine.get(k, 0.0) - theirs.get(k, 0.0)) ** 2 for k in set(mine) | set(theirs))
        d += sum(
            1.0 for k, v in here.items() if isinstance(v, str) and k in config and config[k] != v
        )
        scored.append((d, ratio))
    scored.sort(key=lambda x: x[0])
    return float(np.median([r for _, r in scored[:WARM_NEIGHBOURS]]))


def serving_capacity(
    hw: Hardware,
    model: ModelSpec,
    sc: ServingScenario,
    ttft_ms: float,
    tbt_ms: float,
    tp: int,
    stop: Callable[..., bool] | None = None,
    start_scale: float | None = None,
) -> dict[str, float]:
    """Capacity of one TP group via the serving simulator (`ador_opt.serving`). `stop(lo, hi,
    report)` may end the bisection early (see `_front_stop`); `start_scale` (the neighbours'
    capacity / estimate, `capacity_start_scale`) starts the search there with a first step of
    the study's bracket width, so a good prediction is bracketed in two probes."""
    serving: Any = importlib.import_module("ador_opt.serving")
    workload = serving.workload_preset(sc.workload)
    slo = Slo(ttft_p90_ms=ttft_ms, tbt_p99_ms=tbt_ms)
    result = serving.find_capacity(
        hw,
        model,
        workload,
        slo,
        num_requests=sc.num_requests,
        seed=sc.seed,
        tp=tp,
        rel_tol=STUDY_CAPACITY_REL_TOL,
        stop=stop,
        **(
            {}
            if start_scale is None
            else {"start_scale": start_scale, "first_step": WARM_FIRST_STEP}
        ),
    )
    out = capacity_metrics(result)
    out["capacity_probes"] = float(len(result.probes))
    if result.saturation_estimate_per_s > 0 and result.max_rate_per_s > 0:
        out["capacity_ratio"] = result.max_rate_per_s / result.saturation_estimate_per_s
    if result.stopped_early:
        # The design cannot reach the front: its capacity is known to lie in [lo, hi).
        out["capacity_upper_rps"] = float(result.upper_rate_per_s)
    if result.capped:  # the run was too short to load the design: capacity is a lower bound
        out["capacity_capped"] = 1.0
    return out


# --- the optimistic bound (multi-fidelity step 1) -------------------------------------------
@functools.lru_cache(maxsize=64)
def _scenario_draws(
    model: ModelSpec, workload: str, num_requests: int, seed: int
) -> tuple[Any, Any, Any]:
    """The prompt and output lengths the serving simulator draws for this scenario and its
    arrival times at rate 1/s (same generators, same seed: `serving.simulator.rng_streams`;
    a Poisson probe at rate λ sees these times / λ)."""
    serving: Any = importlib.import_module("ador_opt.serving")
    rng_len, rng_arr = rng_streams(seed)
    ins, outs = serving.workload_preset(workload).sample(num_requests, rng_len, model.max_context)
    unit_times = PoissonArrivals(1.0).times(num_requests, rng_arr)
    return ins.astype(float), outs.astype(float), unit_times


def serving_bound(
    arch: ArchConfig, model: ModelSpec, sc: ServingScenario, slo: Slo
) -> dict[str, float]:
    """Optimistic serving metrics of one TP group from the roofline alone (no simulation):

    * `capacity_rps`: no probe above it can meet the TTFT p90 limit T. Prefills complete in
      arrival order (the schedulers admit first-come first-served and fill a step's token
      budget from the oldest prompt), so request k's first token needs the prefill floor
      PW_k of requests 1…k: their linear-layer FLOPs at peak, or one weight pass per step of
      at most `chunk_size` prompt tokens at `dram_gbps`, whichever is larger. A rate λ meets
      the p90 only if some k ≥ ⌈0.9 n⌉ has t_k/λ + T ≥ t_1/λ + PW_k (t: the scenario's
      arrival times at rate 1), i.e. λ ≤ max over those k of (t_k − t_1) / (PW_k − T);
      infinite (no bound) when some PW_k ≤ T or the SLO has no TTFT limit;
    * `tbt_p99_ms`: the p99 over all inter-token gaps of each gap's own DRAM floor (one weight
      pass + that token's KV context);
    * `ttft_p90_ms`: the p90 over requests of each prompt's own prefill floor.

    Attention, vector work, decode work and every overhead are ignored, so the simulated run
    is slower (tests/test_explore_fidelity.py checks all three against full simulations)."""
    tp = arch.tp
    ins, outs, unit_times = _scenario_draws(model, sc.workload, sc.num_requests, sc.seed)
    n = len(ins)
    chunk = SchedulerConfig().chunk_size
    params = linear_params(model)
    # Weights that cannot stay on chip are streamed from DRAM every step (all of them for
    # any LLM this engine models; the SRAM is subtracted so the floor never overstates).
    sram_bytes = (arch.global_sram_mib * 2**20) + arch.core_count * arch.local_sram_kib * 2**10
    weights = max(0.0, streamed_params(model, arch) * model.bytes_per_weight / tp - sram_bytes)
    kvb = kv_bytes_per_token_per_device(model, tp)
    bw = arch.dram_gbps * 1e9
    peak = arch.peak_tflops * 1e12
    cum_in = np.cumsum(ins)
    # FLOPs floor over the whole replica (tp · ep · pp devices share them at best).
    flops_devices = arch.replica_devices
    pw = np.maximum(
        2.0 * params * cum_in / flops_devices / peak, np.ceil(cum_in / chunk) * weights / bw
    )
    cap = float("inf")
    limit_s = slo.ttft_p90_ms / 1e3
    if math.isfinite(limit_s):
        k0 = math.ceil(0.9 * n) - 1  # 0-based index of the ⌈0.9 n⌉-th request
        excess = pw[k0:] - limit_s
        if np.all(excess > 0):
            cap = float(np.max((unit_times[k0:] - unit_times[0]) / excess))
    # Per-gap floors: gap j of a request reads the weights and its context (in + j) of KV.
    gaps = np.concatenate([i + np.arange(1, int(o)) for i, o in zip(ins, outs, strict=True)])
    ctx_p99 = float(np.quantile(gaps, 0.99, method="inverted_cdf")) if len(gaps) else 0.0
    tbt = (weights + ctx_p99 * kvb) / bw
    prefill = np.maximum(
        2.0 * params * ins / flops_devices / peak, np.ceil(ins / chunk) * weights / bw
    )
    ttft = float(np.quantile(prefill, 0.9, method="inverted_cdf"))
    return {"capacity_rps": cap, "tbt_p99_ms": tbt * 1e3, "ttft_p90_ms": ttft * 1e3}


def capacity_metrics(result: Any) -> dict[str, float]:
    """Pick the metrics the study needs out of a `CapacityResult`."""
    out = {"capacity_rps": float(result.max_rate_per_s)}
    report = getattr(result, "report", None)
    if report is not None:
        for name, path in (
            ("ttft_p90_ms", ("ttft_ms", "p90")),
            ("tbt_p99_ms", ("tbt_ms", "p99")),
        ):
            value = _lookup(report, path)
            if value is not None:
                out[name] = float(value)
        tput = _lookup(report, ("throughput_tokens_per_s",))
        if tput is not None:
            out["throughput_tokens_per_s"] = float(tput)
    return out


def _lookup(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if obj is None:
            return None
        obj = obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)
    return obj


@dataclass(frozen=True, slots=True)
class EvalContext:
    """`front`: objective vectors of the study's feasible trials so far (the spec's
    directions), for the bound skip and the capacity search's early stop; empty disables
    both."""

    spec: StudySpec
    capacity_fn: CapacityFn | None = None
    front: tuple[tuple[float, ...], ...] = ()
    bound_skip: bool = True  # skip designs whose optimistic bound the front dominates
    # (config, capacity / saturation estimate) of designs simulated so far: the warm start
    neighbours: tuple[tuple[dict[str, Any], float], ...] = ()

    @property
    def space(self) -> SearchSpace:
        return self.spec.space

    @property
    def scenario_hash(self) -> str:
        return _scenario_hash(self.spec)


def _scenario_hash(spec: StudySpec) -> str:
    d = spec.to_dict()
    keep = {k: d[k] for k in ("model", "scenarios", "slo", "budget", "objectives", "constraints")}
    if "robust" in d:  # aggregated values depend on it (absent: keys of earlier studies)
        keep["robust"] = d["robust"]
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class PointResult:
    """Everything a trial stores (see the storage schema)."""

    params: dict[str, Any]
    config: dict[str, Any]
    area_mm2: float
    cost_usd: float
    peak_tflops: float
    area_breakdown: dict[str, Any]
    metrics: dict[str, float]
    constraints: dict[str, float]
    rejected_by: str
    reason: str
    values: tuple[float, ...]
    cache_key: str
    eval_s: float = 0.0
    # Why the full evaluation was skipped ("" when it ran): the design's optimistic bound is
    # dominated by the study's front. Such a trial is stored PRUNED, never with values.
    skipped: str = ""

    @property
    def feasible(self) -> bool:
        return self.rejected_by == "" and not self.skipped


def cache_key(ctx: EvalContext, arch: ArchConfig | None, fields: Mapping[str, Any]) -> str:
    """Canonical key: the config's content hash + the scenario hash (DESIGN §7)."""
    if arch is not None:
        base = arch.canonical_key()
    else:
        base = (
            "invalid:"
            + hashlib.sha256(
                json.dumps(dict(fields), sort_keys=True, default=str).encode()
            ).hexdigest()[:20]
        )
    return f"{base}-{ctx.scenario_hash}"


def placeholder_values(spec: StudySpec) -> tuple[float, ...]:
    """Objective values of an infeasible point: each objective's reference (worst acceptable)."""
    return tuple(o.reference for o in spec.objectives)


def linear_params(model: ModelSpec) -> int:
    """Weights every token multiplies with: projections of each layer (only the top-k and
    shared experts of a MoE layer), the router and the LM head (`ModelSpec.
    linear_params_per_token`). Embedding lookups and norms are not matrix products."""
    return model.linear_params_per_token


def streamed_params(model: ModelSpec, arch: ArchConfig) -> float:
    """`linear_params` a device of the design streams at least per step: with expert
    parallelism the busiest expert device holds at least the mean k/ep of the top-k experts
    (perf/expert.py), so the bound keeps only that share of them."""
    params = float(linear_params(model))
    if arch.ep > 1 and model.num_experts > 1:
        layers = int(getattr(model, "moe_layers", model.num_layers))
        params -= layers * model.experts_per_token * model.expert_params * (1 - 1 / arch.ep)
    return params


def _lower_bounds_ms(
    arch: ArchConfig, model: ModelSpec, sc: StaticScenario | ServingScenario
) -> tuple[float, float]:
    """Roofline lower bounds (TTFT, TBT) in ms on one device of the TP group.

    Every step reads at least the device's shard of `linear_params` weights from DRAM at no
    more than `dram_gbps`; a prefill also performs 2 · linear_params · prompt tokens / tp FLOPs
    at no more than peak. The serving bound uses a one-token prompt (the workload's lengths are
    the simulator's business). Both ignore attention, so they never exceed the model's times.
    """
    tp = arch.tp
    params = float(linear_params(model))
    stream_s = streamed_params(model, arch) * model.bytes_per_weight / tp / (arch.dram_gbps * 1e9)
    tokens = sc.batch * sc.input_len if isinstance(sc, StaticScenario) else 1
    # A device of a tp·ep·pp replica does at least its 1/(tp·ep·pp) share of the FLOPs.
    compute_s = 2.0 * params * tokens / arch.replica_devices / (arch.peak_tflops * 1e12)
    return max(stream_s, compute_s) * 1e3, stream_s * 1e3


def _kv_tokens(model: ModelSpec, sc: StaticScenario | ServingScenario) -> int:
    """KV tokens one TP group must hold: the whole static batch, or one request of the
    model's maximum context for serving (the scheduler queues the rest)."""
    if isinstance(sc, StaticScenario):
        return sc.batch * (sc.input_len + sc.output_len)
    return model.max_context


def _slo_limits(
    spec: StudySpec, model: ModelSpec, sc: StaticScenario | ServingScenario
) -> tuple[float | None, ...]:
    slo = spec.file.slo
    if isinstance(sc, StaticScenario):
        return slo.ttft_ms, slo.tbt_ms
    s = serving_slo(spec, model)
    return (None if s.ttft_p90_ms == float("inf") else s.ttft_p90_ms), s.tbt_p99_ms


def _design_metrics(
    arch: ArchConfig, area: float, cost: float, precision: str
) -> dict[str, float]:
    return {
        "area_mm2": area,
        "cost_usd": cost,
        "peak_tflops": arch.peak_tflops,
        "tdp_w": tdp_w(arch, precision),
    }


def _static_metrics(
    hw: Hardware, arch: ArchConfig, model: ModelSpec, sc: StaticScenario, area: float, cost: float
) -> dict[str, float]:
    r = evaluate_static_batch(hw, model, sc.batch, sc.input_len, sc.output_len, arch.tp)
    replicas = arch.dp  # devices / (tp · ep · pp)
    tput = r.throughput_tokens_per_s * replicas
    energy = energy_metrics(r.energy_j, r.e2e_ms, sc.batch * sc.output_len, arch.replica_devices)
    return {
        "ttft_ms": r.ttft_ms,
        "tbt_ms": r.tbt_ms,
        "e2e_ms": r.e2e_ms,
        "throughput_tokens_per_s": tput,
        "throughput_per_mm2": tput / (arch.devices * area),
        "throughput_per_usd": tput / (arch.devices * cost),
        "power_w": energy["power_w"],
        "energy_per_token_j": energy["energy_per_token_j"],
        "tokens_per_joule": energy["tokens_per_joule"],
    }


def evaluate_point(ctx: EvalContext, params: Mapping[str, Any]) -> PointResult:
    """Run the pruning stages on one sampled point."""
    t0 = time.perf_counter()
    spec = ctx.spec
    names = spec.constraints
    cons = dict.fromkeys(names, 0.0)
    real = realise(ctx.space, params)
    key = cache_key(ctx, real.arch, real.fields)
    placeholders = placeholder_values(spec)

    def done(
        arch: ArchConfig | None,
        metrics: dict[str, float],
        values: tuple[float, ...],
        reason: str,
        skipped: str = "",
    ) -> PointResult:
        rejected = first_violated_stage(cons)
        if rejected:
            values = placeholders
        if arch is not None:
            bd = area_breakdown(arch)
            area, cost, peak = bd.total_mm2, cost_breakdown(arch).total_usd, arch.peak_tflops
            bd_dict = dict(bd.to_dict())
        else:
            area, cost, peak, bd_dict = _invalid_area(real.fields)
        return PointResult(
            params=dict(params),
            config=dict(real.fields),
            area_mm2=area,
            cost_usd=cost,
            peak_tflops=peak,
            area_breakdown=bd_dict,
            metrics=metrics,
            constraints=cons,
            rejected_by=rejected,
            reason=reason,
            values=tuple(float(v) for v in values),
            cache_key=key,
            eval_s=time.perf_counter() - t0,
            skipped=skipped,
        )

    # Stage 1: parameter sanity.
    if real.arch is None:
        cons["sanity"] = real.violation
        return done(None, {}, placeholders, real.reason)
    arch = real.arch
    hw = Hardware(arch.name, arch, None)
    area = area_breakdown(arch).total_mm2
    cost = cost_breakdown(arch).total_usd
    metrics = _design_metrics(arch, area, cost, spec.file.model.precision)
    # Tensor parallelism splits attention heads across the group (models/ops.py); expert and
    # pipeline parallelism split the experts and the layers (perf/parallel.py).
    for each in spec.models:
        try:
            check_parallelism(each, arch.tp, arch.ep, arch.pp)
        except InputError as exc:
            cons["sanity"] = 1.0
            return done(arch, metrics, placeholders, str(exc))
    budget = spec.file.budget

    # Stage 2: area / cost / power budget (per device) and the die-edge (shoreline) fit.
    if "area" in cons and budget.area_mm2 is not None:
        cons["area"] = relative_violation(area, budget.area_mm2)
    if "cost" in cons and budget.cost_usd is not None:
        cons["cost"] = relative_violation(cost, budget.cost_usd)
    if "power" in cons and budget.power_w is not None:
        cons["power"] = relative_violation(metrics["tdp_w"], budget.power_w)
    if "shoreline" in cons:
        bd = area_breakdown(arch)
        cons["shoreline"] = relative_violation(bd.shoreline_used_mm, bd.shoreline_available_mm)
    # Stages 3 and 4: SRAM holds one token; weights + KV fit DRAM (cheap, evaluated together).
    # With several models/scenarios each constraint keeps its worst (largest) value.
    found: dict[str, list[float]] = {}
    reasons: list[str] = []
    for model in spec.models:
        for sc in spec.file.scenarios:
            check = check_memory(hw, model, arch.tp, _kv_tokens(model, sc))
            found.setdefault("sram", []).append(check.sram_holds_token / arch.local_sram_kib)
            found.setdefault("memory", []).append(check.weights_fit / dram_bytes_per_device(hw))
            if check.reason:
                reasons.append(f"{model.name}: {check.reason}")
    _set_worst(cons, found)

    # Stage 5: the roofline lower bound already violates an SLO.
    found = {}
    for model in spec.models:
        for sc in spec.file.scenarios:
            ttft_lb, tbt_lb = _lower_bounds_ms(arch, model, sc)
            ttft_slo, tbt_slo = _slo_limits(spec, model, sc)
            if ttft_slo is not None:
                found.setdefault("roofline_ttft", []).append(relative_violation(ttft_lb, ttft_slo))
            if tbt_slo is not None:
                found.setdefault("roofline_tbt", []).append(relative_violation(tbt_lb, tbt_slo))
    _set_worst(cons, found)
    stage = first_violated_stage(cons)
    if stage:
        reason = {
            "budget": "over the area/cost/power budget or the die-edge (shoreline) limit",
            "roofline_slo": "the roofline lower bound already exceeds an SLO",
        }.get(stage, "; ".join(dict.fromkeys(reasons)))
        return done(arch, metrics, placeholders, reason)

    # Multi-fidelity: skip the simulation when even the optimistic bound is dominated.
    bound = _bound_skip(ctx, arch, area, cost)
    if bound is not None:
        metrics.update({f"bound_{k}": v for k, v in bound.items()})
        return done(
            arch,
            metrics,
            placeholders,
            "skipped: the optimistic bound (roofline capacity, latency floors) is dominated by "
            "a design of the study",
            skipped="bound_dominated",
        )

    # Stage 6: the full evaluation (static batch and/or serving simulation).
    per_pair: list[dict[str, float]] = []
    found = {}
    for model in spec.models:
        for sc in spec.file.scenarios:
            try:
                m = _full_metrics(ctx, hw, arch, model, sc, area, cost)
            except InputError as exc:  # a combination the performance models refuse
                cons["sanity"] = 1.0
                return done(arch, metrics, placeholders, f"{model.name}: {exc}")
            per_pair.append(m)
            for name, v in _full_constraints(spec, sc, m).items():
                found.setdefault(name, []).append(v)
    _set_worst(cons, found)
    keys = sorted({k for m in per_pair for k in m})
    pair_weights = spec.pair_weights
    for k in keys:
        have = [i for i, m in enumerate(per_pair) if k in m]
        values_k = [per_pair[i][k] for i in have]
        if len(values_k) == 1:
            metrics[k] = values_k[0]
        elif k in METRICS:  # worst, weighted mean or quantile over the pairs (`[robust]`)
            metrics[k] = spec.aggregate(k, values_k, [pair_weights[i] for i in have])
        else:  # bookkeeping entries (capacity_probes, …) are not registry metrics: the most
            metrics[k] = max(values_k)
    if len(per_pair) > 1:
        i = 0
        for model in spec.models:
            for sc_i, sc in enumerate(spec.file.scenarios):
                label = sc.name or f"scenario{sc_i}"
                for k, v in per_pair[i].items():
                    metrics[f"{k}@{model.name}/{label}"] = v
                i += 1
    values = tuple(metrics.get(o.name, o.reference) for o in spec.objectives)
    return done(arch, metrics, values, "SLO violated" if first_violated_stage(cons) else "")


def _full_metrics(
    ctx: EvalContext,
    hw: Hardware,
    arch: ArchConfig,
    model: ModelSpec,
    sc: StaticScenario | ServingScenario,
    area: float,
    cost: float,
) -> dict[str, float]:
    if isinstance(sc, StaticScenario):
        return _static_metrics(hw, arch, model, sc, area, cost)
    slo = serving_slo(ctx.spec, model)
    replicas = arch.dp  # devices / (tp · ep · pp)
    if ctx.capacity_fn is not None:
        group = ctx.capacity_fn(hw, model, sc, slo.ttft_p90_ms, slo.tbt_p99_ms, arch.tp)
    else:
        stop = _front_stop(ctx, arch, area, cost, replicas)
        scale = capacity_start_scale(ctx, arch)
        group = serving_capacity(
            hw, model, sc, slo.ttft_p90_ms, slo.tbt_p99_ms, arch.tp, stop, scale
        )
    out = dict(group)
    cap = group["capacity_rps"] * replicas
    out["capacity_rps"] = cap
    out["capacity_per_mm2"] = cap / (arch.devices * area)
    out["capacity_per_usd"] = cap / (arch.devices * cost)
    if "throughput_tokens_per_s" in group:
        tput = group["throughput_tokens_per_s"] * replicas
        out["throughput_tokens_per_s"] = tput
        out["throughput_per_mm2"] = tput / (arch.devices * area)
        out["throughput_per_usd"] = tput / (arch.devices * cost)
    return out


# Objectives whose value at the final capacity is bounded by the bracket [lo, hi): capacity
# metrics grow with the rate (at most their value at hi); latency percentiles do not fall as
# the rate grows (assumption: with common random numbers a higher rate never shortens a queue),
# so their value at lo is a best case. Other serving metrics (throughput) have no bound here.
_AT_HI = {"capacity_rps": "", "capacity_per_mm2": "area", "capacity_per_usd": "cost"}
_AT_LO = {"tbt_p99_ms": ("tbt_ms", "p99"), "ttft_p90_ms": ("ttft_ms", "p90")}


def _front_stop(
    ctx: EvalContext, arch: ArchConfig, area: float, cost: float, replicas: int
) -> Callable[[float, float, Any], bool] | None:
    """The capacity search's early stop: True once even the bracket's best case is dominated
    by a design of the study's front (the design cannot be Pareto-optimal, so more bisection
    would only refine a dominated number). Only for one model × one serving scenario."""
    spec = ctx.spec
    if not ctx.front or len(spec.models) * len(spec.file.scenarios) != 1:
        return None
    design = _design_metrics(arch, area, cost, spec.file.model.precision)
    objectives = spec.objectives
    if any(
        o.name not in design and o.name not in _AT_HI and o.name not in _AT_LO for o in objectives
    ):
        return None
    sign = [1.0 if o.direction == "minimize" else -1.0 for o in objectives]
    front = [tuple(s * v for s, v in zip(sign, f, strict=True)) for f in ctx.front]

    def stop(lo: float, hi: float, report: Any) -> bool:
        best: list[float] = []
        for o, s in zip(objectives, sign, strict=True):
            if o.name in design:
                v = design[o.name]
            elif o.name in _AT_HI:
                per = {"": 1.0, "area": arch.devices * area, "cost": arch.devices * cost}
                v = hi * replicas / per[_AT_HI[o.name]]
            else:
                got = _lookup(report, _AT_LO[o.name])
                if got is None:
                    return False
                v = float(got)
            best.append(s * v)
        return any(
            all(f_i <= b_i for f_i, b_i in zip(f, best, strict=True))
            and any(f_i < b_i for f_i, b_i in zip(f, best, strict=True))
            for f in front
        )

    return stop


def _bound_skip(
    ctx: EvalContext, arch: ArchConfig, area: float, cost: float
) -> dict[str, float] | None:
    """The optimistic objective values of a design (`serving_bound`, × replicas, per mm² / $;
    design metrics exact) when a known feasible design dominates them, else None. Only for one
    model × one serving scenario and objectives the bound covers."""
    spec = ctx.spec
    if not ctx.front or not ctx.bound_skip or len(spec.models) * len(spec.file.scenarios) != 1:
        return None
    sc = spec.file.scenarios[0]
    if not isinstance(sc, ServingScenario):
        return None
    model = spec.models[0]
    design = _design_metrics(arch, area, cost, spec.file.model.precision)
    covered = set(design) | set(_AT_HI) | set(_AT_LO)
    if any(o.name not in covered for o in spec.objectives):
        return None
    group = serving_bound(arch, model, sc, serving_slo(spec, model))
    replicas = arch.dp  # devices / (tp · ep · pp)
    cap = group["capacity_rps"] * replicas
    best_case = {
        **design,
        "capacity_rps": cap,
        "capacity_per_mm2": cap / (arch.devices * area),
        "capacity_per_usd": cap / (arch.devices * cost),
        "tbt_p99_ms": group["tbt_p99_ms"],
        "ttft_p90_ms": group["ttft_p90_ms"],
    }
    sign = [1.0 if o.direction == "minimize" else -1.0 for o in spec.objectives]
    best = [s * best_case[o.name] for s, o in zip(sign, spec.objectives, strict=True)]
    for f in ctx.front:
        g = [s * v for s, v in zip(sign, f, strict=True)]
        if all(a <= b for a, b in zip(g, best, strict=True)) and any(
            a < b for a, b in zip(g, best, strict=True)
        ):
            return {k: best_case[k] for k in ("capacity_rps", "tbt_p99_ms", "ttft_p90_ms")}
    return None


def _full_constraints(
    spec: StudySpec, sc: StaticScenario | ServingScenario, m: dict[str, float]
) -> dict[str, float]:
    slo = spec.file.slo
    out: dict[str, float] = {}
    if isinstance(sc, StaticScenario):
        if slo.ttft_ms is not None:
            out["slo_ttft"] = relative_violation(m["ttft_ms"], slo.ttft_ms)
        if slo.tbt_ms is not None:
            out["slo_tbt"] = relative_violation(m["tbt_ms"], slo.tbt_ms)
    else:
        # No arrival rate meets the SLOs ⇒ violated (+1); otherwise satisfied (−1).
        out["slo_capacity"] = 1.0 if m["capacity_rps"] <= 0 else -1.0
    return out


def _set_worst(cons: dict[str, float], found: Mapping[str, list[float]]) -> None:
    """Write the worst value of each evaluated constraint the spec enables."""
    for name, values in found.items():
        if name in cons and values:
            cons[name] = max(values)


def _invalid_area(fields: Mapping[str, Any]) -> tuple[float, float, float, dict[str, Any]]:
    """Area, cost and peak of a point that failed the sanity stage: computed on the same
    fields with the global SRAM and the TP layout made valid, i.e. a lower bound of the area
    (docs/exploration.md). When even that is impossible, 0.0."""
    try:
        patched = dict(fields)
        patched["global_sram_mib"] = max(float(patched.get("global_sram_mib", 0.0)), 1 / 1024)
        patched["tp"] = 1
        patched["devices"] = max(1, int(patched.get("devices", 1)))
        arch = ArchConfig(**patched)
    except Exception:
        return 0.0, 0.0, 0.0, {}
    bd = area_breakdown(arch)
    return bd.total_mm2, cost_breakdown(arch).total_usd, arch.peak_tflops, dict(bd.to_dict())


def constraint_vector(spec: StudySpec, cons: Mapping[str, float]) -> list[float]:
    """Constraint values in the spec's fixed order (the dashboard's `constraints` list)."""
    return [float(cons[name]) for name in spec.constraints]
