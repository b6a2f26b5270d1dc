"""Live progress of a study on stderr: trials done / target, trials/s, feasible, best values."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from optuna.trial import TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ador_opt.explore.objectives import is_better


@dataclass
class Snapshot:
    complete: int
    feasible: int
    best: list[float | None]


def snapshot(study: Any, directions: list[str]) -> Snapshot:
    complete = feasible = 0
    best: list[float | None] = [None] * len(directions)
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        complete += 1
        if t.user_attrs.get("rejected_by") != "" or t.values is None:
            continue
        feasible += 1
        for i, (d, v) in enumerate(zip(directions, t.values, strict=True)):
            cur = best[i]
            if cur is None or is_better(d, v, cur):
                best[i] = v
    return Snapshot(complete, feasible, best)


class StudyProgress:
    """A rich progress bar; a no-op when disabled (`--json`)."""

    def __init__(
        self,
        target: int,
        start_complete: int,
        objectives: list[str],
        enabled: bool,
        console: Console,
    ) -> None:
        self.enabled = enabled
        self.objectives = objectives
        self.start_complete = start_complete
        self.t0 = time.monotonic()
        self._progress = Progress(
            TextColumn("[bold]trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self._task = self._progress.add_task(
            "trials", total=target, completed=start_complete, rate="", status=""
        )

    def __enter__(self) -> StudyProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def update(self, snap: Snapshot) -> None:
        if not self.enabled:
            return
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        rate = (snap.complete - self.start_complete) / elapsed
        best = "  ".join(
            f"{name}={v:.4g}"
            for name, v in zip(self.objectives, snap.best, strict=True)
            if v is not None
        )
        self._progress.update(
            self._task,
            completed=snap.complete,
            rate=f"{rate:.1f} trials/s",
            status=f"feasible {snap.feasible}  best {best or '—'}",
        )
