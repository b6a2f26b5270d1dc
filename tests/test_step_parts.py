"""The perf hot path (`step_parts`, `GemmTiming`) against the op list it stands for, and golden
step times pinned before the hot-path rewrite (commit 63ed5cb; benchmarks/step_speed.py checks
5,500 more compositions the same way)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ador_opt.hardware import load_hardware
from ador_opt.hardware.presets import Hardware
from ador_opt.models import load_model
from ador_opt.models.ops import (
    BatchComposition,
    OpKind,
    PrefillChunk,
    gemm_timing,
    step_layout,
    step_ops,
    step_parts,
)
from ador_opt.perf import step_time

MODELS = {name: load_model(name) for name in ("llama-3-8b", "mixtral-8x7b", "llama-2-70b")}

chunks = st.lists(
    st.builds(
        PrefillChunk,
        tokens=st.integers(1, 512),
        context=st.integers(0, 4096),
        last=st.booleans(),
    ),
    max_size=4,
)


@st.composite
def batches(draw: st.DrawFn) -> BatchComposition:
    prefill = tuple(draw(chunks))
    n_dec = draw(st.integers(0 if prefill else 1, 256))
    ctx = n_dec * draw(st.integers(1, 4096)) if n_dec else 0
    return BatchComposition(prefill=prefill, decode_count=n_dec, decode_context_sum=ctx)


@settings(max_examples=150, deadline=None)
@given(
    batch=batches(),
    model_name=st.sampled_from(sorted(MODELS)),
    tp=st.sampled_from([1, 2, 8]),
)
def test_timing_view_matches_op_list(batch: BatchComposition, model_name: str, tp: int) -> None:
    model = MODELS[model_name]
    ops = step_ops(model, batch, tp)
    parts = step_parts(model, batch, tp)
    assert parts.ops() == ops
    assert parts.total_flops == sum(op.total_flops for op in ops)
    gemms = [(op.name, op.m, op.k, op.n, op.repeat) for op in ops if op.kind is OpKind.GEMM]
    assert list(parts.gemms.shapes) == gemms
    syncs = [(op.message_bytes, op.repeat) for op in ops if op.kind is OpKind.COLLECTIVE]
    assert list(parts.gemms.syncs) == syncs
    vector = next(op for op in ops if op.kind is OpKind.VECTOR)
    assert vector == parts.vector_op()


def test_gemm_timing_is_shared_across_decode_splits() -> None:
    """Same token count and LM-head rows ⇒ one memoised GEMM view (the perf caches' key), even
    though the op lists differ (m_decode)."""
    model = MODELS["llama-3-8b"]
    a = step_parts(model, BatchComposition((PrefillChunk(100, 0, False),), 28, 28 * 500))
    b = step_parts(model, BatchComposition((PrefillChunk(101, 5, True),), 27, 27 * 900))
    assert a.gemms is b.gemms
    assert a.gemms is gemm_timing(step_layout(model, 1), 128, 28)
    assert a.ops()[0] != b.ops()[0]  # qkv_proj: same shape, different m_decode
    c = step_parts(model, BatchComposition((PrefillChunk(100, 0, True),), 28, 28 * 500))
    assert c.gemms is not a.gemms  # one more LM-head row


def _hw(name: str, tp: int) -> Hardware:
    hw = load_hardware(name)
    if hw.gpu is None and tp > 1:
        assert hw.arch is not None
        return Hardware(hw.name, hw.arch.replace(devices=tp), None)
    return hw


P = PrefillChunk
# (hardware, model, precision, tp, batch, seconds, bound, dram_bytes, flops) from commit 63ed5cb;
# the GPU rows and the HDA TP row re-pinned after issue 13 changed the GPU model and moved HDA TP
# syncs onto the shared collective path (a model change, not a hot-path change); llmcompass-t's
# seconds re-measured when its NoC became 3,840 GB/s (issue 11, docs/model.md §2).
GOLDEN = [
    ("ador-paper", "llama-3-8b", "fp16", 1, BatchComposition((P(512, 1024, True),)),
     0.026915235134791667, "systolic", 15210643456.0, 7498018062336.0),
    ("ador-paper", "llama-3-8b", "fp8", 1,
     BatchComposition((P(300, 0, False), P(1, 0, True)), 37, 37 * 1500),
     0.021455625306590936, "systolic", 11164057600.0, 4813248355328.0),
    ("ador-paper", "mixtral-8x7b", "fp16", 2, BatchComposition((), 200, 200 * 2100),
     0.050941648916483666, "systolic", 74110730240.0, 2661830246400.0),
    ("llmcompass-t", "llama-3-8b", "fp16", 1,
     BatchComposition((P(200, 3000, True),), 64, 64 * 800),
     0.025669054121294367, "dram", 22148022272.0, 4110341722112.0),
    ("a100", "llama-3-8b", "fp16", 1, BatchComposition((P(480, 0, True),), 32, 32 * 1000),
     0.04150868318577633, "compute", 24178412032.0, 7262607163392.0),
    ("h100-sxm-80gb", "mixtral-8x7b", "fp8", 2,
     BatchComposition((P(128, 64, False),), 100, 100 * 3000),
     0.02366410881942435, "memory", 35072842752.0, 2974734041088.0),
]  # fmt: skip


@pytest.mark.parametrize("case", GOLDEN, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-tp{c[3]}")
def test_step_time_unchanged_by_hot_path_rewrite(case: tuple) -> None:
    hw_name, model_name, precision, tp, batch, seconds, bound, dram, flops = case
    model = load_model(model_name).with_precision(precision)
    st_ = step_time(_hw(hw_name, tp), model, batch, tp)
    assert st_.seconds == pytest.approx(seconds, rel=1e-9)
    assert st_.bound == bound
    assert st_.dram_bytes == pytest.approx(dram, rel=1e-9)
    assert st_.flops == pytest.approx(flops, rel=1e-9)
