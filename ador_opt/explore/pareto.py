"""The project's one Pareto implementation: feasibility, the front, hypervolume, the designs
worth showing, and the `pareto` command's JSON/CSV forms.

* Non-dominance and hypervolume come from `moocore` (maintained C implementation of the
  WFG/HV algorithms). Hypervolume is taken against the study's fixed reference point
  (`ador_reference_point`, objective space, worst acceptable value per objective).
* Feasible = COMPLETE with `rejected_by == ""` (equivalently every constraint ≤ 0). A design
  evaluated again (a cache hit, same `cache_key`) counts once, as its first trial.
* `choose_designs` answers "which designs should I look at": the best on each objective, the
  balanced (knee) one — closest to the ideal point after normalising each objective over the
  front — then farthest-point picks for spread. Designs whose objectives are identical or
  within a relative `NEAR_DUPLICATE_REL` of a design already listed count once.

The functions work on anything with `number` and `values` (Optuna's `FrozenTrial`, the report's
`TrialRecord`), so the CLI and the report share them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import moocore
import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

# How many Pareto-optimal designs the report's spec table and comparison show at most.
MAX_CHOSEN_DESIGNS = 5
# Two designs whose every objective differs by at most this fraction are shown once (e.g. TBT
# 6.0740 ms and 6.0741 ms: 16 ns apart, the same design for an architect). 0.1 %: below the
# model's own accuracy (docs/perf-hda.md), so nothing a user could act on is hidden.
NEAR_DUPLICATE_REL = 1e-3


class Scored(Protocol):
    @property
    def number(self) -> int: ...

    @property
    def values(self) -> Any: ...


S = TypeVar("S", bound=Scored)


# --- numbers -----------------------------------------------------------------------------


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


def nondominated_mask(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """`pareto_mask` with Optuna-style direction names."""
    return pareto_mask(values, [d == "maximize" for d in directions])


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


def front_2d(points: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """The 2-D non-dominated staircase of `points` (n×2), sorted along the first axis."""
    if len(points) == 0:
        return points
    front = points[pareto_mask(points, maximise)]
    return front[np.argsort(front[:, 0], kind="stable")]


# --- trials ------------------------------------------------------------------------------


def is_feasible(t: FrozenTrial) -> bool:
    if t.state != TrialState.COMPLETE or t.values is None:
        return False
    if "rejected_by" in t.user_attrs:
        return t.user_attrs["rejected_by"] == ""
    return all(v <= 0 for v in t.constraints.values())


def first_of_each(trials: Sequence[S], keys: Sequence[str]) -> list[S]:
    """One trial per key (the lowest trial number), in trial order."""
    first: dict[str, S] = {}
    for key, t in sorted(zip(keys, trials, strict=True), key=lambda kt: kt[1].number):
        first.setdefault(key or f"#{t.number}", t)
    return list(first.values())


def front_of(trials: Sequence[S], maximise: Sequence[bool]) -> list[S]:
    """The non-dominated ones of `trials` (all feasible), in the given order."""
    if not trials:
        return []
    mask = pareto_mask(np.array([t.values for t in trials], dtype=float), maximise)
    return [t for t, m in zip(trials, mask, strict=True) if m]


class _Study(Protocol):
    @property
    def feasible(self) -> Sequence[Any]: ...

    @property
    def maximise(self) -> tuple[bool, ...]: ...


def pareto_trials(study: _Study) -> tuple[Any, ...]:
    """Feasible Pareto-optimal records of a report `StudyData`, in trial order."""
    unique = first_of_each(study.feasible, [t.cache_key for t in study.feasible])
    return tuple(front_of(unique, study.maximise))


def near(a: Sequence[float], b: Sequence[float], rel: float = NEAR_DUPLICATE_REL) -> bool:
    """Every objective of `a` within `rel` (relative) of `b`'s."""
    return all(abs(x - y) <= rel * max(abs(x), abs(y)) for x, y in zip(a, b, strict=True))


def distinct(trials: Sequence[S], rel: float = NEAR_DUPLICATE_REL) -> list[tuple[S, int]]:
    """Trials in order with near-duplicates folded into the first one of each group: (trial,
    how many later trials it stands for)."""
    kept: list[list[Any]] = []
    for t in trials:
        for entry in kept:
            if near(tuple(t.values), tuple(entry[0].values), rel):
                entry[1] += 1
                break
        else:
            kept.append([t, 0])
    return [(t, n) for t, n in kept]


