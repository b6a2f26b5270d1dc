"""Shared CLI plumbing (DESIGN §9): results on stdout, progress and logs on stderr.

* `out_console` prints results (tables, summaries) on stdout, so `ador-opt models list | grep
  llama` and `> file` work; `emit_json` prints the one JSON document of `--json` there too.
* `err_console` prints progress bars, log lines and warnings on stderr.

Both consoles take their width from the terminal, or from `COLUMNS` when the stream is not a
terminal (rich's own rule; 80 when neither says). `fit_table` makes a table fit that width:
it drops the optional columns from the right until the rest fits, and folds (never cuts) what
still does not, so a narrow terminal gets a narrower table instead of headers cut to "through…".
"""

from __future__ import annotations

import io
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

out_console = Console(highlight=False)
# A value wider than this may fold (long free text such as a reason); shorter ones never do.
MAX_VALUE_WIDTH = 24
err_console = Console(stderr=True, highlight=False)


@dataclass(frozen=True, slots=True)
class Col:
    """One table column: header, right-justified (numbers) or not, and whether it may be
    dropped when the table does not fit the width (optional columns go first, from the right)."""

    header: str
    numeric: bool = True
    optional: bool = False


def fit_table(
    title: str | None,
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    width: int,
    caption: str | None = None,
) -> Table:
    """A rich table no wider than `width` (see the module docstring)."""
    keep = list(range(len(cols)))

    def build(indices: list[int], note: str | None, whole_values: bool = True) -> Table:
        table = Table(title=title, caption=note, caption_justify="left")
        for i in indices:
            c = cols[i]
            # Values are never folded (a number or a name split over lines misleads); headers
            # wrap at their spaces instead.
            widest = max((len(row[i]) for row in rows), default=1)
            table.add_column(
                c.header,
                justify="right" if c.numeric else "left",
                overflow="fold",
                min_width=min(widest, MAX_VALUE_WIDTH) if whole_values else None,
            )
        for row in rows:
            table.add_row(*(row[i] for i in indices))
        return table

    measure = Console(width=10_000, file=io.StringIO())
    note = caption
    table = build(keep, note)
    while _widths(measure, table)[1] > width:
        optional = [i for i in keep if cols[i].optional]
        if not optional:
            break
        keep.remove(optional[-1])
        hidden = len(cols) - len(keep)
        text = f"{hidden} column(s) hidden to fit {width} columns; --json or --csv has all"
        note = f"{caption}\n{text}" if caption else text
        table = build(keep, note)
    if _widths(measure, table)[0] > width:  # even whole values do not fit: let them fold
        table = build(keep, note, whole_values=False)
    return table


def _widths(console: Console, table: Table) -> tuple[int, int]:
    """(narrowest, natural) width of `table` in columns."""
    m = console.measure(table)
    return m.minimum, m.maximum


def print_table(
    title: str | None,
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    caption: str | None = None,
) -> None:
    """`fit_table` on stdout at the terminal's width."""
    out_console.print(fit_table(title, cols, rows, out_console.width, caption))


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):
        return value.value
    return value


def emit_json(document: Any) -> None:
    """Print exactly one JSON document (one line) on stdout. NaN/inf become null."""
    sys.stdout.write(json.dumps(_clean(document), separators=(",", ":")) + "\n")
    sys.stdout.flush()
