"""Pareto front, hypervolume and design choice of the report (ador_opt/explore/pareto.py)."""

from __future__ import annotations

import itertools
from collections.abc import Collection

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna._hypervolume import compute_hypervolume

from ador_opt.explore.pareto import (
    choose_designs,
    front_2d,
    hypervolume,
    hypervolume_history,
    pareto_mask,
    pareto_trials,
)
from ador_opt.report.load import StudyData, TrialRecord


def _record(number: int, values: tuple[float, ...], feasible: bool = True) -> TrialRecord:
    return TrialRecord(
        number=number,
        values=values,
        known=values if feasible else (None,) * len(values),
        params={},
        config={},
        metrics={},
        area_mm2=None,
        cost_usd=None,
        peak_tflops=None,
        area_breakdown={},
        constraints={"c": -1.0 if feasible else 1.0},
        rejected_by="" if feasible else "budget",
        feasible=feasible,
        cache_hit=False,
    )


def _study(
    rows: list[tuple[float, ...]],
    directions: tuple[str, ...],
    ref: tuple[float, ...] | None,
    infeasible: Collection[int] = (),
) -> StudyData:
    trials = tuple(_record(i, r, i not in infeasible) for i, r in enumerate(rows))
    n = len(directions)
    return StudyData(
        name="t",
        study_id=1,
        objectives=tuple(f"o{k}" for k in range(n)),
        directions=directions,
        units=("",) * n,
        reference_point=ref,
        spec={},
        spec_hash="",
        version="",
        trials=trials,
        n_total=len(trials),
    )


def _brute_front(values: np.ndarray, maximise: tuple[bool, ...]) -> set[int]:
    pts = values * np.where(np.array(maximise), -1.0, 1.0)
    out = set()
    for i, p in enumerate(pts):
        dominated = any(np.all(q <= p) and np.any(q < p) for q in pts)
        if not dominated:
            out.add(i)
    return out


points = st.lists(
    st.tuples(*(st.integers(0, 20).map(float) for _ in range(3))), min_size=1, max_size=40
)
senses = st.tuples(st.booleans(), st.booleans(), st.booleans())


@settings(max_examples=60, deadline=None)
@given(points, senses)
def test_pareto_mask_matches_brute_force(
    rows: list[tuple[float, ...]], maximise: tuple[bool, ...]
) -> None:
    values = np.array(rows)
    mask = pareto_mask(values, maximise)
    assert set(np.flatnonzero(mask)) == _brute_front(values, maximise)


@settings(max_examples=60, deadline=None)
@given(points, senses)
def test_hypervolume_matches_optuna(
    rows: list[tuple[float, ...]], maximise: tuple[bool, ...]
) -> None:
    values = np.array(rows)
    ref = np.array([-1.0 if m else 21.0 for m in maximise])
    ours = hypervolume(values, ref, maximise)
    sign = np.where(np.array(maximise), -1.0, 1.0)
    theirs = compute_hypervolume(values * sign, ref * sign)
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-9)


def test_hypervolume_ignores_points_outside_the_reference_box() -> None:
    values = np.array([[1.0, 1.0], [5.0, 0.5]])
    assert hypervolume(values, (2.0, 2.0), (False, False)) == pytest.approx(1.0)
    assert hypervolume(values, (0.5, 0.5), (False, False)) == 0.0


@settings(max_examples=40, deadline=None)
@given(points, senses, st.sets(st.integers(0, 39), max_size=10))
def test_hypervolume_history_is_monotone_and_ends_at_the_front(
    rows: list[tuple[float, ...]], maximise: tuple[bool, ...], infeasible: set[int]
) -> None:
    directions = tuple("maximize" if m else "minimize" for m in maximise)
    ref = tuple(-1.0 if m else 21.0 for m in maximise)
    study = _study(rows, directions, ref, infeasible)
    hist = hypervolume_history(study)
    assert hist is not None
    assert list(hist.trial_numbers) == list(range(len(rows)))
    assert all(b >= a for a, b in itertools.pairwise(hist.hypervolume))
    feasible = np.array([r for i, r in enumerate(rows) if i not in infeasible]).reshape(-1, 3)
    assert hist.final == pytest.approx(hypervolume(feasible, ref, maximise), abs=1e-9)


def test_hypervolume_history_without_reference_point() -> None:
    assert hypervolume_history(_study([(1.0, 2.0)], ("minimize", "minimize"), None)) is None


def test_pareto_trials_skip_infeasible_even_if_they_dominate() -> None:
    study = _study(
        [(1.0, 1.0), (2.0, 3.0), (3.0, 2.0)],
        ("minimize", "minimize"),
        (10.0, 10.0),
        infeasible={0},
    )
    assert [t.number for t in pareto_trials(study)] == [1, 2]


@settings(max_examples=60, deadline=None)
@given(points, senses)
def test_chosen_designs_are_pareto_optimal_and_include_the_extremes(
    rows: list[tuple[float, ...]], maximise: tuple[bool, ...]
) -> None:
    directions = tuple("maximize" if m else "minimize" for m in maximise)
    study = _study(rows, directions, None)
    front = pareto_trials(study)
    chosen = choose_designs(front, study.objectives, maximise, limit=5)
    numbers = {t.number for t, _ in chosen}
    assert numbers <= {t.number for t in front}
    assert 1 <= len(chosen) <= 5
    assert len({tuple(t.values) for t, _ in chosen}) == len(chosen)  # no duplicate vectors
    for k, m in enumerate(maximise):
        best = max(t.values[k] for t in front) if m else min(t.values[k] for t in front)
        assert any(t.values[k] == best for t, _ in chosen), (k, best)
        assert any(role.startswith("best") and f"o{k}" in role for _, role in chosen)


def test_choose_designs_fills_the_cap_with_spread_and_balance() -> None:
    # A 2-D convex front of 20 points: best-of-each, the balanced knee, then spread picks.
    xs = np.linspace(0.0, 1.0, 20)
    rows = [(float(x), float((1 - x) ** 2)) for x in xs]
    study = _study(rows, ("minimize", "minimize"), None)
    chosen = choose_designs(pareto_trials(study), study.objectives, (False, False), limit=5)
    roles = [r for _, r in chosen]
    assert roles[:2] == ["best o0", "best o1"]
    assert "balanced" in roles and len(chosen) == 5


def test_front_2d_staircase_is_sorted_and_nondominated() -> None:
    pts = np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0], [3.0, 3.0]])
    stair = front_2d(pts, (False, False))
    assert stair.tolist() == [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]]
