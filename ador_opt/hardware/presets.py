"""Hardware presets: the ADOR paper's design table (§VI) and GPU datasheets.

`Hardware` pairs an HDA `ArchConfig` (for area, and for performance when `gpu` is None) with an
optional `GpuSpec` whose calibrated GPU model gives the performance. The `a100` preset has both:
its area is the LLMCompass GA100 template, its performance the calibrated A100 model — a real
A100 does not behave like an ideal systolic template (paper §III: < 60 % of HBM bandwidth in
decode).
"""

from __future__ import annotations

from dataclasses import dataclass

from ador_opt.hardware import constants as c
from ador_opt.hardware.arch import ArchConfig, DramType, LinkType, TpSync
from ador_opt.hardware.gpu import GpuSpec
from ador_opt.hardware.topology import TPU_V5E_8, ring_p2p_gbps
from ador_opt.registry import Registry

# NoC bandwidth. A100: its L2 fabric, 5,120 B/clk (NVIDIA A100 whitepaper) at 1,410 MHz. The
# LLMCompass designs reuse the A100 core and its crossbar port (40 B/clk per core, the area
# model's reference width), so their NoC is 40 B/clk × cores × clock. ADOR's is not published:
# 4096 GB/s is an assumption (docs/model.md); the router area prices it.
_A100_NOC_GBPS = c.A100_L2_BYTES_PER_CLK * 1410e6 / 1e9  # 7,219.2 GB/s
_LLMCOMPASS_NOC_GBPS = c.NOC_REF_PORT_BYTES_PER_CYCLE * 64 * 1500e6 / 1e9  # 3,840 GB/s
_DEFAULT_NOC_GBPS = 4096.0


@dataclass(frozen=True, slots=True)
class Hardware:
    """A named target: an HDA template point, a GPU, or both (area from one, speed from other)."""

    name: str
    arch: ArchConfig | None
    gpu: GpuSpec | None

    @property
    def is_gpu(self) -> bool:
        return self.gpu is not None


GPU_SPECS: dict[str, GpuSpec] = {
    # NVIDIA A100 datasheet (SXM4 80GB): 312 TFLOPS dense FP16, 624 TOPS dense INT8, 1248 TOPS
    # dense INT4, no FP8; 2039 GB/s, NVLink3 600 GB/s; GA100 die 826 mm² (TSMC N7). 1410 MHz.
    "a100-sxm-80gb": GpuSpec(
        name="a100-sxm-80gb",
        sm_count=108,
        freq_mhz=1410.0,
        fp16_tflops=312.0,
        fp8_tflops=0.0,
        hbm_gbps=2039.0,
        hbm_gib=80.0,
        l2_mib=40.0,
        nvlink_gbps=600.0,
        die_area_mm2=826.0,
        process_nm=7,
        tdp_w=400.0,
        int8_tops=624.0,
        int4_tops=1248.0,
        link_type=LinkType.NVLINK3,
    ),
    # NVIDIA H100 SXM5 datasheet: 989 TFLOPS dense FP16/BF16, 1979 dense FP8 and INT8, 3350 GB/s,
    # NVLink4 900 GB/s; GH100 die 814 mm² (TSMC 4N); 1830 MHz boost (tensor).
    "h100-sxm-80gb": GpuSpec(
        name="h100-sxm-80gb",
        sm_count=132,
        freq_mhz=1830.0,
        fp16_tflops=989.0,
        fp8_tflops=1979.0,
        hbm_gbps=3350.0,
        hbm_gib=80.0,
        l2_mib=50.0,
        nvlink_gbps=900.0,
        die_area_mm2=814.0,
        process_nm=4,
        tdp_w=700.0,
        int8_tops=1979.0,
    ),
    # NVIDIA H200 SXM datasheet: H100 compute (INT8 1979 TOPS dense), 4800 GB/s, 141 GB HBM3e
    # (≈ 140.4 GiB usable as reported by nvidia-smi: 143771 MiB).
    "h200-sxm-141gb": GpuSpec(
        name="h200-sxm-141gb",
        sm_count=132,
        freq_mhz=1830.0,
        fp16_tflops=989.0,
        fp8_tflops=1979.0,
        hbm_gbps=4800.0,
        hbm_gib=140.4,
        l2_mib=50.0,
        nvlink_gbps=900.0,
        die_area_mm2=814.0,
        process_nm=4,
        tdp_w=700.0,
        int8_tops=1979.0,
    ),
}

