"""Die area of an `ArchConfig` under the 7 nm model (constants in `hardware/constants.py`).

Die = physical cores · (core + NoC router) + global SRAM + memory PHY/ctrl + link PHY/ctrl.
The memory and link PHYs must also fit along the die edge (`AreaBreakdown.shoreline_ok`; a
square die offers 4·√area mm of edge). Formulas and sources: docs/model.md §2.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

from ador_opt.hardware import constants as c
from ador_opt.hardware.arch import PACKED_RATE_FIELDS, ArchConfig


def sram_area_mm2(size_kib: float) -> float:
    """Area of one SRAM buffer. Up to one bank (512 KiB) the bit area is divided by the CACTI
    efficiency of the next power-of-two array size; larger buffers are whole 512 KiB banks."""
    if size_kib <= 0:
        return 0.0
    if size_kib > c.SRAM_BANK_KIB:
        banks = math.ceil(size_kib / c.SRAM_BANK_KIB - 1e-9)
        return banks * sram_area_mm2(c.SRAM_BANK_KIB)
    bucket = max(4, 2 ** math.ceil(math.log2(size_kib)))
    bits = size_kib * 1024 * 8
    return bits * c.SRAM_MM2_PER_BIT / c.SRAM_ARRAY_EFFICIENCY[bucket]


@dataclass(frozen=True, slots=True)
class AreaBreakdown:
    """Die area in mm², by component. Core components are per core; totals are per die."""

    core_control_mm2: float
    core_vector_alu_mm2: float
    core_register_file_mm2: float
    core_systolic_mm2: float
    core_sa_double_buffer_mm2: float
    core_mac_tree_mm2: float
    core_local_sram_mm2: float
    core_crossbar_mm2: float
    noc_port_bytes_per_cycle: float
    core_mm2: float
    physical_cores: int
    cores_total_mm2: float
    global_sram_mm2: float
    dram_units: int
    dram_phy_mm2: float
    dram_ctrl_mm2: float
    p2p_units: int
    p2p_phy_mm2: float
    p2p_ctrl_mm2: float
    total_mm2: float
    shoreline_used_mm: float
    shoreline_available_mm: float

    def to_dict(self) -> dict[str, float | int]:
        return {**asdict(self), "shoreline_ok": int(self.shoreline_ok)}

    @property
    def shoreline_ok(self) -> bool:
        """The memory and link PHYs fit along the die edge (square die, all four edges)."""
        return self.shoreline_used_mm <= self.shoreline_available_mm


def dram_units(arch: ArchConfig) -> int:
    """HBM stacks / DDR5 channels / CXL lanes: enough for both the bandwidth and the capacity,
    and at least the template's PHY sites (`dram_phy_count`, e.g. GA100's 6 for 5 stacks)."""
    need_bw = math.ceil(arch.dram_gbps / c.DRAM_UNIT_GBPS[arch.dram_type] - 1e-9)
    need_cap = math.ceil(arch.dram_gib / c.DRAM_UNIT_GIB[arch.dram_type] - 1e-9)
    return max(arch.dram_phy_count, need_bw, need_cap)


def p2p_units(arch: ArchConfig) -> int:
    if arch.p2p_link_count:
        return arch.p2p_link_count
    # A single device still carries its host/peer link, sized from p2p_gbps all the same.
    return math.ceil(arch.p2p_gbps / c.LINK_UNIT_GBPS[arch.p2p_type] - 1e-9)


def noc_port_bytes_per_cycle(arch: ArchConfig) -> float:
    """Router port width w: the NoC's aggregate bandwidth spread over every physical core's
    port, in bytes per core clock."""
    physical = arch.physical_core_count or arch.core_count
    return arch.noc_gbps * 1e9 / (physical * arch.freq_hz)


def router_area_mm2(port_bytes_per_cycle: float) -> float:
    """Per-core router: A_ref · (φ·r + (1 − φ)·r²), r = w / w_ref (constants.py)."""
    r = port_bytes_per_cycle / c.NOC_REF_PORT_BYTES_PER_CYCLE
    phi = c.NOC_ROUTER_LINEAR_FRACTION
    return c.CROSSBAR_MM2_PER_CORE * (phi * r + (1.0 - phi) * r * r)


def packed_mac_mm2_per_pe(arch: ArchConfig) -> float:
    """Extra area of one array PE (or MAC-tree input) for its packed narrow-format MACs: r MACs
    of a format whose
    rate field is r ≥ 2, each at that format's fraction of the fp16 MAC (constants.
    MAC_AREA_VS_FP16); r = 1 runs through the fp16 MAC and costs nothing extra."""
    extra = 0.0
    for name in PACKED_RATE_FIELDS:
        r = getattr(arch, name)
        if r >= 2:
            extra += r * c.MAC_AREA_VS_FP16[name.split("_", 1)[0]] * c.FP16_MAC_MM2
    return extra


@lru_cache(maxsize=4096)
def area_breakdown(arch: ArchConfig) -> AreaBreakdown:
    """Die area of one device (LLMCompass 7 nm model plus the ADOR MAC tree)."""
    lanes = arch.vector_width
    control = c.CONTROL_MM2_PER_CORE_FIXED + lanes * c.CONTROL_MM2_PER_VECTOR_LANE
    alu = lanes * c.VECTOR_ALU_MM2_PER_LANE
    regs = lanes * c.REGISTER_FILE_MM2_PER_LANE
    systolic = arch.sa_macs_per_core * c.FP16_MAC_MM2
    sa_db = arch.sa_macs_per_core * c.SA_DOUBLE_BUFFER_MM2_PER_PE * arch.sa_weight_double_buffer
    systolic += arch.sa_macs_per_core * packed_mac_mm2_per_pe(arch)
    # MAC tree: one FP16 multiply-add PE per input (multiplier + tree adder) and one FP32
    # accumulator per lane.
    mac_tree = arch.mt_macs_per_core * c.FP16_MAC_MM2 + arch.mt_lanes * c.FP32_FPU_MM2
    mac_tree += arch.mt_macs_per_core * packed_mac_mm2_per_pe(arch)
    local = sram_area_mm2(arch.local_sram_kib)
    core = control + alu + regs + systolic + sa_db + mac_tree + local
    physical = arch.physical_core_count or arch.core_count
    port = noc_port_bytes_per_cycle(arch)
    router = router_area_mm2(port)
    cores_total = physical * (core + router)
    global_sram = sram_area_mm2(arch.global_sram_mib * 1024)
    n_dram = dram_units(arch)
    dram_phy, dram_ctrl = (n_dram * a for a in c.DRAM_UNIT_AREA_MM2[arch.dram_type])
    n_p2p = p2p_units(arch)
    p2p_phy, p2p_ctrl = (n_p2p * a for a in c.LINK_UNIT_AREA_MM2[arch.p2p_type])
    total = cores_total + global_sram + dram_phy + dram_ctrl + p2p_phy + p2p_ctrl
    edge_dram = n_dram * c.DRAM_UNIT_EDGE_MM[arch.dram_type]
    shoreline = edge_dram + n_p2p * c.LINK_UNIT_EDGE_MM[arch.p2p_type]
    return AreaBreakdown(
        core_control_mm2=control,
        core_vector_alu_mm2=alu,
        core_register_file_mm2=regs,
        core_systolic_mm2=systolic,
        core_sa_double_buffer_mm2=sa_db,
        core_mac_tree_mm2=mac_tree,
        core_local_sram_mm2=local,
        core_crossbar_mm2=router,
        noc_port_bytes_per_cycle=port,
        core_mm2=core,
        physical_cores=physical,
        cores_total_mm2=cores_total,
        global_sram_mm2=global_sram,
        dram_units=n_dram,
        dram_phy_mm2=dram_phy,
        dram_ctrl_mm2=dram_ctrl,
        p2p_units=n_p2p,
        p2p_phy_mm2=p2p_phy,
        p2p_ctrl_mm2=p2p_ctrl,
        total_mm2=total,
        shoreline_used_mm=shoreline,
        shoreline_available_mm=4.0 * math.sqrt(total),
    )


def die_area_mm2(arch: ArchConfig) -> float:
    return area_breakdown(arch).total_mm2
