"""`ModelSpec`: the shape of a decoder-only transformer, with derived sizes.

All sizes are element counts unless the name carries a unit (`_bytes`). Parameter counting follows
the published architectures: attention Q/K/V/O projections, an MLP that is gated (SwiGLU or
GeGLU: gate, up, down) or plain (up, down), RMS/LayerNorm weights, an optional MoE router, token
embeddings and an LM head that may be tied to the embeddings (Gemma, BLOOM).

Model families (docs/model.md "Model families"): MoE with routed experts of their own width,
always-active shared experts and leading dense layers (DeepSeek-V3, Qwen3-MoE, gpt-oss,
Mixtral); multi-head latent attention (MLA, DeepSeek-V2/V3: a compressed KV latent of
`kv_lora_rank` plus a shared rotary key of `qk_rope_head_dim` per token and layer); sliding-
window attention on some layers and per-head attention sinks (gpt-oss).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum

from ador_opt.errors import InputError

# Every size of a model fits a signed 32-bit integer (the largest published: vocab ≈ 256 k,
# FFN ≈ 53 k, context 10 M); beyond it products overflow float64 exactness.
MAX_MODEL_COUNT = 2**31 - 1


class Precision(StrEnum):
    """Numeric format of the weights and the KV cache (activations between layers stay 16 bit).

    `fp8` and `int8` both store one byte per element; they differ in the compute rate the
    hardware offers for them (GPU FP8 vs INT8 tensor peaks, an array's int8 MAC rate)."""

    FP16 = "fp16"
    FP8 = "fp8"
    INT8 = "int8"

    @property
    def bytes_per_element(self) -> int:
        return 2 if self is Precision.FP16 else 1


# MLP activation functions of the gated (GLU) or plain MLP. The vector-unit work of the op list
# counts ≈ 8 ops per FFN element for either (models/ops.py); the field records the architecture.
ACTIVATIONS = ("silu", "gelu", "relu")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A decoder-only LLM. Field names carry units where they are not element counts."""

    name: str
    num_layers: int
    hidden_size: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    ffn_size: int
    vocab_size: int
    gated_mlp: bool = True
    activation: str = "silu"  # "silu" (SwiGLU when gated), "gelu" (GeGLU when gated), "relu"
    tied_embeddings: bool = False
    num_experts: int = 1
    experts_per_token: int = 1
    # --- MoE layout (0 = the dense defaults) -------------------------------------------------
    moe_ffn_size: int = 0  # width of one routed expert (HF moe_intermediate_size); 0 → ffn_size
    num_shared_experts: int = 0  # always-active experts per MoE layer, moe_ffn_size wide each
    dense_layers: int = 0  # layers of a MoE model with a dense ffn_size MLP (DeepSeek: first k)
    expert_bias: bool = False  # biases on expert projections and the router (gpt-oss)
    # --- multi-head latent attention (MLA; kv_lora_rank > 0 turns it on) -------------------
    # head_dim is the query/key head dim (qk_nope_head_dim + qk_rope_head_dim for MLA).
    kv_lora_rank: int = 0  # compressed KV latent per token and layer (DeepSeek-V3: 512)
    q_lora_rank: int = 0  # compressed query rank; 0 → a plain hidden → heads·head_dim query
    qk_rope_head_dim: int = 0  # rotary part of head_dim, one key shared by all heads (64)
    v_head_dim: int = 0  # value head dim; 0 → head_dim
    # --- sliding-window attention and sinks --------------------------------------------------
    sliding_window: int = 0  # tokens a windowed layer attends to (and keeps in KV); 0 → none
    sliding_window_layers: int = 0  # how many layers are windowed (gpt-oss: every other)
    attention_sinks: bool = False  # one learned sink logit per head and layer (gpt-oss)
    qk_norm: bool = False  # per-head RMSNorm of q and k (Qwen3): 2·head_dim weights per layer
    attention_bias: bool = False  # biases on q, k, v and o only, RMSNorm kept (gpt-oss)
    linear_bias: bool = False  # BLOOM-style biases on every projection
    max_context: int = 4096
    bytes_per_weight: int = 2
    bytes_per_kv: int = 2
    bytes_per_activation: int = 2
    precision: Precision = Precision.FP16  # what `bytes_per_weight`/`bytes_per_kv` encode

    def __post_init__(self) -> None:
        positive = (
            "num_layers",
            "hidden_size",
            "num_heads",
            "num_kv_heads",
            "head_dim",
            "ffn_size",
            "vocab_size",
            "num_experts",
            "experts_per_token",
            "max_context",
            "bytes_per_weight",
            "bytes_per_kv",
            "bytes_per_activation",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise InputError(f"model {self.name!r}: {name} must be a positive integer")
            if value > MAX_MODEL_COUNT:
                raise InputError(
                    f"model {self.name!r}: {name} must be at most {MAX_MODEL_COUNT:,}, got "
                    f"{value:.3g}"
                )
        non_negative = (
            "moe_ffn_size",
            "num_shared_experts",
            "dense_layers",
            "kv_lora_rank",
            "q_lora_rank",
            "qk_rope_head_dim",
            "v_head_dim",
            "sliding_window",
            "sliding_window_layers",
        )
        for name in non_negative:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InputError(f"model {self.name!r}: {name} must be a non-negative integer")
            if value > MAX_MODEL_COUNT:
                raise InputError(
                    f"model {self.name!r}: {name} must be at most {MAX_MODEL_COUNT:,}, got "
                    f"{value:.3g}"
                )
        if self.dense_layers > self.num_layers or self.sliding_window_layers > self.num_layers:
            raise InputError(
                f"model {self.name!r}: dense_layers and sliding_window_layers must not exceed "
                f"num_layers ({self.num_layers})"
            )
        if self.sliding_window_layers and not self.sliding_window:
            raise InputError(
                f"model {self.name!r}: sliding_window_layers needs a positive sliding_window"
            )
        if self.kv_lora_rank and self.qk_rope_head_dim >= self.head_dim:
            raise InputError(
                f"model {self.name!r}: qk_rope_head_dim ({self.qk_rope_head_dim}) must be "
                f"smaller than head_dim ({self.head_dim}, nope + rope)"
            )
        if self.num_heads % self.num_kv_heads:
            raise InputError(
                f"model {self.name!r}: num_heads ({self.num_heads}) must be a multiple of "
                f"num_kv_heads ({self.num_kv_heads})"
            )
        if self.experts_per_token > self.num_experts:
            raise InputError(f"model {self.name!r}: experts_per_token exceeds num_experts")
        if self.activation not in ACTIVATIONS:
            raise InputError(
                f"model {self.name!r}: activation must be one of {', '.join(ACTIVATIONS)}, "
                f"got {self.activation!r}"
            )
        try:
            object.__setattr__(self, "precision", Precision(self.precision))
        except ValueError:
            known = ", ".join(p.value for p in Precision)
            raise InputError(
                f"model {self.name!r}: unknown precision {self.precision!r}; known: {known}"
            ) from None

    # --- family flags ----------------------------------------------------------------------
    @property
    def is_moe(self) -> bool:
        return self.num_experts > 1

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def moe_layers(self) -> int:
        """Layers whose MLP is a mixture of experts."""
        return self.num_layers - self.dense_layers if self.is_moe else 0

    @property
    def mlp_dense_layers(self) -> int:
        """Layers with a dense `ffn_size` MLP."""
        return self.num_layers - self.moe_layers

    @property
    def expert_ffn_size(self) -> int:
        """Width of one routed (and one shared) expert."""
        return self.moe_ffn_size or self.ffn_size

    @property
    def ffn_active_size(self) -> int:
        """FFN width one token activates per layer, averaged over the layers (dense: ffn_size;
        MoE layers: top-k routed + shared experts of expert_ffn_size each)."""
        active = (self.experts_per_token + self.num_shared_experts) * self.expert_ffn_size
        if not self.is_moe:
            return self.ffn_size
        return (self.moe_layers * active + self.mlp_dense_layers * self.ffn_size) // (
            self.num_layers
        )

    @property
    def value_head_dim(self) -> int:
        return self.v_head_dim or self.head_dim

    @property
    def full_attention_layers(self) -> int:
        """Layers that attend to (and keep KV of) the whole context."""
        return self.num_layers - self.sliding_window_layers

    # --- per-layer parameter counts (elements) -------------------------------------------
    @property
    def q_size(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_size(self) -> int:
        return self.num_kv_heads * self.head_dim

    @property
    def attention_params(self) -> int:
        h = self.hidden_size
        extra = (2 * self.head_dim if self.qk_norm else 0) + (
            self.num_heads if self.attention_sinks else 0
        )
        if self.is_mla:
            return self._mla_params + extra
        weights = h * self.q_size + 2 * h * self.kv_size + self.q_size * h
        with_bias = self.linear_bias or self.attention_bias
        bias = (self.q_size + 2 * self.kv_size + h) if with_bias else 0
        return weights + bias + extra

    @property
    def _mla_params(self) -> int:
        """DeepSeek-V2/V3 MLA: q_a (h → q_lora) + its norm + q_b (q_lora → heads·head_dim), or
        a plain q (h → heads·head_dim); kv_a (h → kv_lora + rope) + its norm; kv_b (kv_lora →
        heads·(nope + v)); o (heads·v → h)."""
        h, heads = self.hidden_size, self.num_heads
        nope = self.head_dim - self.qk_rope_head_dim
        if self.q_lora_rank:
            q = h * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * heads * self.head_dim
        else:
            q = h * heads * self.head_dim
        kv_a = h * (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank
        kv_b = self.kv_lora_rank * heads * (nope + self.value_head_dim)
        o = heads * self.value_head_dim * h
        return q + kv_a + kv_b + o

    @property
    def mlp_matrices(self) -> int:
        """Weight matrices per expert: 3 for gated (gate, up, down), 2 for plain."""
        return 3 if self.gated_mlp else 2

    def _mlp_params(self, width: int, bias: bool) -> int:
        h = self.hidden_size
        b = ((self.mlp_matrices - 1) * width + h) if bias else 0
        return self.mlp_matrices * h * width + b

    @property
    def expert_params(self) -> int:
        """One routed (or shared) expert; equals the dense MLP for Mixtral-style MoE."""
        return self._mlp_params(self.expert_ffn_size, self.linear_bias or self.expert_bias)

    @property
    def dense_mlp_params(self) -> int:
        return self._mlp_params(self.ffn_size, self.linear_bias)

    @property
    def router_params(self) -> int:
        if not self.is_moe:
            return 0
        return self.hidden_size * self.num_experts + (self.num_experts if self.expert_bias else 0)

    @property
    def norm_params(self) -> int:
        # Two norms per layer; LayerNorm (bias models) has weight and bias.
        return 2 * self.hidden_size * (2 if self.linear_bias else 1)

    @property
    def moe_layer_params(self) -> int:
        """One MoE layer, every expert included (0 for dense models)."""
        if not self.is_moe:
            return 0
        experts = (self.num_experts + self.num_shared_experts) * self.expert_params
        return self.attention_params + experts + self.router_params + self.norm_params

    @property
    def dense_layer_params(self) -> int:
        return self.attention_params + self.dense_mlp_params + self.norm_params

    @property
    def layer_params(self) -> int:
        """Parameters of the layers averaged per layer (exact for uniform models)."""
        return self._layers_params // self.num_layers

    @property
    def _layers_params(self) -> int:
        return (
            self.moe_layers * self.moe_layer_params
            + self.mlp_dense_layers * self.dense_layer_params
        )

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def lm_head_params(self) -> int:
        return 0 if self.tied_embeddings else self.vocab_size * self.hidden_size

    @property
    def param_count(self) -> int:
        """Total parameters, all experts included."""
        final_norm = self.hidden_size * (2 if self.linear_bias else 1)
        embed_norm = 2 * self.hidden_size if self.linear_bias else 0  # BLOOM's embedding LN
        return (
            self._layers_params
            + self.embedding_params
            + self.lm_head_params
            + final_norm
            + embed_norm
        )

    @property
    def inactive_expert_params(self) -> int:
        """Routed-expert parameters one token does not touch (all MoE layers)."""
        idle = self.num_experts - self.experts_per_token
        return self.moe_layers * idle * self.expert_params

    @property
    def active_param_count(self) -> int:
        """Parameters of the model without the routed experts a token skips (top-k and shared
        experts kept; the embedding table counted whole — Mistral's and Qwen's convention)."""
        return self.param_count - self.inactive_expert_params

    @property
    def active_param_count_excl_embedding(self) -> int:
        """`active_param_count` without the input-embedding table (a lookup of one row; the
        LM head stays) — OpenAI's convention for gpt-oss, and DeepSeek's for V3's 37 B.
        Tied embeddings are the LM head, so they stay."""
        table = 0 if self.tied_embeddings else self.embedding_params
        return self.active_param_count - table

    @property
    def linear_params_per_token(self) -> int:
        """Weights every token multiplies with: each layer's projections (top-k routed plus
        shared experts of MoE layers), the router and the LM head (no norms, no embedding
        lookup, no sinks)."""
        extra = (2 * self.head_dim if self.qk_norm else 0) + (
            self.num_heads if self.attention_sinks else 0
        )
        attn = self.attention_params - extra
        active_experts = self.experts_per_token + self.num_shared_experts
        moe = attn + active_experts * self.expert_params + self.router_params
        dense = attn + self.dense_mlp_params
        return (
            self.moe_layers * moe
            + self.mlp_dense_layers * dense
            + self.vocab_size * self.hidden_size
        )

    @property
    def weight_bytes(self) -> int:
        return self.param_count * self.bytes_per_weight

    # --- KV cache (docs/model.md "KV bytes per token") ------------------------------------
    @property
    def kv_elements_per_layer(self) -> int:
        """KV elements one token stores in one layer: K and V of every KV head, or MLA's
        latent plus its shared rotary key (kv_lora_rank + qk_rope_head_dim)."""
        if self.is_mla:
            return self.kv_lora_rank + self.qk_rope_head_dim
        return 2 * self.num_kv_heads * self.head_dim

    @property
    def kv_bytes_per_token(self) -> int:
        """KV bytes of one token in the full-attention layers (all layers unless some are
        windowed; see `kv_bytes`)."""
        return self.full_attention_layers * self.kv_elements_per_layer * self.bytes_per_kv

    @property
    def kv_window_bytes_per_token(self) -> int:
        """KV bytes of one token in the sliding-window layers, held for the last
        `sliding_window` tokens only."""
        return self.sliding_window_layers * self.kv_elements_per_layer * self.bytes_per_kv

    def kv_bytes(self, context: int) -> int:
        """KV bytes of one request holding `context` tokens: every token in the full layers,
        at most `sliding_window` tokens in the windowed ones."""
        window = min(context, self.sliding_window) if self.sliding_window_layers else 0
        return context * self.kv_bytes_per_token + window * self.kv_window_bytes_per_token

    def with_precision(self, precision: Precision | str) -> ModelSpec:
        """Copy with weights and KV cache in `precision` (fp8 and int8 keep 16-bit activations
        between layers as 8-bit serving engines do; weights and KV are 8 bit)."""
        try:
            p = Precision(precision)
        except ValueError:
            known = ", ".join(q.value for q in Precision)
            raise InputError(f"unknown precision {precision!r}; known: {known}") from None
        return dataclasses.replace(
            self,
            bytes_per_weight=p.bytes_per_element,
            bytes_per_kv=p.bytes_per_element,
            precision=p,
        )

    def to_dict(self) -> dict[str, object]:
        out = dataclasses.asdict(self)
        out["precision"] = self.precision.value
        return out
