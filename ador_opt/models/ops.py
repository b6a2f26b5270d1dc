"""The ops of one serving step of a decoder-only transformer, per device of a TP group.

A step processes a `BatchComposition`: prefill chunks (Sarathi-style, each with the context its
request already holds in KV) and decode tokens (one per running request). Every linear layer
sees all tokens of the step stacked (M = prefill tokens + decode tokens); attention is per
request. Shapes are per device under Megatron tensor parallelism: QKV and gate/up are column-
parallel, O and down are row-parallel, heads are split across devices (KV heads replicated when
fewer than `tp`), the LM head is column-parallel over the vocabulary. Each layer ends its
attention and its MLP with one TP synchronisation of the full activation (`COLLECTIVE` ops; the
perf stage decides how it is carried out: all-reduce, all-gather or Megatron).

All counts are per step and per device; `repeat` says how many identical copies run (layers,
or layers × active experts). FLOPs count a multiply-add as 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

from ador_opt.errors import InputError
from ador_opt.models.spec import ModelSpec


class OpKind(StrEnum):
    GEMM = "gemm"  # activations (m×k) × weights (k×n), weights streamed from DRAM
    ATTN_PREFILL = "attn_prefill"  # QKᵀ, softmax, AV of prefill chunks
    ATTN_DECODE = "attn_decode"  # QKᵀ, softmax, AV of decode tokens over their KV cache
    VECTOR = "vector"  # norms, activation functions, residual adds, rotary embeddings
    COLLECTIVE = "collective"  # TP synchronisation of `message_bytes` across the group


@dataclass(frozen=True, slots=True)
class PrefillChunk:
    """`tokens` new prompt tokens of one request whose first `context` tokens are cached;
    `last` is true when the chunk completes the prompt (it then produces the first token)."""

    tokens: int
    context: int = 0
    last: bool = True


@dataclass(frozen=True, slots=True)
class BatchComposition:
    """What one step processes. `decode_context_sum` is the total KV length (tokens) attended
    by the decode tokens, i.e. the sum of their requests' context lengths."""

    prefill: tuple[PrefillChunk, ...] = ()
    decode_count: int = 0
    decode_context_sum: int = 0

    def __post_init__(self) -> None:
        if self.decode_count < 0 or self.decode_context_sum < 0:
            raise InputError("batch composition: counts must be ≥ 0")
        for chunk in self.prefill:
            if chunk.tokens <= 0 or chunk.context < 0:
                raise InputError("batch composition: prefill chunks need tokens > 0")
        if self.decode_count == 0 and not self.prefill:
            raise InputError("batch composition: a step needs at least one token")

    @property
    def prefill_tokens(self) -> int:
        return sum(c.tokens for c in self.prefill)

    @property
    def tokens(self) -> int:
        return self.prefill_tokens + self.decode_count

    @classmethod
    def prefill_only(cls, batch: int, input_len: int) -> BatchComposition:
        return cls(prefill=(PrefillChunk(input_len, 0),) * batch)

    @classmethod
    def decode_only(cls, batch: int, context: int) -> BatchComposition:
        return cls(decode_count=batch, decode_context_sum=batch * context)


@dataclass(frozen=True, slots=True)
class Op:
    """One op, per device. `weight_bytes`, `kv_bytes`, `act_bytes` and `flops` are per copy;
    multiply by `repeat` for the step total."""

    name: str
    kind: OpKind
    repeat: int
    m: int = 0  # activation rows (tokens)
    k: int = 0
    n: int = 0
    m_decode: int = 0  # of `m`, tokens coming from decode requests
    weight_bytes: int = 0
    kv_bytes: int = 0  # KV cache bytes read from DRAM (attention)
    kv_write_bytes: int = 0  # new KV written (attention)
    act_bytes: int = 0  # activations read + written
    flops: int = 0
    message_bytes: int = 0  # collective payload (full activation, before splitting)
    heads: int = 0  # attention heads on this device
    kv_heads: int = 0  # KV heads on this device
    extra: tuple[tuple[str, int], ...] = field(default=())

    @property
    def total_flops(self) -> int:
        return self.flops * self.repeat

    @property
    def total_dram_bytes(self) -> int:
        return (self.weight_bytes + self.kv_bytes + self.kv_write_bytes) * self.repeat


def _expected_active_experts(num_experts: int, top_k: int, tokens: int) -> float:
    """Distinct experts hit when `tokens` tokens each pick `top_k` of `num_experts` uniformly."""
    if num_experts == 1:
        return 1.0
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** tokens)


def _gemm(name: str, m: int, m_decode: int, k: int, n: int, repeat: int, wb: int, ab: int) -> Op:
    return Op(
        name=name,
        kind=OpKind.GEMM,
        repeat=repeat,
        m=m,
        k=k,
        n=n,
        m_decode=m_decode,
        weight_bytes=k * n * wb,
        act_bytes=(m * k + m * n) * ab,
        flops=2 * m * k * n,
    )


