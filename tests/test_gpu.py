"""The calibrated GPU model: physics properties, published facts, the fitted-constant file."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ador_opt.hardware.presets import GPU_SPECS, HARDWARE_PRESETS
from ador_opt.models import MODEL_PRESETS
from ador_opt.models.ops import BatchComposition, PrefillChunk
from ador_opt.perf import gpu_params
from ador_opt.perf.collectives import Collective, collective_time
from ador_opt.perf.gpu import (
    COMPILED_ENGINE,
    DEFAULT_ENGINE,
    DEFAULT_PARAMS,
    GEMM_TILES,
    PYTHON_EAGER_ENGINE,
    allreduce_s,
    gemm_kernel,
    gemm_plan,
    gpu_step_time,
    gpu_step_time_with,
    link_params,
)
from ador_opt.perf.result import StepTime
from ador_opt.perf.static import static_batch
from ador_opt.perf.step import step_time

A100 = GPU_SPECS["a100-sxm-80gb"]
H100 = GPU_SPECS["h100-sxm-80gb"]
H200 = GPU_SPECS["h200-sxm-141gb"]
LLAMA3 = MODEL_PRESETS["llama-3-8b"]
LLAMA70 = MODEL_PRESETS["llama-3-70b"]
GPUS = [A100, H100, H200]

batches = st.one_of(
    st.builds(BatchComposition.decode_only, st.integers(1, 256), st.integers(1, 8192)),
    st.builds(BatchComposition.prefill_only, st.integers(1, 8), st.integers(1, 4096)),
    st.builds(
        lambda n, ctx, d, dctx: BatchComposition(
            prefill=(PrefillChunk(n, ctx, True),), decode_count=d, decode_context_sum=d * dctx
        ),
        st.integers(1, 2048),
        st.integers(0, 4096),
        st.integers(0, 128),
        st.integers(1, 4096),
    ),
)


@settings(max_examples=60, deadline=None)
@given(batch=batches, gpu=st.sampled_from(GPUS), tp=st.sampled_from([1, 2, 4, 8]))
def test_step_contract(batch: BatchComposition, gpu: object, tp: int) -> None:
    """Positive, deterministic, utilisation within [0, 1], no p2p without TP."""
    assert isinstance(gpu, type(A100))
    model = LLAMA70 if tp > 1 else LLAMA3
    first = gpu_step_time(gpu, model, batch, tp)
    again = gpu_step_time(gpu, model, batch, tp)
    assert first == again
    assert first.seconds > 0 and math.isfinite(first.seconds)
    assert first.bound in {"compute", "memory", "communication", "overhead"}
    assert all(0.0 <= u <= 1.0 for u in first.utilisation().values())
    parts = first.busy_s["p2p"] + first.busy_s["overhead"]
    assert parts <= first.seconds * (1 + 1e-12)
    if tp == 1:
        assert first.busy_s["p2p"] == 0.0


@settings(max_examples=40, deadline=None)
@given(batch=batches, gpu=st.sampled_from(GPUS), factor=st.floats(1.01, 4.0))
def test_more_hbm_bandwidth_never_slower(
    batch: BatchComposition, gpu: object, factor: float
) -> None:
    assert isinstance(gpu, type(A100))
    faster = dataclasses.replace(gpu, hbm_gbps=gpu.hbm_gbps * factor)
    assert (
        gpu_step_time(faster, LLAMA3, batch, 1).seconds
        <= gpu_step_time(gpu, LLAMA3, batch, 1).seconds
    )


@settings(max_examples=40, deadline=None)
@given(b=st.integers(1, 255), ctx=st.integers(1, 8000), gpu=st.sampled_from(GPUS))
def test_decode_monotone_in_batch_and_context(b: int, ctx: int, gpu: object) -> None:
    assert isinstance(gpu, type(A100))
    base = gpu_step_time(gpu, LLAMA3, BatchComposition.decode_only(b, ctx), 1).seconds
    assert gpu_step_time(gpu, LLAMA3, BatchComposition.decode_only(b + 1, ctx), 1).seconds >= base
    assert gpu_step_time(gpu, LLAMA3, BatchComposition.decode_only(b, ctx + 64), 1).seconds >= base


@pytest.mark.parametrize("batch", [1, 64])
def test_decode_hbm_utilisation_around_60_percent(batch: int) -> None:
    """ADOR paper §I: GPU HBM "bandwidth utilization hovers around 60%"; §III: "less than 60%
    efficiency during the decoding stage" (Fig. 4(b)). The model is fitted on other data, so
    this is a check, with a band around the paper's figure."""
    step = gpu_step_time(A100, LLAMA3, BatchComposition.decode_only(batch, 1024), 1)
    util = step.utilisation()["dram"]
    assert 0.4 < util < 0.7, util
    assert step.bound == "memory"


