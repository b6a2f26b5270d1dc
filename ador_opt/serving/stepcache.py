"""Step times for the simulator, memoised on a bucketed batch composition.

A long run has tens of thousands of steps but far fewer distinct shapes once each count is
rounded to a few significant bits. Every count (chunk tokens, chunk context, decode count,
decode context sum) is rounded UP to `bits` significant bits: exact below 2**bits, then a
relative step of at most 2**(1-bits) (bits = 6: exact below 64, ≤ 3.2 % above). Rounding up
keeps simulated step times upper bounds of the exact ones for a perf model that never gets
faster with more work (so TTFT ≥ the exact lone-prefill time still holds). The step time itself
(including the HDA overlap of prefill on systolic arrays with decode on MAC trees) is whatever
`ador_opt.perf.step_time` returns for the mixed composition.

The memo is one dict per (hardware, model, tp, bits) value, handed out by an LRU cache on those
frozen values, so the runs of a capacity search on one design share their perf evaluations. It
memoises a pure function: results never depend on whether an entry was cached. Each dict is
capped at MAX_SHAPES entries (cleared when full) to bound memory in long explorations.
"""

from __future__ import annotations

from functools import lru_cache

from ador_opt.hardware.presets import Hardware
from ador_opt.models.ops import BatchComposition, PrefillChunk
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.result import StepTime
from ador_opt.perf.step import step_time

DEFAULT_BUCKET_BITS = 6
MAX_SHAPES = 200_000

ChunkKey = tuple[int, int, bool]
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


@lru_cache(maxsize=16)
def _design_memo(hw: Hardware, model: ModelSpec, tp: int, bits: int) -> dict[StepKey, StepTime]:
    return {}


class StepTimer:
    """Step time of (prefill chunks, decode count, decode context sum) on one TP group."""

    __slots__ = ("_memo", "bits", "evaluations", "hw", "model", "seen", "tp")

    def __init__(
        self, hw: Hardware, model: ModelSpec, tp: int, bits: int = DEFAULT_BUCKET_BITS
    ) -> None:
        self.hw = hw
        self.model = model
        self.tp = tp
        self.bits = bits
        self._memo = _design_memo(hw, model, tp, bits)
        if len(self._memo) > MAX_SHAPES:
            self._memo.clear()
        self.evaluations = 0  # perf-model calls made by this timer
        self.seen: set[StepKey] = set()  # distinct shapes this timer was asked for

    def key(self, chunks: list[ChunkKey], n_dec: int, ctx_sum: int) -> StepKey:
        b = self.bits
        if chunks:
            pk = [(bucket_up(t, b), bucket_up(c, b), last) for t, c, last in chunks]
            if len(pk) > 1:
                pk.sort()
            return (tuple(pk), bucket_up(n_dec, b), bucket_up(ctx_sum, b))
        return ((), bucket_up(n_dec, b), bucket_up(ctx_sum, b))

    def lookup(self, key: StepKey) -> StepTime:
        st = self._memo.get(key)
        if st is None:
            st = step_time(self.hw, self.model, composition_of(key), self.tp)
            self._memo[key] = st
            self.evaluations += 1
        self.seen.add(key)
        return st

    def time(self, chunks: list[ChunkKey], n_dec: int, ctx_sum: int) -> StepTime:
        return self.lookup(self.key(chunks, n_dec, ctx_sum))

    def decode(self, n_dec: int, ctx_sum: int) -> StepTime:
        """A decode-only step (the fast path of `Replica.run_decode_rounds`)."""
        b = self.bits
        return self.lookup(((), bucket_up(n_dec, b), bucket_up(ctx_sum, b)))

    @property
    def distinct(self) -> int:
        """Distinct bucketed shapes seen by this timer."""
        return len(self.seen)

    def exact(self, batch: BatchComposition) -> StepTime:
        """Unbucketed step time (for reference checks)."""
        return step_time(self.hw, self.model, batch, self.tp)
