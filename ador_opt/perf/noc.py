"""Network-on-chip between the cores of one device (ADOR paper §IV-C, §V-C).

`noc_gbps` is the NoC's aggregate delivery bandwidth per device in GB/s (1e9 B/s), with
multicast: a broadcast of B bytes to all cores, or an all-gather in which every core multicasts
its B/P slice, costs B bytes of NoC time (ASSUMPTION: a tree/mesh multicast NoC such as the
paper's "weights broadcast from DRAM to all cores", Fig. 6-(c)).

Overlap rule for pipelined transfers (weight broadcast with double buffering, all-gather of
final-sum outputs): the transfer runs concurrently with the compute it feeds or follows, in
`PIPELINE_CHUNKS` slices. Two stages of c slices, t and o seconds long, take
max(t, o) + min(t, o)/c; what the transfer adds beyond the compute `o` is therefore
max(t, o) − o + min(t, o)/c (one slice of the shorter stage cannot overlap).
"""

from __future__ import annotations

from ador_opt.hardware.arch import ArchConfig

# ASSUMPTION: outputs/weights move in 8 slices per op, so 1/8 of a pipelined transfer is the
# un-overlappable tail. Any value ≥ 1 gives the same steady-state rule.
PIPELINE_CHUNKS = 8


def noc_s(arch: ArchConfig, nbytes: float) -> float:
    """Seconds the NoC needs to deliver `nbytes` (multicast counted once)."""
    if nbytes <= 0:
        return 0.0
    return nbytes / (arch.noc_gbps * 1e9)


def pipelined_exposed_s(
    transfer_s: float, overlap_s: float, chunks: int = PIPELINE_CHUNKS
) -> float:
    """Seconds a transfer of `transfer_s` adds when pipelined with `overlap_s` of compute."""
    if transfer_s <= 0:
        return 0.0
    if overlap_s <= 0:
        return transfer_s
    # max(t, o) − o + min(t, o)/c, written out (hot path; the same floats, NaN and inf alike)
    if transfer_s > overlap_s:
        return transfer_s - overlap_s + overlap_s / chunks
    return overlap_s - overlap_s + transfer_s / chunks
