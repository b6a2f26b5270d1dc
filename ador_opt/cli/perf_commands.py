"""`ador-opt evaluate`, `compare` and `validate` (DESIGN §9). Logic lives in `perf.evaluate`
and `validate`; this module parses options and prints."""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ador_opt.cli._common import (
    Col,
    emit_json,
    err_console,
    int_list,
    out_console,
    print_table,
)
from ador_opt.cli.formats import (
    AcceptanceOpt,
    ActPrecisionOpt,
    DraftOpt,
    DraftTokensOpt,
    EpOpt,
    KvPrecisionOpt,
    MicroBatchesOpt,
    PpOpt,
    PrecisionOpt,
    WeightPrecisionOpt,
    model_from_options,
    speculative_from_options,
)
from ador_opt.errors import InputError
from ador_opt.hardware.loader import load_hardware
from ador_opt.models import load_model
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.evaluate import (
    compare_designs,
    evaluate_design,
    evaluate_design_lines,
    parse_precision,
)
from ador_opt.perf.hda import check_sa_backend
from ador_opt.progress import Progress
from ador_opt.validate import load_cases, validate_cases
from ador_opt.validate.tpu import is_tpu_case_file, validate_tpu_file

# `evaluate --designs --json`: seconds between flushes of stdout (results stream in batches).
FLUSH_EVERY_S = 0.2

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
ModelOpt = Annotated[str, typer.Option("--model", help="Model preset or config.json path.")]
InputLenOpt = Annotated[int, typer.Option("--input-len", help="Prompt tokens per request.")]
OutputLenOpt = Annotated[int, typer.Option("--output-len", help="Output tokens per request.")]
TpOpt = Annotated[
    int | None,
    typer.Option("--tp", help="Tensor-parallel devices (default: the design's tp, else 1)."),
]
DpOpt = Annotated[
    int | None, typer.Option("--dp", help="Data-parallel replicas of tp·ep·pp devices (1).")
]


@contextmanager
def _scalesim_lines(enabled: bool) -> Iterator[None]:
    """Print SCALE-Sim's per-shape log lines (`ador_opt.scalesim`) on stderr while a command
    runs: each full-size shape takes minutes, so this is the progress of `--sa-backend
    scalesim`."""
    if not enabled:
        yield
        return
    log = logging.getLogger("ador_opt.scalesim")

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            err_console.print(f"[dim]{record.getMessage()}[/dim]", highlight=False)

    handler = Handler(logging.INFO)
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def _positive(name: str, value: int | None) -> None:
    if value is not None and value <= 0:
        raise InputError(f"{name} must be a positive integer, got {value}")


def _positive_all(**options: int | None) -> None:
    """`_positive` on each keyword, named as its option (`micro_batches` → `--micro-batches`)."""
    for key, value in options.items():
        _positive("--" + key.replace("_", "-"), value)


def _model(name: str, precision: str) -> ModelSpec:
    return load_model(name).with_precision(parse_precision(precision))


def _int_list(name: str, text: str) -> list[int]:
    values = int_list(name, text)
    for value in values:
        _positive(name, value)
    return values


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _print_evaluation(doc: dict[str, Any]) -> None:
    title = (
        f"{doc.get('hardware', '?')} · {doc.get('model', '?')} · batch {doc.get('batch')}"
        f" · {doc.get('input_len')}→{doc.get('output_len')} · tp {doc.get('tp')}"
    )
    if not doc["feasible"]:
        line = f" (line {doc['line']})" if "line" in doc else ""
        out_console.print(f"[bold red]infeasible{line}[/]: {doc['reason']}")
        return
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, label, digits in (
        ("ttft_ms", "TTFT (ms)", 2),
        ("tbt_ms", "TBT (ms)", 3),
        ("e2e_ms", "E2E (ms)", 1),
        ("throughput_tokens_per_s", "throughput (tok/s)", 0),
        ("area_mm2", "area per device (mm²)", 1),
        ("peak_tflops", "peak (TFLOPS)", 1),
        ("cost_usd", "cost per device ($)", 0),
        ("tdp_w", "full-load power per device (W)", 0),
        ("power_w", "mean power per device (W)", 1),
        ("energy_per_token_j", "energy per output token (J)", 4),
        ("dram_bandwidth_utilisation", "DRAM BW utilisation", 3),
    ):
        table.add_row(label, _fmt(doc.get(key), digits))
    for phase, info in doc["phases"].items():
        table.add_row(f"{phase} bound", str(info["bound"]))
    for unit, value in doc["utilisation"].items():
        table.add_row(f"utilisation: {unit}", _fmt(value, 3))
    out_console.print(table)


