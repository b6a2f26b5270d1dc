"""Expert, pipeline and data parallelism on two-level platforms (issue 17, item 2)."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ador_opt.errors import InputError
from ador_opt.hardware.presets import HARDWARE_PRESETS
from ador_opt.hardware.topology import group_span
from ador_opt.models.ops import BatchComposition
from ador_opt.models.presets import MODEL_PRESETS
from ador_opt.perf.collectives import (
    LINK_PARAMS,
    LinkParams,
    all_to_all_time,
    ring_a2a_hops,
)
from ador_opt.perf.evaluate import evaluate_design
from ador_opt.perf.expert import (
    expected_max_load,
    expected_max_std_normal,
    expert_weight_bytes_per_device,
)
from ador_opt.perf.parallel import (
    Levels,
    Parallelism,
    bubble_fraction,
    ep_all_to_all_s,
    parallel_breakdown,
    stage_send_s,
    weight_bytes_per_device,
)
from ador_opt.perf.step import step_time

MIXTRAL = MODEL_PRESETS["mixtral-8x7b"]
HDA = HARDWARE_PRESETS["ador-paper"]
H100 = HARDWARE_PRESETS["h100-sxm-80gb"]


def _moe(experts: int, top_k: int, layers: int = 8) -> object:
    return dataclasses.replace(
        MIXTRAL, name=f"moe-{experts}x{top_k}", num_experts=experts,
        experts_per_token=top_k, num_layers=layers,
    )  # fmt: skip


# --- acceptance: more EP never raises per-device expert weight bytes ---------------------------


@settings(max_examples=200, deadline=None)
@given(
    log_e=st.integers(0, 8),
    top_k=st.integers(1, 8),
    tp=st.sampled_from([1, 2, 4, 8]),
    pp=st.sampled_from([1, 2, 4]),
    data=st.data(),
)
def test_more_ep_never_raises_expert_weight_bytes_per_device(
    log_e: int, top_k: int, tp: int, pp: int, data: st.DataObject
) -> None:
    experts = 2**log_e
    model = _moe(max(experts, top_k), min(top_k, experts)) if experts > 1 else MIXTRAL
    divisors = [d for d in (1, 2, 4, 8, 16, 32, 64, 128, 256) if model.num_experts % d == 0]
    lo, hi = sorted(data.draw(st.lists(st.sampled_from(divisors), min_size=2, max_size=2)))
    assert expert_weight_bytes_per_device(model, tp, hi, pp) <= expert_weight_bytes_per_device(
        model, tp, lo, pp
    )
    # ... and so never the device's total weight bytes either.
    assert weight_bytes_per_device(model, tp, hi, pp) <= weight_bytes_per_device(model, tp, lo, pp)


def test_expert_weight_bytes_are_split_exactly() -> None:
    """Mixtral: 32 layers × 8 experts × 3 · 4096 · 14336 weights × 2 B, split ep · tp · pp."""
    full = 32 * 8 * 3 * 4096 * 14336 * 2
    assert expert_weight_bytes_per_device(MIXTRAL, 1, 1) == full
    assert expert_weight_bytes_per_device(MIXTRAL, 2, 4, 2) == full / 16
    # ep = pp = 1 keeps the tp-only rule; a replica's devices hold at least the whole model.
    assert weight_bytes_per_device(MIXTRAL, 2) == MIXTRAL.weight_bytes / 2
    for tp, ep, pp in ((1, 8, 1), (2, 2, 2), (1, 1, 4), (4, 2, 1)):
        per = weight_bytes_per_device(MIXTRAL, tp, ep, pp)
        assert per * tp * ep * pp >= MIXTRAL.weight_bytes * (1 - 1e-12)
        assert per < MIXTRAL.weight_bytes / tp


def test_more_ep_never_raises_the_step_dram_bytes_of_a_decode_device() -> None:
    batch = BatchComposition.decode_only(4, 1024)
    for hw in (HDA, H100):
        bytes_by_ep = [step_time(hw, MIXTRAL, batch, 1, ep=ep).dram_bytes for ep in (1, 2, 4, 8)]
        assert bytes_by_ep == sorted(bytes_by_ep, reverse=True)
        assert bytes_by_ep[-1] < 0.5 * bytes_by_ep[0]


# --- expected maximum expert load -----------------------------------------------------------


def _monte_carlo_max_load(tokens: int, experts: int, top_k: int, ep: int, trials: int) -> float:
    rng = np.random.default_rng(0)
    keys = rng.random((trials, tokens, experts))
    picks = np.argpartition(keys, top_k - 1, axis=2)[:, :, :top_k]  # k distinct experts
    device = picks // (experts // ep)
    loads = np.stack([(device == d).sum(axis=(1, 2)) for d in range(ep)], axis=1)
    return float(loads.max(axis=1).mean())


@pytest.mark.parametrize(
    ("tokens", "experts", "top_k", "ep"),
    [(64, 8, 2, 8), (256, 8, 2, 4), (32, 64, 8, 8), (512, 128, 8, 16), (16, 8, 2, 2)],
)
def test_expected_max_load_matches_monte_carlo(
    tokens: int, experts: int, top_k: int, ep: int
) -> None:
    """Normal approximation vs 2,000 seeded routings: within 8 %."""
    mc = _monte_carlo_max_load(tokens, experts, top_k, ep, 2000)
    got = expected_max_load(tokens, experts, top_k, ep)
    assert abs(got - mc) / mc < 0.08, (got, mc)


def test_expected_max_load_exact_limits() -> None:
    # One token, one expert per device: some device gets exactly one pair.
    assert expected_max_load(1, 8, 2, 8) == 1.0
    # Without EP, one device holds every pair.
    assert expected_max_load(100, 8, 2, 1) == 200.0
    # Never below the mean, never above a token sending min(k, E/ep) pairs to one device.
    for tokens in (1, 3, 17, 1000):
        load = expected_max_load(tokens, 64, 8, 8)
        assert tokens * 8 / 8 <= load <= tokens * 8
    assert expected_max_std_normal(2) == pytest.approx(1 / math.sqrt(math.pi), rel=1e-6)
    assert expected_max_std_normal(8) == pytest.approx(1.4236, abs=1e-3)


# --- pipeline bubbles ----------------------------------------------------------------------------


@given(pp=st.integers(1, 64), m=st.integers(1, 512))
def test_bubble_fraction_falls_with_micro_batches(pp: int, m: int) -> None:
    assert bubble_fraction(pp, m + 1) <= bubble_fraction(pp, m)
    if pp > 1:
        assert bubble_fraction(pp, m + 1) < bubble_fraction(pp, m)
    assert bubble_fraction(pp, m) == (pp - 1) / (m + pp - 1)


def test_pipeline_prefill_follows_the_schedule() -> None:
    """Prefill: (m + pp − 1) periods (less the last send); decode: pp periods, no bubble."""
    par = Parallelism(tp=1, ep=1, pp=4, micro_batches=8)
    pre, bd = parallel_breakdown(HDA, MIXTRAL, BatchComposition.prefill_only(16, 512), par)
    period = bd.stage_s + bd.send_s
    assert bd.micro_batches == 8 and bd.bubble_fraction == pytest.approx(3 / 11)
    assert pre.seconds == pytest.approx(11 * period - bd.send_s)
    dec, bd = parallel_breakdown(HDA, MIXTRAL, BatchComposition.decode_only(16, 512), par)
    assert bd.micro_batches == 4 and bd.bubble_fraction == 0.0
    assert dec.seconds == pytest.approx(4 * (bd.stage_s + bd.send_s) - bd.send_s)
    # A single request is never split into micro-batches.
    _, bd = parallel_breakdown(HDA, MIXTRAL, BatchComposition.prefill_only(1, 512), par)
    assert bd.micro_batches == 1


def test_more_micro_batches_shorten_a_pipelined_prefill() -> None:
    batch = BatchComposition.prefill_only(32, 512)
    times = [
        step_time(HDA, MIXTRAL, batch, 1, pp=4, micro_batches=m).seconds for m in (1, 2, 4, 8)
    ]
    assert times == sorted(times, reverse=True)


# --- all-to-all ----------------------------------------------------------------------------------


@settings(max_examples=200)
@given(
    a=st.integers(0, 10**10).map(float),  # whole bytes: sub-byte payloads underflow to 0 s
    b=st.integers(0, 10**10).map(float),
    devices=st.integers(1, 256),
    link=st.sampled_from(sorted(LINK_PARAMS)),
    gbps=st.floats(0.1, 1e4),
    ring=st.booleans(),
)
def test_all_to_all_time_rises_with_payload(
    a: float, b: float, devices: int, link: object, gbps: float, ring: bool
) -> None:
    lp = LINK_PARAMS[link].with_bandwidth(gbps)  # type: ignore[index]
    lo, hi = sorted((a, b))
    assert (
        all_to_all_time(lo, devices, lp, ring).seconds
        <= all_to_all_time(hi, devices, lp, ring).seconds
    )
    if devices > 1 and hi > lo:  # the bandwidth part rises strictly
        assert (
            all_to_all_time(lo, devices, lp, ring).bandwidth_s
            < all_to_all_time(hi, devices, lp, ring).bandwidth_s
        )


def test_ring_all_to_all_hops() -> None:
    assert ring_a2a_hops(2) == 1.0
    assert ring_a2a_hops(4) == pytest.approx(4 / 3)
    assert ring_a2a_hops(8) == pytest.approx(16 / 7)
    link = LINK_PARAMS[sorted(LINK_PARAMS)[0]].with_bandwidth(10.0)
    switched = all_to_all_time(1e9, 8, link).bandwidth_s
    assert all_to_all_time(1e9, 8, link, ring=True).bandwidth_s == pytest.approx(switched * 16 / 7)


# --- two levels ----------------------------------------------------------------------------------


def test_group_span() -> None:
    assert group_span(1, 8, 0) == (8, 1)  # one domain
    assert group_span(1, 8, 8) == (8, 1)
    assert group_span(2, 8, 8) == (4, 2)  # EP of 8 at stride tp=2 over domains of 8
    assert group_span(8, 4, 8) == (1, 4)  # each member in its own domain
    assert group_span(4, 1, 2) == (1, 1)


def _link(name: str, gbps: float, hop_s: float, base_s: float) -> LinkParams:
    return LinkParams(name, gbps, 1.0, hop_s, base_s)


@settings(max_examples=300)
@given(
    payload=st.floats(1.0, 1e10),
    tp=st.sampled_from([1, 2, 4, 8]),
    ep=st.sampled_from([2, 4, 8, 16, 32]),
    pp=st.sampled_from([2, 4, 8]),
    domain=st.sampled_from([1, 2, 4, 8, 16]),
    up_gbps=st.floats(1.0, 1e4),
    slow=st.floats(1.0, 100.0),
    up_hop=st.floats(0, 1e-5),
    extra_hop=st.floats(0, 1e-5),
    ring=st.booleans(),
)
def test_slower_scale_out_never_speeds_a_cross_domain_collective(
    payload: float,
    tp: int,
    ep: int,
    pp: int,
    domain: int,
    up_gbps: float,
    slow: float,
    up_hop: float,
    extra_hop: float,
    ring: bool,
) -> None:
    """A slower scale-out never speeds a cross-domain collective, and on a switched scale-up
    domain (NVSwitch) with the scale-out link no faster and no lower-latency than it,
    splitting the group over domains never beats the same group inside one domain. (On a
    ring scale-up it can: a smaller ring carries each byte over fewer hops —
    `ring_a2a_hops` — which is the ring's physics, not a modelling artefact.)"""
    up = _link("up", up_gbps, up_hop, 1e-6)
    out = _link("out", up_gbps / slow, up_hop + extra_hop, 1e-6)
    slower = _link("out2", up_gbps / slow / 2, up_hop + extra_hop, 1e-6)
    one = Levels(up, ring, out, 0)
    two = Levels(up, ring, out, domain)
    worse = Levels(up, ring, slower, domain)
    t_one = ep_all_to_all_s(payload, tp, ep, one)
    t_two = ep_all_to_all_s(payload, tp, ep, two)
    if not ring:
        assert t_two >= t_one * (1 - 1e-12)
    assert ep_all_to_all_s(payload, tp, ep, worse) >= t_two * (1 - 1e-12)
    assert stage_send_s(payload, tp, ep, pp, two) >= stage_send_s(payload, tp, ep, pp, one)
    assert stage_send_s(payload, tp, ep, pp, worse) >= stage_send_s(payload, tp, ep, pp, two)


def test_a_wider_than_domain_ep_group_pays_the_scale_out_link() -> None:
    hw = HDA.__class__("hda-4-domain", HDA.arch.replace(devices=8, scale_up_devices=4), None)  # type: ignore[union-attr]
    batch = BatchComposition.prefill_only(8, 512)
    _, inside = parallel_breakdown(HDA, MIXTRAL, batch, Parallelism(1, 4, 1))
    _, across = parallel_breakdown(hw, MIXTRAL, batch, Parallelism(1, 8, 1))
    _, flat = parallel_breakdown(HDA, MIXTRAL, batch, Parallelism(1, 8, 1))
    assert across.all_to_all_s != flat.all_to_all_s
    assert inside.all_to_all_s > 0


# --- the tp-only path is untouched -------------------------------------------------------------


@pytest.mark.parametrize("hw", [HDA, H100], ids=["hda", "gpu"])
def test_ep_pp_one_is_the_tp_only_model(hw: object) -> None:
    for batch in (BatchComposition.decode_only(8, 700), BatchComposition.prefill_only(2, 300)):
        base = step_time(hw, MIXTRAL, batch, 2)  # type: ignore[arg-type]
        same = step_time(hw, MIXTRAL, batch, 2, ep=1, pp=1)  # type: ignore[arg-type]
        assert same == base


# --- evaluate: layouts, replicas, refusals ------------------------------------------------------


def test_evaluate_reports_the_layout_and_scales_replicas() -> None:
    one = evaluate_design(H100, MIXTRAL, 16, 512, 64, tp=2, ep=2)
    two = evaluate_design(H100, MIXTRAL, 16, 512, 64, tp=2, ep=2, dp=3)
    assert (one["tp"], one["ep"], one["pp"], one["dp"], one["devices"]) == (2, 2, 1, 1, 4)
    assert two["devices"] == 12
    assert two["throughput_tokens_per_s"] == pytest.approx(3 * one["throughput_tokens_per_s"])
    assert two["area_total_mm2"] == pytest.approx(3 * one["area_total_mm2"])
    assert two["tbt_ms"] == one["tbt_ms"]
    assert one["parallelism"]["decode"]["expert_load_imbalance"] >= 1.0
    tp_only = evaluate_design(H100, MIXTRAL, 16, 512, 64, tp=2)
    assert "parallelism" not in tp_only and tp_only["devices"] == 2


@pytest.mark.parametrize(
    ("model", "kwargs", "words"),
    [
        ("mixtral-8x7b", {"ep": 3}, "ep=3 does not divide the 8 routed experts"),
        ("mixtral-8x7b", {"pp": 5}, "pp=5 does not divide the 32 layers"),
        ("mixtral-8x7b", {"tp": 3}, "tp=3 does not divide"),
        ("llama-3-8b", {"ep": 2}, "needs a mixture-of-experts model"),
    ],
)
def test_invalid_layouts_are_refused(model: str, kwargs: dict[str, int], words: str) -> None:
    with pytest.raises(InputError, match=words):
        evaluate_design(H100, MODEL_PRESETS[model], 4, 128, 8, **kwargs)  # type: ignore[arg-type]


def test_hda_design_fields_refuse_a_layout_that_does_not_divide_the_devices() -> None:
    with pytest.raises(InputError, match="multiple of tp · ep · pp"):
        HDA.arch.replace(devices=6, tp=2, ep=2)  # type: ignore[union-attr]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ador_opt", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_evaluate_with_ep_pp_dp() -> None:
    r = _cli(
        "evaluate", "--model", "mixtral-8x7b", "--hardware", "ador-paper", "--batch", "8",
        "--input-len", "256", "--output-len", "16", "--tp", "2", "--ep", "2", "--pp", "2",
        "--dp", "2", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["tp"], doc["ep"], doc["pp"], doc["dp"], doc["devices"]) == (2, 2, 2, 2, 16)
    assert doc["parallelism"]["prefill"]["micro_batches"] == 2
    assert doc["parallelism"]["prefill"]["bubble_fraction"] == pytest.approx(1 / 3)


def test_cli_refuses_an_invalid_layout_with_exit_2() -> None:
    r = _cli(
        "evaluate", "--model", "mixtral-8x7b", "--hardware", "h100-sxm-80gb", "--batch", "8",
        "--input-len", "256", "--output-len", "16", "--ep", "3", "--json",
    )  # fmt: skip
    assert r.returncode == 2
    assert r.stdout == ""
    assert "ep=3 does not divide" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_tp_group_wider_than_the_domain_all_reduces_hierarchically() -> None:
    """TP 8 over two domains of 4 with a NIC slower than the device ring: slower than TP 8 in
    one domain, and slower still on a slower NIC; TP 4 inside a domain is unaffected."""
    arch = HDA.arch.replace(devices=8, tp=8, tp_sync="megatron", p2p_gbps=256.0)  # type: ignore[union-attr]
    split = arch.replace(scale_up_devices=4, scale_out_gbps=50.0)
    slower = split.replace(scale_out_gbps=10.0)
    batch = BatchComposition.prefill_only(4, 512)
    hw = HDA.__class__
    t = [step_time(hw("x", a, None), MIXTRAL, batch, 8).seconds for a in (arch, split, slower)]
    assert t[0] < t[1] < t[2]
    four = [step_time(hw("x", a, None), MIXTRAL, batch, 4).seconds for a in (arch, split)]
    assert four[0] == four[1]


def test_the_serving_simulator_runs_an_ep_design_from_its_fields() -> None:
    """An HDA design with ep = 2 on 2 devices: the KV pool is two attention replicas' worth,
    and `simulate` times its steps with the design's own EP (no extra argument)."""
    from ador_opt.perf.memory import max_kv_tokens
    from ador_opt.serving import simulate, workload_preset

    arch = HDA.arch.replace(name="hda-ep2", devices=2, ep=2)  # type: ignore[union-attr]
    hw = HDA.__class__("hda-ep2", arch, None)
    assert max_kv_tokens(HDA, MIXTRAL, 1) == 0  # one device cannot hold Mixtral
    tokens = max_kv_tokens(hw, MIXTRAL, 1)
    assert tokens > 0 and tokens % 2 == 0
    report = simulate(hw, MIXTRAL, workload_preset("chat"), 2.0, 40, 0)
    assert report.completed == 40


def test_study_points_count_replicas_over_tp_ep_pp() -> None:
    from pathlib import Path

    from ador_opt.explore.evaluate import EvalContext, evaluate_point
    from ador_opt.explore.spec import load_spec

    study = Path(__file__).resolve().parents[1] / "studies" / "mixtral-ep-tp-pp.toml"
    ctx = EvalContext(load_spec(study))
    base = {"sa_dim": 128, "core_count": 32, "p2p_gbps": 256}
    wide = evaluate_point(ctx, {**base, "tp": 2, "ep": 2, "pp": 1})
    assert wide.feasible
    bad = evaluate_point(ctx, {**base, "tp": 4, "ep": 4, "pp": 1})  # 16 devices > 8
    assert bad.rejected_by == "sanity" and "multiple of tp · ep · pp" in bad.reason


def test_gpu_levels_are_the_nvswitch_node_and_its_nic() -> None:
    """H100: NVLink (fitted, switched) inside 8-GPU nodes, NDR 400G (50 GB/s each way)
    between them; an EP group of 16 pays the NIC, one of 8 does not."""
    from ador_opt.perf.parallel import levels_of

    lv = levels_of(H100)
    assert (lv.domain_devices, lv.up_ring, lv.out.gbps_one_way) == (8, False, 50.0)
    assert levels_of(HARDWARE_PRESETS["a100-sxm-80gb"]).out.gbps_one_way == 25.0
    payload = 64e6
    inside = ep_all_to_all_s(payload, 1, 8, lv)
    across = ep_all_to_all_s(payload, 1, 16, lv)
    assert across > inside
    assert across >= payload * 8 / 15 / 50e9  # the NIC share at NIC speed at least


def test_roofline_lower_bounds_stay_below_the_model_under_ep_and_pp() -> None:
    """The pruning stage's bounds (explore/evaluate.py) must never exceed the evaluated TTFT
    and TBT, or feasible layouts would be pruned."""
    import itertools
    from pathlib import Path

    from ador_opt.explore.evaluate import EvalContext, _lower_bounds_ms, evaluate_point
    from ador_opt.explore.space import realise
    from ador_opt.explore.spec import load_spec

    study = Path(__file__).resolve().parents[1] / "studies" / "mixtral-ep-tp-pp.toml"
    ctx = EvalContext(load_spec(study))
    sc = ctx.spec.file.scenarios[0]
    checked = 0
    for tp, ep, pp in itertools.product((1, 2, 4), (1, 2, 4, 8), (1, 2, 4)):
        point = {"sa_dim": 64, "core_count": 16, "tp": tp, "ep": ep, "pp": pp, "p2p_gbps": 64}
        r = evaluate_point(ctx, point)
        if not r.feasible:
            continue
        arch = realise(ctx.space, point).arch
        assert arch is not None
        ttft_lb, tbt_lb = _lower_bounds_ms(arch, MIXTRAL, sc)
        assert ttft_lb <= r.metrics["ttft_ms"] and tbt_lb <= r.metrics["tbt_ms"], point
        checked += 1
    assert checked >= 10
