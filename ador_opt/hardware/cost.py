"""Manufacturing cost of one device: good-die cost on a 7 nm wafer, package, memory."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ador_opt.hardware import constants as c
from ador_opt.hardware.arch import ArchConfig
from ador_opt.hardware.area import die_area_mm2


def dies_per_wafer(area_mm2: float, wafer_diameter_mm: float = c.WAFER_DIAMETER_MM) -> float:
    """Gross dies per wafer: π·r²/A − π·d/√(2A) (standard edge-loss approximation)."""
    r = wafer_diameter_mm / 2
    return max(
        0.0, math.pi * r * r / area_mm2 - math.pi * wafer_diameter_mm / math.sqrt(2 * area_mm2)
    )


def die_yield(area_mm2: float) -> float:
    """Negative-binomial yield (1 + A·D0/α)^(−α)."""
    d0, alpha = c.DEFECT_DENSITY_PER_MM2, c.YIELD_CLUSTERING_ALPHA
    return (1 + area_mm2 * d0 / alpha) ** (-alpha)


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """Dollars per device."""

    die_area_mm2: float
    dies_per_wafer: float
    yield_fraction: float
    die_usd: float
    package_usd: float
    memory_usd: float
    total_usd: float
    nic_usd: float = 0.0  # scale-out NIC (0 unless a replica spans several domains)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def cost_breakdown(arch: ArchConfig, memory_usd_per_gb: float | None = None) -> CostBreakdown:
    area = die_area_mm2(arch)
    gross = dies_per_wafer(area)
    y = die_yield(area)
    die_usd = c.WAFER_USD_7NM / (gross * y) if gross * y > 0 else math.inf
    per_gb = (
        c.MEMORY_USD_PER_GB[arch.dram_type] if memory_usd_per_gb is None else memory_usd_per_gb
    )
    memory = arch.dram_gib * 1.073741824 * per_gb  # GiB → GB
    nic = arch.scale_out_gbps * c.NIC_USD_PER_GBPS if arch.uses_scale_out else 0.0
    total = die_usd + c.PACKAGE_ASSEMBLY_USD + memory + nic
    return CostBreakdown(area, gross, y, die_usd, c.PACKAGE_ASSEMBLY_USD, memory, total, nic)


def device_cost_usd(arch: ArchConfig) -> float:
    return cost_breakdown(arch).total_usd
