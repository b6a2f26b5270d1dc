"""Pareto front, hypervolume history and the choice of designs to show.

Hypervolume comes from `moocore` (maintained C implementation of the WFG/HV algorithms) against
the study's fixed reference point (`ador_reference_point`, objective space, worst acceptable
value per objective). Only feasible trials count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import moocore
import numpy as np

from ador_opt.report.load import StudyData, TrialRecord

# How many Pareto-optimal designs the spec table and the comparison show at most: one best
# design per objective, a balanced one, then the most spread-out of the rest (readability).
MAX_CHOSEN_DESIGNS = 5


def _minimisation(values: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """Objective matrix turned into all-minimise form (maximised columns negated)."""
    sign = np.where(np.asarray(maximise, dtype=bool), -1.0, 1.0)
    return values * sign


def pareto_mask(values: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """Boolean mask of the non-dominated rows of `values` (duplicates all kept)."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(
        moocore.is_nondominated(values, maximise=list(maximise), keep_weakly=True), dtype=bool
    )


def pareto_trials(study: StudyData) -> tuple[TrialRecord, ...]:
    """Feasible Pareto-optimal trials, in trial order. A design evaluated again (a cache hit,
    same `cache_key`) counts once, as its first trial — the same rule as `ador-opt pareto`."""
    first: dict[str, TrialRecord] = {}
    for t in sorted(study.feasible, key=lambda r: r.number):
        first.setdefault(t.cache_key or f"#{t.number}", t)
    feasible = tuple(first.values())
    if not feasible:
        return ()
    values = np.array([t.values for t in feasible], dtype=float)
    mask = pareto_mask(values, study.maximise)
    return tuple(t for t, m in zip(feasible, mask, strict=True) if m)


def hypervolume(values: np.ndarray, reference: Sequence[float], maximise: Sequence[bool]) -> float:
    """Hypervolume dominated by `values` up to `reference` (points that do not strictly beat
    the reference in every objective contribute nothing)."""
    if len(values) == 0:
        return 0.0
    pts = _minimisation(np.asarray(values, dtype=float), maximise)
    ref = _minimisation(np.asarray(reference, dtype=float)[None, :], maximise)[0]
    inside = np.all(pts < ref, axis=1)
    if not inside.any():
        return 0.0
    return float(moocore.hypervolume(pts[inside], ref=ref))


@dataclass(frozen=True, slots=True)
class HypervolumeHistory:
    """Hypervolume of the feasible front after each COMPLETE trial (by trial number)."""

    trial_numbers: tuple[int, ...]
    hypervolume: tuple[float, ...]
    reference_point: tuple[float, ...]

    @property
    def final(self) -> float:
        return self.hypervolume[-1] if self.hypervolume else 0.0


def hypervolume_history(study: StudyData) -> HypervolumeHistory | None:
    """None when the study has no reference point (then no hypervolume is meaningful)."""
    if study.reference_point is None:
        return None
    ref = study.reference_point
    maximise = study.maximise
    ref_min = _minimisation(np.asarray(ref, dtype=float)[None, :], maximise)[0]
    front = np.empty((0, len(ref)))
    numbers: list[int] = []
    hv: list[float] = []
    current = 0.0
    for t in sorted(study.trials, key=lambda r: r.number):
        if t.feasible:
            p = _minimisation(np.asarray(t.values, dtype=float)[None, :], maximise)[0]
            if np.all(p < ref_min):
                dominated = bool(np.any(np.all(front <= p, axis=1))) if len(front) else False
                if not dominated:
                    # Keep the (all-minimise) front small: drop points the new one dominates.
                    keep = ~np.all(p <= front, axis=1) if len(front) else np.zeros(0, bool)
                    front = np.vstack([front[keep], p])
                    current = float(moocore.hypervolume(front, ref=ref_min))
        numbers.append(t.number)
        hv.append(current)
    return HypervolumeHistory(tuple(numbers), tuple(hv), tuple(ref))


def _normalised(values: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """All-minimise values scaled to [0, 1] per objective (0 = best on the front)."""
    pts = _minimisation(values, maximise)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (pts - lo) / span


def choose_designs(
    front: Sequence[TrialRecord],
    objectives: Sequence[str],
    maximise: Sequence[bool],
    limit: int = MAX_CHOSEN_DESIGNS,
) -> tuple[tuple[TrialRecord, str], ...]:
    """A handful of Pareto-optimal designs worth a closer look, each with why it was chosen,
    in this order: the best on each objective, the balanced one (closest to the ideal point
    after normalising each objective over the front), then farthest-point picks for spread.
    Identical objective vectors (e.g. cache hits of one design) count once."""
    unique: list[TrialRecord] = []
    seen: set[tuple[float, ...]] = set()
    for t in sorted(front, key=lambda r: r.number):
        key = tuple(t.values)
        if key not in seen:
            seen.add(key)
            unique.append(t)
    if not unique:
        return ()
    values = np.array([t.values for t in unique], dtype=float)
    norm = _normalised(values, maximise)
    balanced = int(np.argmin(np.linalg.norm(norm, axis=1)))
    picked: list[int] = []

    def add(i: int) -> None:
        if i not in picked and len(picked) < limit:
            picked.append(i)

    for j in range(norm.shape[1]):
        add(int(np.lexsort((norm.sum(axis=1), norm[:, j]))[0]))
    add(balanced)
    while len(picked) < min(limit, len(unique)):
        dist = np.min(np.linalg.norm(norm[:, None, :] - norm[None, picked, :], axis=2), axis=1)
        dist[picked] = -1.0
        add(int(np.argmax(dist)))
    out = []
    for i in picked:
        best = [objectives[j] for j in range(norm.shape[1]) if norm[i, j] == 0.0]
        if best:
            role = "best " + ", ".join(best)
        else:
            role = "balanced" if i == balanced else "trade-off (spread)"
        out.append((unique[i], role))
    return tuple(out)


def front_2d(points: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """The 2-D non-dominated staircase of `points` (n×2), sorted along the first axis."""
    if len(points) == 0:
        return points
    mask = pareto_mask(points, maximise)
    front = points[mask]
    return front[np.argsort(front[:, 0], kind="stable")]
