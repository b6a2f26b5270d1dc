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


# --- The shared NCCL-style path ---------------------------------------------------------------

from ador_opt.hardware.arch import LinkType  # noqa: E402
from ador_opt.hardware.presets import ADOR_PAPER, GPU_SPECS  # noqa: E402
from ador_opt.models import MODEL_PRESETS  # noqa: E402
from ador_opt.perf import gpu_params  # noqa: E402
from ador_opt.perf.collectives import (  # noqa: E402
    LINK_PARAMS,
    Algorithm,
    Collective,
    LinkParams,
    Protocol,
    collective_time,
    device_link,
)

NV = LinkParams("test", 150.0, 0.8, 2e-6, 8e-6)


def test_protocol_follows_payload_as_nccl() -> None:
    """Small payloads take LL (lowest latency), large ones Simple (full bandwidth), LL128 in
    between for some size: the choice NCCL's tuner makes."""
    small = collective_time(Collective.ALL_REDUCE, 8e3, 8, NV)
    large = collective_time(Collective.ALL_REDUCE, 256e6, 8, NV)
    assert small.protocol is Protocol.LL
    assert large.protocol is Protocol.SIMPLE and large.algorithm is Algorithm.RING
    sizes = [2.0**e for e in range(10, 30)]
    protocols = {collective_time(Collective.ALL_REDUCE, b, 8, NV).protocol for b in sizes}
    assert Protocol.LL128 in protocols


def test_best_pair_is_the_minimum_of_all_pairs() -> None:
    """The chosen time never exceeds the plain ring/Simple α–β time with the same link."""
    for b in (1e3, 1e5, 1e7, 1e9):
        best = collective_time(Collective.ALL_REDUCE, b, 4, NV)
        ring = ring_allreduce_s(b, 4, NV.gbps_one_way * NV.bw_eff, NV.hop_latency_s)
        assert best.seconds <= (ring + NV.base_latency_s) * (1 + 1e-12)
        assert best.latency_s + best.bandwidth_s == pytest.approx(best.seconds)


def test_nvls_only_where_the_link_has_it() -> None:
    """NVLink SHARP moves B per GPU instead of 2(p−1)/p·B: chosen for large payloads when the
    link has an NVSwitch with in-switch reduction, never on point-to-point links."""
    with_switch = LinkParams("sw", 450.0, 0.8, 2e-6, 8e-6, nvls=True, nvls_latency_s=23e-6)
    assert collective_time(Collective.ALL_REDUCE, 256e6, 8, with_switch).algorithm is (
        Algorithm.NVLS
    )
    assert collective_time(Collective.ALL_REDUCE, 8e3, 8, with_switch).algorithm is not (
        Algorithm.NVLS
    )
    assert collective_time(Collective.ALL_GATHER, 256e6, 8, with_switch).algorithm is (
        Algorithm.RING
    )
    for link in LINK_PARAMS.values():
        assert not link.nvls


@given(st.floats(0, 1e9), st.integers(2, 16), st.floats(1.0, 1e3))
def test_collective_time_monotone(b: float, p: int, gbps: float) -> None:
    link = NV.with_bandwidth(gbps)
    t = collective_time(Collective.ALL_REDUCE, b, p, link).seconds
    assert t <= collective_time(Collective.ALL_REDUCE, b * 2 + 1, p, link).seconds
    assert t >= collective_time(Collective.ALL_REDUCE, b, p, link.with_bandwidth(gbps * 2)).seconds
    assert t >= collective_time(Collective.ALL_GATHER, b, p, link).seconds
    assert collective_time(Collective.ALL_REDUCE, b, 1, link).seconds == 0.0


def test_hda_links_use_the_fitted_nvlink_numbers() -> None:
    """One latency model: an HDA NVLink3 device link has the A100's fitted hop and base
    latency and efficiency; PCIe derives its hop from NVLink4's by NCCL's PCI/NVLink ratio."""
    from ador_opt.perf.gpu import link_params

    a100 = link_params(GPU_SPECS["a100-sxm-80gb"])
    hda = device_link(LinkType.NVLINK3, a100.gbps_one_way)
    assert (hda.hop_latency_s, hda.base_latency_s, hda.bw_eff) == (
        a100.hop_latency_s,
        a100.base_latency_s,
        a100.bw_eff,
    )
    assert hda.hop_latency_s == pytest.approx(gpu_params.NCCL_HOP_LATENCY_CYCLES / 1410e6)
    h100 = link_params(GPU_SPECS["h100-sxm-80gb"])
    pcie = LINK_PARAMS[LinkType.PCIE5]
    assert pcie.hop_latency_s == pytest.approx(h100.hop_latency_s * 5.7 / 3.4)
    assert 0.85 < pcie.bw_eff < 0.95


def test_nccl_latency_is_counted_in_sm_cycles() -> None:
    """NCCL's latencies are SM work: the same cycle counts on every GPU, so the A100 (1410 MHz)
    pays 1830/1410 of the H100's hop and base latency; the link fraction is per generation."""
    from ador_opt.perf.gpu import link_params

    a100 = link_params(GPU_SPECS["a100-sxm-80gb"])
    h100 = link_params(GPU_SPECS["h100-sxm-80gb"])
    ratio = GPU_SPECS["h100-sxm-80gb"].freq_mhz / GPU_SPECS["a100-sxm-80gb"].freq_mhz
    assert a100.hop_latency_s == pytest.approx(h100.hop_latency_s * ratio)
    assert a100.base_latency_s == pytest.approx(h100.base_latency_s * ratio)
    assert (a100.bw_eff, h100.bw_eff) == (gpu_params.NVLINK3_BW_EFF, gpu_params.NVLINK4_BW_EFF)
    # a 10 KiB all-reduce is latency-bound: LL protocol on both
    small = collective_time(Collective.ALL_REDUCE, 10240, 8, a100)
    assert small.protocol is Protocol.LL and small.latency_s > small.bandwidth_s


def test_tp_sync_goes_through_the_shared_path() -> None:
    """HDA TP all-reduce (Megatron) = 2 collectives per layer of the shared path on the arch's
    link type at p2p_gbps / 2."""
    from ador_opt.perf.tp import LayerProducers, arch_link, tp_sync_cost

    arch = ADOR_PAPER.replace(tp_sync="megatron", p2p_gbps=64.0)
    model = MODEL_PRESETS["llama-3-8b"]
    link = arch_link(arch)
    assert link.gbps_one_way == 32.0
    cost = tp_sync_cost(arch, model, 16, 4, LayerProducers(0, 0, 0, 0, 0))
    one = collective_time(Collective.ALL_REDUCE, 16 * model.hidden_size * 2, 4, link).seconds
    assert cost.exposed_s == pytest.approx(2 * one)


@pytest.mark.parametrize(
    "kwargs",
    [{"gbps_one_way": 0.0}, {"bw_eff": 0.0}, {"bw_eff": 1.5}, {"hop_latency_s": -1e-6}],
)
def test_bad_link_params(kwargs: dict[str, float]) -> None:
    base = {"name": "x", "gbps_one_way": 1.0, "bw_eff": 0.5, "hop_latency_s": 0.0,
            "base_latency_s": 0.0}  # fmt: skip
    with pytest.raises(InputError):
        LinkParams(**{**base, **kwargs})  # type: ignore[arg-type]
