"""Serving simulator: conservation, latency bounds, queueing laws, determinism, policies."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ador_opt.errors import InputError
from ador_opt.hardware import load_hardware
from ador_opt.models import load_model
from ador_opt.models.ops import BatchComposition
from ador_opt.perf import step_time
from ador_opt.serving import SchedulerConfig, simulate, simulate_run, workload_preset
from ador_opt.serving.lengths import FixedLengths
from ador_opt.serving.replica import Replica
from ador_opt.serving.request import State
from ador_opt.serving.simulator import SimulationRun, simulate_closed_loop
from ador_opt.serving.stepcache import StepGrid, bucket_up, canonical_key, composition_of
from ador_opt.serving.workload import Workload, parse_workload

HW = load_hardware("ador-paper")
GPU = load_hardware("a100")
MODEL = load_model("llama-3-8b")
CHAT = workload_preset("chat")


def check_invariants(run: SimulationRun) -> None:
    """Conservation laws every run must satisfy."""
    reqs = run.requests
    assert run.report.completed == len(reqs)
    for r in reqs:
        assert r.state is State.DONE
        assert r.generated == r.output_len
        assert r.arrival_s <= r.first_scheduled_s <= r.first_token_s <= r.finish_s
    assert run.report.output_tokens == sum(r.output_len for r in reqs)
    assert run.report.input_tokens == sum(r.input_len for r in reqs)
    # every token after a request's first has exactly one inter-token gap …
    weights = np.asarray(run.log.tbt_weights)
    assert weights.sum() == sum(r.output_len - 1 for r in reqs)
    # … and the gaps of a request add up to its decode span
    span = sum(r.finish_s - r.first_token_s for r in reqs)
    assert float(np.dot(run.log.tbt_values, weights)) == pytest.approx(span, rel=1e-9, abs=1e-9)
    for replica in run.replicas:  # all KV blocks returned, bookkeeping back to zero
        assert replica.kv.free == replica.kv.total
        assert replica.n_dec == 0 and replica.dec_base == 0 and not any(replica.residue)
        assert not replica.running and not replica.waiting and not replica.prefilling


@pytest.fixture(scope="module")
def chat_run() -> SimulationRun:
    return simulate_run(HW, MODEL, CHAT, 8.0, 600, seed=11)


def test_every_request_completes_and_tokens_are_conserved(chat_run: SimulationRun) -> None:
    check_invariants(chat_run)
    r = chat_run.report
    assert r.output_tokens_per_s == pytest.approx(r.output_tokens / r.duration_s)


def test_below_saturation_throughput_equals_arrival_rate() -> None:
    rate = 2.0
    report = simulate(HW, MODEL, CHAT, rate, 1500, seed=4)
    # the realised Poisson rate is within a few % of the requested one …
    assert report.offered_rate_per_s == pytest.approx(rate, rel=0.08)
    # … and an unsaturated server completes requests exactly as fast as they arrive, up to the
    # drain after the last arrival (one E2E of ≈ 10 s over ≈ 750 s)
    assert report.requests_per_s == pytest.approx(report.offered_rate_per_s, rel=0.03)
    assert report.queue_ms.p50 < 50


def test_ttft_is_never_below_the_lone_prefill_time(chat_run: SimulationRun) -> None:
    for r in chat_run.requests:
        alone = step_time(HW, MODEL, BatchComposition.prefill_only(1, r.input_len), 1).seconds
        assert r.first_token_s - r.arrival_s >= alone * (1 - 1e-9), r


def test_littles_law_on_the_queue() -> None:
    # a loaded run (queues form): time-average queue length = arrival rate × mean wait,
    # computed independently (queue-length integral vs per-request waits)
    run = simulate_run(HW, MODEL, CHAT, 30.0, 800, seed=2)
    r = run.report
    assert r.mean_queue_wait_s > 0.05
    lam = r.num_requests / r.duration_s
    assert r.mean_queue_len == pytest.approx(lam * r.mean_queue_wait_s, rel=1e-6)


def test_same_seed_same_result_and_seeds_differ() -> None:
    a = simulate(HW, MODEL, CHAT, 10.0, 300, seed=5)
    b = simulate(HW, MODEL, CHAT, 10.0, 300, seed=5)
    c = simulate(HW, MODEL, CHAT, 10.0, 300, seed=6)
    assert a == b  # wall time and cache statistics are excluded from equality
    assert a.ttft_ms != c.ttft_ms


def test_utilisation_is_a_fraction_and_the_time_series_averages_to_it(
    chat_run: SimulationRun,
) -> None:
    util = chat_run.report.utilisation
    assert util and all(0.0 <= v <= 1.0 for v in util.values())
    series = chat_run.report.utilisation_over_time["units"]
    for unit, mean in util.items():
        assert np.mean(series[unit]) == pytest.approx(mean, rel=1e-9, abs=1e-12)


def test_percentiles_are_ordered(chat_run: SimulationRun) -> None:
    for s in (chat_run.report.ttft_ms, chat_run.report.tbt_ms, chat_run.report.e2e_ms):
        assert s.p50 <= s.p90 <= s.p99
        assert s.mean > 0


def test_preemption_under_a_small_kv_cache_still_completes() -> None:
    wl = parse_workload("uniform:200-600:100-400")
    for policy in ("sarathi", "vllm", "hybrid"):
        cfg = SchedulerConfig(policy=policy, kv_tokens=4000, max_batch=64)
        run = simulate_run(GPU, MODEL, wl, 50.0, 120, seed=3, scheduler=cfg)
        assert run.report.preemptions > 0, policy
        check_invariants(run)


def test_vllm_prefill_first_stalls_decodes_more_than_sarathi() -> None:
    wl = workload_preset("arxiv-4k")
    sarathi = simulate(GPU, MODEL, wl, 1.5, 200, seed=1)
    vllm = simulate(GPU, MODEL, wl, 1.5, 200, seed=1, scheduler=SchedulerConfig(policy="vllm"))
    assert vllm.tbt_ms.p99 > 1.5 * sarathi.tbt_ms.p99


@pytest.mark.parametrize("router", ["round-robin", "least-loaded"])
def test_replicas(router: str) -> None:
    cfg = SchedulerConfig(replicas=2, router=router)
    run = simulate_run(HW, MODEL, CHAT, 16.0, 300, seed=8, scheduler=cfg)
    check_invariants(run)
    used = {r.replica for r in run.requests}
    assert used == {0, 1}
    if router == "round-robin":
        assert all(r.replica == r.id % 2 for r in run.requests)


def test_closed_loop_single_client_sees_unloaded_latencies() -> None:
    cfg = SchedulerConfig(chunk_size=2048)  # the 1000-token prompt runs as one chunk
    run = simulate_closed_loop(GPU, MODEL, [1000] * 4, [50] * 4, concurrency=1, scheduler=cfg)
    check_invariants(run)
    prefill = step_time(GPU, MODEL, BatchComposition.prefill_only(1, 1000), 1).seconds
    for r in run.requests:
        ttft = r.first_token_s - r.arrival_s
        assert prefill <= ttft <= prefill * 1.04  # bucketing rounds up by ≤ 3.2 %
    decode = step_time(GPU, MODEL, BatchComposition.decode_only(1, 1025), 1).seconds
    itl = np.mean([(r.finish_s - r.first_token_s) / 49 for r in run.requests])
    assert itl == pytest.approx(decode, rel=0.04)
    starts = sorted(r.arrival_s for r in run.requests)
    finishes = sorted(r.finish_s for r in run.requests)
    assert starts[1:] == finishes[:-1]  # one client: the next request starts at completion


def test_bucketing_bounds() -> None:
    for bits in (4, 6):
        for x in [1, 5, 63, 64, 65, 100, 511, 512, 513, 1000, 123456]:
            b = bucket_up(x, bits)
            assert b >= x and (b - x) / x <= 2 ** (1 - bits)
            assert bucket_up(b, bits) == b
            if x < 2**bits:
                assert b == x


@given(st.integers(1, 2**40), st.integers(1, 2**40), st.integers(3, 8))
def test_bucketing_is_monotone(a: int, b: int, bits: int) -> None:
    lo, hi = sorted((a, b))
    assert bucket_up(lo, bits) <= bucket_up(hi, bits)


chunk_lists = st.lists(
    st.tuples(st.integers(1, 5000), st.integers(0, 8000), st.booleans()), max_size=6
)


@given(chunk_lists, st.integers(0, 300), st.integers(0, 10**6))
def test_canonical_step_keeps_or_rounds_up_the_work(
    chunks: list[tuple[int, int, bool]], n_dec: int, ctx_per: int
) -> None:
    if not chunks and n_dec == 0:
        n_dec = 1
    ctx_sum = n_dec * (1 + ctx_per // max(1, n_dec))
    grid = StepGrid()
    key = canonical_key(grid, chunks, n_dec, ctx_sum)
    batch = composition_of(key)  # a valid composition
    tokens = sum(t for t, _, _ in chunks) + n_dec
    step = 2 ** (1 - (grid.tokens_bits if chunks else grid.decode_bits))
    assert tokens <= batch.tokens <= tokens * (1 + step) + 1
    assert batch.decode_count >= n_dec and batch.decode_context_sum >= ctx_sum
    assert sum(1 for c in batch.prefill if c.last) == sum(1 for c in chunks if c[2])


def test_canonical_step_of_a_lone_prompt_is_exact_on_the_grid() -> None:
    grid = StepGrid()
    assert canonical_key(grid, [(512, 0, True)], 0, 0) == (((512, 0, True),), 0, 0)
    # a full 512-token budget stays 512 tokens (GPU GEMM tiles), whatever its split
    key = canonical_key(grid, [(200, 1000, True), (213, 0, False)], 99, 99 * 700)
    assert composition_of(key).tokens == 512


@given(
    policy=st.sampled_from(["sarathi", "vllm", "hybrid"]),
    in_hi=st.integers(1, 1500),
    out_hi=st.integers(1, 300),
    kv_extra=st.integers(0, 6000),
    max_batch=st.integers(1, 64),
    chunk=st.integers(16, 2048),
    rate=st.floats(0.5, 200.0),
    seed=st.integers(0, 1000),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_configurations_conserve_everything(
    policy: str,
    in_hi: int,
    out_hi: int,
    kv_extra: int,
    max_batch: int,
    chunk: int,
    rate: float,
    seed: int,
) -> None:
    wl = parse_workload(f"uniform:1-{in_hi}:1-{out_hi}")
    kv = in_hi + out_hi + 64 + kv_extra  # at least one longest request fits (plus watermark)
    cfg = SchedulerConfig(policy=policy, kv_tokens=kv, max_batch=max_batch, chunk_size=chunk)
    run = simulate_run(GPU, MODEL, wl, rate, 40, seed=seed, scheduler=cfg)
    check_invariants(run)


def test_fixed_lengths_every_request_identical_when_alone() -> None:
    wl = Workload("f", FixedLengths(300), FixedLengths(20))
    run = simulate_run(HW, MODEL, wl, 0.05, 20, seed=0)
    ttfts = {round(r.first_token_s - r.arrival_s, 12) for r in run.requests}
    assert len(ttfts) == 1


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"rate_per_s": 0.0}, "rate"),
        ({"rate_per_s": -3.0}, "rate"),
        ({"rate_per_s": math.nan}, "rate"),
        ({"num_requests": 0}, "num_requests"),
        ({"seed": -1}, "seed"),
        ({"tp": 3}, "tp=3"),
        ({"rate_per_s": None}, "arrival rate is needed"),
    ],
)
def test_bad_simulation_inputs(kwargs: dict[str, object], needle: str) -> None:
    args: dict[str, object] = {"rate_per_s": 1.0, "num_requests": 10, "seed": 0, "tp": 1}
    args.update(kwargs)
    with pytest.raises(InputError, match=needle):
        simulate(HW, MODEL, CHAT, **args)  # type: ignore[arg-type]


def test_bad_scheduler_configs() -> None:
    with pytest.raises(InputError, match="unknown scheduler"):
        SchedulerConfig(policy="fifo")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="chunk_size"):
        SchedulerConfig(chunk_size=0)
    with pytest.raises(InputError, match="kv_tokens"):
        SchedulerConfig(kv_tokens=-5)
    with pytest.raises(InputError, match="unknown router"):
        simulate(HW, MODEL, CHAT, 1.0, 5, 0, scheduler=SchedulerConfig(router="random"))


def test_kv_too_small_for_a_request_is_an_input_error() -> None:
    wl = Workload("f", FixedLengths(3000), FixedLengths(100))
    with pytest.raises(InputError, match="does not fit"):
        simulate(HW, MODEL, wl, 1.0, 5, 0, scheduler=SchedulerConfig(kv_tokens=2000))


def test_model_that_does_not_fit_is_an_input_error() -> None:
    with pytest.raises(InputError, match="do not fit"):
        simulate(HW, load_model("llama-3-70b"), CHAT, 1.0, 5, 0)


@pytest.mark.parametrize("policy", ["sarathi", "vllm"])
def test_inline_decode_rounds_match_the_event_by_event_run(
    policy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wl = parse_workload("uniform:50-800:20-600")
    cfg = SchedulerConfig(policy=policy, kv_tokens=3000, max_batch=48)  # forces preemptions
    fast = simulate_run(GPU, MODEL, wl, 6.0, 150, seed=9, scheduler=cfg)
    monkeypatch.setattr(Replica, "run_decode_rounds", lambda self, now, horizon: (now, True))
    slow = simulate_run(GPU, MODEL, wl, 6.0, 150, seed=9, scheduler=cfg)
    assert fast.report.steps == slow.report.steps
    assert fast.report.preemptions == slow.report.preemptions > 0
    for a, b in zip(fast.requests, slow.requests, strict=True):
        assert a.first_token_s == pytest.approx(b.first_token_s, rel=1e-9)
        assert a.finish_s == pytest.approx(b.finish_s, rel=1e-9)
    assert fast.report.tbt_ms.p99 == pytest.approx(slow.report.tbt_ms.p99, rel=1e-9)
    for unit, value in slow.report.utilisation.items():
        assert fast.report.utilisation[unit] == pytest.approx(value, rel=1e-9)