def evaluate(
    model: ModelOpt,
    batch: Annotated[int, typer.Option("--batch", help="Requests in the static batch.")],
    input_len: InputLenOpt,
    output_len: OutputLenOpt,
    hardware: Annotated[
        str | None, typer.Option("--hardware", help="Preset name or TOML/JSON design file.")
    ] = None,
    tp: TpOpt = None,
    precision: PrecisionOpt = "fp16",
    designs: Annotated[
        Path | None,
        typer.Option("--designs", help="JSON-lines file: one preset name or design per line."),
    ] = None,
    sa_backend: Annotated[
        str,
        typer.Option(
            "--sa-backend",
            help="Systolic-array timing of HDA designs: closed-form (default), scalesim "
            "(runs SCALE-Sim's compute stage, cached on disk; slow, for re-scoring a few "
            "designs) or double-buffered (what-if).",
        ),
    ] = "closed-form",
    weight_precision: WeightPrecisionOpt = None,
    act_precision: ActPrecisionOpt = None,
    kv_precision: KvPrecisionOpt = None,
    draft: DraftOpt = None,
    draft_tokens: DraftTokensOpt = None,
    acceptance: AcceptanceOpt = None,
    ep: EpOpt = None,
    pp: PpOpt = None,
    dp: DpOpt = None,
    micro_batches: MicroBatchesOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Static batch: prefill of the whole batch, then output_len decode steps."""
    _positive_all(
        batch=batch, input_len=input_len, output_len=output_len, tp=tp, ep=ep, pp=pp, dp=dp,
        micro_batches=micro_batches,
    )  # fmt: skip
    par = {"ep": ep, "pp": pp, "dp": dp, "micro_batches": micro_batches}
    check_sa_backend(sa_backend)
    spec = model_from_options(model, precision, weight_precision, act_precision, kv_precision)
    speculative = speculative_from_options(spec, draft, draft_tokens, acceptance)
    slow = sa_backend == "scalesim"
    if designs is not None:
        lines = evaluate_design_lines(
            designs, spec, batch, input_len, output_len, tp, sa_backend, speculative, **par
        )
        # Long files: what is alive now (modules, presets) lives to the end, so the collector
        # need not traverse it again for every design; JSON lines leave in batches (a flush at
        # most every FLUSH_EVERY_S seconds, and at the end) instead of one write per design.
        gc.freeze()
        flushed = time.monotonic()
        try:
            with _scalesim_lines(slow):
                for doc in lines:
                    if slow:
                        err_console.print(f"[dim]design on line {doc.get('line')} done[/dim]")
                    if json_out:
                        now = time.monotonic()
                        due = slow or now - flushed >= FLUSH_EVERY_S
                        emit_json(doc, flush=due, str_keys=True)  # evaluate docs: str keys
                        if due:
                            flushed = now
                    else:
                        _print_evaluation(doc)
        finally:
            sys.stdout.flush()
            gc.unfreeze()
        return
    if hardware is None:
        raise InputError("give --hardware NAME or --designs FILE.jsonl")
    hw = load_hardware(hardware)
    with _scalesim_lines(slow):
        doc = evaluate_design(
            hw, spec, batch, input_len, output_len, tp, sa_backend, speculative, **par
        )
    if not doc["feasible"]:
        raise InputError(f"{doc['hardware']} cannot run this batch: {doc['reason']}")
    if json_out:
        emit_json(doc)
    else:
        _print_evaluation(doc)


def compare(
    model: ModelOpt,
    hardware: Annotated[
        str, typer.Option("--hardware", help="Comma-separated hardware; the first is the base.")
    ],
    batch: Annotated[str, typer.Option("--batch", help="Comma-separated batch sizes.")],
    input_len: InputLenOpt = 1024,
    output_len: OutputLenOpt = 1024,
    tp: TpOpt = None,
    precision: PrecisionOpt = "fp16",
    ep: EpOpt = None,
    pp: PpOpt = None,
    dp: DpOpt = None,
    micro_batches: MicroBatchesOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Paper-style comparison as in ADOR Figure 15: TTFT, TBT, throughput, area efficiency."""
    _positive_all(
        input_len=input_len, output_len=output_len, tp=tp, ep=ep, pp=pp, dp=dp,
        micro_batches=micro_batches,
    )  # fmt: skip
    batches = _int_list("--batch", batch)
    names = [h.strip() for h in hardware.split(",") if h.strip()]
    if not names:
        raise InputError("--hardware: empty list")
    hw_list = [load_hardware(name) for name in names]
    par = {"ep": ep, "pp": pp, "dp": dp, "micro_batches": micro_batches}
    spec = _model(model, precision)
    doc = compare_designs(hw_list, spec, batches, input_len, output_len, tp, **par)
    if json_out:
        emit_json(doc)
        return
    cols = [
        Col("batch"),
        Col("hardware", numeric=False),
        Col("TTFT ms"),
        Col("TBT ms"),
        Col("tok/s"),
        Col("tok/s/mm²"),
        Col("1/TTFT/mm² ×", optional=True),
        Col("1/TBT/mm² ×", optional=True),
        Col("TBT ×", optional=True),
    ]
    rows = []
    for row in doc["rows"]:
        if not row["feasible"]:
            rows.append([str(row["batch"]), row["hardware"], "infeasible", row["reason"][:40]]
                        + [""] * 5)  # fmt: skip
            continue
        ratios = row["vs_baseline"] or {}
        rows.append(
            [
                str(row["batch"]),
                row["hardware"],
                _fmt(row["ttft_ms"], 1),
                _fmt(row["tbt_ms"], 2),
                _fmt(row["throughput_tokens_per_s"], 0),
                _fmt(row["throughput_per_mm2"], 3),
                _fmt(ratios.get("ttft_area_eff_ratio")),
                _fmt(ratios.get("tbt_area_eff_ratio")),
                _fmt(ratios.get("tbt_speedup")),
            ]
        )
    title = (
        f"{doc['model']} {doc['precision']} · {input_len}→{output_len} · ratios vs "
        f"{doc['baseline']}"
    )
    print_table(title, cols, rows)


def validate(
    cases: Annotated[
        Path,
        typer.Argument(help="CSV with the columns of calibration_cases.csv or tpu_cases.csv."),
    ],
    json_out: JsonFlag = False,
) -> None:
    """Predict every measured case with the product's performance code; report the error."""
    if is_tpu_case_file(cases):  # TPU serving cases (validate/tpu.py) or GPU cases
        report = validate_tpu_file(cases)
    else:
        loaded = load_cases(cases)
        with Progress("cases", len(loaded), err_console, enabled=not json_out) as bar:
            report = validate_cases(loaded, progress=lambda done, _n: bar.update(done))
    if json_out:
        emit_json(report)
        return
    cols = [
        Col("case", numeric=False),
        Col("scenario", numeric=False, optional=True),
        Col("hardware", numeric=False),
        Col("model", numeric=False),
        Col("metric", numeric=False),
        Col("measured"),
        Col("predicted"),
        Col("error %"),
    ]
    rows = [
        [
            row["case_id"],
            row["scenario"],
            row["hardware"],
            row["model"] or "-",
            row["metric"],
            f"{row['measured']:.4g}",
            f"{row['predicted']:.4g}" if row["supported"] else "n/a",
            f"{row['error_pct']:+.1f}" if row["supported"] else row.get("reason", ""),
        ]
        for row in report["cases"]
    ]
    print_table(f"validation: {cases}", cols, rows)
    summary = Table(title="error by scenario (supported cases)")
    for col in ("scenario", "cases", "supported", "MAPE %", "median APE %", "max APE %"):
        summary.add_column(col, justify="right")
    for scenario, stats in report["by_scenario"].items():
        summary.add_row(
            scenario,
            str(stats["count"]),
            str(stats["supported"]),
            _fmt(stats["mape_pct"], 1),
            _fmt(stats["median_ape_pct"], 1),
            _fmt(stats["max_ape_pct"], 1),
        )
    out_console.print(summary)
    out_console.print(
        f"MAPE {_fmt(report['mape_pct'], 1)} %, median APE {_fmt(report['median_ape_pct'], 1)} "
        f"% over {report['supported_count']} supported cases; "
        f"{report['unsupported_count']} not supported"
    )


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
    app.command("compare")(compare)
    app.command("validate")(validate)
