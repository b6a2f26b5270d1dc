"""Shared CLI plumbing: JSON output on stdout, human output on stderr, input errors → exit 2."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from rich.console import Console

# Human-readable output goes to stderr so that stdout carries only the JSON document.
# When stderr is not a terminal (logs, CI) rich would wrap tables at 80 columns; use 140.
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


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
