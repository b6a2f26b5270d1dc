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

Hot path (the serving simulator evaluates tens of thousands of distinct steps): the perf models
use `step_parts`, not `step_ops`. The batch-independent constants of a (model, tp) pair are
computed once (`step_layout`); the GEMMs and TP syncs depend on the batch only through its token
count and LM-head rows and are memoised as a `GemmTiming` (shapes, no `Op` objects), so only the
attention ops and the vector work are built per step. `step_ops` assembles the same op list from
the same specs.
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


@dataclass(frozen=True, slots=True, eq=False)
class StepLayout:
    """Per-device constants of a step of `model` on one device of a `tp`-way group: element
    counts, bytes per element and per-token work that do not depend on the batch. Compared and
    hashed by identity (cheap cache keys); `step_layout` returns one object per (model, tp)."""

    model: ModelSpec
    tp: int
    layers: int
    h: int  # hidden size
    hd: int  # head dimension
    wb: int  # bytes per weight
    kvb: int  # bytes per KV element
    ab: int  # bytes per activation
    heads: int  # attention heads on this device
    kv_heads: int  # KV heads on this device (replicated when fewer than tp)
    qkv_n: int  # output columns of the QKV projection
    kv_row: int  # K and V bytes of one token in one layer on this device
    f: int  # FFN width on this device
    up_n: int  # output columns of the (gate+)up projection
    vec_elems_per_token: int  # vector-unit elements per token per layer
    vec_flops_per_token: int  # vector-unit ops per token per layer (softmax excluded)
    # The same ops by the GEMM they are fused with (name, ops per token per layer): the norm
    # before QKV and rotary after it; the residual add and the norm before the MLP; the
    # activation/gating between up and down and the residual add after down. Sums to
    # `vec_flops_per_token`.
    vec_by_gemm: tuple[tuple[str, int], ...] = ()


