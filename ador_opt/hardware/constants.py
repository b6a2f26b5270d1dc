"""Area and cost constants of the 7 nm model. One table; every row names its source.

Sources: LLMCompass (Zhang et al., ISCA 2024) area model and its hardware configs, as restated
in DESIGN §4; CACTI array efficiencies as used there; the ADOR paper §VI-A for the MAC-tree
addition. Derived rows say how they are derived. See docs/model.md for the narrative.
"""

from __future__ import annotations

from ador_opt.hardware.arch import DramType, LinkType

LOGIC_DENSITY_MTR_PER_MM2 = 96.3  # TSMC N7 logic density used by LLMCompass
FP16_MAC_TRANSISTORS = 25_344  # LLMCompass: FP16 multiply-accumulate PE
FP16_MAC_MM2 = FP16_MAC_TRANSISTORS / (LOGIC_DENSITY_MTR_PER_MM2 * 1e6)  # = 0.000263 mm²
FP32_FPU_MM2 = 0.001392  # LLMCompass: FP32 FPU per vector lane (used for MAC-tree accumulators)

# Per vector lane, derived from the LLMCompass A100 SM (128 FP32 lanes = 4 sublanes × 32):
CONTROL_MM2_PER_VECTOR_LANE = 0.010345  # LLMCompass: control per lane (1.324 mm² per SM)
VECTOR_ALU_MM2_PER_LANE = 0.435 / 128  # LLMCompass A100 SM vector ALUs 0.435 mm² / 128 lanes
REGISTER_FILE_MM2_PER_LANE = 1.565 / 128  # LLMCompass A100 SM register files 1.565 / 128 lanes
CROSSBAR_MM2_PER_CORE = 0.460  # LLMCompass: per-core crossbar

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

# Off-chip memory: bandwidth per unit (GB/s) and PHY + controller area per unit (mm²).
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

# Device links: bidirectional GB/s per unit (lane or link) and PHY + controller area per unit.
LINK_UNIT_GBPS: dict[LinkType, float] = {
    LinkType.PCIE4: 2 * 16 / 8,  # 16 GT/s per lane per direction
    LinkType.PCIE5: 2 * 32 / 8,  # 32 GT/s per lane per direction
    LinkType.NVLINK3: 50.0,  # A100: 12 links = 600 GB/s
    LinkType.NVLINK4: 50.0,  # H100: 18 links = 900 GB/s
}
LINK_UNIT_AREA_MM2: dict[LinkType, tuple[float, float]] = {  # LLMCompass
    LinkType.PCIE4: (0.48, 0.0411),
    LinkType.PCIE5: (0.64, 0.0558),
    LinkType.NVLINK3: (1.888, 0.775),
    LinkType.NVLINK4: (0.965, 0.900),
}

# Cost (DESIGN §4): 7 nm wafer price, 300 mm wafer, negative-binomial yield.
WAFER_USD_7NM = 9346.0
WAFER_DIAMETER_MM = 300.0
DEFECT_DENSITY_PER_MM2 = 0.0015
YIELD_CLUSTERING_ALPHA = 3.0
PACKAGE_ASSEMBLY_USD = 21.0
MEMORY_USD_PER_GB: dict[DramType, float] = {
    DramType.HBM2E: 7.0,  # DESIGN §4: HBM ≈ $7/GB
    DramType.HBM3: 7.0,
    DramType.HBM3E: 7.0,
    DramType.DDR5: 3.0,  # assumption (user setting; docs/model.md)
    DramType.DDR5_CXL: 3.0,  # assumption (user setting; docs/model.md)
}
