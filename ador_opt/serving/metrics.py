"""Serving metrics (definitions in docs/metrics.md): TTFT, TBT, E2E, queueing delay, TPOT,
throughput, goodput, utilisation.

Percentiles are nearest-rank: the p-th percentile is the smallest sample x such that at least
p % of the samples (or of the sample weight) are ≤ x. TBT samples are weighted by the number of
tokens that saw that gap, so the TBT percentiles are over every generated token after the first.
All times in the report are milliseconds unless the name says `_s`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ador_opt.perf.result import StepTime
from ador_opt.serving.request import Request

PERCENTILES = (50, 90, 99)
UTILISATION_WINDOWS = 50


class SloExceeded(Exception):
    """Raised inside a run once its outcome can no longer meet the SLO (early abort)."""


class SloWatch:
    """Counts SLO violations as they happen and raises `SloExceeded` as soon as the nearest-rank
    percentile of the finished run is certain to exceed its limit: p90 TTFT > L once more than
    n − ⌈0.9 n⌉ requests exceed L; p50 scheduling delay likewise with 0.5; p99 TBT once tokens
    with a gap > L weigh more than 1 % of all inter-token gaps (known up front). Lets a
    capacity search drop overloaded probes early without changing any verdict."""

    __slots__ = ("_allow", "_bad", "_limit", "_next", "_pending", "_tracked")

    def __init__(
        self, ttft_p90_ms: float, tbt_p99_ms: float, queue_p50_ms: float, requests: int, gaps: int
    ) -> None:
        def allowed(p: float, total: float) -> float:
            return total - p * total * (1 - 1e-9)  # mirrors LatencySummary.of

        self._limit = (ttft_p90_ms / 1e3, tbt_p99_ms / 1e3, queue_p50_ms / 1e3)
        self._allow = (allowed(0.9, requests), allowed(0.99, gaps), allowed(0.5, requests))
        self._bad = [0.0, 0.0, 0.0]
        self._tracked: list[Request] = []  # the run's requests in arrival order (`track`)
        self._next = 0  # first tracked request not yet past the TTFT limit at the last check
        self._pending: list[Request] = []  # past the limit without a first token at a check

    def track(self, requests: Sequence[Request]) -> None:
        """Let `overdue` see the run's requests (any order; sorted here by arrival)."""
        if math.isfinite(self._limit[0]):
            self._tracked = sorted(requests, key=lambda r: r.arrival_s)

    def overdue(self, now_s: float) -> None:
        """Count, at simulated time `now_s`, the tracked requests that have waited longer than
        the TTFT limit and still have no first token: each one's TTFT will exceed the limit
        (its first token comes after `now_s`), so together with the violations already
        counted they may make the p90 certain before those tokens are emitted. Call it only
        after every token due at `now_s` has been recorded (the end of a step)."""
        reqs, i, limit = self._tracked, self._next, self._limit[0]
        pending = self._pending
        while i < len(reqs) and now_s - reqs[i].arrival_s > limit:
            if reqs[i].first_token_s < 0:
                pending.append(reqs[i])
            i += 1
        self._next = i
        # Pending requests that got their first token since are in `_bad` already: prune them
        # only when the (over-)count could exceed the allowance.
        if pending and self._bad[0] + len(pending) > self._allow[0]:
            pending[:] = [r for r in pending if r.first_token_s < 0]
            if self._bad[0] + len(pending) > self._allow[0]:
                raise SloExceeded("ttft_p90_ms")

    def _count(self, which: int, value_s: float, weight: float) -> None:
        if value_s > self._limit[which]:
            self._bad[which] += weight
            if self._bad[which] > self._allow[which]:
                raise SloExceeded(("ttft_p90_ms", "tbt_p99_ms", "queue_p50_ms")[which])

    def ttft(self, value_s: float) -> None:
        self._count(0, value_s, 1.0)

    def tbt(self, value_s: float, tokens: int) -> None:
        self._count(1, value_s, tokens)

    def queue(self, value_s: float) -> None:
        self._count(2, value_s, 1.0)