# LLMCompass GA100 template: 128 physical SMs (108 enabled), 4 sublanes of 16×16 arrays per SM,
# 192 KB L1 per SM, 48 MB global (LLMCompass), 6 HBM2e PHYs (5 populated), 12 NVLink3 links.
A100_TEMPLATE = ArchConfig(
    name="a100",
    freq_mhz=1410.0,
    core_count=108,
    sa_rows=16,
    sa_cols=16,
    sa_per_core=4,
    mt_width=0,
    mt_lanes=0,
    vector_width=128,
    local_sram_kib=192.0,
    global_sram_mib=48.0,
    noc_gbps=_A100_NOC_GBPS,
    dram_type=DramType.HBM2E,
    dram_gib=80.0,
    dram_gbps=2039.0,
    p2p_type=LinkType.NVLINK3,
    p2p_gbps=600.0,
    physical_core_count=128,
    dram_phy_count=6,
)

# LLMCompass latency-oriented design: 64 A100-like cores, 24 MB global, A100 I/O.
LLMCOMPASS_L = A100_TEMPLATE.replace(
    name="llmcompass-l",
    freq_mhz=1500.0,
    core_count=64,
    physical_core_count=0,
    global_sram_mib=24.0,
    noc_gbps=_LLMCOMPASS_NOC_GBPS,
    dram_gbps=2000.0,
)

# LLMCompass throughput-oriented design: 32×32 arrays, 768 KB local, 48 MB global, 512 GB of
# DDR5 behind 256 PCIe5-class lanes (1.024 TB/s), 12 NVLink3 links.
LLMCOMPASS_T = A100_TEMPLATE.replace(
    name="llmcompass-t",
    freq_mhz=1500.0,
    core_count=64,
    physical_core_count=0,
    sa_rows=32,
    sa_cols=32,
    local_sram_kib=768.0,
    global_sram_mib=48.0,
    noc_gbps=_LLMCOMPASS_NOC_GBPS,
    dram_type=DramType.DDR5_CXL,
    dram_gib=512.0,
    dram_gbps=1024.0,
    dram_phy_count=0,
)

# ADOR paper design (§VI table and §VI-A text): 32 cores at 1500 MHz, one 64×64 weight-
# stationary array and a 16-input × 16-lane MAC tree per core (the table's "lane count 1" is the
# number of systolic sublanes; the text's 16 lanes are the MAC tree's — 417.8 TFLOPS needs
# 32·(64·64 + 16·16) MACs), 2048 KB local, 16 MB global, 80 GB HBM2e at 2 TB/s, 64 GB/s P2P.
# Area reading: the paper added only the MAC tree to the LLMCompass template, so the core keeps
# the A100-class 128-lane vector/control block and the die keeps the template's I/O (6 HBM2e
# PHYs, 12 NVLink3 link PHYs) while performance uses the 64 GB/s P2P bandwidth. docs/model.md.
ADOR_PAPER = ArchConfig(
    name="ador-paper",
    freq_mhz=1500.0,
    core_count=32,
    sa_rows=64,
    sa_cols=64,
    sa_per_core=1,
    mt_width=16,
    mt_lanes=16,
    vector_width=128,
    local_sram_kib=2048.0,
    global_sram_mib=16.0,
    noc_gbps=_DEFAULT_NOC_GBPS,
    dram_type=DramType.HBM2E,
    dram_gib=80.0,
    dram_gbps=2000.0,
    p2p_type=LinkType.NVLINK3,
    p2p_gbps=64.0,
    dram_phy_count=6,
    p2p_link_count=12,
)

