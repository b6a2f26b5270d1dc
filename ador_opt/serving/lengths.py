"""Distributions of request lengths (tokens): fixed, uniform, truncated lognormal, empirical.

Every distribution samples with a numpy `Generator` and returns int64 arrays of values ≥ 1.
`fit_lognormal` fits a lognormal, truncated above at `cap`, to a published mean, median and p90
(least squares on the log of the three statistics; the presets in `workload.py` store its
result, and tests re-run the fit). `fit_lognormal_quantiles` does the same for a mean and any
set of published percentiles (e.g. p50/p80/p95).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Protocol

import numpy as np

from ador_opt.errors import InputError

_STD_NORMAL = NormalDist()
# z such that Φ(z) = 0.9 (standard normal quantile).
Z90 = _STD_NORMAL.inv_cdf(0.9)


class Lengths(Protocol):
    """A distribution of token counts."""

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def describe(self) -> dict[str, object]: ...


@dataclass(frozen=True, slots=True)
class FixedLengths:
    value: int

    def __post_init__(self) -> None:
        if not isinstance(self.value, int) or self.value <= 0:
            raise InputError(f"fixed length must be a positive integer, got {self.value!r}")

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.full(n, self.value, dtype=np.int64)

    def describe(self) -> dict[str, object]:
        return {"kind": "fixed", "value": self.value}


@dataclass(frozen=True, slots=True)
class UniformLengths:
    """Integers uniform on [low, high] inclusive."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low <= 0 or self.high < self.low:
            raise InputError(f"uniform lengths need 0 < low ≤ high, got {self.low}-{self.high}")

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(self.low, self.high + 1, size=n, dtype=np.int64)

    def describe(self) -> dict[str, object]:
        return {"kind": "uniform", "low": self.low, "high": self.high}


@dataclass(frozen=True, slots=True)
class LogNormalLengths:
    """exp(N(mu, sigma²)) conditioned on ≤ `cap` (no cap when None), rounded, at least 1."""

    mu: float
    sigma: float
    cap: int | None = None

    def __post_init__(self) -> None:
        if not self.sigma > 0 or (self.cap is not None and self.cap < 1):
            raise InputError("lognormal lengths need sigma > 0 and cap ≥ 1")

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        # Rejection sampling keeps the truncated shape (clipping would pile mass on the cap).
        out = np.empty(0)
        while out.size < n:
            draw = rng.lognormal(self.mu, self.sigma, size=max(16, 2 * (n - out.size)))
            if self.cap is not None:
                draw = draw[draw <= self.cap + 0.5]
            out = np.concatenate([out, draw])
        return np.maximum(1, np.rint(out[:n])).astype(np.int64)

    def stats(self) -> tuple[float, float, float]:
        """(mean, median, p90) of the continuous truncated distribution."""
        return lognormal_stats(self.mu, self.sigma, self.cap)

    def describe(self) -> dict[str, object]:
        mean, median, p90 = self.stats()
        return {
            "kind": "lognormal",
            "mu": self.mu,
            "sigma": self.sigma,
            "cap": self.cap,
            "mean": mean,
            "median": median,
            "p90": p90,
        }


@dataclass(frozen=True, slots=True)
class ClippedLengths:
    """min(X, `clip`) of a lognormal X: a server's maximum output length stops longer answers
    at `clip` tokens (unlike `LogNormalLengths.cap`, which drops them from the dataset)."""

    base: LogNormalLengths
    clip: int

    def __post_init__(self) -> None:
        if self.clip < 1 or self.base.cap is not None:
            raise InputError("clipped lengths need clip ≥ 1 and an uncapped lognormal")

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.minimum(self.base.sample(n, rng), self.clip)

    def stats(self) -> tuple[float, float, float]:
        """(mean, median, p90) of min(X, clip) for the continuous lognormal X."""
        mu, sigma, c = self.base.mu, self.base.sigma, float(self.clip)
        z = (math.log(c) - mu) / sigma
        below = math.exp(mu + sigma**2 / 2) * _STD_NORMAL.cdf(z - sigma)  # E[X; X ≤ c]
        mean = below + c * (1.0 - _STD_NORMAL.cdf(z))
        return mean, min(c, math.exp(mu)), min(c, math.exp(mu + sigma * Z90))

    def describe(self) -> dict[str, object]:
        mean, median, p90 = self.stats()
        return {
            "kind": "clipped-lognormal",
            "mu": self.base.mu,
            "sigma": self.base.sigma,
            "clip": self.clip,
            "mean": mean,
            "median": median,
            "p90": p90,
        }


@dataclass(frozen=True, slots=True)
class EmpiricalLengths:
    """The values of a trace, taken in order (request i gets value i)."""

    values: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise InputError("a trace needs at least one request")

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if n > len(self.values):
            raise InputError(f"the trace has {len(self.values)} requests, {n} were asked for")
        return np.asarray(self.values[:n], dtype=np.int64)

    def describe(self) -> dict[str, object]:
        arr = np.asarray(self.values)
        return {
            "kind": "trace",
            "count": len(self.values),
            "mean": float(arr.mean()),
            "median": float(np.median(arr)),
            "p90": float(np.quantile(arr, 0.9)),
        }


