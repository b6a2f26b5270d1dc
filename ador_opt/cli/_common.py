"""Shared CLI plumbing (DESIGN §9): results on stdout, progress and logs on stderr.

* `out_console` prints results (tables, summaries) on stdout, so `ador-opt models list | grep
  llama` and `> file` work; `emit_json` prints the one JSON document of `--json` there too.
* `err_console` prints progress bars, log lines and warnings on stderr.

Both consoles take their width from the terminal, or from `COLUMNS` when the stream is not a
terminal (rich's own rule; 80 when neither says). `fit_table` makes a table fit that width:
it drops the optional columns from the right until the rest fits, then wraps headers at their
spaces, and folds values only when even whole values do not fit — never cuts — so a narrow
terminal gets a narrower table instead of headers cut to "through…" or a cut right edge.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from ador_opt.errors import InputError

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


# rich draws each column with one space of padding either side and one border line between
# and around the columns (the default box), so a table of n columns of content widths w is
# sum(w) + 2n + (n + 1) columns wide.
CELL_PADDING = 2


def _outer_width(content: Sequence[int]) -> int:
    return sum(content) + CELL_PADDING * len(content) + len(content) + 1


def _plan(
    cols: Sequence[Col], rows: Sequence[Sequence[str]], keep: Sequence[int], width: int,
    whole: int, natural_only: bool = False,
) -> list[int] | None:  # fmt: skip
    """Content width of each kept column so the table is at most `width` wide, or None when
    it cannot be. A column keeps its natural width (widest header or value) when everything
    fits; otherwise the widest columns shrink first to a common cap ("water level"), never
    below their minimum, which depends on `whole`: 2 — the longest header word and the widest
    value (up to `MAX_VALUE_WIDTH`); 1 — the widest value (headers may break inside a word);
    0 — nothing (values fold too; a number or a name split over lines misleads, so this is
    the last resort). `natural_only`: None unless the natural widths fit."""
    natural, minimum = [], []
    for i in keep:
        widest = max((len(row[i]) for row in rows), default=0)
        header_word = max((len(w) for w in cols[i].header.split()), default=1)
        natural.append(max(widest, len(cols[i].header), 1))
        value_min = min(widest, MAX_VALUE_WIDTH) if whole >= 1 else 1
        minimum.append(max(header_word if whole >= 2 else 1, value_min))
    room = width - _outer_width([0] * len(keep))
    if sum(natural) <= room:
        return natural
    if natural_only or sum(minimum) > room:
        return None
    pairs = list(zip(natural, minimum, strict=True))
    cap = max(natural)
    while cap > 1 and sum(min(n, max(m, cap)) for n, m in pairs) > room:
        cap -= 1
    return [min(n, max(m, cap)) for n, m in pairs]


def fit_table(
    title: str | None,
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    width: int,
    caption: str | None = None,
) -> Table:
    """A rich table no wider than `width` (see the module docstring). The column widths are
    planned here (`_plan`), not left to rich, whose own shrinking leaves some tables wider than
    the console, which then cuts their right edge."""
    keep = list(range(len(cols)))
    note = caption
    # Optional columns go first, from the right, until the rest fits at its natural width.
    while _plan(cols, rows, keep, width, whole=2, natural_only=True) is None:
        optional = [i for i in keep if cols[i].optional]
        if not optional:
            break
        keep.remove(optional[-1])
        hidden = len(cols) - len(keep)
        text = f"{hidden} column(s) hidden to fit {width} columns; --json or --csv has all"
        note = f"{caption}\n{text}" if caption else text
    # Then headers wrap at their spaces, then inside words, and only then values fold.
    plan = next(
        (p for whole in (2, 1, 0) if (p := _plan(cols, rows, keep, width, whole)) is not None),
        None,
    )
    table = Table(title=title, caption=note, caption_justify="left")
    for k, i in enumerate(keep):
        c = cols[i]
        table.add_column(
            c.header,
            justify="right" if c.numeric else "left",
            overflow="fold",  # headers wrap at their spaces; only a planned-narrow value folds
            width=plan[k] if plan is not None else None,
        )
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    return table


def print_table(
    title: str | None,
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    caption: str | None = None,
) -> None:
    """`fit_table` on stdout at the terminal's width."""
    out_console.print(fit_table(title, cols, rows, out_console.width, caption))


def _clean(value: Any) -> Any:
    kind = type(value)  # exact built-in types first (the bulk of a document; same results)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):
        return value.value
    return value


def emit_json(document: Any, flush: bool = True, str_keys: bool = False) -> None:
    """Print exactly one JSON document (one line) on stdout. NaN/inf become null. A caller
    printing many lines may pass `flush=False` and flush itself. `str_keys`: the caller
    guarantees every dict key is a `str`; the document is then encoded directly and only
    cleaned when it holds NaN/inf or a value json cannot encode (same output, less work:
    with str keys, json's own encoding of finite floats, tuples and str enums is `_clean`'s)."""
    text = None
    if str_keys:
        try:
            text = json.dumps(document, separators=(",", ":"), allow_nan=False)
        except (ValueError, TypeError):
            text = None
    if text is None:
        text = json.dumps(_clean(document), separators=(",", ":"))
    sys.stdout.write(text + "\n")
    if flush:
        sys.stdout.flush()


def int_list(name: str, text: str) -> list[int]:
    """Comma-separated integers of option `name`; malformed or empty is an InputError."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"{name}: expected comma-separated integers, got {text!r}") from None
    if not values:
        raise InputError(f"{name}: empty list")
    return values
