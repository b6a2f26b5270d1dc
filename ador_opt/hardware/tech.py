"""Memory and link technologies of the hardware template (their per-unit tables are in
`hardware/constants.py`). A module of its own so that `arch.py` and `constants.py` both import
it and not each other (no import cycle)."""

from __future__ import annotations

from enum import StrEnum


class DramType(StrEnum):
    """Off-chip memory technology. Per-unit bandwidth and PHY area in `hardware/area.py`."""

    HBM2E = "hbm2e"
    HBM3 = "hbm3"
    HBM3E = "hbm3e"
    DDR5 = "ddr5"
    DDR5_CXL = "ddr5-cxl"  # DDR5 behind PCIe5-class serial lanes (the LLMCompass-T reading)


class LinkType(StrEnum):
    """Device-to-device link technology."""

    PCIE4 = "pcie4"
    PCIE5 = "pcie5"
    NVLINK3 = "nvlink3"
    NVLINK4 = "nvlink4"
    # Google TPU inter-chip interconnect (v5e: 4 links per chip, ≈ 45 GB/s each way per link;
    # "How to Scale Your Model", TPU chapter). Link PHY area is not published: area.py prices it
    # like an NVLink4 link (a ~100 Gb/s-per-lane SerDes class link), docs/model.md.
    ICI = "ici"
