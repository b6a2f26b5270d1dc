"""MAC trees as a compute unit (`perf/mactree.py` has the lane model and the DRAM curve;
docs/perf-hda.md §3).

The MAC-tree path streams weights / KV straight from DRAM into the lanes (paper §IV-A): no
local-SRAM staging (`stages` = 0), no fold fill/drain; only the input vectors are read from the
local SRAM (each core reads the rows it multiplies and broadcasts them to its lanes). Shape
matters: a dot product of length k takes ⌈k/width⌉ lane cycles (a k shorter than the width
wastes inputs), and the segments of an op are spread over lanes × cores.
"""

from __future__ import annotations

from ador_opt.hardware.arch import ArchConfig
from ador_opt.perf.mactree import has_mac_tree, mt_attention_s, mt_gemm_s
from ador_opt.perf.precision import packing_rate
from ador_opt.perf.systolic import CyclesFn
from ador_opt.perf.units.base import UnitWork, Work, WorkKind


class MacTreeUnit:
    name = "mac_tree"

    def run(self, arch: ArchConfig, work: Work, cycles_fn: CyclesFn) -> UnitWork | None:
        if not has_mac_tree(arch):
            return None
        if work.kind is WorkKind.GEMM:
            m, k, n, ab = work.m, work.k, work.n, work.ab
            rate = packing_rate(cycles_fn)  # narrow-format MACs per tree input (precision.py)
            return UnitWork(
                self.name,
                mt_gemm_s(arch, m, -(-k // rate), n),
                k * n * work.wb + work.dram_bytes,
                float(arch.core_count * m * k * ab + m * n * ab),
                float(m * n * ab),  # all-gather of the final sums
                0,
            )
        if work.kind is WorkKind.ATTENTION:
            compute = 0.0
            sram = work.sram_bytes
            for count, rows, keys in work.parts:
                compute += mt_attention_s(arch, count * rows, work.k, keys)
                sram += 2 * count * rows * work.k * work.ab  # queries in, outputs out
            return UnitWork(self.name, compute, work.dram_bytes, sram, 0.0, 0)
        return None


MAC_TREE = MacTreeUnit()