def lognormal_stats(mu: float, sigma: float, cap: float | None) -> tuple[float, float, float]:
    """Mean, median and p90 of exp(N(mu, sigma²)) conditioned on ≤ cap."""
    if cap is None:
        return math.exp(mu + sigma**2 / 2), math.exp(mu), math.exp(mu + sigma * Z90)
    f_cap = _STD_NORMAL.cdf((math.log(cap) - mu) / sigma)
    if f_cap < 1e-12:
        return float(cap), float(cap), float(cap)

    def quantile(p: float) -> float:
        return math.exp(mu + sigma * _STD_NORMAL.inv_cdf(p * f_cap))

    # E[X | X ≤ c] for a lognormal: e^{mu+σ²/2} Φ((ln c − mu − σ²)/σ) / Φ((ln c − mu)/σ).
    mean = (
        math.exp(mu + sigma**2 / 2)
        * _STD_NORMAL.cdf((math.log(cap) - mu - sigma**2) / sigma)
        / f_cap
    )
    return mean, quantile(0.5), quantile(0.9)


def lognormal_quantile(mu: float, sigma: float, cap: float | None, p: float) -> float:
    """The p-quantile (0 < p < 1) of exp(N(mu, sigma²)) conditioned on ≤ cap."""
    f_cap = 1.0 if cap is None else _STD_NORMAL.cdf((math.log(cap) - mu) / sigma)
    if f_cap < 1e-12:
        return float(cap) if cap is not None else math.exp(mu)
    return math.exp(mu + sigma * _STD_NORMAL.inv_cdf(p * f_cap))


def lognormal_from_moments(mean: float, std: float) -> tuple[float, float]:
    """(mu, sigma) of the lognormal with this mean and standard deviation (moment matching:
    sigma² = ln(1 + (std/mean)²), mu = ln(mean) − sigma²/2), for sources that publish a mean
    ± standard deviation only."""
    if not (mean > 0 and std > 0):
        raise InputError("a lognormal from moments needs a positive mean and std")
    var = math.log1p((std / mean) ** 2)
    return math.log(mean) - var / 2, math.sqrt(var)


def fit_lognormal_quantiles(
    mean: float | None, quantiles: dict[float, float], cap: float | None = None
) -> tuple[float, float]:
    """(mu, sigma) of a lognormal truncated at `cap` minimising the summed squared log-error of
    the mean (None = not published) and the given {probability: value} percentiles. Needs two
    statistics at least. Same coarse-to-fine grid search as `fit_lognormal`."""
    if (mean is not None) + len(quantiles) < 2:
        raise InputError("a lognormal fit needs at least two statistics")
    if (mean is not None and mean <= 0) or any(
        not 0 < p < 1 or v <= 0 for p, v in quantiles.items()
    ):
        raise InputError("a lognormal fit needs positive statistics and 0 < p < 1")

    def loss(mu: float, sigma: float) -> float:
        total = 0.0
        if mean is not None:
            total += math.log(lognormal_stats(mu, sigma, cap)[0] / mean) ** 2
        for p, v in quantiles.items():
            total += math.log(lognormal_quantile(mu, sigma, cap, p) / v) ** 2
        return total

    centre = quantiles.get(0.5) or mean or next(iter(quantiles.values()))
    return _grid_minimise(loss, math.log(centre))


def fit_lognormal(
    mean: float | None, median: float, p90: float | None, cap: float | None = None
) -> tuple[float, float]:
    """(mu, sigma) of a lognormal truncated at `cap` minimising the summed squared log-error of
    the given statistics (None = not published). Needs the median and at least one other.

    Coarse-to-fine grid search: deterministic and dependency-free (a few ms)."""
    targets = [(i, v) for i, v in enumerate((mean, median, p90)) if v is not None]
    if len(targets) < 2 or any(v <= 0 for _, v in targets):
        raise InputError("a lognormal fit needs a positive median and a mean or p90")

    def loss(mu: float, sigma: float) -> float:
        got = lognormal_stats(mu, sigma, cap)
        return sum(math.log(got[i] / v) ** 2 for i, v in targets)

    return _grid_minimise(loss, math.log(median))


def _grid_minimise(loss: Callable[[float, float], float], mu_c: float) -> tuple[float, float]:
    """Coarse-to-fine grid search of (mu, sigma) around (`mu_c`, 1): six rounds of a 41 × 41
    grid, each 8× finer around the previous best."""
    sigma_c = 1.0
    mu_half, sigma_half = 2.0, 0.99
    for _ in range(6):
        grid = [
            (loss(mu, sigma), mu, sigma)
            for mu in np.linspace(mu_c - mu_half, mu_c + mu_half, 41)
            for sigma in np.linspace(max(0.01, sigma_c - sigma_half), sigma_c + sigma_half, 41)
        ]
        _, mu_c, sigma_c = min(grid)
        mu_half, sigma_half = mu_half / 8, sigma_half / 8
    return float(mu_c), float(sigma_c)
