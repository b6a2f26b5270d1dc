"""Live progress of a study on stderr: trials done / target, trials/s, ETA, feasible count and
the best feasible value of each objective *with the trial that holds it* (the best values of a
multi-objective study come from different trials; saying which avoids reading them as one
design)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optuna.trial import TrialState
from rich.console import Console

from ador_opt.explore.objectives import is_better, short_label
from ador_opt.progress import Progress


@dataclass
class Snapshot:
    complete: int
    feasible: int
    best: list[float | None]
    best_trial: list[int | None]


def snapshot(study: Any, directions: list[str]) -> Snapshot:
    complete = feasible = 0
    best: list[float | None] = [None] * len(directions)
    where: list[int | None] = [None] * len(directions)
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        complete += 1
        if t.user_attrs.get("rejected_by") != "" or t.values is None:
            continue
        feasible += 1
        for i, (d, v) in enumerate(zip(directions, t.values, strict=True)):
            cur = best[i]
            if cur is None or is_better(d, v, cur):
                best[i], where[i] = v, t.number
    return Snapshot(complete, feasible, best, where)


def best_text(objectives: list[str], snap: Snapshot) -> str:
    """`best tput/mm² 4.28 (#59), TBT 6.07 (#5)` — each objective's best and its trial."""
    parts = [
        f"{short_label(name)} {v:.4g} (#{n})"
        for name, v, n in zip(objectives, snap.best, snap.best_trial, strict=True)
        if v is not None
    ]
    return "best " + ", ".join(parts) if parts else "no feasible trial yet"


class StudyProgress:
    """The study's progress bar (a no-op when disabled, e.g. `--json`)."""

    def __init__(
        self,
        target: int,
        start_complete: int,
        objectives: list[str],
        enabled: bool,
        console: Console,
    ) -> None:
        self.objectives = objectives
        self._progress = Progress("trials", target, console, enabled=enabled, start=start_complete)

    def __enter__(self) -> StudyProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.__exit__(*exc)

    def update(self, snap: Snapshot) -> None:
        status = f"feasible {snap.feasible}; {best_text(self.objectives, snap)}"
        self._progress.update(snap.complete, status)
