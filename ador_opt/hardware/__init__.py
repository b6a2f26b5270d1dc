"""Hardware: the HDA template (`ArchConfig`), GPU baselines, presets, area and cost."""

from ador_opt.hardware.arch import ArchConfig, DramType, LinkType, TpSync
from ador_opt.hardware.area import AreaBreakdown, area_breakdown, die_area_mm2, sram_area_mm2
from ador_opt.hardware.cost import CostBreakdown, cost_breakdown, device_cost_usd
from ador_opt.hardware.gpu import GpuSpec
from ador_opt.hardware.loader import hardware_from_dict, load_hardware
from ador_opt.hardware.presets import GPU_SPECS, HARDWARE_PRESETS, Hardware

__all__ = [
    "GPU_SPECS",
    "HARDWARE_PRESETS",
    "ArchConfig",
    "AreaBreakdown",
    "CostBreakdown",
    "DramType",
    "GpuSpec",
    "Hardware",
    "LinkType",
    "TpSync",
    "area_breakdown",
    "cost_breakdown",
    "device_cost_usd",
    "die_area_mm2",
    "hardware_from_dict",
    "load_hardware",
    "sram_area_mm2",
]