# --- Google TPU v5e as an instance of the HDA template (issue 12; docs/validation-tpu.md) -------
# Facts: Google Cloud TPU v5e documentation (197 TFLOPS bf16, 394 TOPS int8, 16 GB HBM2 at
# 819 GB/s, 1,600 Gbps ICI per chip) and "How to Scale Your Model" (TPU chapter: one
# TensorCore with four 128×128 MXUs, a VPU of 8 sublanes × 128 lanes, 128 MiB of VMEM, four ICI
# links of ≈ 45 GB/s each way in a 2D grid, 8 chips per host). Template reading:
# * clock: 197 TFLOPS = 4 · 128 · 128 · 2 · f  ⇒  f = 1503 MHz (the book: "about 1.5 GHz");
# * int8 at twice the bf16 MAC rate (394 / 197), `int8_macs_per_fp16_mac` = 2;
# * in-array weight double buffering: the MXU holds one weight tile plus one for double
#   buffering to hide the shift-in (TPU v1 paper, Jouppi et al., ISCA 2017; assumed kept);
# * no MAC tree (weight-stationary MXUs only); vector unit = the VPU's 8 × 128 lanes;
# * on-chip SRAM: VMEM as the core's local SRAM (128 MiB per the book; an MLPerf system
#   description says 48 MiB — uncertain, docs/validation-tpu.md). v5e has no shared CMEM; the
#   template needs a positive global SRAM, so 1 MiB stands in (ASSUMPTION, immaterial);
# * HBM2e: 2 stacks at 3.2 Gb/s/pin = 819 GB/s, 16 GiB;
# * ICI: 4 links (area); `p2p_gbps` is what a TP ring over the 8-chip 2×4 host drives per chip
#   (2 neighbour links × 2 directions × 45 GB/s, hardware/topology.py); Megatron TP sync, the
#   sharding JetStream-PyTorch uses (column-parallel QKV/up, row-parallel O/down);
# * NoC: one core, so the template's NoC is the VMEM → MXU operand fabric (unpublished).
#   ASSUMPTION: sized to multicast one bf16 row of 128 elements per cycle to the four MXUs,
#   twice over for outputs and prefetch: 2 · 128 · 2 B = 512 B/cycle at 1503 MHz = 770 GB/s
#   (the router area model prices it; performance is insensitive: validation-tpu.md);
# * area and cost are the 7 nm template's estimate — v5e's node and die size are unpublished.
_TPU_V5E_MXU = 128
_TPU_V5E_MXUS = 4
_TPU_V5E_BF16_TFLOPS = 197.0
_TPU_V5E_FREQ_MHZ = _TPU_V5E_BF16_TFLOPS * 1e6 / (2 * _TPU_V5E_MXUS * _TPU_V5E_MXU**2)
_TPU_V5E_NOC_BYTES_PER_CYCLE = 2 * _TPU_V5E_MXU * 2
TPU_V5E = ArchConfig(
    name="tpu-v5e",
    freq_mhz=_TPU_V5E_FREQ_MHZ,
    core_count=1,
    sa_rows=_TPU_V5E_MXU,
    sa_cols=_TPU_V5E_MXU,
    sa_per_core=_TPU_V5E_MXUS,
    sa_weight_double_buffer=True,
    mt_width=0,
    mt_lanes=0,
    vector_width=8 * 128,
    local_sram_kib=128 * 1024.0,
    global_sram_mib=1.0,
    noc_gbps=_TPU_V5E_NOC_BYTES_PER_CYCLE * _TPU_V5E_FREQ_MHZ / 1e3,
    dram_type=DramType.HBM2E,
    dram_gib=16.0,
    dram_gbps=819.0,
    p2p_type=LinkType.ICI,
    p2p_gbps=ring_p2p_gbps(TPU_V5E_8, TPU_V5E_8.chips),
    tp_sync=TpSync.MEGATRON,
    int8_macs_per_fp16_mac=2,
    dram_phy_count=2,
    p2p_link_count=TPU_V5E_8.links_per_chip,
)

HARDWARE_PRESETS: Registry[Hardware] = Registry(
    "hardware",
    {
        "a100": Hardware("a100", A100_TEMPLATE, GPU_SPECS["a100-sxm-80gb"]),
        "llmcompass-l": Hardware("llmcompass-l", LLMCOMPASS_L, None),
        "llmcompass-t": Hardware("llmcompass-t", LLMCOMPASS_T, None),
        "ador-paper": Hardware("ador-paper", ADOR_PAPER, None),
        "tpu-v5e": Hardware("tpu-v5e", TPU_V5E, None),
        **{name: Hardware(name, None, spec) for name, spec in GPU_SPECS.items()},
    },
)