def test_large_gemm_efficiency_is_realistic() -> None:
    """cuBLAS reaches roughly 70–90 % of A100 FP16 peak on large GEMMs (Vidur profiles in the
    case table: 4096×8192×14336 in 3.835 ms = 80 %)."""
    k = gemm_kernel(A100, 4096, 8192, 14336, 2)
    efficiency = k.tensor_busy_s / k.seconds
    assert 0.65 < efficiency < 0.92


def test_gemv_is_memory_bound_near_fitted_bandwidth() -> None:
    """A decode GEMV streams its weights: time ≥ bytes / peak bandwidth and within 2× of it."""
    k = gemm_kernel(A100, 1, 8192, 14336, 2)
    ideal = 8192 * 14336 * 2 / (A100.hbm_gbps * 1e9)
    assert ideal < k.seconds < 2 * ideal
    assert k.memory_s > k.compute_s


def test_best_tile_beats_every_fixed_tile() -> None:
    """Best-of selection: the chosen plan is no slower than any single tile class, strictly
    faster than the fixed 128×128 tile where that pads badly (M = 150 → 256 rows)."""
    for m, k, n in ((150, 4096, 14336), (256, 4096, 4096), (4096, 8192, 8192), (1, 4096, 4096)):
        best = gemm_plan(A100, m, k, n, 2, 2, DEFAULT_PARAMS)
        assert (best.tile_m, best.tile_n) in GEMM_TILES
        for tile in GEMM_TILES:
            single = gemm_plan(A100, m, k, n, 2, 2, DEFAULT_PARAMS, (tile,))
            assert best.body_s <= single.body_s
    padded = gemm_plan(A100, 150, 4096, 14336, 2, 2, DEFAULT_PARAMS, ((128, 128),))
    best = gemm_plan(A100, 150, 4096, 14336, 2, 2, DEFAULT_PARAMS)
    assert best.compute_s < padded.compute_s


def test_split_k_fills_idle_sms() -> None:
    """A skinny output (few tiles) with a long K splits K across the SMs."""
    plan = gemm_plan(A100, 64, 16384, 1024, 2, 2, DEFAULT_PARAMS)
    assert plan.split_k > 1
    assert plan.waves == 1


def test_wave_quantisation() -> None:
    """With one tile class, one tile column more than a full wave costs a second wave."""
    tile = ((128, 128),)
    m, n = 128 * 12, 128 * 9  # 108 tiles = one wave on A100's 108 SMs
    one = gemm_plan(A100, m, 4096, n, 2, 2, DEFAULT_PARAMS, tile)
    two = gemm_plan(A100, m, 4096, n + 128, 2, 2, DEFAULT_PARAMS, tile)
    assert (one.waves, two.waves) == (1, 2)
    assert two.compute_s == pytest.approx(2 * one.compute_s)


def test_small_gemms_take_microseconds_not_a_launch_floor() -> None:
    """Operator profiles (Vidur, GPU time): small GEMMs take 6–15 µs."""
    assert 4e-6 < gemm_kernel(H100, 8, 1024, 4096, 2).seconds < 12e-6
    assert 6e-6 < gemm_kernel(A100, 8, 1024, 4096, 2).seconds < 15e-6


def test_fp8_uses_fp8_peak_on_h100_only() -> None:
    h_fp16 = gemm_kernel(H100, 4096, 8192, 8192, 2)
    h_fp8 = gemm_kernel(H100, 4096, 8192, 8192, 1)
    assert h_fp8.compute_s < 0.75 * h_fp16.compute_s
    a_fp16 = gemm_kernel(A100, 4096, 8192, 8192, 2)
    a_fp8 = gemm_kernel(A100, 4096, 8192, 8192, 1)  # no FP8 tensor cores: weight-only saving
    assert a_fp8.compute_s == pytest.approx(a_fp16.compute_s)
    assert a_fp8.memory_s < a_fp16.memory_s