@lru_cache(maxsize=256)
def step_layout(model: ModelSpec, tp: int) -> StepLayout:
    """The batch-independent constants of `model`'s steps under `tp`-way tensor parallelism."""
    if tp <= 0:
        raise InputError(f"tp must be positive, got {tp}")
    if model.num_heads % tp:
        raise InputError(
            f"tp={tp} does not divide the {model.num_heads} attention heads of {model.name}"
        )
    h = model.hidden_size
    hd = model.head_dim
    heads = model.num_heads // tp
    kv_heads = max(1, model.num_kv_heads // tp)
    f = model.ffn_size // tp
    mlp = "moe" if model.num_experts > 1 else "mlp"
    # Per token per layer: 2 norms (≈ 4 ops/elem on h), rotary on q,k (≈ 6 ops/elem), the
    # activation and gating (≈ 8 ops/elem on f), 2 residual adds (1 op/elem on h); softmax
    # (≈ 5 ops per score element) is added per step from the attention ops.
    return StepLayout(
        model=model,
        tp=tp,
        layers=model.num_layers,
        h=h,
        hd=hd,
        wb=model.bytes_per_weight,
        kvb=model.bytes_per_kv,
        ab=model.bytes_per_activation,
        heads=heads,
        kv_heads=kv_heads,
        qkv_n=(heads + 2 * kv_heads) * hd,
        kv_row=2 * kv_heads * hd * model.bytes_per_kv,
        f=f,
        up_n=2 * f if model.gated_mlp else f,
        vec_elems_per_token=4 * h + (heads + kv_heads) * hd + f,
        vec_flops_per_token=10 * h + 6 * (heads + kv_heads) * hd + 8 * f,
        vec_by_gemm=(
            ("qkv_proj", 4 * h + 6 * (heads + kv_heads) * hd),
            (f"{mlp}_up", 5 * h),
            (f"{mlp}_down", 8 * f + h),
        ),
    )


@dataclass(frozen=True, slots=True, eq=False)
class GemmTiming:
    """What the perf models need from a step's GEMMs and TP syncs, which depends on the token
    counts only through `m` and the LM-head rows (not on how many tokens are decode tokens):
    the GEMMs in op order as (name, m, k, n, repeat), the syncs as (message_bytes, repeat), and
    the FLOPs of all of them. Compared and hashed by identity; `gemm_timing` memoises them."""

    layout: StepLayout
    shapes: tuple[tuple[str, int, int, int, int], ...]
    syncs: tuple[tuple[int, int], ...]
    flops: int


# One GEMM or sync of a step: (name, m, m_decode, k, n, repeat); a sync has k = n = 0 and
# m = the tokens whose hidden state it carries.
_Spec = tuple[str, int, int, int, int, int]


def _gemm_specs(layout: StepLayout, m: int, md: int, logits_rows: int) -> list[_Spec]:
    """The GEMMs and TP syncs of a step in op order: QKV | attention goes here | O, sync,
    MLP (dense or MoE), sync, LM head (only for `logits_rows` > 0)."""
    model = layout.model
    layers, h, hd = layout.layers, layout.h, layout.hd
    specs: list[_Spec] = [
        ("qkv_proj", m, md, h, layout.qkv_n, layers),
        ("o_proj", m, md, layout.heads * hd, h, layers),
    ]
    if layout.tp > 1:
        specs.append(("tp_sync_attn", m, 0, 0, 0, layers))
    f, up_n = layout.f, layout.up_n
    if model.num_experts > 1:
        routed = m * model.experts_per_token
        active = _expected_active_experts(model.num_experts, model.experts_per_token, m)
        n_active = max(1, math.ceil(active - 1e-9))
        per_expert = max(1, math.ceil(routed / n_active))
        per_expert_d = math.ceil(md * model.experts_per_token / n_active)
        specs.append(("router", m, md, h, model.num_experts, layers))
        specs.append(("moe_up", per_expert, per_expert_d, h, up_n, layers * n_active))
        specs.append(("moe_down", per_expert, per_expert_d, f, h, layers * n_active))
    else:
        specs.append(("mlp_up", m, md, h, up_n, layers))
        specs.append(("mlp_down", m, md, f, h, layers))
    if layout.tp > 1:
        specs.append(("tp_sync_mlp", m, 0, 0, 0, layers))
    if logits_rows:
        specs.append(("lm_head", logits_rows, md, h, model.vocab_size // layout.tp, 1))
    return specs


def _spec_op(layout: StepLayout, spec: _Spec) -> Op:
    name, m, md, k, n, repeat = spec
    if not k:
        message_bytes = m * layout.h * layout.ab
        return Op(name, OpKind.COLLECTIVE, repeat, m=m, message_bytes=message_bytes)
    return _gemm(name, m, md, k, n, repeat, layout.wb, layout.ab)


@lru_cache(maxsize=16384)
def gemm_timing(layout: StepLayout, m: int, logits_rows: int) -> GemmTiming:
    """The timing-relevant view of the GEMMs and syncs of a step of `m` tokens with
    `logits_rows` LM-head rows (see `GemmTiming`)."""
    specs = _gemm_specs(layout, m, 0, logits_rows)
    shapes = tuple((name, sm, k, n, repeat) for name, sm, _, k, n, repeat in specs if k)
    syncs = tuple((sm * layout.h * layout.ab, repeat) for _, sm, _, k, _, repeat in specs if not k)
    return GemmTiming(
        layout=layout,
        shapes=shapes,
        syncs=syncs,
        flops=sum(2 * sm * k * n * repeat for _, sm, k, n, repeat in shapes),
    )


@dataclass(frozen=True, slots=True)
class StepParts:
    """A step's ops grouped for the perf models: the GEMMs and syncs (`gemms`, shared by all
    steps with the same token counts), the attention ops (None when the step has no prefill /
    no decode part) and the vector work (`vector_flops` per layer). `ops()` gives the full op
    list."""

    layout: StepLayout
    gemms: GemmTiming
    attn_prefill: Op | None
    attn_decode: Op | None
    tokens: int
    decode_tokens: int
    logits_rows: int
    vector_flops: int

    def vector_op(self) -> Op:
        lay = self.layout
        return Op(
            name="vector",
            kind=OpKind.VECTOR,
            repeat=lay.layers,
            m=self.tokens,
            act_bytes=2 * self.tokens * lay.vec_elems_per_token * lay.ab,
            flops=self.vector_flops,
        )

    def ops(self) -> tuple[Op, ...]:
        """The op list in execution order (see `step_ops`)."""
        lay = self.layout
        specs = _gemm_specs(lay, self.tokens, self.decode_tokens, self.logits_rows)
        gemms = [_spec_op(lay, spec) for spec in specs]
        attn = [op for op in (self.attn_prefill, self.attn_decode) if op is not None]
        lm = gemms[-1:] if self.logits_rows else []
        rest = gemms[1 : len(gemms) - len(lm)]
        return (gemms[0], *attn, *rest, self.vector_op(), *lm)

    @property
    def total_flops(self) -> int:
        """FLOPs of the whole step (all ops × repeats)."""
        per_layer = self.vector_flops
        if self.attn_prefill is not None:
            per_layer += self.attn_prefill.flops
        if self.attn_decode is not None:
            per_layer += self.attn_decode.flops
        return self.gemms.flops + per_layer * self.layout.layers


def step_parts(model: ModelSpec, batch: BatchComposition, tp: int = 1) -> StepParts:
    """The ops of one step on one device of a `tp`-way group, grouped (see `StepParts`)."""
    lay = step_layout(model, tp)
    layers, hd, heads, kv_heads, kv_row, ab = (
        lay.layers,
        lay.hd,
        lay.heads,
        lay.kv_heads,
        lay.kv_row,
        lay.ab,
    )
    md = batch.decode_count
    score_elements = 0
    prefill_op = decode_op = None
    t = finishing = 0
    if batch.prefill:
        # Causal: a chunk of t tokens after c cached ones attends to c + (t+1)/2 keys on avg.
        pairs: float = 0
        cached = longest = 0
        for ch in batch.prefill:
            pairs += ch.tokens * (ch.context + (ch.tokens + 1) / 2)
            cached += ch.context
            t += ch.tokens
            longest = max(longest, ch.context + ch.tokens)
            finishing += ch.last
        score_elements += int(pairs * heads)
        prefill_op = Op(
            name="attn_prefill",
            kind=OpKind.ATTN_PREFILL,
            repeat=layers,
            m=t,
            k=hd,
            n=longest,
            kv_bytes=cached * kv_row,
            kv_write_bytes=t * kv_row,
            act_bytes=2 * t * heads * hd * ab,
            flops=int(4 * pairs * heads * hd),
            heads=heads,
            kv_heads=kv_heads,
            extra=(("chunks", len(batch.prefill)), ("score_elements", int(pairs * heads))),
        )
    if md:
        ctx = batch.decode_context_sum
        score_elements += ctx * heads
        decode_op = Op(
            name="attn_decode",
            kind=OpKind.ATTN_DECODE,
            repeat=layers,
            m=md,
            k=hd,
            n=ctx // md,
            m_decode=md,
            kv_bytes=ctx * kv_row,
            kv_write_bytes=md * kv_row,
            act_bytes=2 * md * heads * hd * ab,
            flops=4 * ctx * heads * hd,
            heads=heads,
            kv_heads=kv_heads,
            extra=(("score_elements", ctx * heads),),
        )
    m = t + md
    return StepParts(
        layout=lay,
        gemms=gemm_timing(lay, m, md + finishing),
        decode_tokens=md,
        logits_rows=md + finishing,
        attn_prefill=prefill_op,
        attn_decode=decode_op,
        tokens=m,
        vector_flops=m * lay.vec_flops_per_token + 5 * score_elements,
    )


@lru_cache(maxsize=65536)
def step_ops(model: ModelSpec, batch: BatchComposition, tp: int = 1) -> tuple[Op, ...]:
    """The op list of one step on one device of a `tp`-way tensor-parallel group: QKV
    projection, prefill and decode attention, O projection, TP sync, MLP (dense or MoE), TP
    sync, vector work, LM head (only the last token of each finishing prefill chunk and every
    decode token)."""
    return step_parts(model, batch, tp).ops()


def total_weight_bytes(ops: tuple[Op, ...]) -> int:
    return sum(op.weight_bytes * op.repeat for op in ops)
