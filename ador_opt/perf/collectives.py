"""Collective times among the devices of a TP group — the one code path for GPUs and HDA devices.

Two levels: the plain α–β ring formulas below (`ring_allreduce_s`, `allgather_s`,
`reduce_scatter_s`), and `collective_time`, which picks algorithm (ring / tree / NVLS) and
protocol (LL / LL128 / Simple) by payload as NCCL does, on a `LinkParams` per link type. GPU
baselines (`perf/gpu.py`) and HDA TP syncs (`perf/tp.py`) both call `collective_time`.

All functions are pure. Units:

* `message_bytes` — bytes of the *full* tensor being synchronised (for an all-reduce, the size
  of the tensor every device holds; for an all-gather, the size of the gathered result; for a
  reduce-scatter, the size of the input every device holds). Bytes, 1 B = 8 bit.
* `devices` — devices in the group (p ≥ 1; p = 1 costs nothing).
* `link_gbps_one_way` — bandwidth each device can *send* (and, simultaneously, receive) per
  direction, in GB/s with 1 GB = 1e9 B. A link quoted as "bidirectional aggregate" X GB/s gives
  X/2 here.
* `latency_s` — per-hop latency (α) in seconds, paid once per ring step.

Formulas (standard ring algorithms; e.g. Thakur, Rabenseifner & Gropp, "Optimization of
Collective Communication Operations in MPICH", IJHPCA 2005; Patarasuk & Yuan, JPDC 2009):

* reduce-scatter: (p−1) steps, each sends bytes/p → (p−1)/p · bytes / bw + (p−1)·α
* all-gather:     (p−1) steps, each sends bytes/p → (p−1)/p · bytes / bw + (p−1)·α
* all-reduce = reduce-scatter + all-gather → 2(p−1)/p · bytes / bw + 2(p−1)·α
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from ador_opt.errors import InputError
from ador_opt.hardware.arch import LinkType

BYTES_PER_GB = 1e9


def _check(message_bytes: float, devices: int, link_gbps_one_way: float, latency_s: float) -> None:
    if message_bytes < 0:
        raise InputError(f"collective message size must be ≥ 0 bytes, got {message_bytes}")
    if devices < 1:
        raise InputError(f"collective needs ≥ 1 device, got {devices}")
    if devices > 1 and not link_gbps_one_way > 0:
        raise InputError(f"link bandwidth must be positive GB/s, got {link_gbps_one_way}")
    if latency_s < 0:
        raise InputError(f"link latency must be ≥ 0 s, got {latency_s}")


def _ring_steps_s(
    steps: int, message_bytes: float, devices: int, link_gbps_one_way: float, latency_s: float
) -> float:
    """`steps` ring steps, each moving message_bytes/devices per device one way."""
    _check(message_bytes, devices, link_gbps_one_way, latency_s)
    if devices == 1:
        return 0.0
    per_step_bytes = message_bytes / devices
    return steps * (per_step_bytes / (link_gbps_one_way * BYTES_PER_GB) + latency_s)


def ring_allreduce_s(
    message_bytes: float, devices: int, link_gbps_one_way: float, latency_s: float = 0.0
) -> float:
    """Seconds for a ring all-reduce of a `message_bytes`-byte tensor over `devices` devices:
    2(p−1)/p · bytes / bw + 2(p−1) · latency."""
    return _ring_steps_s(2 * (devices - 1), message_bytes, devices, link_gbps_one_way, latency_s)


def allgather_s(
    message_bytes: float, devices: int, link_gbps_one_way: float, latency_s: float = 0.0
) -> float:
    """Seconds for a ring all-gather whose gathered result is `message_bytes` bytes (each
    device contributes bytes/p): (p−1)/p · bytes / bw + (p−1) · latency."""
    return _ring_steps_s(devices - 1, message_bytes, devices, link_gbps_one_way, latency_s)


def reduce_scatter_s(
    message_bytes: float, devices: int, link_gbps_one_way: float, latency_s: float = 0.0
) -> float:
    """Seconds for a ring reduce-scatter of a `message_bytes`-byte tensor (each device ends
    with its reduced bytes/p slice): (p−1)/p · bytes / bw + (p−1) · latency."""
    return _ring_steps_s(devices - 1, message_bytes, devices, link_gbps_one_way, latency_s)


# --- One collective code path for GPUs and HDA devices -------------------------------------
#
# NCCL chooses, per call, the (algorithm, protocol) pair its cost model predicts fastest
# (src/graph/tuning.cc, `ncclTopoTuneModel` / `getAlgoInfo`); `collective_time` does the same
# with the α–β model below. The *structure* (which pairs exist, how many latency steps each
# pays, what share of the link bandwidth each protocol carries) is NCCL's; the *link* numbers
# (per-hop latency, per-collective base latency, sustained bandwidth fraction) are per link type
# in `LinkParams`, fitted for NVLink on measured NCCL all-reduces (benchmarks/fit_gpu.py).
#
#   t(algo, proto) = base_latency · BASE_SCALE[algo][proto]
#                  + latency_steps(algo) · hop_latency · HOP_SCALE[algo][proto]
#                  + wire_bytes(algo) / (bandwidth · bw_eff · BW_SCALE[algo][proto])
#
# * ring: 2(p−1) steps for an all-reduce ((p−1) for all-gather / reduce-scatter), wire bytes
#   2(p−1)/p · B (resp. (p−1)/p · B) per device and direction.
# * tree (NCCL's intra-node tree is a chain): the same 2(p−1) latency steps, but up and down
#   the chain carry the full B each: NCCL's tree bandwidth ratio 0.5 → wire bytes 2 · B.
#   All-reduce only.
# * NVLS (NVLink SHARP, NVSwitch gen 3 / H100): every GPU sends its B to the switch, which
#   reduces and multicasts the result: wire bytes B per device and direction, a fixed switch
#   latency, Simple protocol only, all-reduce only; only on links with `nvls = True`.


class Algorithm(StrEnum):
    RING = "ring"
    TREE = "tree"
    NVLS = "nvls"


class Protocol(StrEnum):
    LL = "ll"
    LL128 = "ll128"
    SIMPLE = "simple"


class Collective(StrEnum):
    ALL_REDUCE = "all-reduce"
    ALL_GATHER = "all-gather"
    REDUCE_SCATTER = "reduce-scatter"


# NCCL 2.18 src/graph/tuning.cc, NVLink rows, relative to ring/Simple (the fitted link values
# are ring/Simple ones): per-hop hardware latency hwLat ring {LL .6, LL128 1.9, Simple 3.4} µs,
# tree {.6, 1.25, 28} µs; base latency baseLat ring {6.6, 14.0, 8.4} µs, tree {6.8, 14.0, 0}.
_HOP_SCALE: dict[Algorithm, dict[Protocol, float]] = {
    Algorithm.RING: {Protocol.LL: 0.6 / 3.4, Protocol.LL128: 1.9 / 3.4, Protocol.SIMPLE: 1.0},
    Algorithm.TREE: {
        Protocol.LL: 0.6 / 3.4,
        Protocol.LL128: 1.25 / 3.4,
        Protocol.SIMPLE: 28 / 3.4,
    },
}
_BASE_SCALE: dict[Algorithm, dict[Protocol, float]] = {
    Algorithm.RING: {Protocol.LL: 6.6 / 8.4, Protocol.LL128: 14.0 / 8.4, Protocol.SIMPLE: 1.0},
    Algorithm.TREE: {Protocol.LL: 6.8 / 8.4, Protocol.LL128: 14.0 / 8.4, Protocol.SIMPLE: 0.0},
}
# Share of the Simple-protocol bandwidth each protocol carries (same file, `ncclTopoTuneModel`):
# LL sends 4 B of data per 8 B flag+data line and NCCL rates ring LL all-reduce at 1/4 of the
# bus bandwidth; LL128 carries 120 of 128 B and is rated at 0.92.
_BW_SCALE: dict[Protocol, float] = {Protocol.LL: 0.25, Protocol.LL128: 0.92, Protocol.SIMPLE: 1.0}


@dataclass(frozen=True, slots=True)
class LinkParams:
    """One device-to-device link type as collectives see it.

    `gbps_one_way`: bandwidth each device sends (and receives) per direction, GB/s;
    `bw_eff`: sustained fraction of it (Simple protocol, large payloads);
    `hop_latency_s`: one ring step (ring/Simple; other pairs scale it by NCCL's ratios);
    `base_latency_s`: per collective call (launch, flag set-up; ring/Simple);
    `nvls`: the devices hang off an NVSwitch with in-switch reduction (NVLink SHARP);
    `nvls_latency_s`: its fixed switch round trip."""

    name: str
    gbps_one_way: float
    bw_eff: float
    hop_latency_s: float
    base_latency_s: float
    nvls: bool = False
    nvls_latency_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.gbps_one_way > 0:
            raise InputError(f"link {self.name}: bandwidth must be positive, got "
                             f"{self.gbps_one_way} GB/s")  # fmt: skip
        if not 0 < self.bw_eff <= 1:
            raise InputError(f"link {self.name}: bw_eff must be in (0, 1], got {self.bw_eff}")
        for name in ("hop_latency_s", "base_latency_s", "nvls_latency_s"):
            if getattr(self, name) < 0:
                raise InputError(f"link {self.name}: {name} must be ≥ 0")

    def with_bandwidth(self, gbps_one_way: float) -> LinkParams:
        return replace(self, gbps_one_way=gbps_one_way)


@dataclass(frozen=True, slots=True)
class CollectiveTime:
    """One collective call: total seconds, its latency and bandwidth parts, and the pair
    chosen. `latency_s + bandwidth_s == seconds`."""

    seconds: float
    latency_s: float
    bandwidth_s: float
    algorithm: Algorithm | None
    protocol: Protocol | None


_FREE = CollectiveTime(0.0, 0.0, 0.0, None, None)


def _candidates(kind: Collective, link: LinkParams) -> list[tuple[Algorithm, Protocol]]:
    out = [(Algorithm.RING, p) for p in Protocol]
    if kind is Collective.ALL_REDUCE:
        out += [(Algorithm.TREE, p) for p in Protocol]
        if link.nvls:
            out.append((Algorithm.NVLS, Protocol.SIMPLE))
    return out


def _pair_time(
    kind: Collective,
    algo: Algorithm,
    proto: Protocol,
    message_bytes: float,
    devices: int,
    link: LinkParams,
) -> tuple[float, float]:
    """(latency seconds, bandwidth seconds) of one (algorithm, protocol) pair."""
    bw = link.gbps_one_way * BYTES_PER_GB * link.bw_eff * _BW_SCALE[proto]
    p = devices
    if algo is Algorithm.NVLS:
        return link.nvls_latency_s + link.base_latency_s, message_bytes / bw
    steps = 2 * (p - 1) if kind is Collective.ALL_REDUCE else p - 1
    latency = (
        link.base_latency_s * _BASE_SCALE[algo][proto]
        + steps * link.hop_latency_s * _HOP_SCALE[algo][proto]
    )
    if algo is Algorithm.TREE:
        return latency, 2.0 * message_bytes / bw
    return latency, steps * (message_bytes / p) / bw


def collective_time(
    kind: Collective, message_bytes: float, devices: int, link: LinkParams
) -> CollectiveTime:
    """Time of one collective over `devices` devices on `link`, with the fastest (algorithm,
    protocol) pair, as NCCL's tuner picks it. `message_bytes` as in the ring functions above."""
    _check(message_bytes, devices, link.gbps_one_way, link.hop_latency_s)
    if devices == 1:
        return _FREE
    best = _FREE
    for algo, proto in _candidates(kind, link):
        lat, bwt = _pair_time(kind, algo, proto, message_bytes, devices, link)
        if best.algorithm is None or lat + bwt < best.seconds:
            best = CollectiveTime(lat + bwt, lat, bwt, algo, proto)
    return best


def allreduce_time_s(message_bytes: float, devices: int, link: LinkParams) -> float:
    """Seconds of one all-reduce of `message_bytes` on `link` (best algorithm/protocol)."""
    return collective_time(Collective.ALL_REDUCE, message_bytes, devices, link).seconds


# --- Link parameters per link type (HDA devices; GPUs build theirs in perf/gpu.py) ----------
#
# NVLink 3/4: the values fitted on measured NCCL all-reduces of A100 (NVLink3) and H100
# (NVLink4) DGX nodes (`perf/gpu_params.py`, benchmarks/fit_gpu.py) — the same numbers the GPU
# baselines use (latencies at the generation's GPU clock), so an HDA-vs-GPU ratio rests on one
# latency model. Point-to-point device links
# have no NVSwitch, hence no NVLS.
# PCIe 4/5: per-hop latency = the NVLink4 hop × 5.7 / 3.4, NCCL's ring/Simple hardware latency
# ratio of PCI to NVLink (NCCL 2.18 src/graph/tuning.cc hwLat); base latency as NVLink4 (the
# per-call set-up is the same software/flag handshake); bandwidth efficiency = TLP payload
# share 256 / (256 + 24) B (256-B max payload, 24 B of header, sequence number, LCRC and
# framing per TLP) × 128b/130b line coding (PCIe Base Specification 4.0/5.0) = 0.90.
PCIE_HOP_LATENCY_RATIO = 5.7 / 3.4
PCIE_BW_EFF = 256 / (256 + 24) * 128 / 130
# TPU ICI (issue 12): collectives are scheduled inside the compiled XLA program, so there is no
# per-call launch or flag handshake (base latency 0, ASSUMPTION); ≈ 1 µs per ring hop
# (ASSUMPTION, the project's former generic hop latency; no published v5e figure); the 45 GB/s
# per link of "How to Scale Your Model" taken as sustained (efficiency 1, ASSUMPTION). None of
# these is fitted on GPU rows. docs/validation-tpu.md.
ICI_HOP_LATENCY_S = 1.0e-6
ICI_BASE_LATENCY_S = 0.0
ICI_BW_EFF = 1.0


# The GPU whose clock times an NVLink generation's NCCL latencies (fitted in SM cycles): the
# A100 SXM for NVLink3, the H100 SXM for NVLink4 (clocks in hardware/presets.py).
NVLINK_CLOCK_GPU = {LinkType.NVLINK3: "a100-sxm-80gb", LinkType.NVLINK4: "h100-sxm-80gb"}


def _link_table() -> dict[LinkType, LinkParams]:
    from ador_opt.hardware.presets import GPU_SPECS
    from ador_opt.perf import gpu_params as g

    def latencies(link: LinkType) -> tuple[float, float]:
        hz = GPU_SPECS[NVLINK_CLOCK_GPU[link]].freq_mhz * 1e6
        return g.NCCL_HOP_LATENCY_CYCLES / hz, g.NCCL_BASE_LATENCY_CYCLES / hz

    nv4 = LinkParams("nvlink4", 1.0, g.NVLINK4_BW_EFF, *latencies(LinkType.NVLINK4))
    pcie_hop = nv4.hop_latency_s * PCIE_HOP_LATENCY_RATIO
    return {
        LinkType.NVLINK3: LinkParams(
            "nvlink3", 1.0, g.NVLINK3_BW_EFF, *latencies(LinkType.NVLINK3)
        ),
        LinkType.NVLINK4: nv4,
        LinkType.PCIE4: replace(nv4, name="pcie4", bw_eff=PCIE_BW_EFF, hop_latency_s=pcie_hop),
        LinkType.PCIE5: replace(nv4, name="pcie5", bw_eff=PCIE_BW_EFF, hop_latency_s=pcie_hop),
        LinkType.ICI: LinkParams("ici", 1.0, ICI_BW_EFF, ICI_HOP_LATENCY_S, ICI_BASE_LATENCY_S),
    }


LINK_PARAMS: dict[LinkType, LinkParams] = _link_table()


def device_link(link_type: LinkType, gbps_one_way: float) -> LinkParams:
    """`LINK_PARAMS[link_type]` carrying `gbps_one_way` GB/s per direction."""
    return LINK_PARAMS[link_type].with_bandwidth(gbps_one_way)


# --- All-to-all (expert-parallel dispatch and combine; issue 17) ----------------------------
#
# Pairwise exchange (Thakur, Rabenseifner & Gropp 2005, §3.7; NCCL and DeepEP issue it as p−1
# concurrent sends and receives): every device sends its payload split over the other p − 1
# devices. `payload_bytes` is what *leaves one device* (the part addressed to itself stays).
#
# * switched fabric (NVSwitch, an InfiniBand fat tree): every device injects and drains at
#   full link rate at once → payload / (bw · bw_eff);
# * ring of point-to-point links (the HDA template's device ring): a message to the device d
#   steps away travels min(d, p − d) hops of a bidirectional ring and loads every link it
#   crosses, so a device's links carry its payload × RING_A2A_HOPS(p) =
#   Σ_{d=1}^{p−1} min(d, p−d) / (p − 1) (1 for p = 2, 4/3 for 4, 16/7 for 8; ≈ p/4 for large p
#   — GenZ's "BWeff = 4B/N if ring of size N").
# Latency: the collective's base latency plus one hop latency per peer (p − 1 message
# set-ups; GenZ's `get_A2A_time`: start latency + (N − 1)·link latency + (N − 1)·M / BW).


def ring_a2a_hops(devices: int) -> float:
    """Mean link hops per byte of an all-to-all on a bidirectional ring of `devices`."""
    if devices <= 1:
        return 0.0
    return sum(min(d, devices - d) for d in range(1, devices)) / (devices - 1)


def all_to_all_time(
    payload_bytes: float, devices: int, link: LinkParams, ring: bool = False
) -> CollectiveTime:
    """One all-to-all over `devices` devices on `link` in which each device sends
    `payload_bytes` bytes to the others (spread evenly); `ring` when the devices are joined
    by a ring of point-to-point links rather than a switch."""
    _check(payload_bytes, devices, link.gbps_one_way, link.hop_latency_s)
    if devices == 1 or payload_bytes == 0:
        return _FREE
    wire = payload_bytes * (ring_a2a_hops(devices) if ring else 1.0)
    bandwidth = wire / (link.gbps_one_way * BYTES_PER_GB * link.bw_eff)
    latency = link.base_latency_s + (devices - 1) * link.hop_latency_s
    return CollectiveTime(latency + bandwidth, latency, bandwidth, None, Protocol.SIMPLE)


def send_time(payload_bytes: float, link: LinkParams) -> CollectiveTime:
    """One point-to-point send of `payload_bytes` (a pipeline stage's activations to the next
    stage): base latency + one hop + bytes / (bw · bw_eff)."""
    _check(payload_bytes, 2, link.gbps_one_way, link.hop_latency_s)
    if payload_bytes == 0:
        return _FREE
    bandwidth = payload_bytes / (link.gbps_one_way * BYTES_PER_GB * link.bw_eff)
    latency = link.base_latency_s + link.hop_latency_s
    return CollectiveTime(latency + bandwidth, latency, bandwidth, None, Protocol.SIMPLE)


def hierarchical_collective_time(
    kind: Collective,
    message_bytes: float,
    devices: int,
    up: LinkParams,
    out: LinkParams,
    domain_devices: int,
) -> CollectiveTime:
    """A collective over `devices` consecutive devices spanning scale-up domains of
    `domain_devices` (a per domain, c domains), run hierarchically (the 2D algorithm of NCCL's
    and Horovod's hierarchical all-reduce): all-reduce = reduce-scatter inside the domain +
    all-reduce of the 1/a shard across domains on `out` + all-gather inside; all-gather =
    all-gather of the 1/a share across domains on `out` + all-gather inside; reduce-scatter
    mirrors it. Within one domain it is `collective_time` on `up`."""
    from ador_opt.hardware.topology import group_span

    a, c = group_span(1, devices, domain_devices)
    if c == 1:
        return collective_time(kind, message_bytes, devices, up)
    parts: tuple[CollectiveTime, ...]
    if kind is Collective.ALL_REDUCE:
        parts = (
            collective_time(Collective.REDUCE_SCATTER, message_bytes, a, up),
            collective_time(Collective.ALL_REDUCE, message_bytes / a, c, out),
            collective_time(Collective.ALL_GATHER, message_bytes, a, up),
        )
    else:
        parts = (
            collective_time(kind, message_bytes / a, c, out),
            collective_time(kind, message_bytes, a, up),
        )
    lat = sum(p.latency_s for p in parts)
    bwt = sum(p.bandwidth_s for p in parts)
    return CollectiveTime(lat + bwt, lat, bwt, None, None)
