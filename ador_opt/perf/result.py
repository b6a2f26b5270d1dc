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
