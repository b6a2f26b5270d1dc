"""Area and cost constants of the 7 nm model. One table; every row names its source.

Sources: LLMCompass (Zhang et al., ISCA 2024) area model and its hardware configs, as restated
in DESIGN §4; CACTI array efficiencies as used there; the ADOR paper §VI-A for the MAC-tree
addition. Derived rows say how they are derived. See docs/model.md for the narrative.
"""

from __future__ import annotations

from ador_opt.hardware.tech import DramType, LinkType

LOGIC_DENSITY_MTR_PER_MM2 = 96.3  # TSMC N7 logic density used by LLMCompass
FP16_MAC_TRANSISTORS = 25_344  # LLMCompass: FP16 multiply-accumulate PE
FP16_MAC_MM2 = FP16_MAC_TRANSISTORS / (LOGIC_DENSITY_MTR_PER_MM2 * 1e6)  # = 0.000263 mm²
# In-array weight double buffering (ArchConfig.sa_weight_double_buffer): one more 16-bit weight
# register per PE plus the 2:1 select. ≈ 24 transistors per static master–slave D flip-flop bit
# with its local clock buffers and 6 per transmission-gate 2:1 mux bit (Weste & Harris, CMOS
# VLSI Design, 4th ed., ch. 10 sequencing elements / ch. 11 multiplexers) at the LLMCompass
# logic density: 16 × 30 Tr = 480 Tr ≈ 1.9 % of an FP16 MAC PE.
SA_DOUBLE_BUFFER_TRANSISTORS_PER_PE = 16 * (24 + 6)
SA_DOUBLE_BUFFER_MM2_PER_PE = SA_DOUBLE_BUFFER_TRANSISTORS_PER_PE / (
    LOGIC_DENSITY_MTR_PER_MM2 * 1e6
)
FP32_FPU_MM2 = 0.001392  # LLMCompass: FP32 FPU per vector lane (used for MAC-tree accumulators)

# Control: LLMCompass gives 1.324 mm² for the A100 SM's 128 lanes = 4 sublanes × 32, each
# sublane with its own scheduler/dispatch (0.331 mm²). ASSUMPTION (docs/model.md): one sublane's
# control is the core's sequencer, which a core needs whatever its vector width (it also issues
# to the systolic array and the MAC tree); the other three scale with the lanes they feed.
CONTROL_SUBLANE_LANES = 32
CONTROL_MM2_PER_CORE_FIXED = 1.324 / 4  # one sublane controller per core (0.331 mm²)
CONTROL_MM2_PER_VECTOR_LANE = (1.324 - CONTROL_MM2_PER_CORE_FIXED) / 128  # the rest, per lane
VECTOR_ALU_MM2_PER_LANE = 0.435 / 128  # LLMCompass A100 SM vector ALUs 0.435 mm² / 128 lanes
# Register file: LLMCompass sizes it per lane (A100: 64 K 32-bit registers = 2 KiB per lane).
# In the HDA core the arrays and the MAC tree are fed from local SRAM, so the register file
# serves the vector lanes only and scales with them, as the source has it.
REGISTER_FILE_MM2_PER_LANE = 1.565 / 128  # LLMCompass A100 SM register files 1.565 / 128 lanes

# NoC: one router per core (a mesh of core_count routers). LLMCompass's 0.460 mm² per-core
# crossbar is the A100 SM's port to the L2 fabric; NVIDIA's A100 whitepaper gives 5,120 B/clk of
# L2 read bandwidth over the 128 SM ports of GA100 = 40 B/clk per port, the reference width.
# Router area at port width w (bytes/cycle), r = w / w_ref (ORION 2.0 model forms: input
# buffers ∝ w, crossbar ∝ w²): A = A_ref · (φ·r + (1 − φ)·r²).
CROSSBAR_MM2_PER_CORE = 0.460  # LLMCompass: per-core crossbar at NOC_REF_PORT_BYTES_PER_CYCLE
A100_L2_BYTES_PER_CLK = 5120  # NVIDIA A100 whitepaper (L2 read bandwidth, GA100)
NOC_REF_PORT_BYTES_PER_CYCLE = A100_L2_BYTES_PER_CLK / 128  # = 40 B/clk per SM port
NOC_ROUTER_LINEAR_FRACTION = 0.5  # ASSUMPTION φ: buffers vs crossbar share at the reference

