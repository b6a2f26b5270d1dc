"""Model-guided Pareto local search: the next design is the unseen single-parameter neighbour of
the study's current front that a cheap surrogate predicts to be least dominated.

Why. Multivariate TPE reaches the front's hypervolume quickly but finds only about half of its
designs: a density model proposes what it already likes, and many front designs differ from
their front neighbours in one parameter step (docs/bench-explore.md). Drawing such neighbours
uniformly finds no more of the front than TPE does (12–18 % of them are front designs on the
quickstart space); ranking them by a surrogate's prediction finds 2–2.5× more per proposal.

How (all in numpy, a few ms per proposal at 300 trials; the linear algebra runs on one BLAS
thread, `_on_one_blas_thread`):

* **Candidates**: every unseen design one step (the neighbouring value of one sampled parameter,
  conditional parameters completed as `NoRepeatSampler._complete` does) from a design on the
  current feasible front.
* **Surrogate**: ridge regression of each objective (log of it when every observed value is
  positive: area, throughput and latency are products and ratios) on one-hot parameter values
  plus all pairwise products of them (a second-order interaction model: SA size × cores ×
  MAC lanes interact through the area), fitted on the feasible COMPLETE trials only — the
  placeholder values of infeasible trials never enter it. The ridge penalty is chosen per
  objective by generalised cross-validation (Golub, Heath & Wahba 1979) from `LAMBDAS`.
  Constraints (`constraints:<name>`, ≤ 0 feasible) are fitted the same way on every COMPLETE
  trial that has them; candidates predicted infeasible are skipped while any predicted feasible
  one is left.
* **Score**: the additive dominance margin of the prediction against the observed front,
  max over front designs f of min over objectives j of (p_j − f_j), each objective divided by
  the front's range (minimisation form). ≤ 0: predicted non-dominated; the smallest wins, ties
  broken at random.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

import moocore
import numpy as np
from optuna.trial import FrozenTrial
from threadpoolctl import ThreadpoolController

from ador_opt.explore.space import SearchSpace, design_key

# Ridge penalties tried per objective (features are 0/1, so these are in units of "one
# observation's worth" of shrinkage); GCV picks one. Offline on the quickstart space (TPE's
# 200-trial history, 3 seeds) GCV's choice ranked the front neighbours as well as or better than
# any single fixed value of this set.
LAMBDAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
MAX_PAIR_FEATURES = 4000  # above this the model keeps main effects only (bounds the fit's cost)
MIN_FEASIBLE = 10  # fewer feasible trials than this: no model, no proposal

# The fit's matrices are at most a few hundred rows: a second BLAS thread gains nothing and,
# when the other core is busy (an evaluation, a second worker), oversubscription made a
# 300-trial quickstart run 8.8 s instead of 3.9 s (docs/bench-explore.md). Made on first use.
_BLAS: list[ThreadpoolController] = []
P = ParamSpec("P")
R = TypeVar("R")


def _on_one_blas_thread(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn`, run while BLAS (OpenBLAS / MKL behind numpy) uses one thread."""

    @functools.wraps(fn)
    def limited(*args: P.args, **kwargs: P.kwargs) -> R:
        if not _BLAS:
            _BLAS.append(ThreadpoolController())
        with _BLAS[0].limit(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return limited


def _index(values: tuple[Any, ...], value: Any) -> int:
    if isinstance(value, str):
        return values.index(value)
    return min(range(len(values)), key=lambda j: abs(float(values[j]) - float(value)))


class FrontModel:
    """Features of designs of `space` and the surrogate's fit (see the module doc)."""

    def __init__(self, space: SearchSpace) -> None:
        self.params = space.sampled
        sizes = [len(p.values) for p in self.params]
        pairs = sum(a * b for i, a in enumerate(sizes) for b in sizes[i + 1 :])
        self.pairs = pairs <= MAX_PAIR_FEATURES
        self._keys: dict[tuple[Any, ...], str] = {}  # point → design key (realising costs)

    def key(self, space: SearchSpace, point: dict[str, Any]) -> str:
        """`design_key(space, point)`, remembered."""
        tag = tuple(sorted(point.items()))
        key = self._keys.get(tag)
        if key is None:
            key = self._keys[tag] = design_key(space, point)
        return key

    def features(self, points: Sequence[dict[str, Any]]) -> np.ndarray:
        """Intercept, one-hot values (a parameter absent from a point: all zero) and, when
        `pairs`, the products of every two parameters' one-hot blocks."""
        n = len(points)
        blocks = []
        for p in self.params:
            m = np.zeros((n, len(p.values)))
            for i, pt in enumerate(points):
                if p.name in pt:
                    m[i, _index(p.values, pt[p.name])] = 1.0
            blocks.append(m)
        cols = [np.ones((n, 1)), *blocks]
        if self.pairs:
            for a, block in enumerate(blocks):
                for other in blocks[a + 1 :]:
                    cols.append((block[:, :, None] * other[:, None, :]).reshape(n, -1))
        return np.hstack(cols)


def ridge_predict(x: np.ndarray, y: np.ndarray, xc: np.ndarray) -> np.ndarray:
    """Ridge predictions at `xc` of each column of `y` fitted on `x`, the penalty of each
    column chosen by generalised cross-validation among `LAMBDAS`. Solved through the
    eigen-decomposition of the smaller Gram matrix (X Xᵀ when there are fewer rows than
    features — the dual form — else Xᵀ X): one decomposition serves every penalty."""
    mu = y.mean(axis=0)
    yc = y - mu
    n, p = x.shape
    dual = n <= p
    s2, u = np.linalg.eigh(x @ x.T if dual else x.T @ x)
    s2 = np.maximum(s2, 0.0)
    # In the dual form u spans the rows' space (X = U S Vᵀ); in the primal form u = V.
    if dual:
        uty = u.T @ yc
    else:
        keep = s2 > 1e-12 * max(float(s2.max()), 1e-300)
        uty = np.zeros((p, y.shape[1]))
        uty[keep] = (x @ u[:, keep]).T @ yc / np.sqrt(s2[keep])[:, None]
    lam = np.full(y.shape[1], LAMBDAS[-1])
    best = np.full(y.shape[1], np.inf)
    for cand in LAMBDAS:
        shrink = s2 / (s2 + cand)
        dof = float(shrink.sum())
        if dof >= n:
            continue
        res = np.sum(yc**2, axis=0) - np.sum((1 - (1 - shrink) ** 2)[:, None] * uty**2, axis=0)
        gcv = np.maximum(res, 0.0) / (1.0 - dof / n) ** 2
        better = gcv < best
        best = np.where(better, gcv, best)
        lam = np.where(better, cand, lam)
    out = np.empty((len(xc), y.shape[1]))
    for j in range(y.shape[1]):
        if dual:  # w = Xᵀ U (S² + λ)⁻¹ Uᵀ y
            w = x.T @ (u @ (uty[:, j] / (s2 + lam[j])))
        else:  # w = V S (S² + λ)⁻¹ Uᵀ y
            w = u @ (np.sqrt(s2) * uty[:, j] / (s2 + lam[j]))
        out[:, j] = xc @ w + mu[j]
    return out


def dominance_margin(pred: np.ndarray, front: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """max over front rows f of min over columns j of (pred_j − f_j) / scale_j (minimisation
    form): > 0 means some front design is better on every objective by at least that much."""
    diff = (pred[:, None, :] - front[None, :, :]) / scale
    return np.max(np.min(diff, axis=2), axis=1)


@_on_one_blas_thread
def propose(
    space: SearchSpace,
    model: FrontModel,
    trials: Sequence[FrozenTrial],
    maximise: Sequence[bool],
    seen: set[str],
    complete: Callable[[dict[str, Any]], dict[str, Any]],
    rng: np.random.Generator,
) -> dict[str, Any] | None:
    """The best-scored unseen neighbour of the front of the COMPLETE `trials` (module doc), or
    None (too few feasible trials, or no unseen neighbour)."""
    feasible = [
        t for t in trials
        if t.values is not None and all(v <= 0 for v in t.constraints.values())
    ]  # fmt: skip
    if len(feasible) < MIN_FEASIBLE:
        return None
    raw = np.array([t.values for t in feasible], dtype=float)
    logged = np.all(raw > 0, axis=0)
    y = np.where(logged, np.log(np.where(raw > 0, raw, 1.0)), raw)
    y = y * np.where(np.asarray(maximise, dtype=bool), -1.0, 1.0)
    on_front = moocore.is_nondominated(y)
    front = y[on_front]
    cands = _neighbours(space, [feasible[i].params for i in np.flatnonzero(on_front)], seen,
                        complete, model.key)  # fmt: skip
    if not cands:
        return None
    xc = model.features(cands)
    names = sorted({n for t in trials for n in t.constraints})
    with_cons = [t for t in trials if names and all(n in t.constraints for n in names)]
    if with_cons:
        cons = np.array([[t.constraints[n] for n in names] for t in with_cons], dtype=float)
        ok = np.all(ridge_predict(model.features([t.params for t in with_cons]), cons, xc) <= 0,
                    axis=1)  # fmt: skip
        if np.any(ok) and not np.all(ok):
            cands = [c for c, keep in zip(cands, ok, strict=True) if keep]
            xc = xc[ok]
    pred = ridge_predict(model.features([t.params for t in feasible]), y, xc)
    scale = np.maximum(front.max(axis=0) - front.min(axis=0), 1e-12)
    margin = dominance_margin(pred, front, scale)
    best = np.flatnonzero(margin <= margin.min() + 1e-12)
    return cands[int(best[int(rng.integers(len(best)))])]


def _neighbours(
    space: SearchSpace,
    points: Sequence[dict[str, Any]],
    seen: set[str],
    complete: Callable[[dict[str, Any]], dict[str, Any]],
    key_of: Callable[[SearchSpace, dict[str, Any]], str] = design_key,
) -> list[dict[str, Any]]:
    """Unseen designs one parameter step from any of `points` (each design once)."""
    out: list[dict[str, Any]] = []
    keys: set[str] = set()
    for here in points:
        for p in space.sampled:
            if p.name not in here:
                continue
            i = _index(p.values, here[p.name])
            for j in (i - 1, i + 1):
                if not 0 <= j < len(p.values):
                    continue
                v = p.values[j]
                cand = complete({**here, p.name: v.item() if isinstance(v, np.generic) else v})
                key = key_of(space, cand)
                if key not in seen and key not in keys:
                    keys.add(key)
                    out.append(cand)
    return out
