"""MAC tree (ADOR paper §IV-A, §V-A): GEMV and decode attention stream weights / KV from DRAM
straight into the trees, with no SRAM staging.

A core's MAC tree has `mt_lanes` lanes; each lane multiplies `mt_width` input pairs per cycle
and reduces them through an adder tree of depth ⌈log2 width⌉. The ⌈k/width⌉ × n dot-product
segments of one input row are spread over all lanes of all cores (a lane owns an output column,
or a K-slice of one when there are fewer columns than lanes, partial sums meeting in the
accumulators), so an (m × k)·(k × n) product takes m · ⌈⌈k/width⌉·n / (lanes·cores)⌉ cycles.

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
from dataclasses import dataclass

from ador_opt.hardware.arch import ArchConfig

U_MAX = 0.90  # ADOR paper §V-A / Fig. 10: "up to 90 % of the theoretical maximum bandwidth"
SLOPE_PER_DECADE = 0.10  # ASSUMPTION: reading of Fig. 10's logarithmic rise
B_SAT_BYTES = 64.0 * 2**20  # ASSUMPTION: op size at which streaming reaches U_MAX
U_MIN = 0.30  # ASSUMPTION: floor for tiny ops (latency-dominated transfers)


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
    return stream_bytes / (arch.dram_gbps * 1e9 * dram_utilisation(stream_bytes))


@dataclass(frozen=True, slots=True)
class MtTiming:
    """One op on the MAC trees of a device. Seconds; `compute_s` is MT busy time."""

    compute_s: float
    dram_s: float
    dram_bytes: float


def has_mac_tree(arch: ArchConfig) -> bool:
    return arch.mt_width > 0 and arch.mt_lanes > 0


def mt_gemm(arch: ArchConfig, m: int, k: int, n: int, weight_bytes: float) -> MtTiming:
    """(m × k) · (k × n) with the k × n weights streamed once from DRAM (each weight chunk is
    held in the lane registers while the m input rows pass, so weights are read once)."""
    return MtTiming(mt_gemm_s(arch, m, k, n), dram_stream_s(arch, weight_bytes), weight_bytes)


def mt_gemm_s(arch: ArchConfig, m: int, k: int, n: int) -> float:
    """MAC-tree compute seconds of (m × k) · (k × n) (`mt_gemm`'s `compute_s`)."""
    lanes = arch.mt_lanes * arch.core_count
    cycles = m * math.ceil(math.ceil(k / arch.mt_width) * n / lanes)
    cycles += math.ceil(math.log2(max(2, arch.mt_width)))  # adder-tree depth, paid once
    return cycles / arch.freq_hz


def mt_attention(arch: ArchConfig, macs: float, kv_bytes: float) -> MtTiming:
    """Decode attention (QKᵀ and AV over the KV cache): `macs` multiply-adds, `kv_bytes`
    streamed from DRAM. Head dimensions are multiples of the tree width for every preset, so
    the MAC count divides evenly over width × lanes × cores."""
    per_cycle = arch.mt_width * arch.mt_lanes * arch.core_count
    return MtTiming(macs / per_cycle / arch.freq_hz, dram_stream_s(arch, kv_bytes), kv_bytes)
