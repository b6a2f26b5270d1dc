"""The vector unit as a compute unit (`perf/vector.py`; docs/perf-hda.md §4): element-wise
work only, operands in local SRAM (read and written once, FP32 lanes on 2-byte activations)."""

from __future__ import annotations

from ador_opt.hardware.arch import ArchConfig
from ador_opt.perf.systolic import CyclesFn
from ador_opt.perf.units.base import UnitWork, Work, WorkKind
from ador_opt.perf.vector import vector_s


class VectorUnit:
    name = "vector"

    def run(self, arch: ArchConfig, work: Work, cycles_fn: CyclesFn) -> UnitWork | None:
        if work.kind is not WorkKind.ELEMENTWISE:
            return None
        return UnitWork(self.name, vector_s(arch, work.ops), 0.0, 0.0, 0.0, 0)


VECTOR_UNIT = VectorUnit()
