"""Progress of long work on stderr (DESIGN §9: progress never goes to stdout).

On a terminal: a rich bar with done/total, rate, elapsed time and ETA, and the status (e.g. the
best values so far) on the line below, wrapped to the terminal's width. When stderr is not a
terminal (a log file, CI, `2> log`): one plain line every `every_s` seconds and a last one at
the end, so a log shows the job advancing instead of only the final bar line.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

# A plain progress line at most this often (seconds) when stderr is not a terminal.
PLAIN_EVERY_S = 10.0


def clock(seconds: float) -> str:
    """`1:02:03` / `2:03` for a duration in seconds."""
    s = round(max(seconds, 0.0))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


# Width of the bar itself: the bar line (label, bar, done/total, rate, elapsed, ETA) then fits
# an 80-column terminal (rich's default 40 made it 89 wide, and rich cut every column to "t…").
BAR_WIDTH = 20


class _StatusBelow(RichProgress):
    """The rich bar with each task's `status` on the line(s) below it, wrapped at the terminal
    width: the status (best values) is long, and on one line with the bar it squeezed the
    count and the ETA out of an 80-column terminal."""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            if status := str(task.fields.get("status", "")):
                yield Text(status)


class Progress:
    """`with Progress("trials", total, console) as p: p.update(done, status)`; a no-op when
    `enabled` is false (e.g. `--json`)."""

    def __init__(
        self,
        label: str,
        total: int,
        console: Console,
        enabled: bool = True,
        start: int = 0,
        unit: str = "",
        every_s: float = PLAIN_EVERY_S,
    ) -> None:
        self.label = label
        self.total = total
        self.start = start
        self.done = start
        self.status = ""
        self.unit = unit or label
        self.enabled = enabled
        self.console = console
        self.every_s = every_s
        self.t0 = time.monotonic()
        self._last_line = self.t0
        self._live = enabled and console.is_terminal
        self._bar: RichProgress | None = None
        if self._live:
            self._bar = _StatusBelow(
                TextColumn(f"[bold]{label}"),
                BarColumn(bar_width=BAR_WIDTH),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._task = self._bar.add_task(
                label, total=total, completed=start, rate="", status=""
            )

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self.enabled and exc_type is None:
            self._plain()

    @property
    def rate_per_s(self) -> float:
        return (self.done - self.start) / max(time.monotonic() - self.t0, 1e-9)

    def eta_s(self) -> float | None:
        rate = self.rate_per_s
        return (self.total - self.done) / rate if rate > 0 else None

    def update(self, done: int, status: str = "") -> None:
        if not self.enabled:
            return
        self.done, self.status = done, status
        if self._bar is not None:
            self._bar.update(
                self._task,
                completed=done,
                rate=f"{self.rate_per_s:.1f} {self.unit}/s",
                status=status,
            )
            return
        now = time.monotonic()
        if now - self._last_line >= self.every_s:
            self._last_line = now
            self._plain()

    def _plain(self) -> None:
        elapsed = time.monotonic() - self.t0
        eta = self.eta_s()
        pct = 100.0 * self.done / self.total if self.total else 100.0
        parts = [
            f"{self.label} {self.done}/{self.total} ({pct:.0f} %)",
            f"{self.rate_per_s:.1f} {self.unit}/s",
            f"elapsed {clock(elapsed)}",
        ]
        if eta is not None and self.done < self.total:
            parts.append(f"ETA {clock(eta)}")
        if self.status:
            parts.append(self.status)
        self.console.print(", ".join(parts), highlight=False, soft_wrap=True)
