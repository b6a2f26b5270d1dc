"""Power of an `ArchConfig`: per-op energies at its clock, and TDP at full load.

Every energy constant is in `hardware/constants.py` with its source; formulas and the A100
sanity check are in docs/model.md ("Power and energy"). Core-supply voltage follows the clock:
V(f) = V_nom for f ≤ f_nom, linear between (f_nom, V_nom) and (f_high, V_high) above, and every
on-die dynamic energy scales with (V/V_nom)² (C·V² per switched node), leakage with V/V_nom.
Off-die energies (DRAM, device links) do not depend on the core clock.

TDP = the power with every unit busy at its peak rate at once: every MAC of every array and MAC
tree each cycle, every vector lane, one control issue per 32-lane sublane, local SRAM feeding
all of them, the NoC and global SRAM at `noc_gbps`, DRAM at `dram_gbps`, the links at
`p2p_gbps` (half sent, half received), the scale-out NIC adapter when a replica spans several
scale-up domains, plus leakage over the die area.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

from ador_opt.hardware import constants as c
from ador_opt.hardware.arch import ArchConfig
from ador_opt.hardware.area import area_breakdown

PRECISIONS = tuple(c.MAC_J)


def core_voltage(freq_mhz: float) -> float:
    """Core supply (V) at `freq_mhz` on the stated 7 nm V–f line (constants.py)."""
    if freq_mhz <= c.F_NOMINAL_MHZ:
        return c.V_NOMINAL
    slope = (c.V_HIGH - c.V_NOMINAL) / (c.F_HIGH_MHZ - c.F_NOMINAL_MHZ)
    return c.V_NOMINAL + slope * (freq_mhz - c.F_NOMINAL_MHZ)


def sram_j_per_byte(size_kib: float) -> float:
    """Energy per byte read or written in an SRAM buffer of `size_kib` at V_nom: Horowitz's
    √size law, with an access touching one bank of at most SRAM_BANK_KIB."""
    size = min(max(size_kib, c.SRAM_REF_KIB), float(c.SRAM_BANK_KIB))
    return c.SRAM_REF_J_PER_BYTE * math.sqrt(size / c.SRAM_REF_KIB)


def mesh_hops(cores: int) -> float:
    """Mean hop count between two routers of a √N × √N mesh under uniform traffic (2k/3)."""
    k = math.ceil(math.sqrt(cores))
    return 2.0 * k / 3.0 if k > 1 else 0.0


@dataclass(frozen=True, slots=True)
class EnergyTable:
    """Energies of one design at its own clock (J per event) and its leakage (W)."""

    voltage_v: float
    dynamic_scale: float  # (V/V_nom)², applied to every on-die energy below
    mac_j: dict[str, float]
    vector_lane_op_j: float
    control_issue_j: float
    local_sram_j_per_byte: float
    global_sram_j_per_byte: float
    noc_j_per_byte: float
    noc_hops: float
    noc_hop_mm: float
    dram_j_per_byte: float
    p2p_j_per_byte: float
    leakage_w: float
    issues_per_cycle: int
    local_sram_bytes_per_cycle: float  # per core, every unit at full rate


@lru_cache(maxsize=4096)
def energy_table(arch: ArchConfig) -> EnergyTable:
    area = area_breakdown(arch)
    v = core_voltage(arch.freq_mhz)
    dyn = (v / c.V_NOMINAL) ** 2
    physical = area.physical_cores
    # A mesh hop spans one core tile (core + router), so its length is the tile's side.
    hop_mm = math.sqrt(area.cores_total_mm2 / physical)
    hops = mesh_hops(physical)
    noc_per_bit = hops * (c.ROUTER_J_PER_BIT + c.WIRE_J_PER_BIT_MM * hop_mm)
    issues = max(1, math.ceil(arch.vector_width / c.CONTROL_SUBLANE_LANES))
    # Local SRAM bytes per cycle per core at full rate: each array reads a column of
    # activations and writes a row of outputs, (R + C)·2 B; the MAC tree reads its input
    # vector and writes its lane outputs, (W + L)·2 B (weights stream from DRAM); each vector
    # lane reads and writes 2 B.
    local_bpc = (
        arch.sa_per_core * (arch.sa_rows + arch.sa_cols) * 2
        + (arch.mt_width + arch.mt_lanes) * 2
        + arch.vector_width * 4
    )
    return EnergyTable(
        voltage_v=v,
        dynamic_scale=dyn,
        mac_j={p: e * dyn for p, e in c.MAC_J.items()},
        vector_lane_op_j=c.VECTOR_LANE_OP_J * dyn,
        control_issue_j=c.CONTROL_ISSUE_J * dyn,
        local_sram_j_per_byte=sram_j_per_byte(arch.local_sram_kib) * dyn,
        global_sram_j_per_byte=sram_j_per_byte(arch.global_sram_mib * 1024) * dyn,
        noc_j_per_byte=8 * noc_per_bit * dyn,
        noc_hops=hops,
        noc_hop_mm=hop_mm,
        dram_j_per_byte=8 * c.DRAM_J_PER_BIT[arch.dram_type],
        p2p_j_per_byte=8 * c.LINK_J_PER_BIT[arch.p2p_type],
        leakage_w=area.total_mm2 * c.LEAKAGE_W_PER_MM2 * v / c.V_NOMINAL,
        issues_per_cycle=issues,
        local_sram_bytes_per_cycle=float(local_bpc),
    )


@dataclass(frozen=True, slots=True)
class PowerBreakdown:
    """Full-load power of one device, W, by component (`total_w` = TDP)."""

    systolic_w: float
    mac_tree_w: float
    vector_w: float
    control_w: float
    local_sram_w: float
    global_sram_w: float
    noc_w: float
    dram_w: float
    p2p_w: float
    scale_out_w: float
    leakage_w: float
    total_w: float

    @property
    def tdp_w(self) -> float:
        return self.total_w

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@lru_cache(maxsize=4096)
def power_breakdown(arch: ArchConfig, precision: str = "fp16") -> PowerBreakdown:
    """TDP at full load (module docstring) for MACs of `precision` (fp16, fp8, int8)."""
    e = energy_table(arch)
    f = arch.freq_hz
    cores = arch.core_count  # enabled cores switch; disabled ones only leak
    mac = e.mac_j[precision]
    parts = {
        "systolic_w": cores * arch.sa_macs_per_core * f * mac,
        "mac_tree_w": cores * arch.mt_macs_per_core * f * mac,
        "vector_w": cores * arch.vector_width * f * e.vector_lane_op_j,
        "control_w": cores * e.issues_per_cycle * f * e.control_issue_j,
        "local_sram_w": cores * e.local_sram_bytes_per_cycle * f * e.local_sram_j_per_byte,
        "global_sram_w": arch.noc_gbps * 1e9 * e.global_sram_j_per_byte,
        "noc_w": arch.noc_gbps * 1e9 * e.noc_j_per_byte,
        "dram_w": arch.dram_gbps * 1e9 * e.dram_j_per_byte,
        # p2p_gbps is the bidirectional aggregate: half of it is sent by this device.
        "p2p_w": arch.p2p_gbps / 2 * 1e9 * e.p2p_j_per_byte,
        # The scale-out NIC adapter (only when a replica spans several scale-up domains).
        "scale_out_w": arch.scale_out_gbps * c.NIC_W_PER_GBPS if arch.uses_scale_out else 0.0,
        "leakage_w": e.leakage_w,
    }
    return PowerBreakdown(**parts, total_w=sum(parts.values()))


def tdp_w(arch: ArchConfig, precision: str = "fp16") -> float:
    return power_breakdown(arch, precision).total_w
