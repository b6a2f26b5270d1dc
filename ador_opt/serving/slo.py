"""Service-level objectives and their defaults (Sarathi-Serve's method).

Sarathi-Serve (Agrawal et al., OSDI'24, §5.1) defines the P99 TBT SLO of a model as 5× (strict)
or 25× (relaxed) the execution time of a decode iteration of a batch of 32 requests with 4k
prompts, without prefill interference, on the hardware it evaluates (A100s; Table 3: Mistral-7B
0.1/0.5 s, Yi-34B 0.2/1 s); it sets no TTFT SLO (it reports median TTFT) and counts a load as
sustainable only while the median scheduling delay stays ≤ 2 s.

Here the reference decode iteration is evaluated on the `a100` preset (the hardware Sarathi-
Serve used), so the default SLO depends on the model only and designs are compared against one
target. The TP degree of the reference is the smallest power of two at which the model and the
reference batch's KV fit on A100s — a property of the model, not of the run (Sarathi-Serve
fixes one deployment per model), so designs with different TP in one study, `simulate` and
`capacity` with any `--tp` all meet the same limit.

This is the one default SLO of the project: `resolve_slo` fills whichever limits a study's
`[slo]` table, `ador-opt simulate` or `ador-opt capacity` leave unset (no TTFT limit, TBT p99 =
5× the reference step, median scheduling delay ≤ 2 s); the report's baselines use it too.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import StrEnum
from functools import lru_cache

from ador_opt.errors import InputError
from ador_opt.hardware import load_hardware
from ador_opt.models.ops import BatchComposition
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.memory import check_memory
from ador_opt.perf.step import step_time

REFERENCE_HARDWARE = "a100"
REFERENCE_BATCH = 32  # Sarathi-Serve §5.1: "prefill length of 4k and 32 batch size"
REFERENCE_CONTEXT = 4096
STRICT_FACTOR = 5.0  # Sarathi-Serve §5.1
RELAXED_FACTOR = 25.0  # Sarathi-Serve §5.1
MEDIAN_SCHEDULING_DELAY_MS = 2000.0  # Sarathi-Serve §5.1: sustainable load limit


class Strictness(StrEnum):
    STRICT = "strict"
    RELAXED = "relaxed"


def _check_limit(name: str, value: float) -> None:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or math.isnan(value)
        or value <= 0
    ):
        raise InputError(f"SLO {name} must be a positive number of milliseconds, got {value}")


@dataclass(frozen=True, slots=True)
class Slo:
    """Limits in milliseconds: P90 TTFT, P99 TBT, and P50 scheduling (queueing) delay.
    `math.inf` disables a limit."""

    ttft_p90_ms: float
    tbt_p99_ms: float
    queue_p50_ms: float = MEDIAN_SCHEDULING_DELAY_MS

    def __post_init__(self) -> None:
        _check_limit("ttft_p90_ms", self.ttft_p90_ms)
        _check_limit("tbt_p99_ms", self.tbt_p99_ms)
        _check_limit("queue_p50_ms", self.queue_p50_ms)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _reference_tp(model: ModelSpec) -> int:
    hw = load_hardware(REFERENCE_HARDWARE)
    ref = 1
    while ref <= 64:
        if (
            model.num_heads % ref == 0
            and check_memory(hw, model, ref, REFERENCE_BATCH * REFERENCE_CONTEXT).weights_fit <= 0
        ):
            return ref
        ref *= 2
    raise InputError(f"model {model.name!r} does not fit any A100 TP group for the default SLO")


@lru_cache(maxsize=256)
def reference_decode_ms(model: ModelSpec, tp: int = 1) -> float:
    """Decode iteration of 32 requests at 4k context on the A100 reference (ms). `tp` is
    accepted for compatibility and ignored: the reference TP group is the model's."""
    del tp
    ref_tp = _reference_tp(model)
    batch = BatchComposition.decode_only(REFERENCE_BATCH, REFERENCE_CONTEXT)
    return step_time(load_hardware(REFERENCE_HARDWARE), model, batch, ref_tp).seconds * 1e3


def default_slo(
    model: ModelSpec,
    tp: int = 1,
    strictness: Strictness | str = Strictness.STRICT,
    ttft_p90_ms: float = math.inf,
) -> Slo:
    """Sarathi-Serve's SLO for `model`: P99 TBT = 5× (strict) or 25× (relaxed) the reference
    decode iteration; no TTFT limit unless given; median scheduling delay ≤ 2 s."""
    try:
        level = Strictness(strictness)
    except ValueError:
        raise InputError(f"unknown SLO strictness {strictness!r}; use strict or relaxed") from None
    factor = STRICT_FACTOR if level is Strictness.STRICT else RELAXED_FACTOR
    return Slo(ttft_p90_ms, factor * reference_decode_ms(model))


def slo_from_limits(
    model: ModelSpec,
    tp: int,
    level: str,
    ttft_p90_ms: float | None = None,
    tbt_p99_ms: float | None = None,
    queue_p50_ms: float | None = None,
) -> tuple[Slo, str]:
    """The SLO of a run: the limits given (None → Sarathi-Serve's default for that limit), and
    one line naming each limit in force and where it comes from. TTFT has no default limit,
    so it is left out of the line unless given."""
    del tp  # the default depends on the model only (`reference_decode_ms`)
    slo = resolve_slo(model, ttft_p90_ms, tbt_p99_ms, queue_p50_ms, level)
    factor = STRICT_FACTOR if Strictness(level) is Strictness.STRICT else RELAXED_FACTOR
    parts = []
    if math.isfinite(slo.ttft_p90_ms):
        parts.append(f"TTFT p90 ≤ {slo.ttft_p90_ms:g} ms (given)")
    tbt_from = (
        "given"
        if tbt_p99_ms is not None
        else f"default: {factor:g}× the {REFERENCE_HARDWARE} decode step, Sarathi-Serve {level}"
    )
    parts.append(f"TBT p99 ≤ {slo.tbt_p99_ms:.1f} ms ({tbt_from})")
    queue_from = "given" if queue_p50_ms is not None else "default: Sarathi-Serve's load limit"
    parts.append(f"median scheduling delay ≤ {slo.queue_p50_ms:g} ms ({queue_from})")
    return slo, "; ".join(parts)


def resolve_slo(
    model: ModelSpec,
    ttft_p90_ms: float | None = None,
    tbt_p99_ms: float | None = None,
    queue_p50_ms: float | None = None,
    strictness: Strictness | str = Strictness.STRICT,
) -> Slo:
    """The SLO with the given limits and the project's default (`default_slo`) for each one
    left `None`. The reference step is only computed when the TBT limit is missing."""
    if tbt_p99_ms is None:
        tbt_p99_ms = default_slo(model, strictness=strictness).tbt_p99_ms
    return Slo(
        math.inf if ttft_p90_ms is None else ttft_p90_ms,
        tbt_p99_ms,
        MEDIAN_SCHEDULING_DELAY_MS if queue_p50_ms is None else queue_p50_ms,
    )
