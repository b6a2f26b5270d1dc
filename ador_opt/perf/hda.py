"""PLACEHOLDER roofline for the HDA template — replaced by the full template model."""

from __future__ import annotations

from types import MappingProxyType

from ador_opt.hardware.arch import ArchConfig
from ador_opt.models.ops import BatchComposition, step_ops
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.result import StepTime


def hda_step_time(arch: ArchConfig, model: ModelSpec, batch: BatchComposition, tp: int) -> StepTime:
    ops = step_ops(model, batch, tp)
    flops = sum(op.total_flops for op in ops)
    dram = sum(op.total_dram_bytes for op in ops)
    t_c = flops / (arch.peak_tflops * 1e12)
    t_m = dram / (arch.dram_gbps * 1e9)
    busy = MappingProxyType({"systolic": t_c, "dram": t_m})
    return StepTime(max(t_c, t_m), "compute" if t_c > t_m else "memory", busy, dram, flops)
