"""Ring collectives: closed forms, limits and bad input."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ador_opt.errors import InputError
from ador_opt.perf.collectives import allgather_s, reduce_scatter_s, ring_allreduce_s


def test_allreduce_golden() -> None:
    # 1 GB over 4 devices at 100 GB/s one way: 2·3/4 · 1e9 / 1e11 = 15 ms; + 6 hops of 1 µs.
    assert ring_allreduce_s(1e9, 4, 100.0) == pytest.approx(0.015, rel=1e-12)
    assert ring_allreduce_s(1e9, 4, 100.0, 1e-6) == pytest.approx(0.015 + 6e-6, rel=1e-12)


def test_allgather_and_reduce_scatter_golden() -> None:
    # 8 MB over 8 devices at 32 GB/s: 7/8 · 8e6 / 32e9 = 218.75 µs; + 7 hops of 2 µs.
    assert allgather_s(8e6, 8, 32.0) == pytest.approx(218.75e-6, rel=1e-12)
    assert reduce_scatter_s(8e6, 8, 32.0, 2e-6) == pytest.approx(218.75e-6 + 14e-6, rel=1e-12)


def test_single_device_is_free() -> None:
    assert ring_allreduce_s(1e9, 1, 1.0, 1.0) == 0.0
    assert allgather_s(1e9, 1, 0.0) == 0.0


@given(
    st.floats(0, 1e10),
    st.integers(1, 64),
    st.floats(0.1, 1e4),
    st.floats(0, 1e-4),
)
def test_allreduce_is_reduce_scatter_plus_allgather(b: float, p: int, bw: float, lat: float):
    ar = ring_allreduce_s(b, p, bw, lat)
    assert math.isclose(
        ar,
        reduce_scatter_s(b, p, bw, lat) + allgather_s(b, p, bw, lat),
        rel_tol=1e-9,
        abs_tol=1e-15,
    )
    # Bandwidth term never exceeds twice the naive one-shot transfer time.
    assert ar <= 2 * b / (bw * 1e9) + 2 * (p - 1) * lat + 1e-12


@given(st.floats(1, 1e9), st.integers(2, 32), st.floats(1, 1e3))
def test_more_bandwidth_never_slower(b: float, p: int, bw: float) -> None:
    assert ring_allreduce_s(b, p, 2 * bw) <= ring_allreduce_s(b, p, bw)


@pytest.mark.parametrize(
    "args",
    [(-1.0, 2, 1.0), (1.0, 0, 1.0), (1.0, 2, 0.0), (1.0, 2, -5.0)],
)
def test_bad_input(args: tuple[float, int, float]) -> None:
    with pytest.raises(InputError):
        ring_allreduce_s(*args)
    with pytest.raises(InputError):
        ring_allreduce_s(1.0, 2, 1.0, -1.0)