SRAM_MM2_PER_BIT = 1.70e-7  # LLMCompass 7 nm SRAM bit cell
SRAM_BANK_KIB = 512  # LLMCompass: large buffers are built from banks of at most 512 KB
# CACTI array efficiency by array size (KiB), as tabulated by LLMCompass.
SRAM_ARRAY_EFFICIENCY: dict[int, float] = {
    4: 0.076,
    8: 0.142,
    16: 0.247,
    32: 0.393,
    64: 0.559,
    128: 0.704,
    256: 0.526,
    512: 0.602,
    1024: 0.561,
}

# Off-chip memory: bandwidth per unit (GB/s) and PHY + controller area per unit (mm²). A unit is
# an HBM stack, a DDR5 channel or a PCIe5-class lane (ddr5-cxl). Units per device =
# max(PHY sites of the template, ⌈dram_gbps / unit GB/s⌉, ⌈dram_gib / unit GiB⌉).
# HBM2e stack: 1024 pins × 3.2 Gb/s; HBM3 6.4 Gb/s; HBM3e 9.6 Gb/s (JEDEC pin rates). HBM3/3e
# PHY area is assumed equal to HBM2e's (no published 7 nm figure; docs/model.md says so).
# DDR5: one 64-bit channel at 6400 MT/s. DDR5-CXL: one PCIe5 lane at 32 Gb/s (LLMCompass-T).
DRAM_UNIT_GBPS: dict[DramType, float] = {
    DramType.HBM2E: 1024 * 3.2 / 8,
    DramType.HBM3: 1024 * 6.4 / 8,
    DramType.HBM3E: 1024 * 9.6 / 8,
    DramType.DDR5: 64 * 6.4 / 8,
    DramType.DDR5_CXL: 32 / 8,
}
DRAM_UNIT_AREA_MM2: dict[DramType, tuple[float, float]] = {  # (PHY, controller)
    DramType.HBM2E: (10.45, 5.740),  # LLMCompass
    DramType.HBM3: (10.45, 5.740),  # assumption: as HBM2e
    DramType.HBM3E: (10.45, 5.740),  # assumption: as HBM2e
    DramType.DDR5: (1.45, 0.939),  # LLMCompass
    DramType.DDR5_CXL: (0.64, 0.0558),  # LLMCompass PCIe5 lane
}

# Capacity per unit (GiB, the largest common part): HBM2e 8-Hi × 16 Gb = 16 GiB (A100 80 GB =
# 5 stacks); HBM3 8-Hi × 16 Gb = 16 GiB (H100 SXM 80 GB = 5 stacks); HBM3e 8-Hi × 24 Gb = 24 GiB
# (H200 141 GB = 6 stacks); DDR5: one 64 GB RDIMM per channel (ASSUMPTION, 1 DIMM per
# channel); ddr5-cxl: 8 GiB per PCIe5 lane (ASSUMPTION: a 64 GB x8 CXL memory expander).
DRAM_UNIT_GIB: dict[DramType, float] = {
    DramType.HBM2E: 16.0,
    DramType.HBM3: 16.0,
    DramType.HBM3E: 24.0,
    DramType.DDR5: 64.0,
    DramType.DDR5_CXL: 8.0,
}
# Die-edge (shoreline) length each unit's PHY occupies, mm. ASSUMPTIONS (docs/model.md): an HBM
# stack needs at least its package's short side (7.75 mm, JEDEC HBM2E footprint 7.75 × 11.87 mm)
# of die edge beside it; a SerDes lane (TX + RX pair) 0.25 mm; a DDR5 channel 2.0 mm.
SERDES_LANE_EDGE_MM = 0.25
DRAM_UNIT_EDGE_MM: dict[DramType, float] = {
    DramType.HBM2E: 7.75,
    DramType.HBM3: 7.75,
    DramType.HBM3E: 7.75,
    DramType.DDR5: 2.0,
    DramType.DDR5_CXL: SERDES_LANE_EDGE_MM,
}