def best_first(trials: Sequence[S], maximise: Sequence[bool]) -> list[S]:
    """Sorted by the first objective, best first; ties by the next objectives, then number."""
    sign = [-1.0 if m else 1.0 for m in maximise]
    return sorted(
        trials, key=lambda t: (*(s * v for s, v in zip(sign, t.values, strict=True)), t.number)
    )


def _normalised(values: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """All-minimise values scaled to [0, 1] per objective (0 = best on the front)."""
    pts = _minimisation(values, maximise)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (pts - lo) / span


def choose_designs(
    front: Sequence[S],
    objectives: Sequence[str],
    maximise: Sequence[bool],
    limit: int = MAX_CHOSEN_DESIGNS,
    spread: bool = True,
) -> tuple[tuple[S, str], ...]:
    """A handful of Pareto-optimal designs worth a closer look, each with why it was chosen
    ("best <objective>", "balanced", "trade-off (spread)"), in that order (see the module
    docstring). Without `spread`, only the best per objective and the balanced one."""
    unique = [t for t, _ in distinct(sorted(front, key=lambda r: r.number))]
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
        if any(norm[i, j] == 0.0 for i in picked):  # a design already shown is best on j too
            continue
        add(int(np.lexsort((norm.sum(axis=1), norm[:, j]))[0]))
    add(balanced)
    while spread and len(picked) < min(limit, len(unique)):
        dist = np.min(np.linalg.norm(norm[:, None, :] - norm[None, picked, :], axis=2), axis=1)
        dist[picked] = -1.0
        add(int(np.argmax(dist)))
    out = []
    for i in picked:
        best = [objectives[j] for j in range(norm.shape[1]) if norm[i, j] == 0.0]
        if best:
            role = "best " + ", ".join(best)
            if i == balanced:
                role += "; balanced"
        else:
            role = "balanced" if i == balanced else "trade-off (spread)"
        out.append((unique[i], role))
    return tuple(out)


# --- hypervolume history -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HypervolumeHistory:
    """Hypervolume of the feasible front after each COMPLETE trial (by trial number)."""

    trial_numbers: tuple[int, ...]
    hypervolume: tuple[float, ...]
    reference_point: tuple[float, ...]

    @property
    def final(self) -> float:
        return self.hypervolume[-1] if self.hypervolume else 0.0


class _HistoryStudy(Protocol):
    @property
    def trials(self) -> Sequence[Any]: ...  # records with number, feasible, values

    @property
    def reference_point(self) -> tuple[float, ...] | None: ...

    @property
    def maximise(self) -> tuple[bool, ...]: ...


def hypervolume_history(study: _HistoryStudy) -> HypervolumeHistory | None:
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


# --- the `pareto` command's view ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParetoView:
    study: str
    objectives: list[str]
    units: list[str]
    directions: list[str]
    trials: list[FrozenTrial]

    @property
    def maximise(self) -> list[bool]:
        return [d == "maximize" for d in self.directions]

    def to_json(self) -> dict[str, Any]:
        """`pareto --json` contract (DESIGN §9)."""
        return {
            "study": self.study,
            "objectives": self.objectives,
            "directions": self.directions,
            "designs": [
                {
                    "number": t.number,
                    "values": list(t.values),
                    "params": dict(t.params),
                    "metrics": dict(t.user_attrs.get("metrics", {})),
                }
                for t in self.trials
            ],
        }

    def to_csv(self) -> str:
        params = sorted({k for t in self.trials for k in t.params})
        metrics = sorted({k for t in self.trials for k in t.user_attrs.get("metrics", {})})
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["number", *self.objectives, *params, *(f"metric:{m}" for m in metrics)])
        for t in self.trials:
            m = t.user_attrs.get("metrics", {})
            w.writerow(
                [t.number, *t.values, *(t.params.get(p, "") for p in params)]
                + [m.get(k, "") for k in metrics]
            )
        return buf.getvalue()


def pareto_view(study: optuna.Study, include_all: bool = False) -> ParetoView:
    """Feasible designs of `study` (each once), the front unless `include_all`; the front is
    sorted best first by the first objective."""
    attrs = study.user_attrs
    directions = [d.name.lower() for d in study.directions]
    maximise = [d == "maximize" for d in directions]
    objectives = attrs.get("ador_objectives") or [f"value{i}" for i in range(len(directions))]
    units = attrs.get("ador_objective_units") or [""] * len(directions)
    feasible = [t for t in study.get_trials(deepcopy=False) if is_feasible(t)]
    trials = first_of_each(feasible, [str(t.user_attrs.get("cache_key", "")) for t in feasible])
    if not include_all:
        trials = best_first(front_of(trials, maximise), maximise)
    return ParetoView(study.study_name, list(objectives), list(units), directions, trials)
