"""Case files: the schema of `calibration_cases.csv` and its checked reader.

A case file is a CSV with (at least) the columns of `ador_opt/data/calibration_cases.csv`. Every
problem — a missing column, an unknown scenario, model, hardware, precision or metric, a field
the scenario needs left empty, a number that is not a positive number — raises `InputError`
naming the file, the line, the case and the column.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ador_opt.errors import InputError
from ador_opt.hardware.presets import HARDWARE_PRESETS
from ador_opt.limits import MAX_BATCH, MAX_TOKENS_PER_REQUEST, MAX_TP, read_input_text
from ador_opt.models.presets import MODEL_PRESETS


class Scenario(StrEnum):
    OFFLINE = "offline"
    STATIC_BATCH = "static_batch"
    PREFILL = "prefill"
    DECODE_STEP = "decode_step"
    CLOSED_LOOP = "closed_loop"
    GEMM = "gemm"
    ALLREDUCE = "allreduce"


COLUMNS = (
    "case_id",
    "scenario",
    "hardware",
    "tp",
    "model",
    "precision",
    "batch",
    "input_len",
    "output_len",
    "gemm_m",
    "gemm_k",
    "gemm_n",
    "message_bytes",
    "metric",
    "value",
    "source",
)
# `source` is documentation only; a file without it is still a case file.
REQUIRED_COLUMNS = tuple(c for c in COLUMNS if c != "source")

THROUGHPUT = ("output_tokens_per_s", "output_tokens_per_s_per_device")
# Fields each scenario needs (besides case_id, scenario, hardware, tp, precision, metric, value)
# and the metrics it can predict.
NEEDS: dict[Scenario, tuple[str, ...]] = {
    Scenario.OFFLINE: ("model", "input_len", "output_len"),
    Scenario.STATIC_BATCH: ("model", "batch", "input_len", "output_len"),
    Scenario.PREFILL: ("model", "batch", "input_len"),
    Scenario.DECODE_STEP: ("model", "batch", "input_len"),
    Scenario.CLOSED_LOOP: ("model", "batch", "input_len", "output_len"),
    Scenario.GEMM: ("gemm_m", "gemm_k", "gemm_n"),
    Scenario.ALLREDUCE: ("message_bytes",),
}
METRICS: dict[Scenario, tuple[str, ...]] = {
    Scenario.OFFLINE: THROUGHPUT,
    Scenario.STATIC_BATCH: (*THROUGHPUT, "e2e_latency_ms", "ttft_ms", "itl_ms"),
    Scenario.PREFILL: ("latency_ms", "ttft_ms"),
    Scenario.DECODE_STEP: ("latency_ms", "itl_ms"),
    Scenario.CLOSED_LOOP: (*THROUGHPUT, "ttft_ms", "itl_ms"),
    Scenario.GEMM: ("latency_ms",),
    Scenario.ALLREDUCE: ("latency_ms",),
}
PRECISIONS = {"fp16": "fp16", "bf16": "fp16", "fp8": "fp8"}


@dataclass(frozen=True, slots=True)
class Case:
    """One measured case. Lengths in tokens, `message_bytes` in bytes, `value` in the unit of
    `metric`; unused fields are None."""

    case_id: str
    scenario: Scenario
    hardware: str
    tp: int
    model: str | None
    precision: str
    batch: int | None
    input_len: int | None
    output_len: int | None
    gemm_m: int | None
    gemm_k: int | None
    gemm_n: int | None
    message_bytes: int | None
    metric: str
    value: float
    source: str = ""
    line: int = 0


class _Row:
    """Field access on one CSV row with errors that name where the problem is."""

    def __init__(self, where: str, line: int, raw: dict[str, str | None]) -> None:
        self.raw = raw
        self.line = line
        self.case_id = (raw.get("case_id") or "").strip()
        label = f"case {self.case_id}" if self.case_id else "no case_id"
        self.where = f"{where} line {line} ({label})"

    def text(self, column: str) -> str:
        return (self.raw.get(column) or "").strip()

    def fail(self, column: str, message: str) -> InputError:
        return InputError(f"{self.where}, column {column}: {message}")

    def integer(self, column: str, required: bool) -> int | None:
        text = self.text(column)
        if not text:
            if required:
                raise self.fail(column, "empty, but this scenario needs it")
            return None
        try:
            number = float(text)
        except ValueError:
            raise self.fail(column, f"not a number: {text!r}") from None
        if not math.isfinite(number) or number != int(number) or number <= 0:
            raise self.fail(column, f"must be a positive integer, got {text!r}")
        return int(number)


def _parse_row(row: _Row) -> Case:
    if not row.case_id:
        raise row.fail("case_id", "empty")
    scenario_text = row.text("scenario").lower()
    try:
        scenario = Scenario(scenario_text)
    except ValueError:
        known = ", ".join(s.value for s in Scenario)
        raise row.fail("scenario", f"unknown scenario {scenario_text!r}; known: {known}") from None
    hardware = row.text("hardware").lower()
    if hardware not in HARDWARE_PRESETS:
        known = ", ".join(sorted(HARDWARE_PRESETS))
        raise row.fail("hardware", f"unknown hardware {hardware!r}; known: {known}")
    needs = NEEDS[scenario]
    model: str | None = row.text("model").lower() or None
    if "model" in needs and model is None:
        raise row.fail("model", "empty, but this scenario needs it")
    if model is not None and model not in MODEL_PRESETS:
        known = ", ".join(sorted(MODEL_PRESETS))
        raise row.fail("model", f"unknown model {model!r}; known: {known}")
    precision_text = row.text("precision").lower() or "fp16"
    if precision_text not in PRECISIONS:
        raise row.fail("precision", f"unknown precision {precision_text!r}; known: fp16, fp8")
    metric = row.text("metric").lower()
    if metric not in METRICS[scenario]:
        allowed = ", ".join(METRICS[scenario])
        raise row.fail("metric", f"{metric!r} is not a metric of {scenario.value}: {allowed}")
    value_text = row.text("value")
    try:
        value = float(value_text)
    except ValueError:
        raise row.fail("value", f"not a number: {value_text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise row.fail("value", f"must be a positive number, got {value_text!r}")
    tp = row.integer("tp", required=False) or 1
    ints = {
        col: row.integer(col, required=col in needs)
        for col in (
            "batch",
            "input_len",
            "output_len",
            "gemm_m",
            "gemm_k",
            "gemm_n",
            "message_bytes",
        )
    }
    _check_bounds(row, tp, ints)
    return Case(
        case_id=row.case_id,
        scenario=scenario,
        hardware=hardware,
        tp=tp,
        model=model,
        precision=PRECISIONS[precision_text],
        metric=metric,
        value=value,
        source=row.text("source"),
        line=row.line,
        **ints,
    )


def _check_bounds(row: _Row, tp: int, ints: dict[str, int | None]) -> None:
    """Sizes beyond `ador_opt.limits` would run for hours or overflow numpy: refuse them."""
    limits = {"tp": (tp, MAX_TP), "batch": (ints["batch"], MAX_BATCH)}
    limits |= {c: (ints[c], MAX_TOKENS_PER_REQUEST) for c in ("input_len", "output_len")}
    for column, (value, limit) in limits.items():
        if value is not None and value > limit:
            raise row.fail(column, f"must be at most {limit:,}, got {value:,}")
    total = (ints["input_len"] or 0) + (ints["output_len"] or 0)
    if total > MAX_TOKENS_PER_REQUEST:
        raise row.fail("output_len", f"input_len + output_len must be at most "
                       f"{MAX_TOKENS_PER_REQUEST:,}, got {total:,}")  # fmt: skip


def load_cases(path: str | Path) -> list[Case]:
    """Read and check a case file. Raises `InputError` on the first problem."""
    path = Path(path)
    text = read_input_text(path, "case file", encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _read(reader, path)
    except csv.Error as exc:
        raise InputError(f"{path} line {reader.line_num}: malformed CSV: {exc}") from None


def _read(reader: csv.DictReader[str], path: Path) -> list[Case]:
    header = [h.strip() for h in (reader.fieldnames or [])]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputError(f"{path}: duplicate column(s) {', '.join(dupes)} in the header")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InputError(f"{path}: missing column(s): {', '.join(missing)}")
    reader.fieldnames = header
    cases: list[Case] = []
    seen: set[str] = set()
    for raw in reader:
        row = _Row(str(path), reader.line_num, raw)
        if None in raw:  # more cells than header columns
            raise InputError(f"{row.where}: more cells than the header has columns")
        case = _parse_row(row)
        if case.case_id in seen:
            raise row.fail("case_id", f"duplicate case id {case.case_id!r}")
        seen.add(case.case_id)
        cases.append(case)
    if not cases:
        raise InputError(f"{path}: no cases")
    return cases
