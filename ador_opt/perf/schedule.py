"""HDA schedule (ADOR paper §IV-E, Fig. 8): which unit runs each op of a step, and how long.

Mapping rules (docs/perf-hda.md lists them with their sources):

* GEMMs. Two candidate mappings; the compiler takes the faster (ties go to the MAC tree):
  - MAC-tree path ("GEMV"): weights stream DRAM → MAC trees, no SRAM staging (mactree.py).
  - Systolic path ("GEMM"): the GEMM's output columns are split between the systolic arrays
    and the MAC trees in the ratio of their MAC counts, fixed at compile time (§IV-E), and the
    SA part uses the faster of the n-split / m-split plans (systolic.py). Both parts share DRAM.
  Decode GEMVs land on the MAC trees; prefill GEMMs and large decode batches on the arrays.
* Prefill attention (QKᵀ, AV per chunk and KV head) on the systolic arrays. The chunk's own
  K/V is read from global SRAM when it fits (else read back from DRAM); cached context K/V
  always comes from DRAM.
* Decode attention on the MAC trees, streaming the KV cache from DRAM (on the systolic arrays
  when the design has no MAC tree).
* In a mixed step the decode attention (MAC trees) runs concurrently with the prefill attention
  (systolic arrays), sharing DRAM bandwidth, when the prefill's K/V is all on chip; when the
  prefill needs K/V from DRAM the arrays wait until the decode attention is done (§IV-E), and
  without MAC trees both parts run on the arrays one after the other.
* Vector work is overlapped (vector.py); the step is at least the vector unit's busy time.
* Op composition: ops of a layer run in order (each needs the previous one's output); within
  an op, compute, DRAM streaming and NoC transfers overlap (double-buffered weight tiles; the
  first tile of an op is prefetched during the previous op), so an op takes the longest of
  them plus the exposed part of its pipelined NoC transfer (noc.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter

from ador_opt.hardware.arch import ArchConfig
from ador_opt.models.ops import BatchComposition, Op
from ador_opt.perf.mactree import dram_stream_s, has_mac_tree, mt_attention, mt_gemm_s
from ador_opt.perf.noc import noc_s, pipelined_exposed_s
from ador_opt.perf.systolic import (
    CyclesFn,
    onchip_bytes,
    sa_batched_cycles,
    sa_gemm_plans,
    ws_cycles,
)

# Busy-time slots, in this order everywhere (matches perf/result.py UNITS).
SA, MT, VEC, DRAM, NOC, P2P = range(6)
UNIT_NAMES = ("systolic", "mac_tree", "vector", "dram", "noc", "p2p")


@dataclass(frozen=True, slots=True)
class OpTime:
    """Wall time of one op copy, busy seconds per unit (UNIT_NAMES order), the unit that set
    the time, and the DRAM bytes it moved."""

    seconds: float
    busy: tuple[float, float, float, float, float, float]
    bound: str
    dram_bytes: float


def _busy(
    sa: float = 0.0, mt: float = 0.0, vec: float = 0.0, dram: float = 0.0, noc: float = 0.0
) -> tuple[float, float, float, float, float, float]:
    return (sa, mt, vec, dram, noc, 0.0)


def _bound(sa: float, mt: float, dram: float, noc: float) -> str:
    """Name of the unit with the largest time (first wins ties: systolic, mac_tree, dram)."""
    if sa >= mt and sa >= dram and sa >= noc:
        return "systolic"
    if mt >= dram and mt >= noc:
        return "mac_tree"
    return "dram" if dram >= noc else "noc"


def mt_share(arch: ArchConfig) -> float:
    """Fraction of a GEMM's output columns given to the MAC trees on the systolic path: their
    share of the core's MACs (paper §IV-E: split fixed at compile time by compute ratio)."""
    mt = arch.mt_macs_per_core
    return mt / (mt + arch.sa_macs_per_core)


def _raw_dram_s(arch: ArchConfig, nbytes: float) -> float:
    return nbytes / (arch.dram_gbps * 1e9)


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
    """One (m × k)·(k × n) GEMM whose k × n weights come from DRAM, on the faster mapping."""
    act = m * (k + n) * bytes_per_act
    spill = act if act > onchip_bytes(arch) else 0.0  # activations round-trip via DRAM
    bw = arch.dram_gbps * 1e9
    mac_tree = has_mac_tree(arch)
    # Candidates as (time, systolic_s, mac_tree_s, dram_s, noc_s, dram_bytes).
    candidates = []
    if mac_tree:
        wbytes = k * n * bytes_per_weight + spill
        mt_s = mt_gemm_s(arch, m, k, n)
        dram_s = dram_stream_s(arch, wbytes)
        gather_s = noc_s(arch, m * n * bytes_per_act)  # all-gather of the final sums
        core = mt_s if mt_s > dram_s else dram_s
        t = core + pipelined_exposed_s(gather_s, core)
        candidates.append((t, 0.0, mt_s, dram_s, gather_s, wbytes))

    n_mt = round(n * mt_share(arch)) if mac_tree else 0
    n_sa = n - n_mt
    mt_s = mt_bytes = 0.0
    if n_mt:
        mt_bytes = k * n_mt * bytes_per_weight
        mt_s = mt_gemm_s(arch, m, k, n_mt)
    if n_sa:
        wbytes = k * n_sa * bytes_per_weight
        freq_hz = arch.freq_hz
        for plan in sa_gemm_plans(arch, m, k, n_sa, wbytes, bytes_per_act, cycles_fn):
            sa_s = plan.cycles / freq_hz
            dram_bytes = plan.weight_bytes + mt_bytes + spill
            dram_s = dram_stream_s(arch, dram_bytes)
            link_s = noc_s(arch, plan.noc_bytes + m * n_mt * bytes_per_act)
            core = max(sa_s, mt_s, dram_s)
            t = core + pipelined_exposed_s(link_s, core)
            candidates.append((t, sa_s, mt_s, dram_s, link_s, dram_bytes))
    t, sa_s, mt_s, dram_s, link_s, dram_bytes = min(candidates, key=itemgetter(0))
    return OpTime(
        t,
        (sa_s, mt_s, 0.0, dram_bytes / bw, link_s, 0.0),
        _bound(sa_s, mt_s, dram_s, link_s),
        dram_bytes,
    )


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


