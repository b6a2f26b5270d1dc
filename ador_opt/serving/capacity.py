"""Capacity: the highest Poisson arrival rate whose simulation meets the SLO.

Method (Sarathi-Serve §5.1, whose SLOs the ADOR paper uses for its 23.3 req/s result): a rate
is feasible when the run's P90 TTFT, P99 TBT and P50 scheduling delay are within the `Slo`.
The search brackets the boundary starting at the saturation estimate below (up while feasible,
down while not, by a factor that starts at `FIRST_STEP` and squares after every probe, so a
good estimate is bracketed within 10 % in two probes and a poor one still in a few), then
bisects geometrically until the bracket is within `rel_tol` — or until the caller's `stop(lo,
hi, report)` says the bracket already answers its question (the exploration stops once even
the bracket's upper end cannot reach its Pareto front). Every probe uses the same seed, so
lengths are identical and arrival times are the same sample path scaled by 1/rate (common
random numbers): the feasibility of nearby rates is compared on equal footing. The result is
the highest feasible rate probed (a lower bound within `rel_tol` of the boundary of this
seed's sample path, or within [result, `upper_rate_per_s`) when `stop` ended the search).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ador_opt.errors import InputError
from ador_opt.hardware.presets import Hardware
from ador_opt.models.ops import BatchComposition, PrefillChunk
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.step import step_time
from ador_opt.serving.metrics import ServingReport, SloExceeded
from ador_opt.serving.scheduler import SchedulerConfig
from ador_opt.serving.simulator import kv_capacity_tokens, rng_streams, simulate_run
from ador_opt.serving.slo import Slo
from ador_opt.serving.workload import Workload

DEFAULT_REL_TOL = 0.02
MIN_RATE_PER_S = 1e-3  # below this the design is reported as serving nothing
MAX_PROBES = 40
# First bracketing step. Measured on 12 designs of the chatbot study's space: the capacity lies
# within 0.75–1.6× the saturation estimate; starting with ×1.1 needs a median of 3 probes to a
# 5 % bracket against 5 with ×1.25 and 9 with the earlier ×2 from half the estimate. The step
# squares after each probe (×1.1, ×1.21, ×1.46, ×2.14, …) to reach far-off boundaries quickly.
# (Wall time barely moved: the probes of one design share the memoised step times, so a
# design's cost is mostly the performance-model calls for the step shapes its runs visit.)
FIRST_STEP = 1.1
MAX_STEP = 16.0
# Highest rate probed, as a multiple of the saturation estimate. Measured capacities lie within
# 0.75–1.6× the estimate (above); a design that still meets the SLO at 8× it is being served a
# burst it never has to sustain (the run ends before the queue fills), so a higher rate would
# measure nothing new. The search stops there and reports that rate with `capped` set: a lower
# bound on what a longer run (more requests) would measure. Without the ceiling a short run
# grew ×16 per probe for 40 probes (≈ 1e43 req/s), and warm starts inherited the absurd ratio.
RATE_CEILING_FACTOR = 8.0

# `stop(lo, hi, report at lo)`: True when the bracket [lo, hi) is enough for the caller.
StopFn = Callable[[float, float, ServingReport], bool]


# Token budgets tried by `capacity --tune-chunk-size`: Sarathi-Serve's strict (512) and relaxed
# (2048) budgets and the powers of two around them.
TUNED_CHUNK_SIZES = (256, 512, 1024, 2048)


@dataclass(frozen=True, slots=True)
class Probe:
    """One simulated rate of the search (latencies in ms)."""

    rate_per_s: float
    feasible: bool
    ttft_p90_ms: float  # NaN when the probe was aborted early
    tbt_p99_ms: float
    queue_p50_ms: float
    wall_s: float
    aborted: str = ""  # the SLO term that stopped an infeasible run early


@dataclass(frozen=True, slots=True)
class CapacityResult:
    """`max_rate_per_s` (0 when even MIN_RATE_PER_S fails) and the report at that rate."""

    max_rate_per_s: float
    report: ServingReport | None
    slo: Slo
    probes: tuple[Probe, ...]
    saturation_estimate_per_s: float
    chunk_size: int = 0  # the scheduler token budget used (the best one when tuned)
    tuned: dict[int, float] = field(default_factory=dict)  # budget → capacity, when tuned
    upper_rate_per_s: float = math.inf  # lowest infeasible rate probed (the bracket's top)
    stopped_early: bool = False  # `stop` ended the bisection before `rel_tol`
    capped: bool = False  # feasible at the rate ceiling: a lower bound (RATE_CEILING_FACTOR)

    def to_dict(self) -> dict[str, object]:
        return {
            "max_rate": self.max_rate_per_s,
            "max_rate_per_s": self.max_rate_per_s,
            "chunk_size": self.chunk_size,
            "tuned_chunk_sizes": {str(k): v for k, v in self.tuned.items()},
            "slo": self.slo.to_dict(),
            "saturation_estimate_per_s": self.saturation_estimate_per_s,
            "upper_rate_per_s": self.upper_rate_per_s,
            "capped": self.capped,
            "probes": [asdict(p) for p in self.probes],
            "report": None if self.report is None else self.report.to_dict(),
        }


def slo_violations(report: ServingReport, slo: Slo) -> dict[str, float]:
    """Measured − limit for each violated SLO term (empty when the report meets the SLO)."""
    terms = {
        "ttft_p90_ms": (report.ttft_ms.p90, slo.ttft_p90_ms),
        "tbt_p99_ms": (report.tbt_ms.p99, slo.tbt_p99_ms),
        "queue_p50_ms": (report.queue_ms.p50, slo.queue_p50_ms),
    }
    return {k: got - limit for k, (got, limit) in terms.items() if not got <= limit}


def saturation_estimate(
    hw: Hardware, model: ModelSpec, workload: Workload, tp: int, cfg: SchedulerConfig, seed: int
) -> float:
    """Requests/s if prefill ran in full token-budget chunks and decode in batches as large as
    the batch limit and the KV cache allow (an optimistic throughput bound; starts the search)."""
    rng, _ = rng_streams(seed)
    inputs, outputs = workload.sample(512, rng, model.max_context)
    mean_in, mean_out = float(np.mean(inputs)), float(np.mean(outputs))
    chunk = max(1, min(cfg.chunk_size, int(mean_in)))
    prefill = step_time(hw, model, BatchComposition((PrefillChunk(chunk, 0, True),)), tp)
    ctx = max(1, int(mean_in + mean_out / 2))
    kv = kv_capacity_tokens(hw, model, tp, cfg)
    batch = max(1, min(cfg.max_batch, kv // max(1, int(mean_in + mean_out))))
    decode = step_time(hw, model, BatchComposition.decode_only(batch, ctx), tp)
    per_request_s = mean_in * prefill.seconds / chunk + mean_out * decode.seconds / batch
    return cfg.replicas / per_request_s


def find_capacity(
    hw: Hardware,
    model: ModelSpec,
    workload: Workload,
    slo: Slo,
    num_requests: int,
    seed: int,
    tp: int = 1,
    scheduler: SchedulerConfig | None = None,
    *,
    rel_tol: float = DEFAULT_REL_TOL,
    progress: Callable[[Probe], None] | None = None,
    tune_chunk_sizes: Sequence[int] = (),
    stop: StopFn | None = None,
    start_scale: float = 1.0,
    first_step: float = FIRST_STEP,
) -> CapacityResult:
    """Highest feasible arrival rate (req/s over all replicas) under `slo`; see module doc.

    With `tune_chunk_sizes`, the search runs once per token budget and returns the best, as
    Sarathi-Serve picks its budget per deployment by profiling (§4.3). `start_scale` moves the
    first probe from the saturation estimate to `start_scale` × it and `first_step` sets the
    first bracketing factor (a caller that predicts the capacity well — the exploration,
    from already simulated neighbours — brackets it in two probes with `first_step` = 1 +
    `rel_tol`). Neither changes what a probe measures, only which rates are probed."""
    if not isinstance(slo, Slo):
        raise InputError("find_capacity needs an Slo")
    if not 0 < rel_tol < 1:
        raise InputError(f"rel_tol must be in (0, 1), got {rel_tol}")
    if not (math.isfinite(start_scale) and start_scale > 0 and 1 < first_step <= MAX_STEP):
        raise InputError(f"start_scale must be > 0 and first_step in (1, {MAX_STEP}]")
    cfg = scheduler or SchedulerConfig()
    if tune_chunk_sizes:
        results = {
            size: find_capacity(
                hw,
                model,
                workload,
                slo,
                num_requests,
                seed,
                tp,
                cfg.replace(chunk_size=size),
                rel_tol=rel_tol,
                progress=progress,
                stop=stop,
                start_scale=start_scale,
                first_step=first_step,
            )
            for size in sorted(set(tune_chunk_sizes))
        }
        best = max(results.values(), key=lambda r: r.max_rate_per_s)
        return replace(best, tuned={k: r.max_rate_per_s for k, r in results.items()})
    estimate = saturation_estimate(hw, model, workload, tp, cfg, seed)
    probes: list[Probe] = []
    reports: dict[float, ServingReport] = {}

    def feasible(rate: float) -> bool:
        wall = time.perf_counter()
        try:
            report = simulate_run(
                hw, model, workload, rate, num_requests, seed, tp, cfg, slo=slo, abort_on=slo
            ).report
        except SloExceeded as exc:
            nan = math.nan
            probe = Probe(rate, False, nan, nan, nan, time.perf_counter() - wall, str(exc))
            probes.append(probe)
            if progress is not None:
                progress(probe)
            return False
        ok = not slo_violations(report, slo)
        probe = Probe(
            rate,
            ok,
            report.ttft_ms.p90,
            report.tbt_ms.p99,
            report.queue_ms.p50,
            time.perf_counter() - wall,
        )
        probes.append(probe)
        if progress is not None:
            progress(probe)
        if ok:
            reports[rate] = report
        return ok

    lo: float | None = None
    hi: float | None = None
    ceiling = max(estimate, MIN_RATE_PER_S) * RATE_CEILING_FACTOR
    rate = min(max(estimate * start_scale, MIN_RATE_PER_S), ceiling)
    step = first_step
    capped = False
    # A warm start (first_step < FIRST_STEP: the caller predicts the rate within a bracket
    # width) walks one more bracket width before the steps start squaring: a prediction
    # 5-10 % off then needs 3 probes instead of 4.
    hold = 1 if first_step < FIRST_STEP else 0
    while (lo is None or hi is None) and len(probes) < MAX_PROBES:
        if feasible(rate):
            lo = rate
            if hi is None and rate >= ceiling:
                capped = True
                break
            if hi is None:
                rate = min(rate * step, ceiling)
        else:
            hi = rate
            if rate / step < MIN_RATE_PER_S:
                break
            if lo is None:
                rate /= step
        if hold:
            hold -= 1
        else:
            step = min(step * step, MAX_STEP)
    if lo is None:
        upper = math.inf if hi is None else hi
        return CapacityResult(
            0.0, None, slo, tuple(probes), estimate, cfg.chunk_size, upper_rate_per_s=upper
        )
    early = False
    while hi is not None and hi / lo > 1 + rel_tol and len(probes) < MAX_PROBES:
        if stop is not None and stop(lo, hi, reports[lo]):
            early = True
            break
        mid = math.sqrt(lo * hi)
        if feasible(mid):
            lo = mid
        else:
            hi = mid
    return CapacityResult(
        lo,
        reports[lo],
        slo,
        tuple(probes),
        estimate,
        cfg.chunk_size,
        upper_rate_per_s=math.inf if hi is None else hi,
        stopped_early=early,
        capped=capped,
    )
