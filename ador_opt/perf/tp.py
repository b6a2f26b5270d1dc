"""Multi-device tensor parallelism (ADOR paper §IV-D, Fig. 7, Fig. 13).

Per-device compute (weights and heads split `tp` ways) comes from `models/ops.py`; this module
adds the synchronisation each layer needs, by `arch.tp_sync`, over `p2p_gbps` (a device's
bidirectional aggregate: half per direction). Every collective goes through the code path the
GPU baselines use (`collectives.collective_time`: NCCL-style algorithm and protocol choice by
payload) with the link parameters of `arch.p2p_type` (`collectives.LINK_PARAMS`: per-hop and
base latency, bandwidth efficiency; NVLink values fitted on measured NCCL all-reduces), so an
HDA-vs-GPU ratio never rests on two latency assumptions. X·m below is m tokens × X elements ×
bytes per activation.

* all-gather (the paper's choice): every GEMM is column-parallel and its *final* outputs are
  all-gathered — attention output (q_size), O output (hidden), MLP activation (ffn·top-k) and
  MLP output (hidden): 4 gathers per layer whose per-device volume (p−1)/p·X stays almost
  constant in p (Fig. 7-(c)). Final sums leave the device tile by tile while the producing op
  still runs, so each gather's bandwidth time is pipelined with its producer
  (noc.pipelined_exposed_s rule); the collective's latency part (base + p − 1 hops) is always
  exposed.
* all-reduce: every GEMM is row-parallel (K split) and its *partial* sums are ring-all-reduced
  — QKV, O, gate/up and down outputs (4 per layer, 2(p−1)/p·X each: "more data transfer").
* megatron (Shoeybi et al. 2019): column-parallel QKV and gate/up, row-parallel O and down;
  2 ring all-reduces of the hidden state per layer.
  All-reduces are blocking: a partial sum is usable only after every device contributed and
  the next op (norm, residual) needs the reduced value, so they are not overlapped (paper
  §IV-C: all-reduce "requires more data transfer and additional accumulation steps").

`hda.min_p2p_gbps_to_hide` (with `bisect_bandwidth_to_hide` here) finds, by bisection on
`p2p_gbps`, the smallest link bandwidth at which the step is within HIDE_TOLERANCE of the
same step over an infinitely fast link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ador_opt.hardware.arch import ArchConfig, TpSync
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.collectives import (
    LINK_PARAMS,
    Collective,
    CollectiveTime,
    LinkParams,
    collective_time,
    device_link,
    hierarchical_collective_time,
)
from ador_opt.perf.noc import pipelined_exposed_s

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


def arch_link(arch: ArchConfig) -> LinkParams:
    """The device link of `arch`: its type's parameters at `p2p_gbps` / 2 per direction."""
    return device_link(arch.p2p_type, arch.p2p_gbps / 2.0)


def scale_out_link(arch: ArchConfig) -> LinkParams:
    """The scale-out NIC of `arch` as collectives see it: `scale_out_gbps` / 2 per direction,
    sustained as given (bw_eff 1, ASSUMPTION: the user quotes achievable NIC bandwidth),
    `scale_out_latency_us` per message as the hop latency, the device link's per-call base
    latency (docs/parallelism.md)."""
    base = LINK_PARAMS[arch.p2p_type].base_latency_s
    lat = arch.scale_out_latency_us * 1e-6
    return LinkParams("scale-out", arch.scale_out_gbps / 2.0, 1.0, lat, base)


def _sync(
    kind: Collective, message_bytes: float, tp: int, arch: ArchConfig, link: LinkParams
) -> CollectiveTime:
    """One TP collective; hierarchical when the group is wider than the scale-up domain."""
    domain = arch.scale_up_devices
    if domain and tp > domain:
        return hierarchical_collective_time(
            kind, message_bytes, tp, link, scale_out_link(arch), domain
        )
    return collective_time(kind, message_bytes, tp, link)


def tp_sync_cost(
    arch: ArchConfig, model: ModelSpec, tokens: int, tp: int, producers: LayerProducers
) -> TpCost:
    """Synchronisation cost of one layer for `tokens` tokens on a `tp`-way group."""
    if tp <= 1:
        return TpCost(0.0, 0.0)
    link = arch_link(arch)
    ab = model.bytes_per_activation
    h = model.hidden_size
    if arch.tp_sync is TpSync.ALL_GATHER:
        act = model.ffn_active_size
        gathers = (
            (model.q_size, producers.attention_s),
            (h, producers.o_proj_s),
            (act, producers.mlp_up_s),
            (h, producers.mlp_down_s),
        )
        busy = exposed = 0.0
        for width, producer_s in gathers:
            ct = _sync(Collective.ALL_GATHER, tokens * width * ab, tp, arch, link)
            busy += ct.seconds
            exposed += pipelined_exposed_s(ct.bandwidth_s, producer_s) + ct.latency_s
        return TpCost(exposed, busy)
    if arch.tp_sync is TpSync.ALL_REDUCE:
        qkv = model.q_size + 2 * model.kv_size
        up = (2 if model.gated_mlp else 1) * model.ffn_active_size
        widths: tuple[int, ...] = (qkv, h, up, h)
    else:  # Megatron
        widths = (h, h)
    t = sum(_sync(Collective.ALL_REDUCE, tokens * w * ab, tp, arch, link).seconds for w in widths)
    return TpCost(t, t)


StepFn = Callable[[ArchConfig], float]


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
