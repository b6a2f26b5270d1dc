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

With several models or scenarios a design must serve all of them, so the aggregate of a metric
is its worst value: the minimum for maximised metrics, the maximum for minimised ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MetricSource(StrEnum):
    DESIGN = "design"  # known from the configuration alone (area, cost, peak)
    STATIC = "static"  # needs a static-batch scenario
    SERVING = "serving"  # needs a serving scenario
    ANY = "any"  # produced by either kind of scenario


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: str
    direction: str  # "minimize" | "maximize" (the natural direction)
    source: MetricSource
    description: str


_M = MetricSource
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("capacity_rps", "req/s", "maximize", _M.SERVING, "max request rate under SLOs"),
        Metric("capacity_per_mm2", "req/s/mm²", "maximize", _M.SERVING, "capacity per mm²"),
        Metric("capacity_per_usd", "req/s/$", "maximize", _M.SERVING, "capacity per dollar"),
        Metric("tbt_p99_ms", "ms", "minimize", _M.SERVING, "TBT p99 at capacity"),
        Metric("ttft_p90_ms", "ms", "minimize", _M.SERVING, "TTFT p90 at capacity"),
        Metric("ttft_ms", "ms", "minimize", _M.STATIC, "static-batch prefill time"),
        Metric("tbt_ms", "ms", "minimize", _M.STATIC, "static-batch mean decode step"),
        Metric("e2e_ms", "ms", "minimize", _M.STATIC, "static-batch end-to-end time"),
        Metric("throughput_tokens_per_s", "tok/s", "maximize", _M.ANY, "output tokens/s"),
        Metric("throughput_per_mm2", "tok/s/mm²", "maximize", _M.ANY, "tokens/s per mm²"),
        Metric("throughput_per_usd", "tok/s/$", "maximize", _M.ANY, "tokens/s per dollar"),
        Metric("area_mm2", "mm²", "minimize", _M.DESIGN, "die area of one device"),
        Metric("cost_usd", "$", "minimize", _M.DESIGN, "manufacturing cost of one device"),
        Metric("peak_tflops", "TFLOPS", "maximize", _M.DESIGN, "dense FP16 peak of one device"),
        Metric("tdp_w", "W", "minimize", _M.DESIGN, "full-load power of one device"),
        Metric("power_w", "W", "minimize", _M.STATIC, "static-batch mean power per device"),
        Metric("energy_per_token_j", "J/tok", "minimize", _M.STATIC, "energy per output token"),
        Metric("tokens_per_joule", "tok/J", "maximize", _M.STATIC, "output tokens per joule"),
    )
}

DIRECTIONS = ("minimize", "maximize")


def aggregate(name: str, values: list[float]) -> float:
    """Worst value over models × scenarios (see module docstring)."""
    if METRICS[name].direction == "maximize":
        return min(values)
    return max(values)


def is_better(direction: str, a: float, b: float) -> bool:
    """True when `a` is strictly better than `b` under `direction`."""
    return a > b if direction == "maximize" else a < b
