"""Discrete-event serving simulation.

Entities: `Request` (request.py), `Replica` (replica.py; a TP group with its KV cache). The
scheduler policy (scheduler.py) fills each step; step latencies come from the perf stage via
`StepTimer` (stepcache.py). Events: `Arrival` (a request reaches the router) and `StepEnd` (a
replica finishes a step and starts the next). The whole event core is `run_events`: pop the
earliest event, fire it, push what it returns.

Sources decide arrivals: open loop (times drawn up front, pushed one at a time) or closed loop
(`concurrency` clients, each sending its next request when its previous one completes).
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from ador_opt.errors import InputError
from ador_opt.hardware.presets import Hardware
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.memory import (
    kv_budget_bytes_per_device,
    kv_bytes_per_token_per_device,
    max_kv_tokens,
    window_reserve_tokens,
)
from ador_opt.perf.speculative import proposer_bytes_per_device
from ador_opt.serving.arrivals import ArrivalProcess, PoissonArrivals, TraceArrivals
from ador_opt.serving.kv import KvBlocks
from ador_opt.serving.metrics import RunLog, ServingReport, SloWatch, build_report
from ador_opt.serving.replica import Replica
from ador_opt.serving.request import Request
from ador_opt.serving.router import ROUTERS
from ador_opt.serving.scheduler import POLICIES, SchedulerConfig
from ador_opt.serving.slo import Slo, default_slo
from ador_opt.serving.stepcache import StepTimer
from ador_opt.serving.workload import Workload

Progress = Callable[[int, int], None]


class Event(Protocol):
    time: float

    def fire(self) -> Iterable[Event]: ...


class EventQueue:
    """Events ordered by time (FIFO among equal times)."""

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, Event]] = []
        self._seq = itertools.count()

    def push(self, event: Event) -> None:
        heapq.heappush(self.heap, (event.time, next(self._seq), event))

    def next_time(self) -> float:
        """Time of the earliest pending event (inf when none)."""
        return self.heap[0][0] if self.heap else math.inf


def run_events(queue: EventQueue, initial: Iterable[Event]) -> None:
    """The event loop: pop the earliest event, fire it, push what it returns."""
    for event in initial:
        queue.push(event)
    while queue.heap:
        for follow in heapq.heappop(queue.heap)[2].fire():
            queue.push(follow)


class Cluster:
    """Replicas behind a router, driven by one batching policy."""

    def __init__(
        self,
        replicas: list[Replica],
        cfg: SchedulerConfig,
        max_context: int,
        source: Source,
        queue: EventQueue,
    ) -> None:
        self.replicas = replicas
        self.source = source
        self.queue = queue
        self.cfg = cfg
        self.policy = POLICIES[cfg.policy.value]
        self.router = ROUTERS[cfg.router]()
        self.max_context = max_context

    def dispatch(self, req: Request, now: float) -> list[Event]:
        replica = self.router.choose(self.replicas)
        replica.enqueue(req, now)
        return [] if replica.busy else self.start(replica, now)

    def start(self, replica: Replica, now: float) -> list[Event]:
        while True:
            step = self.policy(replica, self.cfg, self.max_context, now)
            if step is None:
                return []
            chunks, decode = step
            if chunks:
                break
            now, ready = replica.run_decode_rounds(now, self.queue.next_time())
            if ready:
                break
        duration = replica.start_step(now, chunks, decode)
        return [StepEnd(now + duration, replica, self)]


class Source(Protocol):
    def initial(self, cluster: Cluster) -> list[Event]: ...

    def next_arrival(self, cluster: Cluster) -> Event | None: ...

    def on_complete(self, req: Request, now: float, cluster: Cluster) -> list[Event]: ...


class Arrival:
    __slots__ = ("cluster", "request", "source", "time")

    def __init__(self, request: Request, source: Source, cluster: Cluster) -> None:
        self.time = request.arrival_s
        self.request = request
        self.source = source
        self.cluster = cluster

    def fire(self) -> list[Event]:
        out = self.cluster.dispatch(self.request, self.time)
        nxt = self.source.next_arrival(self.cluster)
        if nxt is not None:
            out.append(nxt)
        return out


class StepEnd:
    __slots__ = ("cluster", "replica", "time")

    def __init__(self, time: float, replica: Replica, cluster: Cluster) -> None:
        self.time = time
        self.replica = replica
        self.cluster = cluster

    def fire(self) -> list[Event]:
        log = self.replica.log
        before = len(log.finished)
        self.replica.end_step(self.time)
        if log.watch is not None:
            log.watch.overdue(self.time)
        out: list[Event] = []
        for req in log.finished[before:]:
            out.extend(self.cluster.source.on_complete(req, self.time, self.cluster))
        out.extend(self.cluster.start(self.replica, self.time))
        return out


class OpenLoopSource:
    """Requests at precomputed times, pushed one at a time (the heap stays small)."""

    def __init__(
        self, inputs: np.ndarray, outputs: np.ndarray, times: np.ndarray, progress: Progress | None
    ) -> None:
        self.requests = [
            Request(i, float(t), int(a), int(b))
            for i, (t, a, b) in enumerate(zip(times, inputs, outputs, strict=True))
        ]
        self._next = 0
        self.progress = progress
        self._every = max(1, len(self.requests) // 200)
        self.completed = 0

    def initial(self, cluster: Cluster) -> list[Event]:
        first = self.next_arrival(cluster)
        return [] if first is None else [first]

    def next_arrival(self, cluster: Cluster) -> Event | None:
        if self._next >= len(self.requests):
            return None
        req = self.requests[self._next]
        self._next += 1
        return Arrival(req, self, cluster)

    def on_complete(self, req: Request, now: float, cluster: Cluster) -> list[Event]:
        self.completed += 1
        if self.progress is not None and (
            self.completed % self._every == 0 or self.completed == len(self.requests)
        ):
            self.progress(self.completed, len(self.requests))
        return []


class ClosedLoopSource(OpenLoopSource):
    """`concurrency` clients; each sends its next request the moment its last one completes."""

    def __init__(
        self, inputs: np.ndarray, outputs: np.ndarray, concurrency: int, progress: Progress | None
    ) -> None:
        super().__init__(inputs, outputs, np.zeros(len(inputs)), progress)
        self.concurrency = concurrency

    def initial(self, cluster: Cluster) -> list[Event]:
        first = min(self.concurrency, len(self.requests))
        self._next = first
        return [Arrival(r, self, cluster) for r in self.requests[:first]]

    def next_arrival(self, cluster: Cluster) -> Event | None:
        return None

    def on_complete(self, req: Request, now: float, cluster: Cluster) -> list[Event]:
        super().on_complete(req, now, cluster)
        if self._next >= len(self.requests):
            return []
        nxt = self.requests[self._next]
        self._next += 1
        nxt.arrival_s = nxt.enqueued_s = now
        return [Arrival(nxt, self, cluster)]


@dataclass(frozen=True, slots=True)
class SimulationRun:
    """A finished run: the report plus the raw entities (for tests and analysis)."""

    report: ServingReport
    requests: list[Request]
    log: RunLog
    timer: StepTimer
    replicas: list[Replica]


def _check_run_inputs(model: ModelSpec, tp: int, num_requests: int, seed: int) -> None:
    if not isinstance(tp, int) or isinstance(tp, bool) or tp <= 0:
        raise InputError(f"tp must be a positive integer, got {tp!r}")
    if model.num_heads % tp:
        raise InputError(f"tp={tp} does not divide the {model.num_heads} heads of {model.name}")
    if not isinstance(num_requests, int) or isinstance(num_requests, bool) or num_requests <= 0:
        raise InputError(f"num_requests must be a positive integer, got {num_requests!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")


def kv_capacity_tokens(hw: Hardware, model: ModelSpec, tp: int, cfg: SchedulerConfig) -> int:
    """KV tokens one replica holds: the override, or DRAM left after the weights."""
    if cfg.kv_tokens is not None:
        return cfg.kv_tokens
    # Sliding-window layers hold at most a window per request: the token-counting pool sets
    # that aside for `max_batch` running requests (0 for models without windowed layers).
    reserve = window_reserve_tokens(model, tp, cfg.max_batch)
    tokens = max_kv_tokens(hw, model, tp) - reserve
    if cfg.speculative is not None:  # the proposer's weights and KV share the device memory
        weights, kv_extra = proposer_bytes_per_device(cfg.speculative, model, tp)
        budget = kv_budget_bytes_per_device(hw, model, tp) - weights
        per_token = kv_bytes_per_token_per_device(model, tp) + kv_extra
        tokens = max(0, int(budget // per_token)) - reserve
    if tokens <= 0:
        raise InputError(
            f"{model.name} weights do not fit in the memory of {hw.name} at tp={tp}: "
            "no room for a KV cache"
        )
    return tokens


def _run(
    hw: Hardware,
    model: ModelSpec,
    tp: int,
    cfg: SchedulerConfig,
    make_source: Callable[[], OpenLoopSource],
    slo: Slo | None,
    abort_on: Slo | None = None,
) -> SimulationRun:
    wall = time.perf_counter()
    source = make_source()
    requests = source.requests
    kv_tokens = kv_capacity_tokens(hw, model, tp, cfg)
    pool = KvBlocks(kv_tokens, cfg.block_tokens, cfg.watermark)
    longest = max(r.total_len for r in requests)
    if pool.blocks_for(longest) > pool.total - pool.watermark:
        raise InputError(
            f"the KV cache of {hw.name} holds {kv_tokens} tokens per replica; a request of "
            f"{longest} tokens does not fit"
        )
    timer = StepTimer(hw, model, tp, cfg.step_grid, cfg.speculative)
    watch = None
    if abort_on is not None:
        gaps = sum(r.output_len - 1 for r in requests)
        watch = SloWatch(
            abort_on.ttft_p90_ms, abort_on.tbt_p99_ms, abort_on.queue_p50_ms, len(requests), gaps
        )
        watch.track(requests)
    log = RunLog(watch)
    replicas = [
        Replica(i, kv_tokens, cfg.block_tokens, cfg.watermark, timer, log)
        for i in range(cfg.replicas)
    ]
    queue = EventQueue()
    cluster = Cluster(replicas, cfg, model.max_context, source, queue)
    try:
        run_events(queue, source.initial(cluster))
    finally:
        # An aborted run (SloExceeded) leaves events that point back at the cluster: drop
        # them so the run is freed by reference counting, not by a cyclic collection.
        queue.heap.clear()
    if len(log.finished) != len(requests):  # a scheduler bug, never bad input
        raise RuntimeError(f"{len(requests) - len(log.finished)} requests never completed")
    end = max(r.finish_s for r in requests)
    queue_area = sum(rep.settle_queue(end) for rep in replicas)
    report = build_report(
        log,
        requests,
        queue_area=queue_area,
        kv_capacity_tokens=kv_tokens,
        replicas=cfg.replicas,
        distinct_shapes=timer.distinct,
        perf_evaluations=timer.evaluations,
        slo_ttft_ms=slo.ttft_p90_ms if slo else math.inf,
        slo_tpot_ms=slo.tbt_p99_ms if slo else math.inf,
        slo=slo.to_dict() if slo else None,
    )
    report = replace(report, sim_wall_s=time.perf_counter() - wall)
    return SimulationRun(report, requests, log, timer, replicas)


def rng_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for lengths and arrivals (changing the arrival process or rate
    never changes the lengths drawn for a seed)."""
    lengths, arrivals = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(lengths), np.random.default_rng(arrivals)


