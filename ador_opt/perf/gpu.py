"""PLACEHOLDER roofline for GPUs — replaced by the calibrated GPU model."""

from __future__ import annotations

from types import MappingProxyType

from ador_opt.hardware.gpu import GpuSpec
from ador_opt.models.ops import BatchComposition, step_ops
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.result import StepTime


def gpu_step_time(gpu: GpuSpec, model: ModelSpec, batch: BatchComposition, tp: int) -> StepTime:
    ops = step_ops(model, batch, tp)
    flops = sum(op.total_flops for op in ops)
    dram = sum(op.total_dram_bytes for op in ops)
    precision = "fp8" if model.bytes_per_weight == 1 else "fp16"
    t_c = flops / (gpu.peak_tflops_for(precision) * 1e12)
    t_m = dram / (gpu.hbm_gbps * 1e9)
    busy = MappingProxyType({"tensor": t_c, "dram": t_m})
    return StepTime(max(t_c, t_m), "compute" if t_c > t_m else "memory", busy, dram, flops)