# Device links: bidirectional GB/s per unit (lane or link) and PHY + controller area per unit.
LINK_UNIT_GBPS: dict[LinkType, float] = {
    LinkType.PCIE4: 2 * 16 / 8,  # 16 GT/s per lane per direction
    LinkType.PCIE5: 2 * 32 / 8,  # 32 GT/s per lane per direction
    LinkType.NVLINK3: 50.0,  # A100: 12 links = 600 GB/s
    LinkType.NVLINK4: 50.0,  # H100: 18 links = 900 GB/s
    LinkType.ICI: 2 * 45.0,  # TPU v5e ICI link: ≈ 45 GB/s each way ("How to Scale Your Model")
}
LINK_UNIT_AREA_MM2: dict[LinkType, tuple[float, float]] = {  # LLMCompass
    LinkType.PCIE4: (0.48, 0.0411),
    LinkType.PCIE5: (0.64, 0.0558),
    LinkType.NVLINK3: (1.888, 0.775),
    LinkType.NVLINK4: (0.965, 0.900),
    LinkType.ICI: (0.965, 0.900),  # assumption: unpublished; priced as an NVLink4 link
}
# Most units one die carries: NVLink3 12 links (A100), NVLink4 18 links (H100) — NVIDIA
# datasheets; PCIe: 64 lanes = four x16 ports (ASSUMPTION; an x16 port is the PCIe maximum).
LINK_MAX_UNITS: dict[LinkType, int] = {
    LinkType.PCIE4: 64,
    LinkType.PCIE5: 64,
    LinkType.NVLINK3: 12,
    LinkType.NVLINK4: 18,
    LinkType.ICI: 6,  # TPU v4/v5p: 6 ICI links for a 3D torus ("How to Scale Your Model")
}
# Shoreline per unit: a PCIe lane is one SerDes lane (TX + RX pair); an NVLink3 link has 4
# signal pairs per direction at 50 Gb/s (NVIDIA A100 whitepaper), an NVLink4 link 2 at 100 Gb/s
# (PAM4) — 4 and 2 TX + RX lanes.
LINK_UNIT_EDGE_MM: dict[LinkType, float] = {
    LinkType.PCIE4: SERDES_LANE_EDGE_MM,
    LinkType.PCIE5: SERDES_LANE_EDGE_MM,
    LinkType.NVLINK3: 4 * SERDES_LANE_EDGE_MM,
    LinkType.NVLINK4: 2 * SERDES_LANE_EDGE_MM,
    # ICI: 45 GB/s = 360 Gb/s each way needs 4 lanes of a 100 Gb/s-class SerDes (ASSUMPTION).
    LinkType.ICI: 4 * SERDES_LANE_EDGE_MM,
}

# Clock ceiling at 7 nm: the fastest TSMC N7 GPU ships at 2,581 MHz boost (AMD Radeon RX 6700 XT,
# Navi 22); ASSUMPTION: an accelerator core closes timing at ≤ 2,500 MHz (docs/model.md).
FREQ_CEILING_MHZ_7NM = 2500.0

# Cost (DESIGN §4): 7 nm wafer price, 300 mm wafer, negative-binomial yield.
WAFER_USD_7NM = 9346.0
WAFER_DIAMETER_MM = 300.0
DEFECT_DENSITY_PER_MM2 = 0.0015
YIELD_CLUSTERING_ALPHA = 3.0
PACKAGE_ASSEMBLY_USD = 21.0
# Scale-out NIC, one per device when a replica spans several scale-up domains (a separate
# adapter card, as in DGX/HGX nodes: no die area). Per GB/s of bidirectional aggregate
# bandwidth (`scale_out_gbps`). ASSUMPTIONS (docs/model.md): a 400 Gb/s single-port
# adapter (ConnectX-7 class, 100 GB/s aggregate) draws ≈ 25 W at full load (adapter
# datasheets list ≈ 20–25 W) and sells for ≈ $2,000 (street prices of 2024–2026).
NIC_W_PER_GBPS = 25.0 / 100.0
NIC_USD_PER_GBPS = 2000.0 / 100.0
MEMORY_USD_PER_GB: dict[DramType, float] = {
    DramType.HBM2E: 7.0,  # DESIGN §4: HBM ≈ $7/GB
    DramType.HBM3: 8.5,  # ASSUMPTION: +20 % generational premium over HBM2e (docs/model.md)
    DramType.HBM3E: 10.0,  # ASSUMPTION: a further ≈ +20 % over HBM3 (docs/model.md)
    DramType.DDR5: 3.0,  # assumption (user setting; docs/model.md)
    DramType.DDR5_CXL: 3.0,  # assumption (user setting; docs/model.md)
}

# --- Energy and power (hardware/power.py, perf/energy.py; docs/model.md "Power and energy") ---
# Op energies come from Horowitz, "Computing's energy problem", ISSCC 2014 (45 nm, 0.9 V), scaled
# to 7 nm with the Stillmaker & Baas (Integration 2017) energy polynomials
# E_node(V) = a·V² + b·V + c: 45 nm (1.103, −0.362, 0.2767), 7 nm (0.1776, −0.09097, 0.02447).
HOROWITZ_VDD = 0.9
STILLMAKER_45NM = (1.103, -0.362, 0.2767)
STILLMAKER_7NM = (0.1776, -0.09097, 0.02447)
# Voltage–frequency: ASSUMPTION (docs/model.md) — TSMC N7 nominal core voltage 0.75 V up to the
# A100's 1,410 MHz boost clock, rising linearly to 1.2 V at the 2,581 MHz of the fastest N7 GPU
# (RX 6700 XT; its published maximum core voltage is 1.2 V). Below the nominal point V stays.
V_NOMINAL = 0.75
F_NOMINAL_MHZ = 1410.0
V_HIGH = 1.2
F_HIGH_MHZ = 2581.0


