"""MAC trees as a compute unit (`perf/mactree.py` has the lane model and the DRAM curve;
docs/perf-hda.md §3).

The MAC-tree path streams weights / KV straight from DRAM into the lanes (paper §IV-A): no
local-SRAM staging (`stages` = 0), no fold fill/drain; only the input vectors are read from the
local SRAM (each core reads the rows it multiplies and broadcasts them to its lanes). Shape
matters: a dot product of length k takes ⌈k/width⌉ lane cycles (a k shorter than the width
wastes inputs), and the segments of an op are spread over lanes × cores.
"""

from __future__ import annotations

from functools import lru_cache

from ador_opt.hardware.arch import ArchConfig
from ador_opt.perf.mactree import has_mac_tree, mt_attention_s, mt_gemm_cycles
from ador_opt.perf.precision import packing_rate
from ador_opt.perf.systolic import CyclesFn
from ador_opt.perf.units.base import UnitWork, Work, WorkKind


class MacTreeUnit:
    name = "mac_tree"

    def run(self, arch: ArchConfig, work: Work, cycles_fn: CyclesFn) -> UnitWork | None:
        if not has_mac_tree(arch):
            return None
        if work.kind is WorkKind.GEMM:
            return _gemm_work(
                arch.mt_lanes,
                arch.mt_width,
                arch.core_count,
                arch.freq_mhz,
                work.m,
                work.k,
                work.n,
                work.wb,
                work.ab,
                work.dram_bytes,
                packing_rate(cycles_fn),  # narrow-format MACs per tree input (precision.py)
            )
        if work.kind is WorkKind.ATTENTION:
            compute = 0.0
            sram = work.sram_bytes
            for count, rows, keys in work.parts:
                compute += mt_attention_s(arch, count * rows, work.k, keys)
                sram += 2 * count * rows * work.k * work.ab  # queries in, outputs out
            return UnitWork(self.name, compute, work.dram_bytes, sram, 0.0, 0)
        return None


@lru_cache(maxsize=16384)
def _gemm_work(
    lanes: int,
    width: int,
    cores: int,
    freq_mhz: float,
    m: int,
    k: int,
    n: int,
    wb: int,
    ab: int,
    dram_bytes: float,
    rate: int = 1,
) -> UnitWork:
    """The MAC trees' answer for an (m × k)·(k × n) GEMM on `cores` cores of `lanes` trees of
    `width` inputs at `freq_mhz`, `rate` narrow-format MACs per tree input (memoised: designs
    that differ in other fields share it)."""
    return UnitWork(
        MacTreeUnit.name,
        mt_gemm_cycles(lanes, width, cores, m, -(-k // rate), n) / (freq_mhz * 1e6),
        k * n * wb + dram_bytes,
        float(cores * m * k * ab + m * n * ab),
        float(m * n * ab),  # all-gather of the final sums
        0,
    )


MAC_TREE = MacTreeUnit()
