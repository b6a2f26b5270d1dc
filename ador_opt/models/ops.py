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
    # LM-head rows beyond the last token of each finishing chunk and the decode tokens: a
    # speculative verification scores every proposed position (perf/speculative.py).
    extra_logits: int = 0

    def __post_init__(self) -> None:
        if self.decode_count < 0 or self.decode_context_sum < 0 or self.extra_logits < 0:
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
    weight_bytes: float = 0  # fractional only for 4-bit formats
    kv_bytes: float = 0  # KV cache bytes read from DRAM (attention)
    kv_write_bytes: float = 0  # new KV written (attention)
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
    def total_dram_bytes(self) -> float:
        return (self.weight_bytes + self.kv_bytes + self.kv_write_bytes) * self.repeat


def _expected_active_experts(num_experts: int, top_k: int, tokens: int) -> float:
    """Distinct experts hit when `tokens` tokens each pick `top_k` of `num_experts` uniformly."""
    if num_experts == 1:
        return 1.0
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** tokens)


def _gemm(name: str, m: int, m_decode: int, k: int, n: int, repeat: int, wb: float, ab: int) -> Op:
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
    wb: float  # bytes per weight (fractional for 4-bit formats)
    kvb: float  # bytes per KV element
    ab: int  # bytes per activation
    heads: int  # attention heads on this device
    kv_heads: int  # KV heads on this device (replicated when fewer than tp)
    qkv_n: int  # output columns of the QKV projection
    kv_row: float  # K and V bytes of one token in one layer on this device
    f: int  # FFN width on this device
    up_n: int  # output columns of the (gate+)up projection
    vec_elems_per_token: int  # vector-unit elements per token per layer
    vec_flops_per_token: int  # vector-unit ops per token per layer (softmax excluded)
    # The same ops by the GEMM they are fused with (name, ops per token per layer): the norm
    # before QKV and rotary after it; the residual add and the norm before the MLP; the
    # activation/gating between up and down and the residual add after down. Sums to
    # `vec_flops_per_token`.
    vec_by_gemm: tuple[tuple[str, int], ...] = ()
    # --- model families (docs/model.md "Model families") ---------------------------------
    mla: bool = False  # multi-head latent attention: absorbed decode, expanded prefill
    f_exp: int = 0  # width of one routed/shared expert on this device
    up_exp: int = 0  # output columns of one expert's (gate+)up projection
    # Attention of prefill and decode: query heads, KV heads and the QK / V dims per head
    # (GQA: hd and v for both; MLA prefill: 128-head MHA over up-projected K/V; MLA decode:
    # every head against the one shared latent of kv_lora + rope, values of kv_lora).
    pre_kv_heads: int = 0
    pre_qk: int = 0
    pre_v: int = 0
    dec_kv_heads: int = 0
    dec_qk: int = 0
    dec_v: int = 0
    full_layers: int = 0  # layers attending to the whole context
    window_layers: int = 0  # sliding-window layers
    window: int = 0  # their window (tokens)
    sinks: bool = False  # one sink logit per head joins every softmax row


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
    f_exp = max(1, model.expert_ffn_size // tp)
    v = model.value_head_dim
    mult = 2 if model.gated_mlp else 1
    if model.is_mla:
        # The latent cache is not split by heads: every device of the group holds all of it.
        latent = model.kv_lora_rank + model.qk_rope_head_dim
        kv_row = latent * model.bytes_per_kv
        qkv_n = heads * hd + latent
        pre = (heads, hd, v)
        dec = (1, latent, model.kv_lora_rank)
        rope_elems = heads * model.qk_rope_head_dim + model.qk_rope_head_dim
    else:
        kv_row = 2 * kv_heads * hd * model.bytes_per_kv
        qkv_n = (heads + 2 * kv_heads) * hd
        pre = dec = (kv_heads, hd, v)
        rope_elems = (heads + kv_heads) * hd
    # FFN elements a token activates per layer on this device, averaged over the layers
    # (dense layers: f; MoE layers: top-k + shared experts of f_exp each).
    active = model.experts_per_token + model.num_shared_experts
    f_act = (model.mlp_dense_layers * f + model.moe_layers * active * f_exp) // model.num_layers
    mlp = "moe" if model.moe_layers >= model.mlp_dense_layers else "mlp"
    first = "kv_a_proj" if model.is_mla else "qkv_proj"
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
        qkv_n=qkv_n,
        kv_row=kv_row,
        f=f,
        up_n=mult * f,
        vec_elems_per_token=4 * h + rope_elems + f_act,
        vec_flops_per_token=10 * h + 6 * rope_elems + 8 * f_act,
        vec_by_gemm=(
            (first, 4 * h + 6 * rope_elems),
            (f"{mlp}_up", 5 * h),
            (f"{mlp}_down", 8 * f_act + h),
        ),
        mla=model.is_mla,
        f_exp=f_exp,
        up_exp=mult * f_exp,
        pre_kv_heads=pre[0],
        pre_qk=pre[1],
        pre_v=pre[2],
        dec_kv_heads=dec[0],
        dec_qk=dec[1],
        dec_v=dec[2],
        full_layers=model.full_attention_layers,
        window_layers=model.sliding_window_layers,
        window=model.sliding_window,
        sinks=model.attention_sinks,
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


def _attn_proj_specs(layout: StepLayout, m: int, md: int) -> list[_Spec]:
    """Projections before attention. GQA: one fused QKV GEMM. MLA (DeepSeek-V3): q_a/q_b (or
    q), kv_a to the latent (both replicated across the TP group, not split), the kv_b
    up-projection of the prefill tokens' latents to per-head K and V (expanded prefill), and
    for decode tokens the absorbed W_UK (q_nope → latent space, one GEMM per head, batched)."""
    model, layers, h, hd = layout.model, layout.layers, layout.h, layout.hd
    if not layout.mla:
        return [("qkv_proj", m, md, h, layout.qkv_n, layers)]
    heads, rank = layout.heads, model.kv_lora_rank
    nope = hd - model.qk_rope_head_dim
    specs: list[_Spec] = []
    if model.q_lora_rank:
        specs.append(("q_a_proj", m, md, h, model.q_lora_rank, layers))
        specs.append(("q_b_proj", m, md, model.q_lora_rank, heads * hd, layers))
    else:
        specs.append(("q_proj", m, md, h, heads * hd, layers))
    specs.append(("kv_a_proj", m, md, h, rank + model.qk_rope_head_dim, layers))
    if m > md:
        specs.append(("kv_b_proj", m - md, 0, rank, heads * (nope + layout.pre_v), layers))
    if md:
        specs.append(("q_absorb", md, md, nope, heads * rank, layers))
    return specs


def _gemm_specs(layout: StepLayout, m: int, md: int, logits_rows: int) -> list[_Spec]:
    """The GEMMs and TP syncs of a step in op order: attention projections | attention goes
    here | (MLA decode: absorbed W_UV) O, sync, MLP (dense layers, then MoE layers: router,
    routed experts, shared experts), sync, LM head (only for `logits_rows` > 0)."""
    model = layout.model
    layers, h = layout.layers, layout.h
    specs = _attn_proj_specs(layout, m, md)
    if layout.mla and md:
        v = layout.pre_v
        specs.append(("v_absorb", md, md, model.kv_lora_rank, layout.heads * v, layers))
    specs.append(("o_proj", m, md, layout.heads * layout.pre_v, h, layers))
    if layout.tp > 1:
        specs.append(("tp_sync_attn", m, 0, 0, 0, layers))
    dense, moe = model.mlp_dense_layers, model.moe_layers
    if dense:
        specs.append(("mlp_up", m, md, h, layout.up_n, dense))
        specs.append(("mlp_down", m, md, layout.f, h, dense))
    if moe:
        f, up_n = layout.f_exp, layout.up_exp
        routed = m * model.experts_per_token
        active = _expected_active_experts(model.num_experts, model.experts_per_token, m)
        n_active = max(1, math.ceil(active - 1e-9))
        per_expert = max(1, math.ceil(routed / n_active))
        per_expert_d = math.ceil(md * model.experts_per_token / n_active)
        # The experts a step hits run as one grouped GEMM per layer (vLLM's fused_moe,
        # TensorRT-LLM's MoE plugin): `per_expert` rows against the n_active experts' weights
        # side by side — the FLOPs and weight bytes of n_active GEMMs, one kernel.
        specs.append(("router", m, md, h, model.num_experts, moe))
        specs.append(("moe_up", per_expert, per_expert_d, h, up_n * n_active, moe))
        specs.append(("moe_down", per_expert, per_expert_d, f * n_active, h, moe))
        if model.num_shared_experts:
            shared = model.num_shared_experts
            specs.append(("shared_up", m, md, h, shared * up_n, moe))
            specs.append(("shared_down", m, md, shared * f, h, moe))
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
def gemm_timing(
    layout: StepLayout, m: int, logits_rows: int, decode_tokens: int = 0
) -> GemmTiming:
    """The timing-relevant view of the GEMMs and syncs of a step of `m` tokens with
    `logits_rows` LM-head rows (see `GemmTiming`). `decode_tokens` matters only for MLA
    models, whose decode tokens take the absorbed projections (pass 0 otherwise)."""
    specs = _gemm_specs(layout, m, decode_tokens, logits_rows)
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
    steps with the same token counts), the attention ops of the full-attention layers (None
    when the step has no prefill / no decode part, or the model has no such layer), those of
    the sliding-window layers (`window_*`, None unless the model has them; `window_batch` is
    the batch as the windowed layers see it, see `window_chunks`) and the vector work
    (`vector_flops` per layer). `ops()` gives the full op list."""

    layout: StepLayout
    gemms: GemmTiming
    attn_prefill: Op | None
    attn_decode: Op | None
    tokens: int
    decode_tokens: int
    logits_rows: int
    vector_flops: int
    window_prefill: Op | None = None
    window_decode: Op | None = None
    window_batch: BatchComposition | None = None

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

    def attention_ops(self) -> tuple[Op, ...]:
        """Every attention op of the step (each with its own `repeat`)."""
        ops = (self.attn_prefill, self.attn_decode, self.window_prefill, self.window_decode)
        return tuple(op for op in ops if op is not None)

    def attention_groups(
        self, batch: BatchComposition
    ) -> tuple[tuple[Op | None, Op | None, BatchComposition, int], ...]:
        """(prefill op, decode op, the batch they see, layers) per kind of attention layer:
        full attention, then sliding-window."""
        groups = []
        if self.attn_prefill is not None or self.attn_decode is not None:
            groups.append((self.attn_prefill, self.attn_decode, batch, self.layout.full_layers))
        if self.window_prefill is not None or self.window_decode is not None:
            wb = self.window_batch if self.window_batch is not None else batch
            groups.append((self.window_prefill, self.window_decode, wb, self.layout.window_layers))
        return tuple(groups)

    def ops(self) -> tuple[Op, ...]:
        """The op list in execution order (see `step_ops`)."""
        lay = self.layout
        md = self.decode_tokens
        specs = _gemm_specs(lay, self.tokens, md, self.logits_rows)
        gemms = [_spec_op(lay, spec) for spec in specs]
        pre = len(_attn_proj_specs(lay, self.tokens, md))
        attn = list(self.attention_ops())
        lm = gemms[-1:] if self.logits_rows else []
        rest = gemms[pre : len(gemms) - len(lm)]
        return (*gemms[:pre], *attn, *rest, self.vector_op(), *lm)

    @property
    def total_flops(self) -> int:
        """FLOPs of the whole step (all ops × repeats)."""
        attn = sum(op.flops * op.repeat for op in self.attention_ops())
        return self.gemms.flops + self.vector_flops * self.layout.layers + attn


def _window_pairs(tokens: int, context: int, window: int) -> int:
    """Query-key pairs of a chunk of `tokens` after `context` cached ones when each query at
    position p (1-based) attends to min(p, window) keys (itself included)."""
    last = context + tokens
    below = min(last, window)
    pairs = (below * (below + 1) - context * (context + 1)) // 2 if below > context else 0
    return pairs + max(0, last - max(context, window)) * window


def window_chunks(chunk: PrefillChunk, window: int) -> tuple[PrefillChunk, ...]:
    """A prefill chunk as a sliding-window layer sees it, written as causal chunks whose
    t·(c + (t+1)/2) pairs add up to the windowed ones (`_window_pairs`): the queries still
    inside the first window attend causally as before; the later ones attend `window` keys
    each, i.e. pieces of w − 1 queries over w/2 cached keys (exact for even w; the last,
    shorter piece within half a key per query)."""
    t, c = chunk.tokens, chunk.context
    if c + t <= window:
        return (chunk,)
    head = max(0, window - c)
    out = [PrefillChunk(head, c, False)] if head else []
    rest = t - head
    size = max(1, window - 1)
    full, tail = divmod(rest, size)
    ctx = window - window // 2
    out.extend(PrefillChunk(size, ctx, False) for _ in range(full))
    if tail:
        out.append(PrefillChunk(tail, max(0, window - (tail + 1) // 2), False))
    return tuple(out)


def _prefill_attention(
    lay: StepLayout, batch: BatchComposition, window: int, repeat: int, name: str
) -> tuple[Op, int, int]:
    """Attention of the prefill chunks in `repeat` layers that attend to the whole context
    (`window` = 0) or to the last `window` tokens."""
    heads, kv_heads, qk, v, kv_row, ab = (
        lay.heads,
        lay.pre_kv_heads,
        lay.pre_qk,
        lay.pre_v,
        lay.kv_row,
        lay.ab,
    )
    pairs: float = 0
    cached = longest = t = finishing = 0
    for ch in batch.prefill:
        finishing += ch.last
        if window:
            pairs += _window_pairs(ch.tokens, ch.context, window)
            cached += min(ch.context, window)
            longest = max(longest, min(window, ch.context + ch.tokens))
        else:
            # Causal: a chunk of t tokens after c cached ones attends to c + (t+1)/2 keys.
            pairs += ch.tokens * (ch.context + (ch.tokens + 1) / 2)
            cached += ch.context
            longest = max(longest, ch.context + ch.tokens)
        t += ch.tokens
    scores = int(pairs * heads) + (t * heads if lay.sinks else 0)
    op = Op(
        name=name,
        kind=OpKind.ATTN_PREFILL,
        repeat=repeat,
        m=t,
        k=(qk + v) // 2,
        n=longest,
        kv_bytes=cached * kv_row,
        kv_write_bytes=t * kv_row,
        act_bytes=t * heads * (qk + v) * ab,
        flops=int(2 * pairs * heads * (qk + v)),
        heads=heads,
        kv_heads=kv_heads,
        extra=(("chunks", len(batch.prefill)), ("score_elements", scores)),
    )
    return op, scores, finishing


def _decode_attention(
    lay: StepLayout, md: int, ctx: int, repeat: int, name: str
) -> tuple[Op, int]:
    """Attention of `md` decode tokens over `ctx` cached tokens in total, in `repeat` layers."""
    heads, kv_heads, qk, v = lay.heads, lay.dec_kv_heads, lay.dec_qk, lay.dec_v
    scores = ctx * heads + (md * heads if lay.sinks else 0)
    op = Op(
        name=name,
        kind=OpKind.ATTN_DECODE,
        repeat=repeat,
        m=md,
        k=(qk + v) // 2,
        n=ctx // md,
        m_decode=md,
        kv_bytes=ctx * lay.kv_row,
        kv_write_bytes=md * lay.kv_row,
        act_bytes=md * heads * (qk + v) * lay.ab,
        flops=2 * ctx * heads * (qk + v),
        heads=heads,
        kv_heads=kv_heads,
        extra=(("score_elements", scores),),
    )
    return op, scores


def step_parts(model: ModelSpec, batch: BatchComposition, tp: int = 1) -> StepParts:
    """The ops of one step on one device of a `tp`-way group, grouped (see `StepParts`).

    Sliding-window layers see each decode request's context capped at the window; with only
    the batch's context sum known, the cap is applied to the sum (min(Σ c, n·w)), which is
    exact when every context is ≥ w or every one ≤ w (docs/model.md)."""
    lay = step_layout(model, tp)
    md = batch.decode_count
    prefill_op = decode_op = window_pre = window_dec = window_batch = None
    t = finishing = 0
    full, win = lay.full_layers, lay.window_layers
    score_layers = 0  # Σ over layers of their softmax score elements
    if batch.prefill:
        if full:
            prefill_op, scores, finishing = _prefill_attention(lay, batch, 0, full, "attn_prefill")
            score_layers += scores * full
            t = prefill_op.m
        if win:
            window_pre, scores, finishing = _prefill_attention(
                lay, batch, lay.window, win, "attn_prefill_window"
            )
            score_layers += scores * win
            t = window_pre.m
            window_batch = BatchComposition(
                prefill=tuple(
                    piece for ch in batch.prefill for piece in window_chunks(ch, lay.window)
                ),
                decode_count=md,
                decode_context_sum=min(batch.decode_context_sum, md * lay.window),
            )
    if md:
        ctx = batch.decode_context_sum
        if full:
            decode_op, scores = _decode_attention(lay, md, ctx, full, "attn_decode")
            score_layers += scores * full
        if win:
            wctx = min(ctx, md * lay.window)
            window_dec, scores = _decode_attention(lay, md, wctx, win, "attn_decode_window")
            score_layers += scores * win
            if window_batch is None:
                window_batch = BatchComposition(decode_count=md, decode_context_sum=wctx)
    m = t + md
    return StepParts(
        layout=lay,
        # Same call shape as every other caller so the memo is shared (MLA adds the split).
        gemms=gemm_timing(lay, m, md + finishing + batch.extra_logits, md)
        if lay.mla
        else gemm_timing(lay, m, md + finishing + batch.extra_logits),
        decode_tokens=md,
        logits_rows=md + finishing + batch.extra_logits,
        attn_prefill=prefill_op,
        attn_decode=decode_op,
        tokens=m,
        vector_flops=m * lay.vec_flops_per_token + 5 * score_layers // lay.layers,
        window_prefill=window_pre,
        window_decode=window_dec,
        window_batch=window_batch,
    )


@lru_cache(maxsize=65536)
def step_ops(model: ModelSpec, batch: BatchComposition, tp: int = 1) -> tuple[Op, ...]:
    """The op list of one step on one device of a `tp`-way tensor-parallel group: QKV
    projection, prefill and decode attention, O projection, TP sync, MLP (dense or MoE), TP
    sync, vector work, LM head (only the last token of each finishing prefill chunk and every
    decode token)."""
    return step_parts(model, batch, tp).ops()


def total_weight_bytes(ops: tuple[Op, ...]) -> float:
    return sum(op.weight_bytes * op.repeat for op in ops)