def test_fp8_step_faster_on_h100() -> None:
    fp8 = LLAMA3.with_precision("fp8")
    for batch in (BatchComposition.decode_only(32, 512), BatchComposition.prefill_only(4, 512)):
        assert (
            gpu_step_time(H100, fp8, batch, 1).seconds
            < gpu_step_time(H100, LLAMA3, batch, 1).seconds
        )


def test_allreduce_uses_the_shared_collective_path_over_one_way_nvlink() -> None:
    link = link_params(A100)
    assert link.gbps_one_way == A100.nvlink_gbps / 2
    expected = collective_time(Collective.ALL_REDUCE, 64e6, 8, link).seconds
    assert allreduce_s(A100, 64e6, 8) == pytest.approx(expected)
    assert allreduce_s(A100, 64e6, 1) == 0.0


def test_small_allreduce_is_tens_of_microseconds() -> None:
    """Vidur's NCCL profiles: 7–76 µs up to 2 MiB at any TP (the old fitted 13 µs per ring
    hop gave 0.19 ms at TP8)."""
    for gpu in (A100, H100):
        for tp in (2, 4, 8):
            assert 3e-6 < allreduce_s(gpu, 128 * 1024, tp) < 80e-6


def test_prefill_attention_efficiency_rises_with_length_and_head_dim() -> None:
    """FlashAttention-2 (Dao 2023, Fig. 4–5): forward throughput grows with sequence length and
    is higher at head dim 128 than 64."""
    from ador_opt.models.ops import step_parts
    from ador_opt.perf.gpu import _attn_prefill_kernel

    def eff(model: object, n: int) -> float:
        op = step_parts(model, BatchComposition.prefill_only(1, n), 1).attn_prefill
        assert op is not None
        k = _attn_prefill_kernel(A100, op, DEFAULT_PARAMS)
        return k.tensor_busy_s / (k.seconds - k.overhead_s)

    effs = [eff(LLAMA3, n) for n in (512, 2048, 8192, 16384)]
    assert effs == sorted(effs)
    assert 0.3 < effs[-1] < 0.75
    hd64 = dataclasses.replace(LLAMA3, name="hd64", head_dim=64, num_heads=64, num_kv_heads=16)
    assert eff(hd64, 4096) < eff(LLAMA3, 4096)


def test_decode_attention_bandwidth_rises_with_context() -> None:
    """Paged decode attention: a short context cannot fill the SMs, so the bandwidth it draws
    rises with context length towards the streaming bandwidth."""
    from ador_opt.models.ops import step_parts
    from ador_opt.perf.gpu import _attn_decode_kernel

    def bw_share(ctx: int) -> float:
        op = step_parts(LLAMA3, BatchComposition.decode_only(1, ctx), 1).attn_decode
        assert op is not None
        k = _attn_decode_kernel(A100, op, DEFAULT_PARAMS)
        return k.dram_busy_s / (k.seconds - k.overhead_s)

    shares = [bw_share(c) for c in (256, 2048, 8192)]
    assert shares == sorted(shares)
    assert shares[0] < 0.2 < 0.6 < shares[-1] <= DEFAULT_PARAMS.hbm_eff
    assert 0.6 < bw_share(20000) <= DEFAULT_PARAMS.hbm_eff


@pytest.mark.parametrize("context", [12288, 20000])
def test_long_contexts_work(context: int) -> None:
    """Long prompts in 8k-token chunks and decodes at 20k context are finite and ordered."""
    model = MODEL_PRESETS["llama-3.1-8b"]
    chunk = BatchComposition(prefill=(PrefillChunk(8192, context - 8192, True),))
    first = BatchComposition(prefill=(PrefillChunk(8192, 0, True),))
    later = gpu_step_time(H100, model, chunk, 1).seconds
    assert later > gpu_step_time(H100, model, first, 1).seconds
    decode = gpu_step_time(H100, model, BatchComposition.decode_only(64, context), 1)
    assert math.isfinite(decode.seconds) and decode.seconds > 0


def test_tp_splits_the_decode_step() -> None:
    """More devices: less time per step for a large model, communication appears."""
    batch = BatchComposition.decode_only(16, 1024)
    t2 = gpu_step_time(A100, LLAMA70, batch, 2)
    t8 = gpu_step_time(A100, LLAMA70, batch, 8)
    assert t8.seconds < t2.seconds
    assert t8.busy_s["p2p"] > t2.busy_s["p2p"] > 0


