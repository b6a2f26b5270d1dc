"""Open-loop arrival processes: Poisson, Gamma (burstiness knob) and trace timestamps.

Each process turns a seeded numpy Generator into `n` non-decreasing arrival times (seconds,
first request at t = 0). Poisson and Gamma draw unit-mean gaps and divide by the rate, so two
rates with the same seed give the same sample path scaled in time (common random numbers: the
capacity search compares rates on equal footing). Closed-loop clients are not an open process;
see `simulator.ClosedLoopSource`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ador_opt.errors import InputError


def _check_rate(rate_per_s: float) -> None:
    if not isinstance(rate_per_s, int | float) or not math.isfinite(rate_per_s) or rate_per_s <= 0:
        raise InputError(f"arrival rate must be a positive number of requests/s, got {rate_per_s}")


def _times_from_gaps(gaps: np.ndarray) -> np.ndarray:
    times = np.empty_like(gaps)
    times[0] = 0.0
    np.cumsum(gaps[:-1], out=times[1:])
    return times


class ArrivalProcess(Protocol):
    def times(self, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def describe(self) -> dict[str, object]: ...


@dataclass(frozen=True, slots=True)
class PoissonArrivals:
    """Exponential gaps with mean 1/rate (the ADOR paper's request generator, §V-D)."""

    rate_per_s: float

    def __post_init__(self) -> None:
        _check_rate(self.rate_per_s)

    def times(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return _times_from_gaps(rng.standard_exponential(n) / self.rate_per_s)

    def describe(self) -> dict[str, object]:
        return {"kind": "poisson", "rate_per_s": self.rate_per_s}


# Gamma shape 1/cv² must stay a normal float > 0 and sampleable: cv of 1e-3 (almost periodic
# arrivals) to 1e3 (one burst) covers every published burstiness (0.5-4 in serving papers).
MIN_CV = 1e-3
MAX_CV = 1e3


@dataclass(frozen=True, slots=True)
class GammaArrivals:
    """Gamma gaps with mean 1/rate and coefficient of variation `cv` (cv = 1 is Poisson;
    cv > 1 is burstier). Shape k = 1/cv², so the gap variance is cv²/rate²."""

    rate_per_s: float
    cv: float

    def __post_init__(self) -> None:
        _check_rate(self.rate_per_s)
        if not math.isfinite(self.cv) or not MIN_CV <= self.cv <= MAX_CV:
            raise InputError(
                f"burstiness (CV of gaps) must be between {MIN_CV:g} and {MAX_CV:g}, got {self.cv}"
            )

    def times(self, n: int, rng: np.random.Generator) -> np.ndarray:
        shape = 1.0 / self.cv**2
        return _times_from_gaps(rng.gamma(shape, 1.0 / shape, n) / self.rate_per_s)

    def describe(self) -> dict[str, object]:
        return {"kind": "gamma", "rate_per_s": self.rate_per_s, "cv": self.cv}


@dataclass(frozen=True, slots=True)
class TraceArrivals:
    """Timestamps of a trace, shifted so that the first request arrives at t = 0."""

    arrival_s: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.arrival_s:
            raise InputError("a trace needs at least one arrival time")

    def times(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if n > len(self.arrival_s):
            raise InputError(f"the trace has {len(self.arrival_s)} arrivals, {n} were asked for")
        arr = np.asarray(self.arrival_s[:n], dtype=float)
        return arr - arr[0]

    def describe(self) -> dict[str, object]:
        span = self.arrival_s[-1] - self.arrival_s[0]
        rate = (len(self.arrival_s) - 1) / span if span > 0 else math.inf
        return {"kind": "trace", "count": len(self.arrival_s), "mean_rate_per_s": rate}


@dataclass(frozen=True, slots=True)
class AllAtOnce:
    """Every request queued at t = 0 (offline throughput benchmarks)."""

    def times(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.zeros(n)

    def describe(self) -> dict[str, object]:
        return {"kind": "offline"}


def arrival_process(
    rate_per_s: float | None, burstiness: float | None, has_timestamps: bool
) -> ArrivalProcess | None:
    """The arrivals of a run from the command-line choices: Gamma with `burstiness` (CV of
    the gaps), else Poisson at `rate_per_s`, else None (the trace's own timestamps)."""
    if rate_per_s is None and not has_timestamps:
        raise InputError("--rate is required (the workload has no trace timestamps)")
    if burstiness is not None:
        if rate_per_s is None:
            raise InputError("--burstiness needs --rate")
        return GammaArrivals(rate_per_s, burstiness)
    if rate_per_s is not None:
        return PoissonArrivals(rate_per_s)
    return None
