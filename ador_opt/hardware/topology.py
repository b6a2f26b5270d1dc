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
