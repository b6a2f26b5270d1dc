"""Static-batch evaluation (DESIGN §9 `evaluate`): one prefill of the whole batch, then
`output_len` decode steps with the context growing by one token per step.

`ttft_ms` = the prefill step; `tbt_ms` = mean decode-step time over the `output_len` steps;
`e2e_ms` = prefill + all decode steps; throughput = batch · output_len / e2e. The first output
token comes out of the prefill step, so `output_len` decode steps produce the tokens after it
(the convention of TensorRT-LLM's and vLLM's static benchmarks counts output_len tokens per
request over prefill + output_len − 1 decode steps; `decode_steps` below follows that).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from ador_opt.errors import InputError
from ador_opt.hardware.presets import Hardware
from ador_opt.limits import MAX_BATCH, MAX_TP, check_bounded, check_request_tokens
from ador_opt.models.ops import BatchComposition
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.result import StepTime
from ador_opt.perf.speculative import SpeculativeConfig, proposer_tp, speculative_step_fn
from ador_opt.perf.step import step_time

# Decode-step time is smooth (piecewise linear) in the context length, so a long decode phase is
# integrated from a few sampled steps instead of one evaluation per token. Above this many
# steps we sample; the sampling error is tested against the exact sum (tests/test_gpu.py). Five
# samples were measured to give ≤ 0.05 % error on 43 designs × 4 batch shapes (GPU and HDA), no
# better with 7 or 9, and cut a static-batch evaluation from ≈ 0.8 to ≈ 0.6 ms.
EXACT_DECODE_STEPS = 16
DECODE_SAMPLES = 5


@dataclass(frozen=True, slots=True)
class StaticBatchResult:
    """Times in milliseconds; throughput in output tokens per second over the TP group.
    `utilisation` is busy time / e2e time per unit over the whole batch; `decode_utilisation`
    the same over the decode phase (prefill: `prefill.utilisation()`)."""

    ttft_ms: float
    tbt_ms: float
    e2e_ms: float
    throughput_tokens_per_s: float
    prefill: StepTime
    decode_first: StepTime
    decode_last: StepTime
    utilisation: dict[str, float] = field(default_factory=dict)
    decode_steps: int = 0
    decode_utilisation: dict[str, float] = field(default_factory=dict)
    energy_j: float = 0.0  # one device, prefill + every decode step (perf/energy.py)


StepFn = Callable[[BatchComposition], StepTime]

# The batch compositions of a static batch, one (immutable) object per shape, shared by every
# design evaluated on it (building and validating a 16-request prefill costs more than a
# lookup).
_prefill_only = lru_cache(maxsize=1024)(BatchComposition.prefill_only)
_decode_only = lru_cache(maxsize=4096)(BatchComposition.decode_only)


@lru_cache(maxsize=256)
def _decode_samples(input_len: int, steps: int) -> tuple[npt.NDArray[Any], tuple[int, ...]]:
    """The decode contexts sampled among input_len+1 … input_len+steps (all of them up to
    EXACT_DECODE_STEPS), as a read-only array and as ints; shared by every design evaluated
    with these lengths."""
    contexts = np.arange(input_len + 1, input_len + steps + 1)
    if steps <= EXACT_DECODE_STEPS:
        sample_ctx = contexts
    else:
        sample_ctx = np.unique(np.linspace(contexts[0], contexts[-1], DECODE_SAMPLES).round())
    sample_ctx.flags.writeable = False
    return sample_ctx, tuple(int(c) for c in sample_ctx)


def _decode_total_s(
    step: StepFn, batch: int, input_len: int, steps: int
) -> tuple[float, StepTime, StepTime, dict[str, float], float]:
    """Sum of `steps` decode-step times (and energies, the last item) with context
    input_len+1 … input_len+steps."""
    contexts = np.arange(input_len + 1, input_len + steps + 1)
    sample_ctx, sample_ints = _decode_samples(input_len, steps)
    results = [step(_decode_only(batch, c)) for c in sample_ints]
    times = np.array([r.seconds for r in results])
    total = float(np.interp(contexts, sample_ctx, times).sum())
    energies = np.array([r.energy_j for r in results])
    energy = float(np.interp(contexts, sample_ctx, energies).sum())
    busy: dict[str, float] = {}
    for r in results:
        for unit, b in r.busy_s.items():
            busy[unit] = busy.get(unit, 0.0) + b * steps / len(results)
    return total, results[0], results[-1], busy, energy


def check_static_args(batch: int, input_len: int, output_len: int, tp: int) -> None:
    """Raise `InputError` unless every argument is a positive integer within the bounds of
    `ador_opt.limits` (larger ones would run for hours or overflow numpy)."""
    for name, value in (
        ("batch", batch),
        ("input_len", input_len),
        ("output_len", output_len),
        ("tp", tp),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InputError(f"{name} must be a positive integer, got {value}")
    check_bounded("batch", batch, MAX_BATCH)
    check_bounded("tp", tp, MAX_TP)
    check_request_tokens(input_len, output_len)


def static_batch(step: StepFn, batch: int, input_len: int, output_len: int) -> StaticBatchResult:
    """A static batch timed with any step-time function (the product uses `step_time`; the
    GPU fit passes the GPU model under trial parameters). Same arguments as below."""
    prefill = step(_prefill_only(batch, input_len))
    steps = output_len - 1
    if steps > 0:
        decode_s, first, last, busy, decode_j = _decode_total_s(step, batch, input_len, steps)
        tbt_s = decode_s / steps
    else:
        decode_s, busy, decode_j = 0.0, {}, 0.0
        first = last = step(_decode_only(batch, input_len))
        tbt_s = first.seconds
    e2e_s = prefill.seconds + decode_s
    decode_util = {u: min(1.0, b / decode_s) for u, b in busy.items()} if decode_s > 0 else {}
    if not decode_util:
        decode_util = first.utilisation()
    for unit, b in prefill.busy_s.items():
        busy[unit] = busy.get(unit, 0.0) + b
    util = {unit: min(1.0, b / e2e_s) for unit, b in busy.items()} if e2e_s > 0 else {}
    return StaticBatchResult(
        ttft_ms=prefill.seconds * 1e3,
        tbt_ms=tbt_s * 1e3,
        e2e_ms=e2e_s * 1e3,
        throughput_tokens_per_s=batch * output_len / e2e_s,
        prefill=prefill,
        decode_first=first,
        decode_last=last,
        utilisation=util,
        decode_steps=steps,
        decode_utilisation=decode_util,
        energy_j=prefill.energy_j + decode_j,
    )


@lru_cache(maxsize=4096)
def evaluate_static_batch(
    hw: Hardware,
    model: ModelSpec,
    batch: int,
    input_len: int,
    output_len: int,
    tp: int = 1,
    sa_backend: str = "closed-form",
    speculative: SpeculativeConfig | None = None,
    ep: int | None = None,
    pp: int | None = None,
    micro_batches: int | None = None,
) -> StaticBatchResult:
    """Static batch of `batch` requests, each `input_len` prompt tokens and `output_len`
    generated tokens (the first from the prefill step). `sa_backend`: see `step_time`.
    `speculative`: decode with a draft model or MTP head (perf/speculative.py) — a decode
    step then costs (verification + draft) / expected tokens per step. `ep`, `pp`,
    `micro_batches`: see `step_time` (the proposer runs tensor-parallel only)."""
    check_static_args(batch, input_len, output_len, tp)

    def target(b: BatchComposition) -> StepTime:
        return step_time(hw, model, b, tp, sa_backend, ep, pp, micro_batches)

    if speculative is None:
        return static_batch(target, batch, input_len, output_len)
    proposer = speculative.proposer(model)
    draft_tp = proposer_tp(proposer, tp)

    def draft(b: BatchComposition) -> StepTime:
        return step_time(hw, proposer, b, draft_tp, sa_backend, 1, 1)

    step = speculative_step_fn(target, draft, speculative)
    return static_batch(step, batch, input_len, output_len)
