"""Step times for the simulator, memoised on a canonical, bucketed batch composition.

A long run has tens of thousands of steps, and under load nearly every step has a new exact
shape (decode count, decode context, chunk sizes and positions all vary), so the memo key is a
coarser canonical form:

* the step's total token count M (prefill + decode: the M of every linear layer) rounded UP to
  `StepGrid.tokens_bits` significant bits — kept whole because GPU GEMM times jump at tile
  boundaries (a full-budget step of exactly 512 tokens must stay 512, which rounding its parts
  separately would break);
* the decode count and the decode context sum rounded up to `decode_bits` / `kv_bits`;
* the prefill chunks merged into one chunk of the remaining M − decodes tokens whose context
  gives the same causal attention work (Σ t·(c + (t+1)/2) = T·(c_eq + (T+1)/2)), rounded up to
  `context_bits`, plus one 1-token chunk per extra prompt finishing in the step (so the LM head
  still sees every finishing prompt).

"Rounded up to b bits" keeps b significant bits: exact below 2**b, relative step ≤ 2**(1−b).
A lone prompt's prefill is represented exactly up to that rounding, so simulated TTFT never
undercuts the exact lone-prefill time. On real runs (benchmarks/serving_speed.py) the canonical
step time is within +0.2…+0.7 % of the exact one on average, −3…+6 % at the extremes (the
merge of several chunks is the only source of negative error), with 2–3× fewer perf calls than
keying on the exact chunks. The step time itself (including the HDA overlap of prefill on
systolic arrays with decode on MAC trees) is whatever `ador_opt.perf.step_time` returns for the
canonical mixed composition.

The memo is one dict per (hardware, model, tp, grid) value, handed out by an LRU cache on those
frozen values, so the runs of a capacity search on one design share their perf evaluations. It
memoises a pure function: results never depend on whether an entry was cached. Each dict is
capped at MAX_SHAPES entries (cleared when full) to bound memory in long explorations.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ador_opt.errors import InputError
from ador_opt.hardware.presets import Hardware
from ador_opt.models.ops import BatchComposition, PrefillChunk
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.result import StepTime
from ador_opt.perf.speculative import (
    SpeculativeConfig,
    add_steps,
    per_token_step,
    proposer_tp,
)
from ador_opt.perf.step import step_time

MAX_SHAPES = 200_000

ChunkKey = tuple[int, int, bool]


@dataclass(frozen=True, slots=True)
class StepGrid:
    """Significant bits kept per dimension of the memo key (see the module docstring)."""

    tokens_bits: int = 6  # total tokens of the step (≤ 3.2 %)
    context_bits: int = 3  # equivalent context of the merged prefill chunk (≤ 25 %)
    decode_bits: int = 5  # decode count (≤ 6.3 %)
    kv_bits: int = 5  # decode context sum (≤ 6.3 %)

    def __post_init__(self) -> None:
        for name in ("tokens_bits", "context_bits", "decode_bits", "kv_bits"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= 30:
                raise InputError(f"step grid: {name} must be an integer in 1..30, got {value!r}")


StepKey = tuple[tuple[ChunkKey, ...], int, int]


def bucket_up(x: int, bits: int) -> int:
    """`x` rounded up to `bits` significant bits (exact below 2**bits)."""
    if x < (1 << bits):
        return x
    shift = x.bit_length() - bits
    return ((x + (1 << shift) - 1) >> shift) << shift


def composition_of(key: StepKey) -> BatchComposition:
    chunks, n_dec, ctx_sum = key
    return BatchComposition(
        prefill=tuple(PrefillChunk(t, c, last) for t, c, last in chunks),
        decode_count=n_dec,
        decode_context_sum=ctx_sum,
    )


def canonical_key(grid: StepGrid, chunks: list[ChunkKey], n_dec: int, ctx_sum: int) -> StepKey:
    """The memo key of a step: see the module docstring."""
    if not chunks:
        d_b = bucket_up(n_dec, grid.decode_bits)
        return ((), d_b, max(bucket_up(ctx_sum, grid.kv_bits), d_b))
    if len(chunks) == 1:
        total, c_eq, last = chunks[0]
        finishing = 1 if last else 0
    else:
        total = sum(t for t, _, _ in chunks)
        pairs = sum(t * (c + (t + 1) / 2) for t, c, _ in chunks)
        finishing = sum(1 for _, _, last in chunks if last)
        c_eq = max(0, round(pairs / total - (total + 1) / 2))
    m_b = bucket_up(total + n_dec, grid.tokens_bits)
    extra = finishing - 1 if finishing > 1 else 0
    if n_dec:
        # total ≥ 1 + extra, so the clamp never goes below n_dec
        d_b = min(bucket_up(n_dec, grid.decode_bits), m_b - 1 - extra)
        s_b = max(bucket_up(ctx_sum, grid.kv_bits), d_b)
    else:
        d_b = s_b = 0
    rep = ((m_b - d_b - extra, bucket_up(c_eq, grid.context_bits), finishing > 0),)
    return (rep + ((1, 0, True),) * extra, d_b, s_b)


@lru_cache(maxsize=16)
def _design_memo(
    hw: Hardware,
    model: ModelSpec,
    tp: int,
    grid: StepGrid,
    speculative: SpeculativeConfig | None = None,
) -> dict[StepKey, StepTime]:
    return {}


class StepTimer:
    """Step time of (prefill chunks, decode count, decode context sum) on one TP group."""

    __slots__ = ("_memo", "evaluations", "grid", "hw", "model", "seen", "speculative", "tp")

    def __init__(
        self,
        hw: Hardware,
        model: ModelSpec,
        tp: int,
        grid: StepGrid | None = None,
        speculative: SpeculativeConfig | None = None,
    ) -> None:
        self.hw = hw
        self.model = model
        self.tp = tp
        self.grid = grid or StepGrid()
        self.speculative = speculative
        self._memo = _design_memo(hw, model, tp, self.grid, speculative)
        if len(self._memo) > MAX_SHAPES:
            self._memo.clear()
        self.evaluations = 0  # perf-model calls made by this timer
        self.seen: set[StepKey] = set()  # distinct shapes this timer was asked for

    def key(self, chunks: list[ChunkKey], n_dec: int, ctx_sum: int) -> StepKey:
        return canonical_key(self.grid, chunks, n_dec, ctx_sum)

    def lookup(self, key: StepKey) -> StepTime:
        st = self._memo.get(key)
        if st is None:
            if self.speculative is None:  # memoised here: skip the perf model's own memo
                st = step_time(self.hw, self.model, composition_of(key), self.tp, memo=False)
            elif not key[0]:
                st = self._speculative_round(key[1], key[2])
            else:  # the proposer processes the step's tokens too (prompt, KV kept in sync)
                comp = composition_of(key)
                st = add_steps(self._target(comp), self._draft(comp))
            self._memo[key] = st
            self.evaluations += 1
        self.seen.add(key)
        return st

    def time(self, chunks: list[ChunkKey], n_dec: int, ctx_sum: int) -> StepTime:
        return self.lookup(self.key(chunks, n_dec, ctx_sum))

    def decode(self, n_dec: int, ctx_sum: int) -> tuple[StepTime, int]:
        """A decode-only step (the fast path of `Replica.run_decode_rounds`), and the largest
        decode context sum that maps to the same memo entry."""
        d_b = bucket_up(n_dec, self.grid.decode_bits)
        s_b = max(bucket_up(ctx_sum, self.grid.kv_bits), d_b)
        return self.lookup(((), d_b, s_b)), s_b

    def _target(self, b: BatchComposition) -> StepTime:
        return step_time(self.hw, self.model, b, self.tp)

    def _draft(self, b: BatchComposition) -> StepTime:
        assert self.speculative is not None
        proposer = self.speculative.proposer(self.model)
        return step_time(self.hw, proposer, b, proposer_tp(proposer, self.tp))

    def _speculative_round(self, n_dec: int, ctx_sum: int) -> StepTime:
        """A decode-only round under speculative decoding: one emitted token per decoder, i.e.
        a speculative step (draft proposals + verification) divided by the expected tokens
        per step (perf/speculative.per_token_step); the replica's rounds stay one token each,
        so KV and finish times advance by the expected tokens per step."""
        assert self.speculative is not None
        context = max(0, ctx_sum // n_dec - 1)
        return per_token_step(self._target, self._draft, self.speculative, n_dec, context)

    @property
    def distinct(self) -> int:
        """Distinct bucketed shapes seen by this timer."""
        return len(self.seen)

    def exact(self, batch: BatchComposition) -> StepTime:
        """Unbucketed step time (for reference checks)."""
        return step_time(self.hw, self.model, batch, self.tp)
