"""`GpuSpec`: datasheet facts of a GPU baseline. Efficiencies live in `perf/gpu_params.py`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ador_opt.hardware.arch import LinkType, _enum


@dataclass(frozen=True, slots=True)
class GpuSpec:
    """One GPU. Bandwidths in GB/s (10^9 B/s); `nvlink_gbps` is the bidirectional aggregate
    that NVIDIA quotes, so one direction carries half of it."""

    name: str
    sm_count: int
    freq_mhz: float
    fp16_tflops: float  # dense tensor-core peak
    fp8_tflops: float  # 0 when the GPU has no FP8 tensor cores
    hbm_gbps: float
    hbm_gib: float
    l2_mib: float
    nvlink_gbps: float
    die_area_mm2: float
    process_nm: int
    tdp_w: float
    int8_tops: float = 0.0  # dense INT8 tensor peak (TOPS); 0 when the datasheet has none
    int4_tops: float = 0.0  # dense INT4 tensor peak (TOPS); 0: none (runs as int8)
    fp4_tflops: float = 0.0  # dense FP4 tensor peak; 0: none (runs as fp8, else fp16)
    link_type: LinkType = LinkType.NVLINK4  # NVLink generation of `nvlink_gbps`

    def __post_init__(self) -> None:
        object.__setattr__(self, "link_type", _enum(LinkType, self.link_type, "link_type"))

    def peak_tflops_for(self, precision: str) -> float:
        """Dense tensor peak for `precision`; a format the GPU has no tensor path for runs on
        the next wider one it has (int4 → int8 → fp16, fp4 → fp8 → fp16)."""
        if precision == "fp4" and self.fp4_tflops > 0:
            return self.fp4_tflops
        if precision == "int4" and self.int4_tops > 0:
            return self.int4_tops
        if precision in ("fp8", "fp4") and self.fp8_tflops > 0:
            return self.fp8_tflops
        if precision in ("int8", "int4") and self.int8_tops > 0:
            return self.int8_tops
        return self.fp16_tflops

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
