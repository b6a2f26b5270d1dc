"""Weight-stationary systolic arrays as a compute unit (`perf/systolic.py` has the cycle
models and tiling plans; docs/perf-hda.md §1).

The array path is DRAM → local SRAM → array: every stationary tile (weights, or K/V for
attention) is written into the core's local SRAM and read into the array, so its stream is
staged (`UnitWork.stages` = tiles of the busiest array; 1 when the tiles cannot be
double-buffered in SRAM) and its local-SRAM traffic limits how many arrays a core can feed
(the plans' port cycles). Of the n-split / m-split plans the unit offers the one that finishes
the op first on its own.
"""

from __future__ import annotations

from ador_opt.hardware.arch import ArchConfig
from ador_opt.perf.mactree import dram_stream_s
from ador_opt.perf.noc import noc_s, pipelined_exposed_s
from ador_opt.perf.systolic import CyclesFn, SaPlan, sa_attention_cost, sa_gemm_plans
from ador_opt.perf.units.base import UnitWork, Work, WorkKind, staged_core_s


def _standalone_s(arch: ArchConfig, plan: SaPlan, dram_bytes: float) -> float:
    core = staged_core_s(plan.cycles / arch.freq_hz, dram_stream_s(arch, dram_bytes), plan.stages)
    return core + pipelined_exposed_s(noc_s(arch, plan.noc_bytes), core)


class SystolicArrayUnit:
    name = "systolic"

    def run(self, arch: ArchConfig, work: Work, cycles_fn: CyclesFn) -> UnitWork | None:
        if work.kind is WorkKind.GEMM:
            return self._gemm(arch, work, cycles_fn)
        if work.kind is WorkKind.ATTENTION:
            return self._attention(arch, work, cycles_fn)
        return None

    def _gemm(self, arch: ArchConfig, work: Work, cycles_fn: CyclesFn) -> UnitWork:
        m, k, n = work.m, work.k, work.n
        wbytes = k * n * work.wb
        extra = work.dram_bytes  # activation spill, if any
        plans = sa_gemm_plans(arch, m, k, n, wbytes, work.ab, cycles_fn, work.wb)
        plan = plans[0]
        if len(plans) > 1:  # the plan that finishes first alone (first wins ties)
            best_t = _standalone_s(arch, plan, plan.weight_bytes + extra)
            for other in plans[1:]:
                t = _standalone_s(arch, other, other.weight_bytes + extra)
                if t < best_t:
                    best_t, plan = t, other
        return UnitWork(
            self.name,
            plan.cycles / arch.freq_hz,
            plan.weight_bytes + extra,
            plan.sram_bytes,
            plan.noc_bytes,
            plan.stages,
            plan.granules,
        )

    def _attention(self, arch: ArchConfig, work: Work, cycles_fn: CyclesFn) -> UnitWork:
        """QKᵀ (rows × hd)·(hd × keys) and AV (rows × keys)·(keys × hd) per product, K and V
        stationary in the arrays (staged through local SRAM); parts run one after another."""
        cycles = stages = 0
        sram = work.sram_bytes
        granules = 0
        for count, rows, keys in work.parts:
            c, b, st, g = sa_attention_cost(arch, count, rows, work.k, keys, cycles_fn, work.ab)
            cycles += c
            sram += b
            stages = 1 if st == 1 else stages + st
            granules = g if not granules else min(granules, g)
        return UnitWork(
            self.name, cycles / arch.freq_hz, work.dram_bytes, sram, 0.0, stages, granules
        )


SYSTOLIC_ARRAY = SystolicArrayUnit()