def simulate_run(
    hw: Hardware,
    model: ModelSpec,
    workload: Workload,
    rate_per_s: float | None,
    num_requests: int,
    seed: int,
    tp: int = 1,
    scheduler: SchedulerConfig | None = None,
    progress: Progress | None = None,
    *,
    arrivals: ArrivalProcess | None = None,
    slo: Slo | None = None,
    abort_on: Slo | None = None,
) -> SimulationRun:
    """`simulate` returning the raw requests and logs as well as the report. With `abort_on`,
    raises `metrics.SloExceeded` as soon as the run can no longer meet that SLO."""
    _check_run_inputs(model, tp, num_requests, seed)
    cfg = scheduler or SchedulerConfig()
    if arrivals is None:
        if rate_per_s is not None:
            arrivals = PoissonArrivals(rate_per_s)
        elif workload.arrival_s is not None:
            arrivals = TraceArrivals(workload.arrival_s)
        else:
            raise InputError("an arrival rate is needed (the workload has no trace timestamps)")
    rng_len, rng_arr = rng_streams(seed)
    inputs, outputs = workload.sample(num_requests, rng_len, model.max_context)
    times = arrivals.times(num_requests, rng_arr)
    if slo is None:
        try:
            slo = default_slo(model, tp)
        except InputError:  # no A100 reference for this model: goodput without limits
            slo = None
    return _run(
        hw,
        model,
        tp,
        cfg,
        lambda: OpenLoopSource(inputs, outputs, times, progress),
        slo,
        abort_on,
    )