@lru_cache(maxsize=65536)
def step_ops(model: ModelSpec, batch: BatchComposition, tp: int = 1) -> tuple[Op, ...]:
    """The op list of one step on one device of a `tp`-way tensor-parallel group."""
    if tp <= 0:
        raise InputError(f"tp must be positive, got {tp}")
    if model.num_heads % tp:
        raise InputError(
            f"tp={tp} does not divide the {model.num_heads} attention heads of {model.name}"
        )
    layers = model.num_layers
    h = model.hidden_size
    hd = model.head_dim
    wb, kvb, ab = model.bytes_per_weight, model.bytes_per_kv, model.bytes_per_activation
    heads = model.num_heads // tp
    kv_heads = max(1, model.num_kv_heads // tp)
    m = batch.tokens
    md = batch.decode_count
    ops: list[Op] = []

    # --- attention projections ---------------------------------------------------------
    qkv_n = (heads + 2 * kv_heads) * hd
    ops.append(_gemm("qkv_proj", m, md, h, qkv_n, layers, wb, ab))

    # --- attention ------------------------------------------------------------------------
    kv_row = 2 * kv_heads * hd * kvb  # K and V of one token in one layer on this device
    if batch.prefill:
        # Causal: a chunk of t tokens after c cached ones attends to c + (t+1)/2 keys on avg.
        pairs = sum(ch.tokens * (ch.context + (ch.tokens + 1) / 2) for ch in batch.prefill)
        cached = sum(ch.context for ch in batch.prefill)
        t = batch.prefill_tokens
        ops.append(
            Op(
                name="attn_prefill",
                kind=OpKind.ATTN_PREFILL,
                repeat=layers,
                m=t,
                k=hd,
                n=max(ch.context + ch.tokens for ch in batch.prefill),
                kv_bytes=cached * kv_row,
                kv_write_bytes=t * kv_row,
                act_bytes=2 * t * heads * hd * ab,
                flops=int(4 * pairs * heads * hd),
                heads=heads,
                kv_heads=kv_heads,
                extra=(("chunks", len(batch.prefill)), ("score_elements", int(pairs * heads))),
            )
        )
    if md:
        ctx = batch.decode_context_sum
        ops.append(
            Op(
                name="attn_decode",
                kind=OpKind.ATTN_DECODE,
                repeat=layers,
                m=md,
                k=hd,
                n=ctx // md if md else 0,
                m_decode=md,
                kv_bytes=ctx * kv_row,
                kv_write_bytes=md * kv_row,
                act_bytes=2 * md * heads * hd * ab,
                flops=4 * ctx * heads * hd,
                heads=heads,
                kv_heads=kv_heads,
                extra=(("score_elements", ctx * heads),),
            )
        )
    ops.append(_gemm("o_proj", m, md, heads * hd, h, layers, wb, ab))
    if tp > 1:
        ops.append(Op("tp_sync_attn", OpKind.COLLECTIVE, layers, m=m, message_bytes=m * h * ab))

    # --- MLP (dense or mixture of experts) -----------------------------------------------
    f = model.ffn_size // tp
    up_n = 2 * f if model.gated_mlp else f
    if model.num_experts > 1:
        routed = m * model.experts_per_token
        active = _expected_active_experts(model.num_experts, model.experts_per_token, m)
        n_active = max(1, math.ceil(active - 1e-9))
        per_expert = max(1, math.ceil(routed / n_active))
        per_expert_d = math.ceil(md * model.experts_per_token / n_active)
        ops.append(_gemm("router", m, md, h, model.num_experts, layers, wb, ab))
        ops.append(_gemm("moe_up", per_expert, per_expert_d, h, up_n, layers * n_active, wb, ab))
        ops.append(_gemm("moe_down", per_expert, per_expert_d, f, h, layers * n_active, wb, ab))
    else:
        ops.append(_gemm("mlp_up", m, md, h, up_n, layers, wb, ab))
        ops.append(_gemm("mlp_down", m, md, f, h, layers, wb, ab))
    if tp > 1:
        ops.append(Op("tp_sync_mlp", OpKind.COLLECTIVE, layers, m=m, message_bytes=m * h * ab))

    # --- element-wise work on the vector unit ------------------------------------------------
    # Per token per layer: 2 norms (≈ 4 ops/elem on h), rotary on q,k (≈ 6 ops/elem), the
    # activation and gating (≈ 8 ops/elem on f), softmax (≈ 5 ops per score element, counted
    # from the attention ops), 2 residual adds (1 op/elem on h).
    score_elements = sum(dict(op.extra).get("score_elements", 0) for op in ops)
    vec_elems = m * (4 * h + (heads + kv_heads) * hd + f)
    vec_flops = m * (10 * h + 6 * (heads + kv_heads) * hd + 8 * f) + 5 * score_elements
    ops.append(
        Op(
            name="vector",
            kind=OpKind.VECTOR,
            repeat=layers,
            m=m,
            act_bytes=2 * vec_elems * ab,
            flops=vec_flops,
        )
    )

    # --- LM head: only the last token of each finishing prefill and every decode token -------
    logits_rows = md + sum(1 for ch in batch.prefill if ch.last)
    if logits_rows:
        ops.append(_gemm("lm_head", logits_rows, md, h, model.vocab_size // tp, 1, wb, ab))
    return tuple(ops)


def total_flops(ops: tuple[Op, ...]) -> int:
    return sum(op.total_flops for op in ops)


def total_weight_bytes(ops: tuple[Op, ...]) -> int:
    return sum(op.weight_bytes * op.repeat for op in ops)
