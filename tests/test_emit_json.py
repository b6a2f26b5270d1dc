"""`emit_json(..., str_keys=True)` (the `evaluate --designs` fast path) prints exactly what the
cleaning path prints, for every kind of value an evaluation document holds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ador_opt.cli._common import emit_json
from ador_opt.hardware.arch import DramType

DOCS = [
    {"a": 1.5, "b": [1, 2.25, None, True], "c": {"d": "x", "e": (3, 4.0)}},
    {"nan": math.nan, "inf": [math.inf, -math.inf], "ok": 1e-300},
    {"enum": DramType.HBM3, "nested": {"t": (DramType.DDR5, 0.1)}},
    {"np": np.float64(2.5), "np_nan": np.float64("nan")},
    {"feasible": False, "reason": "weights + KV need 19.0 GiB", "line": 3},
]


@pytest.mark.parametrize("doc", DOCS)
def test_str_keys_path_prints_the_same(
    doc: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    emit_json(doc)
    slow = capsys.readouterr().out
    emit_json(doc, flush=False, str_keys=True)
    fast = capsys.readouterr().out
    assert fast == slow
    assert slow.count("\n") == 1


def test_non_finite_values_become_null(capsys: pytest.CaptureFixture[str]) -> None:
    emit_json({"x": math.nan, "y": [math.inf]}, str_keys=True)
    assert capsys.readouterr().out == '{"x":null,"y":[null]}\n'