def stillmaker_energy(coeffs: tuple[float, float, float], vdd: float) -> float:
    a, b, c_ = coeffs
    return a * vdd * vdd + b * vdd + c_


# 45 nm → 7 nm at V_NOMINAL (≈ 1/15).
SCALE_45_TO_7 = stillmaker_energy(STILLMAKER_7NM, V_NOMINAL) / stillmaker_energy(
    STILLMAKER_45NM, HOROWITZ_VDD
)
PJ = 1e-12
# Horowitz 45 nm op energies (pJ).
H45_FP16_MULT_PJ = 1.1
H45_FP16_ADD_PJ = 0.4
H45_FP32_MULT_PJ = 3.7
H45_FP32_ADD_PJ = 0.9
H45_INT8_MULT_PJ = 0.2
H45_INT32_ADD_PJ = 0.1
H45_SRAM_8KB_64BIT_PJ = 10.0  # 64-bit read of an 8 KB SRAM (32 KB: 20 pJ, 1 MB: 100 pJ)
H45_INSTRUCTION_PJ = 70.0  # one instruction's fetch/decode/control overhead on a RISC core
# MAC energy by precision at 7 nm, V_NOMINAL (J): multiply + FP32 accumulate. FP8: ASSUMPTION —
# an FP8 multiplier (4-bit significand) costs at most an INT8 multiplier.
MAC_J: dict[str, float] = {
    "fp16": (H45_FP16_MULT_PJ + H45_FP32_ADD_PJ) * SCALE_45_TO_7 * PJ,
    "fp8": (H45_INT8_MULT_PJ + H45_FP32_ADD_PJ) * SCALE_45_TO_7 * PJ,
    "int8": (H45_INT8_MULT_PJ + H45_INT32_ADD_PJ) * SCALE_45_TO_7 * PJ,
}
# MAC energy of the 4-bit formats (same ASSUMPTION style): int4 multiplier ≈ (4/8)² of the int8
# one (array-multiplier energy ∝ bits²) + int32 accumulate; fp4 (E2M1, 2-bit significand) costs
# at most an int4 multiplier + FP32 accumulate.
MAC_J["int4"] = (H45_INT8_MULT_PJ / 4 + H45_INT32_ADD_PJ) * SCALE_45_TO_7 * PJ
MAC_J["fp4"] = (H45_INT8_MULT_PJ / 4 + H45_FP32_ADD_PJ) * SCALE_45_TO_7 * PJ

# Area of one MAC per format as a fraction of the fp16 MAC (fp16 multiplier + fp32 adder), for
# array PEs that pack r native narrow-format MACs (ArchConfig.<fmt>_macs_per_fp16_mac ≥ 2).
# Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm areas (µm²): 8-bit int multiplier
# 282, 32-bit int adder 137, fp16 multiplier 1640, fp32 adder 4184. int4: the int8 multiplier
# scaled by (4/8)² (array-multiplier area ∝ bits²; ASSUMPTION) + the same int32 accumulator.
# fp8 / fp4: van Baalen et al., "FP8 versus INT8 for efficient deep learning inference" (2023):
# FP formats cost 50–180 % more than INT ones of the same width in dedicated hardware; the low
# end (×1.5) is used for fp8 vs int8 and, as an ASSUMPTION, for fp4 vs int4.
H45_INT8_MULT_UM2 = 282.0
H45_INT32_ADD_UM2 = 137.0
H45_FP16_MULT_UM2 = 1640.0
H45_FP32_ADD_UM2 = 4184.0
FP_OVER_INT_MAC_AREA = 1.5
_FP16_MAC_UM2 = H45_FP16_MULT_UM2 + H45_FP32_ADD_UM2
_INT8_MAC_VS_FP16 = (H45_INT8_MULT_UM2 + H45_INT32_ADD_UM2) / _FP16_MAC_UM2  # 0.072
_INT4_MAC_VS_FP16 = (H45_INT8_MULT_UM2 / 4 + H45_INT32_ADD_UM2) / _FP16_MAC_UM2  # 0.036
MAC_AREA_VS_FP16: dict[str, float] = {
    "fp16": 1.0,
    "int8": _INT8_MAC_VS_FP16,
    "fp8": FP_OVER_INT_MAC_AREA * _INT8_MAC_VS_FP16,
    "int4": _INT4_MAC_VS_FP16,
    "fp4": FP_OVER_INT_MAC_AREA * _INT4_MAC_VS_FP16,
}

