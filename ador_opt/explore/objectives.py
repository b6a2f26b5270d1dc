"""Objective metrics a study may optimise: unit, default direction, and which stage yields them.

Definitions (per design point, over all `devices` of the system):

* `capacity_rps` — the highest Poisson arrival rate (requests/s) whose TTFT p90 and TBT p99 meet
  the SLOs (serving stage), times the number of TP replicas (`devices / tp`).
* `capacity_per_mm2` = capacity_rps / (devices · die area); `capacity_per_usd` likewise per $.
* `ttft_p90_ms`, `tbt_p99_ms` — latency percentiles measured at the capacity rate.
* `ttft_ms`, `tbt_ms`, `e2e_ms` — static batch (DESIGN §9 `evaluate`): prefill of the whole
  batch, mean decode step, total.
* `throughput_tokens_per_s` — output tokens/s of the system (static batch, or the serving run at
  capacity); `throughput_per_mm2` / `throughput_per_usd` per mm² / $ of silicon.
* `area_mm2`, `cost_usd`, `peak_tflops` — one device (die area, manufacturing cost, dense FP16).
* `tdp_w` — one device's full-load power (hardware/power.py).
* `power_w` — one device's mean power over the static batch; `energy_per_token_j` — energy of
  the system per output token (static batch; perf/energy.py); `tokens_per_joule` its inverse.

With several models or scenarios a design must serve all of them. By default the aggregate of
a metric is its worst value (the minimum for maximised metrics, the maximum for minimised ones);
a robust study (`[robust]` in the spec) may instead ask for the weighted mean or a weighted
quantile over the model × scenario pairs (`aggregate(..., how=...)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MetricSource(StrEnum):
    DESIGN = "design"  # known from the configuration alone (area, cost, peak)
    STATIC = "static"  # needs a static-batch scenario
    SERVING = "serving"  # needs a serving scenario
    ANY = "any"  # produced by either kind of scenario
    DERIVED = "derived"  # computed by the reports from the others; not an objective


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: str
    direction: str  # "minimize" | "maximize" (the natural direction)
    source: MetricSource
    description: str
    label: str = ""  # short column header for narrow tables ("" → the name)

    @property
    def short(self) -> str:
        return self.label or self.name

    @property
    def maximise(self) -> bool:
        return self.direction == "maximize"


_M = MetricSource
# Every metric the engine and the reports know. The paper's area efficiency (§VI-B, DERIVED) is
# latency⁻¹ per mm² of silicon.
ALL_METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("capacity_rps", "req/s", "maximize", _M.SERVING, "max request rate under SLOs",
               "capacity"),
        Metric("capacity_per_mm2", "req/s/mm²", "maximize", _M.SERVING, "capacity per mm²",
               "cap/mm²"),
        Metric("capacity_per_usd", "req/s/$", "maximize", _M.SERVING, "capacity per dollar",
               "cap/$"),
        Metric("tbt_p99_ms", "ms", "minimize", _M.SERVING, "TBT p99 at capacity", "TBT p99"),
        Metric("ttft_p90_ms", "ms", "minimize", _M.SERVING, "TTFT p90 at capacity", "TTFT p90"),
        Metric("ttft_ms", "ms", "minimize", _M.STATIC, "static-batch prefill time", "TTFT"),
        Metric("tbt_ms", "ms", "minimize", _M.STATIC, "static-batch mean decode step", "TBT"),
        Metric("e2e_ms", "ms", "minimize", _M.STATIC, "static-batch end-to-end time", "E2E"),
        Metric("throughput_tokens_per_s", "tok/s", "maximize", _M.ANY, "output tokens/s",
               "tput"),
        Metric("throughput_per_mm2", "tok/s/mm²", "maximize", _M.ANY, "tokens/s per mm²",
               "tput/mm²"),
        Metric("throughput_per_usd", "tok/s/$", "maximize", _M.ANY, "tokens/s per dollar",
               "tput/$"),
        Metric("area_mm2", "mm²", "minimize", _M.DESIGN, "die area of one device", "area"),
        Metric("cost_usd", "$", "minimize", _M.DESIGN, "manufacturing cost of one device",
               "cost"),
        Metric("peak_tflops", "TFLOPS", "maximize", _M.DESIGN, "dense FP16 peak of one device",
               "peak"),
        Metric("tdp_w", "W", "minimize", _M.DESIGN, "full-load power of one device", "TDP"),
        Metric("power_w", "W", "minimize", _M.STATIC, "static-batch mean power per device",
               "power"),
        Metric("energy_per_token_j", "J/tok", "minimize", _M.STATIC, "energy per output token",
               "J/tok"),
        Metric("tokens_per_joule", "tok/J", "maximize", _M.STATIC, "output tokens per joule",
               "tok/J"),
        Metric("ttft_area_eff", "1/(s·mm²)", "maximize", _M.DERIVED,
               "1/(TTFT · silicon area)", "TTFT eff"),
        Metric("tbt_area_eff", "1/(s·mm²)", "maximize", _M.DERIVED,
               "1/(TBT · silicon area)", "TBT eff"),
    )
}  # fmt: skip

# The metrics a study may optimise (everything but the derived ones).
METRICS: dict[str, Metric] = {
    n: m for n, m in ALL_METRICS.items() if m.source is not MetricSource.DERIVED
}


def metric(name: str) -> Metric | None:
    """The registry entry of an objective or derived metric (None for an unknown name)."""
    return ALL_METRICS.get(name)


def unit_of(name: str) -> str:
    m = metric(name)
    return m.unit if m is not None else ""


def short_label(name: str) -> str:
    m = metric(name)
    return m.short if m is not None else name


def is_maximised(name: str) -> bool:
    """Larger is better (from the registry; an unknown metric counts as minimised)."""
    m = metric(name)
    return m is not None and m.maximise


DIRECTIONS = ("minimize", "maximize")


AGGREGATES = ("worst", "mean", "quantile")


def aggregate(
    name: str,
    values: list[float],
    how: str = "worst",
    weights: list[float] | None = None,
    quantile: float = 1.0,
) -> float:
    """One value of metric `name` over the model × scenario pairs (`values`, one per pair).

    * `worst` — the minimum of a maximised metric, the maximum of a minimised one;
    * `mean` — the mean weighted by `weights` (equal weights when None);
    * `quantile` — the value the design reaches or beats on a `quantile` share of the pairs
      (weighted): the weighted `quantile`-quantile of the metric's badness, i.e. the upper
      quantile of a minimised metric and the lower (1 − quantile) one of a maximised metric.
      `quantile = 1` is the worst case, 0.5 the weighted median. Step quantile (no
      interpolation): the result is always one of the pairs' values.
    """
    if not values:
        raise ValueError("aggregate needs at least one value")
    w = [1.0] * len(values) if weights is None else [float(x) for x in weights]
    if len(w) != len(values):
        raise ValueError(f"{len(values)} values but {len(w)} weights")
    if how == "worst":
        return min(values) if is_maximised(name) else max(values)
    total = sum(w)
    if how == "mean":
        return sum(v * x for v, x in zip(values, w, strict=True)) / total
    if how == "quantile":
        # Order from best to worst, then take the first value whose cumulative weight reaches
        # `quantile` of the total: the design is at least this good on that share of weight.
        order = sorted(
            zip(values, w, strict=True), key=lambda vw: -vw[0] if is_maximised(name) else vw[0]
        )
        acc = 0.0
        for v, x in order:
            acc += x
            if acc >= quantile * total * (1 - 1e-12):
                return v
        return order[-1][0]
    raise ValueError(f"unknown aggregate {how!r}; known: {', '.join(AGGREGATES)}")


def is_better(direction: str, a: float, b: float) -> bool:
    """True when `a` is strictly better than `b` under `direction`."""
    return a > b if direction == "maximize" else a < b
