"""Routers: which replica gets an arriving request."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ador_opt.registry import Registry
from ador_opt.serving.replica import Replica


class RoundRobin:
    """Replica i, i+1, … in turn."""

    def __init__(self) -> None:
        self._next = 0

    def choose(self, replicas: Sequence[Replica]) -> Replica:
        replica = replicas[self._next % len(replicas)]
        self._next += 1
        return replica


class LeastLoaded:
    """The replica with the fewest outstanding (waiting + running) requests; ties → lowest
    index (deterministic)."""

    def choose(self, replicas: Sequence[Replica]) -> Replica:
        return min(replicas, key=lambda r: (r.outstanding, r.index))


ROUTERS: Registry[Callable[[], RoundRobin | LeastLoaded]] = Registry(
    "router", {"round-robin": RoundRobin, "least-loaded": LeastLoaded}
)
