"""Result types of the performance stage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# Unit names of the HDA template in `StepTime.busy_s` (GPUs use tensor, dram, p2p, overhead).
UNITS = ("systolic", "mac_tree", "vector", "dram", "noc", "p2p")


@dataclass(frozen=True, slots=True)
class StepTime:
    """Latency of one serving step on one device of a TP group.

    `seconds` is the wall-clock step time. `busy_s` maps a unit name (systolic, mac_tree,
    vector, dram, noc, p2p; GPUs use tensor, dram, p2p, overhead) to the seconds that unit was
    busy during the step, so utilisation = busy / seconds. `bound` names the resource that set
    the step time. `dram_bytes` and `flops` are per device.

    Activity counters for the energy model (per device, per step; 0 when a model does not
    track them): `sram_bytes` read + written in on-chip SRAM, `noc_bytes` moved over the
    on-chip network, `p2p_bytes` sent over device-to-device links. `energy_j` is the step's
    energy on one device (dynamic + leakage), filled in by the energy model (0 = not modelled).
    """

    seconds: float
    bound: str
    busy_s: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    dram_bytes: float = 0.0
    flops: float = 0.0
    sram_bytes: float = 0.0
    noc_bytes: float = 0.0
    p2p_bytes: float = 0.0
    energy_j: float = 0.0

    def utilisation(self) -> dict[str, float]:
        if self.seconds <= 0:
            return {k: 0.0 for k in self.busy_s}
        return {k: min(1.0, v / self.seconds) for k, v in self.busy_s.items()}


def add_steps(a: StepTime, b: StepTime) -> StepTime:
    """Two steps run one after the other on the same device."""
    busy = dict(a.busy_s)
    for unit, s in b.busy_s.items():
        busy[unit] = busy.get(unit, 0.0) + s
    return StepTime(
        seconds=a.seconds + b.seconds,
        bound=a.bound if a.seconds >= b.seconds else b.bound,
        busy_s=MappingProxyType(busy),
        dram_bytes=a.dram_bytes + b.dram_bytes,
        flops=a.flops + b.flops,
        sram_bytes=a.sram_bytes + b.sram_bytes,
        noc_bytes=a.noc_bytes + b.noc_bytes,
        p2p_bytes=a.p2p_bytes + b.p2p_bytes,
        energy_j=a.energy_j + b.energy_j,
    )


def scale_step(st: StepTime, factor: float) -> StepTime:
    """`st` with its time, busy times and activity counters multiplied by `factor`."""
    return StepTime(
        seconds=st.seconds * factor,
        bound=st.bound,
        busy_s=MappingProxyType({u: s * factor for u, s in st.busy_s.items()}),
        dram_bytes=st.dram_bytes * factor,
        flops=st.flops * factor,
        sram_bytes=st.sram_bytes * factor,
        noc_bytes=st.noc_bytes * factor,
        p2p_bytes=st.p2p_bytes * factor,
        energy_j=st.energy_j * factor,
    )