def _prefill_attention_sa_s(
    arch: ArchConfig, op: Op, chunks: dict[tuple[int, int], int], cycles_fn: CyclesFn
) -> float:
    """Systolic-array seconds for QKᵀ and AV of all prefill chunks of one layer. Per chunk and
    KV head: the head group's g query heads stack their t rows (M = g·t) against the K/V of
    the c + (t+1)/2 keys a causal chunk sees on average (block-causal tiles skipped)."""
    group = op.heads // op.kv_heads
    hd = op.k
    cycles = 0
    for (tokens, context), count in chunks.items():
        keys = context + -(-(tokens + 1) // 2)  # ⌈(t+1)/2⌉ causal keys on average
        rows = group * tokens
        units = count * op.kv_heads
        cycles += sa_batched_cycles(arch, units, rows, hd, keys, cycles_fn)  # QKᵀ
        cycles += sa_batched_cycles(arch, units, rows, keys, hd, cycles_fn)  # AV
    return cycles / arch.freq_hz


def _decode_attention_sa_s(arch: ArchConfig, op: Op, cycles_fn: CyclesFn) -> float:
    """Decode attention on the arrays (designs without MAC trees): per request and KV head,
    the g query heads (M = g) against the request's average context."""
    group = op.heads // op.kv_heads
    ctx = max(1, op.n)
    units = op.m * op.kv_heads
    cycles = sa_batched_cycles(arch, units, group, op.k, ctx, cycles_fn)
    cycles += sa_batched_cycles(arch, units, group, ctx, op.k, cycles_fn)
    return cycles / arch.freq_hz


def attention_time(
    arch: ArchConfig,
    prefill: Op | None,
    decode: Op | None,
    batch: BatchComposition,
    bytes_per_act: int,
    cycles_fn: CyclesFn = ws_cycles,
) -> OpTime:
    """One layer's attention: prefill part on the arrays, decode part on the MAC trees."""
    sa_s = mt_s = 0.0
    dram_dec = dram_pre = 0.0  # bytes
    dec_dram_s = pre_dram_s = 0.0  # DRAM streaming seconds of each part
    dec_s = pre_s = 0.0
    noc_bytes = 0.0
    mac_tree = has_mac_tree(arch)
    if decode is not None:
        dram_dec = decode.kv_bytes + decode.kv_write_bytes
        if mac_tree:
            mt = mt_attention(arch, decode.flops / 2, dram_dec)
            mt_s = mt.compute_s
            dec_dram_s = mt.dram_s
            dec_s = max(mt_s, dec_dram_s)
        else:
            sa_dec = _decode_attention_sa_s(arch, decode, cycles_fn)
            sa_s += sa_dec
            dec_dram_s = dram_stream_s(arch, dram_dec)
            dec_s = max(sa_dec, dec_dram_s)
        noc_bytes += decode.m * decode.heads * decode.k * bytes_per_act
    on_chip = True
    if prefill is not None:
        sa_pre = _prefill_attention_sa_s(arch, prefill, _chunk_kinds(batch), cycles_fn)
        sa_s += sa_pre
        readback = max(0.0, prefill.kv_write_bytes - arch.global_sram_mib * 2**20)
        dram_pre = prefill.kv_bytes + prefill.kv_write_bytes + readback
        on_chip = prefill.kv_bytes == 0 and readback == 0
        pre_dram_s = dram_stream_s(arch, dram_pre)
        pre_s = max(sa_pre, pre_dram_s)
        noc_bytes += prefill.m * prefill.heads * prefill.k * bytes_per_act
    link_s = noc_s(arch, noc_bytes)
    dram_s = dec_dram_s + pre_dram_s
    if prefill is not None and decode is not None and on_chip and mac_tree:
        core = max(dec_s, pre_s, dram_s)  # Fig. 8: MT on DRAM KV, SA on SRAM KV, together
    else:
        # The arrays wait for the decode attention (KV in DRAM, or both parts on the arrays
        # when there is no MAC tree), or only one part exists.
        core = dec_s + pre_s
    t = core + pipelined_exposed_s(link_s, core)
    total = dram_dec + dram_pre
    return OpTime(
        t,
        _busy(sa_s, mt_s, 0.0, _raw_dram_s(arch, total), link_s),
        _bound(sa_s, mt_s, dram_s, link_s),
        total,
    )
