"""Chip-to-chip topologies: what a tensor-parallel ring can use of a slice's links.

The HDA template gives every device one `p2p_gbps` figure — the bidirectional aggregate a TP
ring can drive from one device (`perf/tp.py` sends half of it each way). For a mesh or torus
of point-to-point links (TPU ICI) that figure follows from the topology, not from the chip's
total link count: a ring all-reduce embedded in the slice sends to one ring neighbour and
receives from the other, and a bidirectional ring (data split into two halves running in
opposite directions) drives two distinct neighbour links per chip in both directions.

`ring_p2p_gbps` therefore counts the distinct neighbour links a ring over `devices` chips of
the slice uses per chip — 2 when the ring has ≥ 3 chips (a 2×N grid, like v5e-8's 2×4, has a
Hamiltonian cycle, so the ring needs no wraparound links), 1 for two chips — and returns
`links × 2 × link_gbps_one_way`. A 2D reduce-scatter/all-gather over both torus axes could
drive more links; the ring is what `perf/tp.py` models and is conservative (docs/model.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ador_opt.errors import InputError


@dataclass(frozen=True, slots=True)
class IciSlice:
    """A `dims` grid of chips joined by ICI links of `link_gbps_one_way` GB/s each way
    (1 GB = 1e9 B), `links_per_chip` ports per chip, with wraparound links when `torus`."""

    name: str
    dims: tuple[int, ...]
    links_per_chip: int
    link_gbps_one_way: float
    torus: bool

    def __post_init__(self) -> None:
        if not self.dims or any(d < 1 for d in self.dims):
            raise InputError(f"topology {self.name!r}: dimensions must be ≥ 1, got {self.dims}")
        if self.links_per_chip < 1 or not self.link_gbps_one_way > 0:
            raise InputError(f"topology {self.name!r}: needs ≥ 1 link of positive bandwidth")

    @property
    def chips(self) -> int:
        return math.prod(self.dims)


def ring_links_per_chip(devices: int) -> int:
    """Distinct neighbour links one chip drives in a bidirectional ring of `devices` chips."""
    if devices <= 1:
        return 0
    return 1 if devices == 2 else 2


def ring_p2p_gbps(topology: IciSlice, devices: int) -> float:
    """`p2p_gbps` (bidirectional aggregate per chip, GB/s) of a TP ring over `devices` chips of
    `topology`: ring links per chip × both directions × the per-link one-way bandwidth."""
    if not 1 <= devices <= topology.chips:
        raise InputError(
            f"topology {topology.name!r} has {topology.chips} chips; a ring over {devices} "
            "does not fit"
        )
    links = min(ring_links_per_chip(devices), topology.links_per_chip)
    return links * 2 * topology.link_gbps_one_way


# TPU v5e host slice (v5e-8): 8 chips as a 2×4 grid, 4 ICI ports per chip, ≈ 45 GB/s each way
# per link ("How to Scale Your Model", TPU chapter: v5e ICI 4.5e10 B/s one way per link; v5e
# has wraparound links only along axes of 16, so a 2×4 slice is a mesh). Google Cloud's v5e
# page gives 1,600 Gbps of ICI per chip (200 GB/s = 4 × 50 GB/s one way), within 11 %.
TPU_V5E_8 = IciSlice(
    name="tpu-v5e-8", dims=(2, 4), links_per_chip=4, link_gbps_one_way=45.0, torus=False
)


# --- Two-level platforms: a scale-up domain and a scale-out network (issue 17) -------------
#
# GenZ (Bambhaniya et al., arXiv 2406.01698) describes a platform as nested network levels,
# each with its own size, bandwidth and latency, and maps the parallel dimensions onto them
# innermost first (its `parallelism_heirarchy`, "TP{..}_EP{..}_PP{..}"). ador_opt uses two
# levels: a scale-up domain of `domain_devices` devices joined by the device links (NVLink +
# NVSwitch on GPUs; the HDA template's `p2p_type`/`p2p_gbps` ring) and a scale-out network
# (InfiniBand / Ethernet NICs, one per device) between domains. Ranks are laid out TP fastest,
# then EP, then PP (`group_span`), as Megatron-LM and vLLM number them, so TP stays inside a
# domain whenever it fits. A collective whose group spans domains runs hierarchically and
# its cross-domain part goes over the slower scale-out level (perf/parallel.py).


@dataclass(frozen=True, slots=True)
class ScaleOut:
    """The scale-out network of one device: `gbps_one_way` GB/s each way through its NIC
    (1 GB = 1e9 B), `latency_s` per message (NIC + switch hops + software), `domain_devices`
    devices per scale-up domain (0: every device of the system is in one domain)."""

    name: str
    gbps_one_way: float
    latency_s: float
    domain_devices: int

    def __post_init__(self) -> None:
        if not self.gbps_one_way > 0 or not math.isfinite(self.gbps_one_way):
            raise InputError(f"scale-out {self.name!r}: bandwidth must be a positive number")
        if not self.latency_s >= 0 or not math.isfinite(self.latency_s):
            raise InputError(f"scale-out {self.name!r}: latency must be ≥ 0 s")
        if self.domain_devices < 0:
            raise InputError(f"scale-out {self.name!r}: domain_devices must be ≥ 0")


# Scale-out per-message latency when a design does not give one: ASSUMPTION 5 µs — an
# InfiniBand RDMA write is ≈ 1–2 µs end to end through one switch, NCCL's network transport
# adds its proxy thread and flag handshake on top (NCCL's tuner models a network ring step at
# several µs); docs/model.md.
SCALE_OUT_LATENCY_S = 5.0e-6
# HDA designs' default NIC: one 400 Gb/s port (NDR InfiniBand / 400G Ethernet) = 50 GB/s each
# way, quoted as the bidirectional aggregate like `p2p_gbps`.
DEFAULT_SCALE_OUT_GBPS = 2 * 50.0

# GPU nodes: the NVSwitch domain is the 8-GPU HGX board, and each GPU has one compute-fabric
# NIC. DGX A100: 8 × ConnectX-6 HDR InfiniBand 200 Gb/s (25 GB/s each way per GPU); DGX H100 /
# H200: 8 × ConnectX-7 NDR 400 Gb/s (50 GB/s each way per GPU) — NVIDIA DGX A100 and DGX H100
# user guides / datasheets. Other GPUs get the NDR figure.
GPU_DOMAIN_DEVICES = 8
GPU_SCALE_OUT: dict[str, ScaleOut] = {
    "a100-sxm-80gb": ScaleOut("ib-hdr-200g", 25.0, SCALE_OUT_LATENCY_S, GPU_DOMAIN_DEVICES),
    "h100-sxm-80gb": ScaleOut("ib-ndr-400g", 50.0, SCALE_OUT_LATENCY_S, GPU_DOMAIN_DEVICES),
    "h200-sxm-141gb": ScaleOut("ib-ndr-400g", 50.0, SCALE_OUT_LATENCY_S, GPU_DOMAIN_DEVICES),
}
GPU_SCALE_OUT_DEFAULT = ScaleOut("ib-ndr-400g", 50.0, SCALE_OUT_LATENCY_S, GPU_DOMAIN_DEVICES)


def gpu_scale_out(gpu_name: str) -> ScaleOut:
    """The scale-out network of a GPU preset's node (NDR 400G when not listed)."""
    return GPU_SCALE_OUT.get(gpu_name, GPU_SCALE_OUT_DEFAULT)


def group_span(stride: int, size: int, domain_devices: int) -> tuple[int, int]:
    """(members per domain, domains) of a group of `size` ranks `stride` apart (ranks laid out
    TP fastest: a TP group has stride 1, an EP group stride tp, a PP group stride tp·ep) on
    domains of `domain_devices` consecutive ranks (0: one domain holds everything)."""
    if size <= 1:
        return max(size, 1), 1
    if domain_devices <= 0 or stride * size <= domain_devices:
        return size, 1
    if stride >= domain_devices:
        return 1, size
    per_domain = max(1, domain_devices // stride)
    return per_domain, -(-size // per_domain)