class RunLog:
    """Raw records of one run, appended by the replicas. `steps` holds one tuple per step, or
    per run of identical back-to-back decode rounds: (replica, start_s, StepTime, decode
    tokens, prefill tokens, count). `watch`, when set, aborts the run as soon as the SLO is
    certainly missed."""

    __slots__ = ("finished", "preemptions", "steps", "tbt_values", "tbt_weights", "watch")

    def __init__(self, watch: SloWatch | None = None) -> None:
        self.tbt_values: list[float] = []
        self.tbt_weights: list[int] = []
        self.steps: list[tuple[int, float, StepTime, int, int, int]] = []
        self.finished: list[Request] = []
        self.preemptions = 0
        self.watch = watch

    def add_tbt(self, value_s: float, tokens: int) -> None:
        self.tbt_values.append(value_s)
        self.tbt_weights.append(tokens)
        if self.watch is not None:
            self.watch.tbt(value_s, tokens)


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Milliseconds: mean and nearest-rank percentiles."""

    mean: float
    p50: float
    p90: float
    p99: float

    @classmethod
    def of(
        cls,
        values_s: Sequence[float] | np.ndarray,
        weights: Sequence[int] | np.ndarray | None = None,
    ) -> LatencySummary:
        v = np.asarray(values_s, dtype=float) * 1e3
        if v.size == 0:
            return cls(math.nan, math.nan, math.nan, math.nan)
        w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=float)
        order = np.argsort(v, kind="stable")
        v, w = v[order], w[order]
        cum = np.cumsum(w)
        total = cum[-1]
        pct = [
            float(v[min(v.size - 1, np.searchsorted(cum, p / 100 * total - 1e-9 * total))])
            for p in PERCENTILES
        ]
        return cls(float(np.dot(v, w) / total), *pct)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def nearest_rank(values: Sequence[float] | np.ndarray, p: float) -> float:
    """Nearest-rank p-th percentile (0 < p ≤ 100) of unweighted samples."""
    v = np.sort(np.asarray(values, dtype=float))
    if v.size == 0:
        return math.nan
    return float(v[max(0, math.ceil(p / 100 * v.size) - 1)])


@dataclass(frozen=True, slots=True)
class ServingReport:
    """Result of one serving simulation. Latencies in ms; rates per second of simulated time.

    `duration_s` runs from the first arrival to the last completion. Throughputs and goodput
    divide by it. `utilisation` is busy time / (duration × replicas) per unit (from the perf
    stage's `StepTime.busy_s`, per device of a TP group); `utilisation_over_time` splits the run
    into equal windows (steps assigned to the window holding their start).
    """

    num_requests: int
    completed: int
    duration_s: float
    ttft_ms: LatencySummary
    tbt_ms: LatencySummary
    e2e_ms: LatencySummary
    queue_ms: LatencySummary
    tpot_ms: LatencySummary
    requests_per_s: float
    output_tokens_per_s: float
    input_tokens_per_s: float
    output_tokens: int
    input_tokens: int
    goodput_requests_per_s: float
    utilisation: dict[str, float]
    utilisation_over_time: dict[str, object]
    mean_decode_batch: float
    mean_prefill_tokens_per_step: float
    mean_queue_len: float
    mean_queue_wait_s: float
    offered_rate_per_s: float
    preemptions: int
    steps: int
    distinct_step_shapes: int
    perf_evaluations: int = field(compare=False)  # perf-model calls (0 when cached)
    kv_capacity_tokens: int
    replicas: int
    sim_wall_s: float = field(default=0.0, compare=False)
    slo: dict[str, float] = field(default_factory=dict)

    @property
    def throughput_tokens_per_s(self) -> float:
        """Output tokens per second (the name `evaluate` reports)."""
        return self.output_tokens_per_s

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"throughput_tokens_per_s": self.output_tokens_per_s}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = value.to_dict() if isinstance(value, LatencySummary) else value
        out["throughput"] = {
            "requests_per_s": self.requests_per_s,
            "output_tokens_per_s": self.output_tokens_per_s,
            "input_tokens_per_s": self.input_tokens_per_s,
            "total_tokens_per_s": self.output_tokens_per_s + self.input_tokens_per_s,
        }
        return out


def _utilisation(
    log: RunLog, duration_s: float, replicas: int
) -> tuple[dict[str, float], dict[str, object]]:
    index: dict[int, int] = {}
    shapes: list[StepTime] = []
    step_index = []
    for _, _, st, _, _, _ in log.steps:
        i = index.get(id(st))
        if i is None:
            i = index[id(st)] = len(shapes)
            shapes.append(st)
        step_index.append(i)
    units = sorted({u for st in shapes for u in st.busy_s})
    if not shapes or duration_s <= 0:
        return {u: 0.0 for u in units}, {"window_s": 0.0, "start_s": [], "units": {}}
    busy = np.array(
        [[min(st.busy_s.get(u, 0.0), st.seconds) for u in units] for st in shapes]
    ).reshape(len(shapes), len(units))
    counts = np.array([step[5] for step in log.steps], dtype=float)
    per_step = busy[np.asarray(step_index)] * counts[:, None]
    total = per_step.sum(axis=0)
    mean = {u: float(total[i] / (duration_s * replicas)) for i, u in enumerate(units)}
    window = duration_s / UTILISATION_WINDOWS
    starts = np.array([step[1] for step in log.steps])
    bins = np.minimum((starts / window).astype(int), UTILISATION_WINDOWS - 1)
    series = {
        u: [
            float(x)
            for x in np.bincount(bins, per_step[:, i], UTILISATION_WINDOWS) / (window * replicas)
        ]
        for i, u in enumerate(units)
    }
    return mean, {
        "window_s": window,
        "start_s": [i * window for i in range(UTILISATION_WINDOWS)],
        "units": series,
    }


def build_report(
    log: RunLog,
    requests: Sequence[Request],
    *,
    queue_area: float,
    kv_capacity_tokens: int,
    replicas: int,
    distinct_shapes: int,
    perf_evaluations: int,
    slo_ttft_ms: float = math.inf,
    slo_tpot_ms: float = math.inf,
    slo: dict[str, float] | None = None,
) -> ServingReport:
    done = [r for r in requests if r.finish_s >= 0]
    arrival = np.array([r.arrival_s for r in done])
    first = np.array([r.first_token_s for r in done])
    finish = np.array([r.finish_s for r in done])
    out_len = np.array([r.output_len for r in done])
    in_len = np.array([r.input_len for r in done])
    start = min(r.arrival_s for r in requests)
    duration = float(finish.max() - start) if done else 0.0
    ttft = first - arrival
    multi = out_len > 1
    tpot = (finish[multi] - first[multi]) / (out_len[multi] - 1)
    first_wait = np.array([r.first_scheduled_s - r.arrival_s for r in done])
    tpot_all = np.zeros(len(done))
    tpot_all[multi] = tpot
    good = int(np.sum((ttft * 1e3 <= slo_ttft_ms) & (tpot_all * 1e3 <= slo_tpot_ms)))
    util, over_time = _utilisation(log, duration, replicas)
    counts = np.array([step[5] for step in log.steps], dtype=float)
    steps = int(counts.sum())
    decode_tokens = np.array([step[3] for step in log.steps], dtype=float) * counts
    prefill_tokens = np.array([step[4] for step in log.steps], dtype=float) * counts
    last_arrival = max(r.arrival_s for r in requests)
    offered = (len(requests) - 1) / (last_arrival - start) if last_arrival > start else math.inf
    per_s = 1.0 / duration if duration > 0 else math.nan
    return ServingReport(
        num_requests=len(requests),
        completed=len(done),
        duration_s=duration,
        ttft_ms=LatencySummary.of(ttft),
        tbt_ms=LatencySummary.of(log.tbt_values, log.tbt_weights),
        e2e_ms=LatencySummary.of(finish - arrival),
        queue_ms=LatencySummary.of(first_wait),
        tpot_ms=LatencySummary.of(tpot),
        requests_per_s=len(done) * per_s,
        output_tokens_per_s=float(out_len.sum()) * per_s,
        input_tokens_per_s=float(in_len.sum()) * per_s,
        output_tokens=int(out_len.sum()),
        input_tokens=int(in_len.sum()),
        goodput_requests_per_s=good * per_s,
        utilisation=util,
        utilisation_over_time=over_time,
        mean_decode_batch=float(decode_tokens.sum() / steps) if steps else 0.0,
        mean_prefill_tokens_per_step=float(prefill_tokens.sum() / steps) if steps else 0.0,
        mean_queue_len=queue_area / duration if duration > 0 else 0.0,
        mean_queue_wait_s=float(np.mean([r.queued_s for r in done])) if done else 0.0,
        offered_rate_per_s=offered,
        preemptions=log.preemptions,
        steps=steps,
        distinct_step_shapes=distinct_shapes,
        perf_evaluations=perf_evaluations,
        kv_capacity_tokens=kv_capacity_tokens,
        replicas=replicas,
        slo=dict(slo or {}),
    )
