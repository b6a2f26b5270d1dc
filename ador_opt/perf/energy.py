"""Energy of one serving step from its activity counters (docs/model.md "Power and energy").

HDA templates, per device:

    E = flops/2 · e_MAC(precision)                      arrays and MAC trees
      + busy_vector · cores · lanes · f · e_lane          vector unit
      + seconds · cores · issues · f · e_issue            control (sequencers run every cycle)
      + sram_bytes · e_local                              local SRAM
      + noc_bytes · (e_NoC + e_global)                    NoC and the global SRAM it serves
      + dram_bytes · e_DRAM + p2p_bytes · e_link          off-die
      + seconds · P_leak

with the energies of `hardware.power.energy_table` (at the design's clock and voltage).
Fallbacks while a timing model leaves a counter at 0: SRAM bytes = every unit's full-rate
local-SRAM traffic over its busy time; NoC bytes = NoC busy seconds · noc_gbps; link bytes =
link busy seconds · p2p_gbps / 2 (one direction). Counters a model fills take precedence.
Expert parallelism's all-to-all dispatch and combine (perf/parallel.py) add their bytes to
`p2p_bytes` and `link_energy_j` of them to the step's energy: the same e_link per byte as the
TP collectives, wherever the bytes travel (the scale-out NIC's power is a per-device adapter
figure in hardware/power.py, not a per-byte energy).

GPU presets (`Hardware.gpu` set, including `a100`, whose performance is the GPU model): the
datasheet TDP times activity, E = TDP · seconds · (idle + (1 − idle) · u), u = the busiest
unit's utilisation in the step (GPU_IDLE_TDP_FRACTION in hardware/constants.py).
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable

from ador_opt.hardware import constants as c
from ador_opt.hardware.arch import ArchConfig
from ador_opt.hardware.gpu import GpuSpec
from ador_opt.hardware.power import energy_table
from ador_opt.perf.result import StepTime

# Components of `step_energy_breakdown`, in the order `_energy_terms` returns them.
ENERGY_COMPONENTS = (
    "mac_j",
    "vector_j",
    "control_j",
    "local_sram_j",
    "global_sram_j",
    "noc_j",
    "dram_j",
    "p2p_j",
    "leakage_j",
)


def _energy_terms(arch: ArchConfig, st: StepTime, precision: str) -> tuple[float, ...]:
    """Joules of one step by component, in ENERGY_COMPONENTS order (module docstring)."""
    e = energy_table(arch)
    f = arch.freq_hz
    cores = arch.core_count
    busy = st.busy_s
    vector_busy = busy.get("vector", 0.0)
    sram_bytes = st.sram_bytes
    if sram_bytes <= 0:
        sram_bytes = (
            busy.get("systolic", 0.0) * arch.sa_per_core * (arch.sa_rows + arch.sa_cols) * 2
            + busy.get("mac_tree", 0.0) * (arch.mt_width + arch.mt_lanes) * 2
            + vector_busy * arch.vector_width * 4
        ) * (cores * f)
    noc_bytes = st.noc_bytes if st.noc_bytes > 0 else busy.get("noc", 0.0) * arch.noc_gbps * 1e9
    p2p_bytes = (
        st.p2p_bytes if st.p2p_bytes > 0 else busy.get("p2p", 0.0) * arch.p2p_gbps / 2 * 1e9
    )
    return (
        st.flops / 2 * e.mac_j[precision],
        vector_busy * cores * arch.vector_width * f * e.vector_lane_op_j,
        st.seconds * cores * e.issues_per_cycle * f * e.control_issue_j,
        sram_bytes * e.local_sram_j_per_byte,
        noc_bytes * e.global_sram_j_per_byte,
        noc_bytes * e.noc_j_per_byte,
        st.dram_bytes * e.dram_j_per_byte,
        p2p_bytes * e.p2p_j_per_byte,
        st.seconds * e.leakage_w,
    )


def step_energy_breakdown(arch: ArchConfig, st: StepTime, precision: str) -> dict[str, float]:
    """Joules of one step on one device of `arch`, by component (see the module docstring)."""
    return dict(zip(ENERGY_COMPONENTS, _energy_terms(arch, st, precision), strict=True))


def hda_step_energy_j(arch: ArchConfig, st: StepTime, precision: str) -> float:
    # The components summed in ENERGY_COMPONENTS order (as the breakdown's values).
    return sum(_energy_terms(arch, st, precision))


def link_energy_j(arch: ArchConfig, link_bytes: float) -> float:
    """Joules of moving `link_bytes` over the device links of `arch` (e_link per byte, both
    ends: hardware/constants.py LINK_J_PER_BIT)."""
    return link_bytes * energy_table(arch).p2p_j_per_byte


def gpu_step_energy_j(gpu: GpuSpec, st: StepTime) -> float:
    """Datasheet TDP × activity (module docstring)."""
    util = st.utilisation()
    activity = max(util.values(), default=0.0)
    idle = c.GPU_IDLE_TDP_FRACTION
    return gpu.tdp_w * st.seconds * (idle + (1.0 - idle) * activity)


# Every StepTime field but `energy_j`, in declaration order (with_energy's fast copy).
_OTHER_FIELDS = operator.attrgetter(
    *(f.name for f in dataclasses.fields(StepTime) if f.name != "energy_j")
)
_new_step_time: Callable[..., StepTime] = StepTime


def with_energy(st: StepTime, energy_j: float) -> StepTime:
    """`st` with `energy_j` set (a positional copy: `dataclasses.replace` costs twice as much
    on this hot path; a field added after `energy_j` makes it fail loudly, not silently)."""
    return _new_step_time(*_OTHER_FIELDS(st), energy_j=energy_j)
