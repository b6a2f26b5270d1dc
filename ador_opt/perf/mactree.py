"""MAC tree (ADOR paper §IV-A, §V-A): GEMV and decode attention stream weights / KV from DRAM
straight into the trees, with no SRAM staging.

A core's MAC tree has `mt_lanes` lanes; each lane multiplies `mt_width` input pairs per cycle
and reduces them through an adder tree of depth ⌈log2 width⌉. The ⌈k/width⌉ × n dot-product
segments of one input row are spread over all lanes of all cores (a lane owns an output column,
or a K-slice of one when there are fewer columns than lanes, partial sums meeting in the
accumulators), so an (m × k)·(k × n) product takes m · ⌈⌈k/width⌉·n / (lanes·cores)⌉ cycles.
Attention: `mt_attention_s` (the tree's width against the head dimension).

DRAM streaming efficiency. The paper measured a MAC tree on an Alveo U55C (2 HBM2 stacks,
460 GB/s) and reports (Fig. 10) that memory-bandwidth utilisation grows *logarithmically* with
the op's work and reaches ≈ 90 %. The figure's numbers are not in the text; this module uses

    util(b) = clip(U_MAX + SLOPE · log10(b / B_SAT), U_MIN, U_MAX)

with b = bytes the op streams from DRAM (for an fp16 GEMV the FLOP count equals the byte count,
so this is the paper's "computational workload" axis for the measured GEMVs). U_MAX = 0.90 is
the paper's number; SLOPE, B_SAT and U_MIN are ASSUMPTIONS (a reading of the figure's shape,
not a fit to any reference row): −0.10 per decade below 64 MiB, floored at 0.30.
"""

from __future__ import annotations

import math
from functools import lru_cache

from ador_opt.hardware.arch import ArchConfig

U_MAX = 0.90  # ADOR paper §V-A / Fig. 10: "up to 90 % of the theoretical maximum bandwidth"
SLOPE_PER_DECADE = 0.10  # ASSUMPTION: reading of Fig. 10's logarithmic rise
B_SAT_BYTES = 64.0 * 2**20  # ASSUMPTION: op size at which streaming reaches U_MAX
U_MIN = 0.30  # ASSUMPTION: floor for tiny ops (latency-dominated transfers)
_log10 = math.log10


def dram_utilisation(stream_bytes: float) -> float:
    """Fraction of peak DRAM bandwidth a stream of `stream_bytes` bytes achieves (0..0.9)."""
    if stream_bytes >= B_SAT_BYTES or stream_bytes <= 0:
        return U_MAX
    u = U_MAX + SLOPE_PER_DECADE * math.log10(stream_bytes / B_SAT_BYTES)
    return u if u > U_MIN else U_MIN


def dram_stream_s(arch: ArchConfig, stream_bytes: float) -> float:
    """Seconds to stream `stream_bytes` from DRAM at the utilisation of that stream size."""
    if stream_bytes <= 0:
        return 0.0
    # dram_utilisation(stream_bytes), inlined (the hottest call of the perf model)
    if stream_bytes >= B_SAT_BYTES:
        u = U_MAX
    else:
        u = U_MAX + SLOPE_PER_DECADE * _log10(stream_bytes / B_SAT_BYTES)
        if not u > U_MIN:
            u = U_MIN
    return stream_bytes / (arch.dram_gbps * 1e9 * u)


def has_mac_tree(arch: ArchConfig) -> bool:
    return arch.mt_width > 0 and arch.mt_lanes > 0


@lru_cache(maxsize=256)
def _tree_depth(width: int) -> int:
    """Adder-tree levels of a `width`-input lane (pipeline latency paid once per op)."""
    return math.ceil(math.log2(max(2, width)))


def mt_gemm_s(arch: ArchConfig, m: int, k: int, n: int) -> float:
    """MAC-tree compute seconds of (m × k) · (k × n): each of the m rows has ⌈k/W⌉·n segments
    of W products (a k shorter than W wastes inputs), spread over all L·P lanes; a lane holds
    its weight segment in registers while the m rows pass, so weights are read once."""
    return mt_gemm_cycles(arch.mt_lanes, arch.mt_width, arch.core_count, m, k, n) / arch.freq_hz


def mt_gemm_cycles(lanes: int, width: int, cores: int, m: int, k: int, n: int) -> int:
    """Cycles of `mt_gemm_s` on `cores` cores of `lanes` trees of `width` inputs each."""
    cycles = m * math.ceil(math.ceil(k / width) * n / (lanes * cores))
    return cycles + _tree_depth(width)


def mt_attention_s(arch: ArchConfig, rows: int, head_dim: int, keys: int) -> float:
    """MAC-tree compute seconds of attention for `rows` query rows (query heads × tokens), each
    against `keys` keys: QKᵀ is `keys` dot products of length head_dim (⌈hd/W⌉ lane cycles
    each), AV is head_dim dot products of length `keys` (⌈keys/W⌉ each). Rows and keys are
    spread over all lanes of all cores (keys split across lanes and cores, partial softmax
    statistics merged as in split-K / flash-decoding); a tree wider than the head dimension
    idles inputs on QKᵀ (paper Fig. 11-(b): lanes are sized against the heads)."""
    w = arch.mt_width
    segments = rows * (keys * math.ceil(head_dim / w) + head_dim * math.ceil(keys / w))
    lanes = arch.mt_lanes * arch.core_count
    cycles = math.ceil(segments / lanes) + 2 * _tree_depth(w)
    return cycles / arch.freq_hz
