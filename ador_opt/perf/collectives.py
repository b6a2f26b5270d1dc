"""Bandwidth–latency (α–β) times of ring collectives among the devices of a TP group.

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

from ador_opt.errors import InputError

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
