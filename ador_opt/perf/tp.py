"""Multi-device tensor parallelism (ADOR paper §IV-D, Fig. 7, Fig. 13).

Per-device compute (weights and heads split `tp` ways) comes from `models/ops.py`; this module
adds the synchronisation each layer needs, by `arch.tp_sync`, over `p2p_gbps` (a device's
bidirectional aggregate: half per direction) with ring collectives (collectives.py) and a
per-ring-step latency. X·m below is m tokens × X elements × bytes per activation.

* all-gather (the paper's choice): every GEMM is column-parallel and its *final* outputs are
  all-gathered — attention output (q_size), O output (hidden), MLP activation (ffn·top-k) and
  MLP output (hidden): 4 gathers per layer whose per-device volume (p−1)/p·X stays almost
  constant in p (Fig. 7-(c)). Final sums leave the device tile by tile while the producing op
  still runs, so each gather's bandwidth time is pipelined with its producer
  (noc.pipelined_exposed_s rule); the last slice's p − 1 hop latencies are always exposed.
* all-reduce: every GEMM is row-parallel (K split) and its *partial* sums are ring-all-reduced
  — QKV, O, gate/up and down outputs (4 per layer, 2(p−1)/p·X each: "more data transfer").
* megatron (Shoeybi et al. 2019): column-parallel QKV and gate/up, row-parallel O and down;
  2 ring all-reduces of the hidden state per layer.
  All-reduces are blocking: a partial sum is usable only after every device contributed and
  the next op (norm, residual) needs the reduced value, so they are not overlapped (paper
  §IV-C: all-reduce "requires more data transfer and additional accumulation steps").

`min_p2p_gbps_to_hide` finds, by bisection on `p2p_gbps`, the smallest link bandwidth at which
the step is within HIDE_TOLERANCE of the same step over an infinitely fast link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ador_opt.hardware.arch import ArchConfig, TpSync
from ador_opt.models.ops import BatchComposition
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.collectives import allgather_s, ring_allreduce_s
from ador_opt.perf.noc import pipelined_exposed_s

# ASSUMPTION: ≈ 1 µs per ring step (PCIe/NVLink hop incl. DMA start; NCCL's small-message ring
# latency on 8 NVLink GPUs is ≈ 10–15 µs over 14 steps).
P2P_HOP_LATENCY_S = 1.0e-6
HIDE_TOLERANCE = 0.01  # "hidden" = step time within 1 % of an infinitely fast link
_BISECT_STEPS = 40


@dataclass(frozen=True, slots=True)
class LayerProducers:
    """Per-layer seconds of the ops whose outputs are synchronised."""

    qkv_s: float
    attention_s: float
    o_proj_s: float
    mlp_up_s: float
    mlp_down_s: float


@dataclass(frozen=True, slots=True)
class TpCost:
    """Per-layer seconds: `exposed_s` adds to the step, `busy_s` is the link's busy time."""

    exposed_s: float
    busy_s: float


def tp_sync_cost(
    arch: ArchConfig, model: ModelSpec, tokens: int, tp: int, producers: LayerProducers
) -> TpCost:
    """Synchronisation cost of one layer for `tokens` tokens on a `tp`-way group."""
    if tp <= 1:
        return TpCost(0.0, 0.0)
    bw = arch.p2p_gbps / 2.0  # one direction of the bidirectional aggregate
    ab = model.bytes_per_activation
    h = model.hidden_size
    lat = P2P_HOP_LATENCY_S
    if arch.tp_sync is TpSync.ALL_GATHER:
        act = model.ffn_size * model.experts_per_token
        gathers = (
            (model.q_size, producers.attention_s),
            (h, producers.o_proj_s),
            (act, producers.mlp_up_s),
            (h, producers.mlp_down_s),
        )
        busy = exposed = 0.0
        for width, producer_s in gathers:
            t = allgather_s(tokens * width * ab, tp, bw)
            hops_s = (tp - 1) * lat  # the last slice still crosses p − 1 hops
            busy += t + hops_s
            exposed += pipelined_exposed_s(t, producer_s) + hops_s
        return TpCost(exposed, busy)
    if arch.tp_sync is TpSync.ALL_REDUCE:
        qkv = model.q_size + 2 * model.kv_size
        up = (2 if model.gated_mlp else 1) * model.ffn_size * model.experts_per_token
        widths: tuple[int, ...] = (qkv, h, up, h)
    else:  # Megatron
        widths = (h, h)
    t = sum(ring_allreduce_s(tokens * w * ab, tp, bw, lat) for w in widths)
    return TpCost(t, t)


StepFn = Callable[[ArchConfig], float]


def min_p2p_gbps_to_hide(
    arch: ArchConfig, model: ModelSpec, batch: BatchComposition, tp: int
) -> float:
    """Smallest `p2p_gbps` (bidirectional aggregate per device, GB/s) at which the HDA step
    of `batch` on a `tp`-way group hides its synchronisation (within HIDE_TOLERANCE)."""
    from ador_opt.perf.hda import hda_step_time

    return bisect_bandwidth_to_hide(lambda a: hda_step_time(a, model, batch, tp).seconds, arch)


def bisect_bandwidth_to_hide(
    step_s: StepFn, arch: ArchConfig, lo_gbps: float = 0.01, hi_gbps: float = 1e6
) -> float:
    """Smallest `p2p_gbps` at which `step_s(arch')` is within HIDE_TOLERANCE of the step over
    an infinitely fast link (bisection in log space; `hi_gbps` when even that is not enough,
    `lo_gbps` when the link never matters)."""
    target = step_s(arch.replace(p2p_gbps=1e12)) * (1.0 + HIDE_TOLERANCE)
    if step_s(arch.replace(p2p_gbps=hi_gbps)) > target:
        return hi_gbps
    if step_s(arch.replace(p2p_gbps=lo_gbps)) <= target:
        return lo_gbps
    lo, hi = lo_gbps, hi_gbps
    for _ in range(_BISECT_STEPS):
        mid = (lo * hi) ** 0.5
        if step_s(arch.replace(p2p_gbps=mid)) <= target:
            hi = mid
        else:
            lo = mid
    return hi
