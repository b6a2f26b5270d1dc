"""Op lists of one step: FLOPs and bytes against closed-form counts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ador_opt.errors import InputError
from ador_opt.models import MODEL_PRESETS
from ador_opt.models.ops import (
    BatchComposition,
    OpKind,
    PrefillChunk,
    step_ops,
    total_weight_bytes,
)

LLAMA3 = MODEL_PRESETS["llama-3-8b"]


def test_decode_reads_all_weights_once() -> None:
    ops = step_ops(LLAMA3, BatchComposition.decode_only(1, 100))
    # Everything but the input embedding table is read once per decode step.
    expected = (
        LLAMA3.param_count
        - LLAMA3.embedding_params
        - LLAMA3.num_layers * LLAMA3.norm_params
        - LLAMA3.hidden_size
    ) * LLAMA3.bytes_per_weight
    assert total_weight_bytes(ops) == expected


def test_linear_flops_are_two_per_param_per_token() -> None:
    batch = BatchComposition.prefill_only(2, 256)
    ops = step_ops(LLAMA3, batch)
    gemm = sum(op.total_flops for op in ops if op.kind is OpKind.GEMM and op.name != "lm_head")
    per_token = 2 * LLAMA3.num_layers * (LLAMA3.attention_params + LLAMA3.expert_params)
    assert gemm == per_token * batch.tokens


def test_decode_kv_bytes() -> None:
    ops = step_ops(LLAMA3, BatchComposition.decode_only(4, 1000))
    attn = next(op for op in ops if op.kind is OpKind.ATTN_DECODE)
    assert attn.kv_bytes * attn.repeat == 4 * 1000 * LLAMA3.kv_bytes_per_token


def test_tp_adds_two_syncs_per_layer() -> None:
    ops = step_ops(LLAMA3, BatchComposition.decode_only(8, 10), tp=4)
    syncs = [op for op in ops if op.kind is OpKind.COLLECTIVE]
    assert len(syncs) == 2
    assert all(op.repeat == LLAMA3.num_layers for op in syncs)
    assert syncs[0].message_bytes == 8 * LLAMA3.hidden_size * 2


@given(tp=st.sampled_from([1, 2, 4, 8]))
def test_more_tp_never_raises_per_device_weight_bytes(tp: int) -> None:
    batch = BatchComposition.decode_only(4, 128)
    base = total_weight_bytes(step_ops(LLAMA3, batch, 1))
    assert total_weight_bytes(step_ops(LLAMA3, batch, tp)) <= base
    if tp > 1:
        half = total_weight_bytes(step_ops(LLAMA3, batch, tp // 2))
        assert total_weight_bytes(step_ops(LLAMA3, batch, tp)) <= half


def test_partial_prefill_chunk_has_no_logits() -> None:
    ops = step_ops(LLAMA3, BatchComposition(prefill=(PrefillChunk(512, 0, last=False),)))
    assert not any(op.name == "lm_head" for op in ops)


def test_moe_touches_at_most_all_experts() -> None:
    mix = MODEL_PRESETS["mixtral-8x7b"]
    one = step_ops(mix, BatchComposition.decode_only(1, 10))
    many = step_ops(mix, BatchComposition.decode_only(256, 10))
    up1 = next(op for op in one if op.name == "moe_up")
    upn = next(op for op in many if op.name == "moe_up")
    # One grouped GEMM per layer over the experts hit: top-2 of 8 for one token, all 8 for 256.
    assert up1.repeat == upn.repeat == mix.num_layers
    assert up1.n == 2 * 2 * mix.ffn_size
    assert upn.n == 8 * 2 * mix.ffn_size


def test_bad_tp_and_empty_batch() -> None:
    with pytest.raises(InputError):
        step_ops(LLAMA3, BatchComposition.decode_only(1, 1), tp=3)
    with pytest.raises(InputError):
        BatchComposition()