def simulate(
    hw: Hardware,
    model: ModelSpec,
    workload: Workload,
    rate_per_s: float | None,
    num_requests: int,
    seed: int,
    tp: int = 1,
    scheduler: SchedulerConfig | None = None,
    progress: Progress | None = None,
    *,
    arrivals: ArrivalProcess | None = None,
    slo: Slo | None = None,
) -> ServingReport:
    """Serve `num_requests` requests of `workload` arriving at `rate_per_s` (Poisson unless
    `arrivals` is given; trace timestamps when the rate is None and the workload has them) on
    `scheduler.replicas` TP groups of `tp` devices of `hw`. Goodput uses `slo` (default: the
    Sarathi-Serve strict SLO of the model). Deterministic for a given seed."""
    return simulate_run(
        hw,
        model,
        workload,
        rate_per_s,
        num_requests,
        seed,
        tp,
        scheduler,
        progress,
        arrivals=arrivals,
        slo=slo,
    ).report


def simulate_closed_loop(
    hw: Hardware,
    model: ModelSpec,
    inputs: Sequence[int],
    outputs: Sequence[int],
    concurrency: int,
    tp: int = 1,
    scheduler: SchedulerConfig | None = None,
    slo: Slo | None = None,
) -> SimulationRun:
    """`concurrency` clients replaying (inputs[i], outputs[i]) back to back."""
    _check_run_inputs(model, tp, len(inputs), 0)
    if not isinstance(concurrency, int) or concurrency <= 0:
        raise InputError(f"concurrency must be a positive integer, got {concurrency!r}")
    cfg = scheduler or SchedulerConfig()
    ins = np.asarray(inputs, dtype=np.int64)
    outs = np.asarray(outputs, dtype=np.int64)
    return _run(hw, model, tp, cfg, lambda: ClosedLoopSource(ins, outs, concurrency, None), slo)
