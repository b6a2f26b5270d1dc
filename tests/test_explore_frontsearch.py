"""Model-guided Pareto local search (`explore/frontsearch.py`): on a problem the surrogate can
represent exactly, the proposal is the unseen front neighbour that is truly least dominated
(a uniform draw among the neighbours — the earlier front-neighbour step — almost never is), and
a neighbour predicted to break a constraint is skipped."""

from __future__ import annotations

import itertools

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution

from ador_opt.explore import frontsearch, validate_spec
from ador_opt.explore.space import design_key
from tests.explore_fixtures import spec_dict


def _space():
    return validate_spec(spec_dict()).space


def _true(space, point: dict) -> tuple[float, float]:
    """Two objectives (both minimised), products of per-parameter factors: their logs are
    additive, so the surrogate's model holds them exactly."""
    a = b = 1.0
    for k, p in enumerate(space.sampled):
        i = p.values.index(point[p.name])
        a *= (1.0 + 0.3 * (k + 1)) ** i
        b *= (1.0 + 0.2 * (len(space.sampled) - k)) ** (len(p.values) - 1 - i)
        b *= 1.0 + 0.05 * ((i * (k + 2)) % 3)  # not monotone in every parameter
    return a, b


def _trial(space, point: dict, values, cons: float = -1.0) -> optuna.trial.FrozenTrial:
    dists = {p.name: CategoricalDistribution(list(p.values)) for p in space.sampled}
    return optuna.trial.create_trial(
        params=point, distributions=dists, values=list(values),
        system_attrs={"constraints:c": cons},
    )  # fmt: skip


def _history(space, n: int, seed: int):
    points = [dict(zip([p.name for p in space.sampled], v, strict=True))
              for v in itertools.product(*(p.values for p in space.sampled))]  # fmt: skip
    rng = np.random.default_rng(seed)
    chosen = [points[int(i)] for i in rng.choice(len(points), size=n, replace=False)]
    return points, chosen


def _margins(space, points, seen_points):
    """True dominance margin of every unseen front neighbour of the seen points' front."""
    y = np.log(np.array([_true(space, p) for p in seen_points]))
    front = y[[not any(np.all(o <= r) and np.any(o < r) for o in y) for r in y]]
    scale = front.max(axis=0) - front.min(axis=0)
    seen = {design_key(space, p) for p in seen_points}
    fronts = [p for p, r in zip(seen_points, y, strict=True)
              if not any(np.all(o <= r) and np.any(o < r) for o in y)]  # fmt: skip
    cands = frontsearch._neighbours(space, fronts, seen, dict)
    true = np.log(np.array([_true(space, c) for c in cands]))
    return cands, frontsearch.dominance_margin(true, front, scale)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_proposal_is_the_least_dominated_front_neighbour(seed: int) -> None:
    space = _space()
    points, seen_points = _history(space, 60, seed)
    trials = [_trial(space, p, _true(space, p)) for p in seen_points]
    seen = {design_key(space, p) for p in seen_points}
    model = frontsearch.FrontModel(space)
    got = frontsearch.propose(space, model, trials, [False, False], seen, dict,
                              np.random.default_rng(seed))  # fmt: skip
    cands, margin = _margins(space, points, seen_points)
    assert len(cands) >= 10  # a uniform draw would pick the best with probability ≤ 1/10
    assert got is not None and design_key(space, got) not in seen
    best = {design_key(space, c) for c, m in zip(cands, margin, strict=True)
            if m <= margin.min() + 1e-9}  # fmt: skip
    assert design_key(space, got) in best


def test_a_neighbour_predicted_infeasible_is_skipped() -> None:
    """Constraint c = (sa_dim index + core_count index − 3.5) ≤ 0, additive so the constraint
    model holds it exactly; the objectives reward both, so the best-scored front neighbour
    breaks the constraint when the constraint is not modelled."""
    space = _space()
    sa, cores = space.param("sa_dim"), space.param("core_count")
    assert sa is not None and cores is not None

    def cons(p: dict) -> float:
        return sa.values.index(p["sa_dim"]) + cores.values.index(p["core_count"]) - 3.5

    def values(p: dict) -> tuple[float, float]:
        a, b = _true(space, p)
        return (
            a * 0.02 ** (sa.values.index(p["sa_dim"]) + cores.values.index(p["core_count"])),
            b,
        )

    _, seen_points = _history(space, 60, 5)
    seen = {design_key(space, p) for p in seen_points}
    model = frontsearch.FrontModel(space)
    # Infeasible trials carry placeholder values, which the surrogate must not read.
    trials = [_trial(space, p, values(p) if cons(p) <= 0 else (1e-9, 1e-9), cons(p))
              for p in seen_points]  # fmt: skip
    got = frontsearch.propose(space, model, trials, [False, False], seen, dict,
                              np.random.default_rng(0))  # fmt: skip
    assert got is not None and cons(got) <= 0
    # The same feasible history without the constraint attrs: the best neighbour breaks it.
    blind = [_trial(space, p, values(p), -1.0) for p in seen_points if cons(p) <= 0]
    free = frontsearch.propose(space, model, blind, [False, False], seen, dict,
                               np.random.default_rng(0))  # fmt: skip
    assert free is not None and cons(free) > 0


def test_too_few_feasible_trials_propose_nothing() -> None:
    space = _space()
    _, seen_points = _history(space, frontsearch.MIN_FEASIBLE - 1, 0)
    trials = [_trial(space, p, _true(space, p)) for p in seen_points]
    seen = {design_key(space, p) for p in seen_points}
    model = frontsearch.FrontModel(space)
    assert frontsearch.propose(space, model, trials, [False, False], seen, dict,
                               np.random.default_rng(0)) is None  # fmt: skip


def test_the_fit_runs_on_one_blas_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The surrogate's linear algebra is limited to one BLAS thread while it runs (a second
    thread made proposals 2× slower on a busy 2-core machine), and the limit is lifted after."""
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    if not blas_threads():
        pytest.skip("numpy reports no BLAS library to limit")
    before = blas_threads()
    during: list[list[int]] = []
    real = frontsearch.ridge_predict

    def spy(*args, **kwargs):
        during.append(blas_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(frontsearch, "ridge_predict", spy)
    space = _space()
    _, seen_points = _history(space, 60, 0)
    trials = [_trial(space, p, _true(space, p)) for p in seen_points]
    seen = {design_key(space, p) for p in seen_points}
    got = frontsearch.propose(space, frontsearch.FrontModel(space), trials, [False, False],
                              seen, dict, np.random.default_rng(0))  # fmt: skip
    assert got is not None and during
    assert all(n == 1 for threads in during for n in threads)
    assert blas_threads() == before