def test_static_batch_with_explicit_step_matches_product() -> None:
    from ador_opt.hardware.presets import HARDWARE_PRESETS
    from ador_opt.perf.static import evaluate_static_batch

    hw = HARDWARE_PRESETS["a100-sxm-80gb"]
    product = evaluate_static_batch(hw, LLAMA3, 8, 128, 64, 1)
    manual = static_batch(lambda b: gpu_step_time(A100, LLAMA3, b, 1), 8, 128, 64)
    assert manual.e2e_ms == pytest.approx(product.e2e_ms)


def test_params_file_is_generated_and_physical() -> None:
    text = Path(gpu_params.__file__).read_text()
    assert "GENERATED by benchmarks/fit_gpu.py" in text
    assert "calibration_cases.csv" in text and "operator_cases.csv" in text
    assert 0.5 <= gpu_params.GEMM_MAINLOOP_EFF <= 1.0
    assert 0.6 <= gpu_params.HBM_EFF <= 0.95
    assert 100 <= gpu_params.TILE_OVERHEAD_CYCLES <= 5000
    for gen in ("NVLINK3", "NVLINK4"):
        assert 0.3 <= getattr(gpu_params, f"{gen}_BW_EFF") <= 1.0
    # NCCL latencies in SM cycles: 0.2–20 µs per hop, 0.5–50 µs per call at 1.4–1.8 GHz
    assert 300 <= gpu_params.NCCL_HOP_LATENCY_CYCLES <= 36000
    assert 700 <= gpu_params.NCCL_BASE_LATENCY_CYCLES <= 90000
    assert 0 < gpu_params.KERNEL_FIXED_S < 2e-5
    assert 0 < gpu_params.KERNEL_GAP_S < 3e-5
    assert 2e-6 <= gpu_params.EAGER_LAUNCH_S <= 1e-4
    assert 0 < gpu_params.EAGER_SEQ_S <= 2e-3
    assert 0 < gpu_params.PREFILL_STEP_S <= 5e-3
    assert 0 < gpu_params.EAGER_PREFILL_STEP_S <= 5e-2
    assert gpu_params.ROOFLINE_BLEND >= 1.0


@pytest.mark.parametrize("hardware", ["a100", "ador-paper", "llmcompass-t"])
@pytest.mark.parametrize(
    ("batch", "input_len", "output_len"), [(8, 128, 300), (64, 2000, 900), (150, 1024, 1024)]
)
def test_sampled_decode_phase_matches_exact_sum(
    hardware: str, batch: int, input_len: int, output_len: int
) -> None:
    """The static evaluator integrates the decode phase from a few sampled steps; the exact sum
    over every step differs by < 0.5 % (decode time is piecewise linear in the context)."""
    hw = HARDWARE_PRESETS[hardware]

    def step(b: BatchComposition) -> StepTime:
        return step_time(hw, LLAMA3, b, 1)

    sampled = static_batch(step, batch, input_len, output_len)
    exact_decode_s = sum(
        step_time(hw, LLAMA3, BatchComposition.decode_only(batch, c), 1).seconds
        for c in range(input_len + 1, input_len + output_len)
    )
    exact_e2e_ms = sampled.ttft_ms + exact_decode_s * 1e3
    assert sampled.e2e_ms == pytest.approx(exact_e2e_ms, rel=5e-3)


def test_gpu_link_type_is_checked() -> None:
    from ador_opt.errors import InputError

    assert A100.link_type.value == "nvlink3" and H100.link_type.value == "nvlink4"
    with pytest.raises(InputError, match="link_type"):
        dataclasses.replace(A100, link_type="nvlink9")


LLAMA2_70 = MODEL_PRESETS["llama-2-70b"]


def _eager(gpu: object, batch: BatchComposition, tp: int, **params: float) -> StepTime:
    assert isinstance(gpu, type(A100))
    p = dataclasses.replace(DEFAULT_PARAMS, **params)
    return gpu_step_time_with(p, gpu, LLAMA2_70, batch, tp, PYTHON_EAGER_ENGINE)


