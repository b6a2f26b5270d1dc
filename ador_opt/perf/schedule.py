"""HDA schedule (ADOR paper §IV-E, Fig. 8): which unit runs each op of a step, and how long.

Every op is offered to every compute unit (`perf/units/`: the systolic arrays and the MAC trees
answer GEMMs and attention; the vector unit element-wise work). Each answer is the unit's
`UnitWork` for the whole op: busy seconds, DRAM / SRAM / NoC bytes, and how its DRAM stream
reaches it. The op then runs on the candidate that finishes first (ties: MAC tree, then the
split, then the arrays — fewer SRAM bytes):

* each unit alone: `t = staged(compute, DRAM) + exposed NoC` (units/base.staged_core_s: the MAC
  tree consumes its DRAM stream directly; the arrays stage it through local SRAM, exposing one
  tile's load and one tile's compute, or serialising when tiles cannot be double-buffered);
* split across the units (§IV-E "GEMM operations are distributed across both units"): the op's
  independent work (output columns of a GEMM, heads × requests of attention) is divided in
  the ratio of the units' own rates for this op, so both finish together:
  `t = max(φ_i·T_i, DRAM(all bytes)) + exposed NoC`, T_i = unit i's time alone (its DRAM
  stream at full bandwidth included), φ_i ∝ 1/T_i; the units share the DRAM bandwidth. The
  arrays' share is rounded up to whole column rounds of their busiest array (a MAC tree can
  only relieve an array of a whole fold); the MAC tree's share is fluid (lanes are fine-grained).

No op is forced onto a unit: a small MAC tree only ever takes the share it finishes in time,
so adding lanes never slows an op (each candidate's time is non-increasing in the lanes).

Attention: prefill chunks (QKᵀ, AV per chunk and KV head; FlashAttention-style Q tiles sized by
the local SRAM, `flash_q_blocks`; the chunk's own K/V in global SRAM, §IV-B) and decode tokens
(QKᵀ, AV per request and KV head over the KV cache in DRAM) are two ops. In a mixed step they
run one after the other, or — when the design has MAC trees and the prefill's K/V is all on
chip — concurrently, decode on the MAC trees and prefill on the arrays sharing DRAM (Fig. 8);
the faster of the two is taken.

Op composition: ops of a layer run in order (each needs the previous one's output); within an
op, compute, DRAM streaming and NoC transfers overlap as above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from ador_opt.hardware.arch import ArchConfig
from ador_opt.models.ops import BatchComposition, Op
from ador_opt.perf.mactree import dram_stream_s, has_mac_tree
from ador_opt.perf.noc import pipelined_exposed_s
from ador_opt.perf.systolic import ACC_BYTES, CyclesFn, onchip_bytes, ws_cycles
from ador_opt.perf.units import MAC_TREE, SYSTOLIC_ARRAY, ComputeUnit, UnitWork, Work, WorkKind
from ador_opt.perf.units.base import staged_core_s

# Busy-time slots, in this order everywhere (matches perf/result.py UNITS).
SA, MT, VEC, DRAM, NOC, P2P = range(6)
UNIT_NAMES = ("systolic", "mac_tree", "vector", "dram", "noc", "p2p")

# The matrix units offered every GEMM and attention op, in tie-break order.
MATRIX_UNITS: tuple[ComputeUnit, ...] = (MAC_TREE, SYSTOLIC_ARRAY)

# ASSUMPTION: keys per FlashAttention K/V block held in local SRAM next to the Q tile (the
# FlashAttention-2 kernels use 64–128-key blocks; Dao 2023, §3.3).
FLASH_KEY_BLOCK = 64

Busy = tuple[float, float, float, float, float, float]


@dataclass(frozen=True, slots=True)
class OpTime:
    """Wall time of one op copy, busy seconds per unit (UNIT_NAMES order), the unit that set
    the time, and the bytes it moved (DRAM, local/global SRAM, NoC)."""

    seconds: float
    busy: Busy
    bound: str
    dram_bytes: float
    sram_bytes: float = 0.0
    noc_bytes: float = 0.0


def _bound(sa: float, mt: float, dram: float, noc: float) -> str:
    """Name of the unit with the largest time (first wins ties: systolic, mac_tree, dram; a
    split op's units finish together, equal up to rounding)."""
    if sa >= mt * (1 - 1e-9) and sa >= dram and sa >= noc:
        return "systolic"
    if mt >= dram and mt >= noc:
        return "mac_tree"
    return "dram" if dram >= noc else "noc"


def _finish(
    arch: ArchConfig,
    core: float,
    sa: float,
    mt: float,
    dram_bytes: float,
    sram_bytes: float,
    noc_bytes: float,
    split_unit: str = "",
    dram_s: float | None = None,
) -> OpTime:
    """The op's OpTime: `core` seconds of overlapped compute and DRAM, `sa` / `mt` busy
    seconds of the arrays / trees, plus the exposed part of its pipelined NoC transfer.
    `dram_s`: `dram_stream_s(arch, dram_bytes)` when the caller has it."""
    link = noc_bytes / (arch.noc_gbps * 1e9) if noc_bytes > 0 else 0.0
    t = core + pipelined_exposed_s(link, core)
    if dram_s is None:
        dram_s = dram_stream_s(arch, dram_bytes)
    if split_unit and core > dram_s and core > link:
        bound = split_unit  # the units finish together; name the one doing most of the work
    else:
        bound = _bound(sa, mt, dram_s, link)
    busy = (sa, mt, 0.0, dram_bytes / (arch.dram_gbps * 1e9), link, 0.0)
    return OpTime(t, busy, bound, dram_bytes, sram_bytes, noc_bytes)


def _alone_core_s(arch: ArchConfig, w: UnitWork) -> float:
    return staged_core_s(w.compute_s, dram_stream_s(arch, w.dram_bytes), w.stages)


def _busy_of(w: UnitWork, share: float) -> tuple[float, float]:
    """(arrays, trees) busy seconds of `share` of `w`."""
    if w.unit == "systolic":
        return share * w.compute_s, 0.0
    if w.unit == "mac_tree":
        return 0.0, share * w.compute_s
    return 0.0, 0.0


def best_mapping(arch: ArchConfig, works: list[UnitWork], noc_extra: float = 0.0) -> OpTime:
    """The fastest of: each unit alone, and the split over all of them in the ratio of their
    rates (fluid; ties: the first unit, then the split, then the others). Written out for one
    and two units (the hot path; a third unit kind extends the split to Σ over units)."""
    if len(works) == 1:
        w = works[0]
        sa_s, mt_s = _busy_of(w, 1.0)
        dram_s = dram_stream_s(arch, w.dram_bytes)
        return _finish(
            arch,
            staged_core_s(w.compute_s, dram_s, w.stages),
            sa_s,
            mt_s,
            w.dram_bytes,
            w.sram_bytes,
            w.noc_bytes + noc_extra,
            dram_s=dram_s,
        )
    assert len(works) == 2, "best_mapping splits over at most two units"
    a, b = works
    ta = staged_core_s(a.compute_s, dram_stream_s(arch, a.dram_bytes), a.stages)
    tb = staged_core_s(b.compute_s, dram_stream_s(arch, b.dram_bytes), b.stages)
    sa = tb / (ta + tb)  # share of a: rate_a / (rate_a + rate_b); both would finish together
    # A unit whose work comes in whole rounds keeps at least its balanced share, rounded up
    # to whole rounds (the other unit takes whole rounds off it, and finishes first).
    if b.granules:
        sa = 1.0 - math.ceil((1.0 - sa) * b.granules - 1e-9) / b.granules
    elif a.granules:
        sa = math.ceil(sa * a.granules - 1e-9) / a.granules
    sb = 1.0 - sa
    split_core = max(ta * sa, tb * sb, dram_stream_s(arch, sa * a.dram_bytes + sb * b.dram_bytes))
    inv_noc = 1.0 / (arch.noc_gbps * 1e9)
    best_t, best = math.inf, (ta, 1.0, 0.0)
    for core, s_a, s_b in ((ta, 1.0, 0.0), (split_core, sa, sb), (tb, 0.0, 1.0)):
        link = (s_a * a.noc_bytes + s_b * b.noc_bytes + noc_extra) * inv_noc
        t = core + pipelined_exposed_s(link, core)
        if t < best_t:
            best_t, best = t, (core, s_a, s_b)
    core, s_a, s_b = best
    split_unit = ""
    if 0 < s_a < 1:
        split_unit = a.unit if s_a >= s_b else b.unit
    sa1, mt1 = _busy_of(a, s_a)
    sa2, mt2 = _busy_of(b, s_b)
    return _finish(
        arch,
        core,
        sa1 + sa2,
        mt1 + mt2,
        s_a * a.dram_bytes + s_b * b.dram_bytes,
        s_a * a.sram_bytes + s_b * b.sram_bytes,
        s_a * a.noc_bytes + s_b * b.noc_bytes + noc_extra,
        split_unit,
    )


def _offer(
    arch: ArchConfig, work: Work, cycles_fn: CyclesFn, prune: bool = False
) -> list[UnitWork]:
    """Every matrix unit's answer for `work`. With `prune`, stop after the MAC tree when it
    streams the op at the DRAM bound with no more NoC bytes than any other mapping moves:
    nothing can then finish earlier (every candidate moves at least its DRAM bytes and NoC
    bytes), so the arrays need not be asked (an exact shortcut of `best_mapping`)."""
    out = []
    for unit in MATRIX_UNITS:
        w = unit.run(arch, work, cycles_fn)
        if w is None:
            continue
        out.append(w)
        if (
            prune
            and w.unit == MAC_TREE.name
            and w.compute_s <= dram_stream_s(arch, w.dram_bytes)
            and (work.kind is WorkKind.ATTENTION or work.m * work.ab <= work.k * work.wb)
        ):
            break
    return out


@lru_cache(maxsize=65536)
def gemm_time(
    arch: ArchConfig,
    m: int,
    k: int,
    n: int,
    bytes_per_weight: int,
    bytes_per_act: int,
    cycles_fn: CyclesFn = ws_cycles,
) -> OpTime:
    """One (m × k)·(k × n) GEMM whose k × n weights come from DRAM, on the fastest mapping.
    If its input + output exceed all on-chip SRAM they round-trip through DRAM once."""
    act = m * (k + n) * bytes_per_act
    spill = float(act) if act > onchip_bytes(arch) else 0.0
    work = _gemm_work(m, k, n, bytes_per_weight, bytes_per_act, spill)
    return best_mapping(arch, _offer(arch, work, cycles_fn, prune=True))


@lru_cache(maxsize=16384)
def _gemm_work(m: int, k: int, n: int, wb: int, ab: int, spill: float) -> Work:
    """The GEMM's `Work` (one object per shape, shared by every design that times it)."""
    return Work(WorkKind.GEMM, m, k, n, wb, ab, dram_bytes=spill)


def _chunk_kinds(batch: BatchComposition) -> dict[tuple[int, int], int]:
    """Count of prefill chunks per (tokens, context), in order of first appearance."""
    chunks = batch.prefill
    if len(chunks) == 1:
        return {(chunks[0].tokens, chunks[0].context): 1}
    counts: dict[tuple[int, int], int] = {}
    for ch in chunks:
        key = (ch.tokens, ch.context)
        counts[key] = counts.get(key, 0) + 1
    return counts


def flash_q_blocks(arch: ArchConfig, rows: int, head_dim: int, bytes_per_act: int) -> int:
    """Q tiles a product of `rows` query rows is cut into so that one tile fits a core's local
    SRAM next to its double-buffered K and V blocks (paper §V-B / Fig. 12, FlashAttention-style
    softmax decomposition): per row the Q row, an fp32 output row and an fp32 score row of one
    key block; K/V are re-read once per Q tile."""
    local = arch.local_sram_kib * 1024
    fixed = 4 * FLASH_KEY_BLOCK * head_dim * bytes_per_act  # K and V blocks, double-buffered
    per_row = head_dim * bytes_per_act + head_dim * ACC_BYTES + FLASH_KEY_BLOCK * ACC_BYTES
    tile = max(1, int((local - fixed) // per_row))
    return -(-rows // tile)


def _prefill_works(
    arch: ArchConfig,
    op: Op,
    kinds: tuple[tuple[tuple[int, int], int], ...],
    ab: int,
    cycles_fn: CyclesFn,
) -> tuple[list[UnitWork], float, bool]:
    """Per-unit works of all prefill chunks' attention of one layer, their DRAM bytes, and
    whether all K/V they read is on chip. Per chunk kind and KV head, the group's query heads
    stack their t rows (M = g·t) against the c + ⌈(t+1)/2⌉ keys a causal chunk sees on average
    (block-causal tiles skipped). Cached context K/V comes from DRAM, the chunk's own K/V from
    global SRAM while the chunks in flight fit (else the excess is read back from DRAM), each
    once per Q tile; new K/V is written to DRAM."""
    group = op.heads // op.kv_heads
    hd = op.k
    kv_row = op.kv_write_bytes / max(1, op.m)  # K+V bytes per token of one layer
    arrays = arch.core_count * arch.sa_per_core
    global_bytes = arch.global_sram_mib * 2**20
    dram = float(op.kv_write_bytes)
    sram = 0.0
    parts = []
    for (tokens, context), count in kinds:
        keys = context + -(-(tokens + 1) // 2)
        rows = group * tokens
        blocks = flash_q_blocks(arch, rows, hd, ab)
        chunk_kv = tokens * kv_row
        in_flight = min(count, -(-arrays // op.kv_heads)) * chunk_kv
        readback = max(0.0, 1.0 - global_bytes / in_flight) if in_flight > 0 else 0.0
        dram += count * (context * kv_row + readback * chunk_kv) * blocks
        sram += count * (1.0 - readback) * chunk_kv * blocks
        parts.append((count * op.kv_heads, rows, keys))
    on_chip = dram == op.kv_write_bytes
    work = Work(
        WorkKind.ATTENTION,
        k=hd,
        wb=ab,
        ab=ab,
        group=group,
        dram_bytes=dram,
        parts=tuple(parts),
        sram_bytes=sram,
    )
    return _offer(arch, work, cycles_fn), dram, on_chip


@lru_cache(maxsize=65536)
def _decode_part(
    arch: ArchConfig, decode: Op, ab: int, cycles_fn: CyclesFn
) -> tuple[tuple[UnitWork, ...], float, OpTime]:
    """The decode tokens' attention of one layer: each unit's work, the op's NoC bytes and its
    fastest mapping. Memoised: the mixed steps of a serving run share few decode parts (the
    memo key of a step buckets its decode count and context sum) among many prefill parts."""
    group = decode.heads // decode.kv_heads
    dec_work = Work(
        WorkKind.ATTENTION,
        k=decode.k,
        wb=ab,
        ab=ab,
        group=group,
        dram_bytes=float(decode.kv_bytes + decode.kv_write_bytes),
        parts=((decode.m * decode.kv_heads, group, max(1, decode.n)),),
    )
    dec_works = _offer(arch, dec_work, cycles_fn, prune=True)
    dec_noc = float(decode.m * decode.heads * decode.k * ab)
    return tuple(dec_works), dec_noc, best_mapping(arch, dec_works, dec_noc)


@lru_cache(maxsize=65536)
def _prefill_part(
    arch: ArchConfig,
    prefill: Op,
    kinds: tuple[tuple[tuple[int, int], int], ...],
    ab: int,
    cycles_fn: CyclesFn,
) -> tuple[tuple[UnitWork, ...], bool, float, OpTime]:
    """The prefill chunks' attention of one layer (`kinds`: `_chunk_kinds` of the batch, in
    order): each unit's work, whether its K/V is all on chip, its NoC bytes and its fastest
    mapping. Memoised like `_decode_part`."""
    pre_works, _, on_chip = _prefill_works(arch, prefill, kinds, ab, cycles_fn)
    pre_noc = float(prefill.m * prefill.heads * prefill.k * ab)
    return tuple(pre_works), on_chip, pre_noc, best_mapping(arch, pre_works, pre_noc)


def attention_time(
    arch: ArchConfig,
    prefill: Op | None,
    decode: Op | None,
    batch: BatchComposition,
    bytes_per_act: int,
    cycles_fn: CyclesFn = ws_cycles,
    shared: bool = False,
) -> OpTime:
    """One layer's attention: prefill and decode parts each on their fastest mapping, one
    after the other, or concurrently (decode on MAC trees, prefill on arrays, Fig. 8).
    `shared`: memoise the two parts (worth it for the many steps of a serving run on one
    design; a one-off evaluation would only pay for the memo)."""
    ab = bytes_per_act
    decode_part = _decode_part if shared else _decode_part.__wrapped__
    prefill_part = _prefill_part if shared else _prefill_part.__wrapped__
    dec = pre = None
    dec_works: tuple[UnitWork, ...] = ()
    pre_works: tuple[UnitWork, ...] = ()
    dec_noc = pre_noc = 0.0
    on_chip = False
    if decode is not None:
        dec_works, dec_noc, dec = decode_part(arch, decode, ab, cycles_fn)
    if prefill is not None:
        kinds = tuple(_chunk_kinds(batch).items())
        pre_works, on_chip, pre_noc, pre = prefill_part(arch, prefill, kinds, ab, cycles_fn)
    if dec is None:
        assert pre is not None
        return pre
    if pre is None:
        return dec
    seq = OpTime(
        dec.seconds + pre.seconds,
        tuple(a + b for a, b in zip(dec.busy, pre.busy, strict=True)),  # type: ignore[arg-type]
        dec.bound if dec.seconds >= pre.seconds else pre.bound,
        dec.dram_bytes + pre.dram_bytes,
        dec.sram_bytes + pre.sram_bytes,
        dec.noc_bytes + pre.noc_bytes,
    )
    if not (on_chip and has_mac_tree(arch)):
        return seq
    mt = next(w for w in dec_works if w.unit == MAC_TREE.name)
    sa = next(w for w in pre_works if w.unit == SYSTOLIC_ARRAY.name)
    dram = mt.dram_bytes + sa.dram_bytes
    core = max(_alone_core_s(arch, mt), _alone_core_s(arch, sa), dram_stream_s(arch, dram))
    conc = _finish(
        arch,
        core,
        sa.compute_s,
        mt.compute_s,
        dram,
        mt.sram_bytes + sa.sram_bytes,
        mt.noc_bytes + sa.noc_bytes + dec_noc + pre_noc,
    )
    return conc if conc.seconds < seq.seconds else seq
