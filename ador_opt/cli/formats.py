"""Options shared by `evaluate`, `compare`, `simulate` and `capacity` for numeric formats per
tensor kind, speculative decoding and parallelism (no command of its own; the logic is in
`perf.evaluate`, `perf.speculative` and `perf.parallel`)."""

from __future__ import annotations

from typing import Annotated

import typer

from ador_opt.models import load_model
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.evaluate import model_with_formats
from ador_opt.perf.speculative import SpeculativeConfig, parse_speculative

EpOpt = Annotated[
    int | None,
    typer.Option("--ep", help="Expert-parallel devices (default: the design's ep, else 1)."),
]
PpOpt = Annotated[
    int | None,
    typer.Option("--pp", help="Pipeline stages (default: the design's pp, else 1)."),
]
MicroBatchesOpt = Annotated[
    int | None,
    typer.Option("--micro-batches", help="Prefill micro-batches per pipeline pass (pp)."),
]
PrecisionOpt = Annotated[
    str,
    typer.Option(
        "--precision",
        help="fp16 (bf16), fp8, int8 (W8A8, 8-bit KV), w8a16, w4a16 (int4), fp4 (mxfp4 weights).",
    ),
]
WeightPrecisionOpt = Annotated[
    str | None,
    typer.Option(
        "--weight-precision", help="Override the weights' format: fp16 fp8 int8 int4 fp4."
    ),
]
ActPrecisionOpt = Annotated[
    str | None,
    typer.Option("--act-precision", help="Override the GEMM input activations' format."),
]
KvPrecisionOpt = Annotated[
    str | None, typer.Option("--kv-precision", help="Override the KV cache's format.")
]
DraftOpt = Annotated[
    str | None,
    typer.Option("--draft", help="Speculative decoding: draft model (preset or config) or mtp."),
]
DraftTokensOpt = Annotated[
    int | None, typer.Option("--draft-tokens", help="Tokens proposed per verification step.")
]
AcceptanceOpt = Annotated[
    str | None,
    typer.Option(
        "--acceptance", help="Acceptance rate, or one per proposed position (comma-separated)."
    ),
]


def model_from_options(
    name: str, precision: str, weights: str | None, activations: str | None, kv: str | None
) -> ModelSpec:
    return model_with_formats(load_model(name), precision, weights, activations, kv)


def speculative_from_options(
    model: ModelSpec, draft: str | None, draft_tokens: int | None, acceptance: str | None
) -> SpeculativeConfig | None:
    return parse_speculative(draft, draft_tokens, acceptance, load_model, model)
