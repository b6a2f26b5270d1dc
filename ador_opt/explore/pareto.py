"""Feasible Pareto-optimal designs of a study, and their JSON/CSV/table forms.

Feasible = COMPLETE with `rejected_by == ""` (equivalently every constraint ≤ 0). Duplicate
designs (cache hits of one configuration) are listed once, under their first trial number.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState


@dataclass(frozen=True, slots=True)
class ParetoView:
    study: str
    objectives: list[str]
    units: list[str]
    directions: list[str]
    trials: list[FrozenTrial]

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


def is_feasible(t: FrozenTrial) -> bool:
    if t.state != TrialState.COMPLETE or t.values is None:
        return False
    if "rejected_by" in t.user_attrs:
        return t.user_attrs["rejected_by"] == ""
    return all(v <= 0 for v in t.constraints.values())


def nondominated_mask(values: np.ndarray, directions: list[str]) -> np.ndarray:
    """True for rows no other row dominates (duplicates all kept)."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    v = values * signs
    keep = np.ones(len(v), dtype=bool)
    for i in range(len(v)):
        no_worse = np.all(v <= v[i], axis=1)
        better = np.any(v < v[i], axis=1)
        if np.any(no_worse & better):
            keep[i] = False
    return keep


def pareto_view(study: optuna.Study, include_all: bool = False) -> ParetoView:
    attrs = study.user_attrs
    directions = [d.name.lower() for d in study.directions]
    objectives = attrs.get("ador_objectives") or [f"value{i}" for i in range(len(directions))]
    units = attrs.get("ador_objective_units") or [""] * len(directions)
    feasible = [t for t in study.get_trials(deepcopy=False) if is_feasible(t)]
    unique: dict[str, FrozenTrial] = {}
    for t in sorted(feasible, key=lambda t: t.number):
        unique.setdefault(str(t.user_attrs.get("cache_key", t.number)), t)
    trials = list(unique.values())
    if not include_all and trials:
        mask = nondominated_mask(np.array([t.values for t in trials], dtype=float), directions)
        trials = [t for t, k in zip(trials, mask, strict=True) if k]
        trials.sort(key=lambda t: tuple(t.values))
    return ParetoView(study.study_name, list(objectives), list(units), directions, trials)