# One FP32 FMA on a vector lane plus its three 4-byte register-file operand accesses (RF as an
# 8 KB-class SRAM).
VECTOR_LANE_OP_J = (
    (H45_FP32_MULT_PJ + H45_FP32_ADD_PJ + 3 * 4 * H45_SRAM_8KB_64BIT_PJ / 8) * SCALE_45_TO_7 * PJ
)
# Control: one instruction issue per 32-lane sublane per cycle (at least one per core).
CONTROL_ISSUE_J = H45_INSTRUCTION_PJ * SCALE_45_TO_7 * PJ
# SRAM energy per byte: Horowitz's 8 KB / 32 KB / 1 MB points follow √size (10, 20, 100 pJ per
# 64 bits); an access touches one bank, so size is capped at SRAM_BANK_KIB.
SRAM_REF_KIB = 8.0
SRAM_REF_J_PER_BYTE = H45_SRAM_8KB_64BIT_PJ / 8 * SCALE_45_TO_7 * PJ
# On-chip wires: Keckler et al., "GPUs and the future of parallel computing" (IEEE Micro 2011),
# 40 nm: 256 bits over 20 mm ≈ 1 nJ → 0.195 pJ/bit/mm at 0.9 V; wire capacitance per mm barely
# scales, so only V² is applied (→ 7 nm at V_NOMINAL).
WIRE_J_PER_BIT_MM = 1000.0 / 256 / 20 * (V_NOMINAL / HOROWITZ_VDD) ** 2 * PJ
# Router traversal per bit per hop: one write and one read of an 8 KB-class input buffer
# (ORION 2.0 counts buffer, crossbar and arbiter energy; the buffer dominates).
ROUTER_J_PER_BIT = 2 * SRAM_REF_J_PER_BYTE / 8

# Off-chip energy per bit (device + PHY), voltage-independent of the core clock.
# HBM2/HBM2e: 3.9 pJ/bit (O'Connor et al., "Fine-grained DRAM", MICRO 2017: HBM2 ≈ 3.9 pJ/bit).
# HBM3/HBM3e: ASSUMPTION — HBM2e scaled by the core-supply ratio² (JEDEC: VDD 1.2 V → 1.1 V).
# DDR5: ASSUMPTION 15 pJ/bit (DIMM-class DRAM incl. PHY, order of the DDR4 figures in the same
# paper). ddr5-cxl: DDR5 plus one PCIe5 SerDes crossing.
DRAM_J_PER_BIT: dict[DramType, float] = {
    DramType.HBM2E: 3.9 * PJ,
    DramType.HBM3: 3.9 * (1.1 / 1.2) ** 2 * PJ,
    DramType.HBM3E: 3.9 * (1.1 / 1.2) ** 2 * PJ,
    DramType.DDR5: 15.0 * PJ,
    DramType.DDR5_CXL: (15.0 + 5.0) * PJ,
}
# Device links, energy per bit moved (both ends). ASSUMPTIONS (docs/model.md): long-reach
# PCIe-class SerDes ≈ 5 pJ/bit at 7 nm; NVLink's board-level SerDes ≈ 2.5 pJ/bit (shorter
# reach). NVIDIA quotes 1.3 pJ/bit for the in-package NVLink-C2C, a lower bound.
LINK_J_PER_BIT: dict[LinkType, float] = {
    LinkType.PCIE4: 5.0 * PJ,
    LinkType.PCIE5: 5.0 * PJ,
    LinkType.NVLINK3: 2.5 * PJ,
    LinkType.NVLINK4: 2.5 * PJ,
    LinkType.ICI: 2.5 * PJ,  # ASSUMPTION: board/cable-level SerDes like NVLink's
}
# Leakage per mm² of die at V_NOMINAL, scaling ∝ V. ASSUMPTION (no published per-mm² figure for
# N7 HPC libraries found): 0.05 W/mm².
LEAKAGE_W_PER_MM2 = 0.05
# GPU-only presets (no template): average power = TDP · (idle + (1 − idle) · activity), activity
# = the busiest unit's utilisation. ASSUMPTION: idle ≈ 15 % of TDP (A100 SXM idles ≈ 50–60 W).
GPU_IDLE_TDP_FRACTION = 0.15