def test_product_runs_the_compiled_engine() -> None:
    batch = BatchComposition.decode_only(4, 512)
    assert DEFAULT_ENGINE is COMPILED_ENGINE and not COMPILED_ENGINE.python_eager
    product = gpu_step_time(A100, LLAMA2_70, batch, 8).seconds
    explicit = gpu_step_time_with(DEFAULT_PARAMS, A100, LLAMA2_70, batch, 8, COMPILED_ENGINE)
    assert explicit.seconds == product


def test_eager_engine_is_host_bound_at_tp8_and_gpu_bound_at_tp2() -> None:
    """A Python-eager engine cannot finish a step before it has launched the step's kernels:
    at TP8 batch 1 the GPU work per rank is small and the step is the launch time (a faster
    GPU does not help); at TP2 the GPU work dominates and the step is the compiled one plus
    the per-request host work."""
    batch = BatchComposition.decode_only(1, 512)
    compiled8 = gpu_step_time(A100, LLAMA2_70, batch, 8).seconds
    eager8 = _eager(A100, batch, 8).seconds
    assert eager8 > 1.3 * compiled8
    assert _eager(H100, batch, 8).seconds == pytest.approx(eager8, rel=0.02)
    compiled2 = gpu_step_time(A100, LLAMA2_70, batch, 2).seconds
    eager2 = _eager(A100, batch, 2).seconds
    assert eager2 == pytest.approx(compiled2 + DEFAULT_PARAMS.eager_seq_s, rel=1e-9)


def test_prefill_step_cost_is_paid_once_per_context_step() -> None:
    """A step that holds prompts pays the engine's context set-up once (not per prompt); a
    decode-only step pays nothing; the eager engine pays its own prompt-path cost."""
    no_cost = dataclasses.replace(DEFAULT_PARAMS, prefill_step_s=0.0, eager_prefill_step_s=0.0)
    for batch in (BatchComposition.prefill_only(1, 512), BatchComposition.prefill_only(4, 512)):
        with_cost = gpu_step_time_with(DEFAULT_PARAMS, A100, LLAMA2_70, batch, 8).seconds
        without = gpu_step_time_with(no_cost, A100, LLAMA2_70, batch, 8).seconds
        assert with_cost - without == pytest.approx(DEFAULT_PARAMS.prefill_step_s, rel=1e-9)
        eager = gpu_step_time_with(DEFAULT_PARAMS, A100, LLAMA2_70, batch, 8, PYTHON_EAGER_ENGINE)
        eager0 = gpu_step_time_with(no_cost, A100, LLAMA2_70, batch, 8, PYTHON_EAGER_ENGINE)
        assert eager.seconds - eager0.seconds == pytest.approx(
            DEFAULT_PARAMS.eager_prefill_step_s, rel=1e-9
        )
    decode = BatchComposition.decode_only(16, 512)
    assert (
        gpu_step_time_with(DEFAULT_PARAMS, A100, LLAMA2_70, decode, 8).seconds
        == gpu_step_time_with(no_cost, A100, LLAMA2_70, decode, 8).seconds
    )
    assert DEFAULT_PARAMS.prefill_step_s > 0 and DEFAULT_PARAMS.eager_prefill_step_s > 0


@settings(max_examples=30, deadline=None)
@given(
    b=st.integers(1, 128),
    ctx=st.integers(1, 4096),
    tp=st.sampled_from([1, 2, 4, 8]),
    launch=st.floats(2e-6, 1e-4),
    seq=st.floats(1e-6, 2e-3),
)
def test_eager_step_formula(b: int, ctx: int, tp: int, launch: float, seq: float) -> None:
    """step = max(GPU time, kernels · launch) + requests · seq: never below the compiled step,
    growing with both host constants, by exactly `seq` per extra request when host-bound."""
    batch = BatchComposition.decode_only(b, ctx)
    gpu_s = gpu_step_time(A100, LLAMA2_70, batch, tp).seconds
    eager = _eager(A100, batch, tp, eager_launch_s=launch, eager_seq_s=seq)
    assert eager.seconds >= gpu_s + b * seq - 1e-12
    assert eager.seconds >= _eager(A100, batch, tp, eager_launch_s=launch / 2,
                                   eager_seq_s=seq).seconds  # fmt: skip
    assert eager.busy_s["overhead"] >= gpu_step_time(A100, LLAMA2_70, batch, tp).busy_s["overhead"]
