"""`ador-opt tp-sync`: the paper's Fig. 13 — TP synchronisation methods against the device
count, and the minimum P2P bandwidth that hides communication. Logic: `perf.tp_sweep`."""

from __future__ import annotations

import csv
import sys
from typing import Annotated

import typer

from ador_opt.cli._common import Col, emit_json, int_list, print_table
from ador_opt.errors import InputError
from ador_opt.hardware.arch import TpSync
from ador_opt.hardware.loader import load_hardware
from ador_opt.models import load_model
from ador_opt.models.ops import BatchComposition
from ador_opt.perf.evaluate import parse_precision
from ador_opt.perf.tp import HIDE_TOLERANCE
from ador_opt.perf.tp_sweep import sweep_document, tp_sync_sweep


def _syncs(text: str) -> list[TpSync]:
    known = {s.value: s for s in TpSync}
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part not in known:
            raise InputError(f"--sync: unknown method {part!r}; known: {', '.join(known)}")
        out.append(known[part])
    if not out:
        raise InputError("--sync: empty list")
    return out


def tp_sync(
    model: Annotated[str, typer.Option("--model", help="Model preset or config.json path.")],
    hardware: Annotated[
        str, typer.Option("--hardware", help="HDA preset or TOML/JSON design file.")
    ] = "ador-paper",
    tp: Annotated[str, typer.Option("--tp", help="Comma-separated TP degrees.")] = "2,4,8,16",
    sync: Annotated[
        str, typer.Option("--sync", help="Comma-separated: all-gather, all-reduce, megatron.")
    ] = "all-gather,all-reduce,megatron",
    batch: Annotated[int, typer.Option("--batch", help="Decode requests in the step.")] = 1,
    context: Annotated[int, typer.Option("--context", help="KV length of each request.")] = 1024,
    prefill: Annotated[
        int,
        typer.Option("--prefill", help="Prefill tokens instead of a decode step (0 = decode)."),
    ] = 0,
    precision: Annotated[str, typer.Option("--precision", help="fp16, fp8 or int8.")] = "fp16",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print CSV on stdout.")] = False,
) -> None:
    """Step time per TP sync method and device count (paper Fig. 13), and the minimum P2P
    bandwidth that hides the synchronisation: the step within 1 % of an infinitely fast link."""
    for name, value in (("--batch", batch), ("--context", context)):
        if value <= 0:
            raise InputError(f"{name} must be a positive integer, got {value}")
    if prefill < 0:
        raise InputError(f"--prefill must be ≥ 0, got {prefill}")
    tps, syncs = int_list("--tp", tp), _syncs(sync)
    spec = load_model(model).with_precision(parse_precision(precision))
    hw = load_hardware(hardware)
    if hw.arch is None or hw.gpu is not None:
        raise InputError(f"{hw.name} is not an HDA template design; tp-sync needs one")
    step = (
        BatchComposition.prefill_only(1, prefill)
        if prefill
        else BatchComposition.decode_only(batch, context)
    )
    points = tp_sync_sweep(hw.arch, spec, step, tps, syncs)
    doc = sweep_document(hw.arch, spec, step, points)
    if json_out:
        emit_json(doc)
        return
    if csv_out:
        rows = doc["points"]
        assert isinstance(rows, list)
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    what = f"prefill {prefill} tokens" if prefill else f"decode batch {batch} @ ctx {context}"
    rows = [
        [
            str(p.tp),
            p.sync.value + (" *" if p.best_at_design_bw else ""),
            f"{p.step_s * 1e3:.3f}",
            f"{p.ideal_step_s * 1e3:.3f}",
            f"{p.exposed_fraction * 100:.1f}",
            f"{p.min_p2p_gbps_to_hide:.1f}",
            f"{p.bytes_per_token_layer / 1024:.1f}",
        ]
        for p in points
    ]
    link = f"{hw.arch.p2p_type.value} @ {hw.arch.p2p_gbps:g} GB/s"
    print_table(
        f"{spec.name} on {hw.name} · {what} · {link}",
        [
            Col("tp"),
            Col("sync (* = fastest)", numeric=False),
            Col("step ms"),
            Col("ideal link ms"),
            Col("exposed %", optional=True),
            Col("min GB/s to hide"),
            Col("KiB/token/layer", optional=True),
        ],
        rows,
        caption=f"hidden = step within {HIDE_TOLERANCE * 100:g} % of an infinitely fast link",
    )


def register(app: typer.Typer) -> None:
    app.command("tp-sync")(tp_sync)
