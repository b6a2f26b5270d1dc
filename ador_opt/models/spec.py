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
import math
from dataclasses import dataclass
from enum import StrEnum

from ador_opt.errors import InputError

# Every size of a model fits a signed 32-bit integer (the largest published: vocab ≈ 256 k,
# FFN ≈ 53 k, context 10 M); beyond it products overflow float64 exactness.
MAX_MODEL_COUNT = 2**31 - 1


class Precision(StrEnum):
    """Numeric format of one tensor kind (weights, GEMM input activations or the KV cache).

    `fp8` and `int8` both store one byte per element; they differ in the compute rate the
    hardware offers for them (GPU FP8 vs INT8 tensor peaks, an array's int8 MAC rate). `int4`
    is group-quantised as GPTQ/AWQ ship it (4-bit elements + one fp16 scale per 128 elements =
    4.125 bits); `fp4` is MXFP4 as gpt-oss ships it (OCP Microscaling: 4-bit E2M1 elements + one
    8-bit E8M0 scale per 32 elements = 4.25 bits). docs/model.md "Numeric formats"."""

    FP16 = "fp16"
    FP8 = "fp8"
    INT8 = "int8"
    INT4 = "int4"
    FP4 = "fp4"

    @property
    def bits_per_element(self) -> float:
        """Stored bits per element, block scales included."""
        return _BITS[self]

    @property
    def bytes_per_element(self) -> float:
        """Stored bytes per element (2, 1, 0.515625 for int4 g128, 0.53125 for MXFP4); an int
        for the byte-aligned formats so existing integer byte counts stay integers."""
        bits = _BITS[self]
        return int(bits) // 8 if bits % 8 == 0 else bits / 8

    @property
    def scale_block(self) -> int:
        """Elements sharing one scale (int4: 128, MXFP4: 32); 0: per tensor / per channel."""
        return _SCALE_BLOCK.get(self, 0)

    @property
    def width_bits(self) -> int:
        """Nominal element width (16, 8 or 4): what a MAC of this format multiplies."""
        return _WIDTH[self]


# Bits per stored element. int4: GPTQ/AWQ group size 128 with one fp16 scale per group
# (Frantar et al. 2023; Lin et al. 2024); fp4: OCP Microscaling Formats (MX) v1.0 — MXFP4 is
# E2M1 elements in blocks of 32 sharing one E8M0 scale, the format of gpt-oss's MoE weights.
_BITS: dict[Precision, float] = {
    Precision.FP16: 16.0,
    Precision.FP8: 8.0,
    Precision.INT8: 8.0,
    Precision.INT4: 4.0 + 16.0 / 128,
    Precision.FP4: 4.0 + 8.0 / 32,
}
_SCALE_BLOCK: dict[Precision, int] = {Precision.INT4: 128, Precision.FP4: 32}
_WIDTH: dict[Precision, int] = {
    Precision.FP16: 16,
    Precision.FP8: 8,
    Precision.INT8: 8,
    Precision.INT4: 4,
    Precision.FP4: 4,
}
# Spellings accepted on the command line and in study specs for one format.
PRECISION_ALIASES = {"bf16": "fp16", "mxfp4": "fp4"}
# Named schemes (`--precision`): (weights, GEMM activations, KV cache). fp8/int8 are W8A8 with an
# 8-bit KV cache (what `--precision fp8|int8` always meant); w8a16/w4a16 are weight-only (the GEMMs
# run at 16 bit after dequantisation, KV stays 16 bit); fp4 is MXFP4 weights with 16-bit
# activations and KV, as gpt-oss is served on GPUs without FP4 tensor cores.
PRECISION_SCHEMES: dict[str, tuple[Precision, Precision, Precision]] = {
    "fp16": (Precision.FP16, Precision.FP16, Precision.FP16),
    "fp8": (Precision.FP8, Precision.FP8, Precision.FP8),
    "int8": (Precision.INT8, Precision.INT8, Precision.INT8),
    "w8a16": (Precision.INT8, Precision.FP16, Precision.FP16),
    "w4a16": (Precision.INT4, Precision.FP16, Precision.FP16),
    "int4": (Precision.INT4, Precision.FP16, Precision.FP16),
    "fp4": (Precision.FP4, Precision.FP16, Precision.FP16),
}


def parse_format(text: str | Precision, what: str = "precision") -> Precision:
    """One tensor format by name (aliases: bf16 → fp16, mxfp4 → fp4); else an `InputError`."""
    value = str(text).strip().lower()
    value = PRECISION_ALIASES.get(value, value)
    try:
        return Precision(value)
    except ValueError:
        known = ", ".join([*(p.value for p in Precision), *PRECISION_ALIASES])
        raise InputError(f"unknown {what} {text!r}; known: {known}") from None


def parse_scheme(text: str) -> tuple[Precision, Precision, Precision]:
    """(weights, activations, KV) of a `--precision` scheme name; else an `InputError`."""
    value = str(text).strip().lower()
    value = PRECISION_ALIASES.get(value, value)
    if value not in PRECISION_SCHEMES:
        known = ", ".join([*PRECISION_SCHEMES, *PRECISION_ALIASES])
        raise InputError(f"unknown precision {text!r}; known: {known}")
    return PRECISION_SCHEMES[value]


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
    bytes_per_weight: float = 2  # derived from `precision` (checked in __post_init__)
    bytes_per_kv: float = 2  # derived from `kv_precision`
    bytes_per_activation: int = 2  # activations stored between layers (16 bit)
    precision: Precision = Precision.FP16  # format of the weights (legacy: weights and KV)
    # Format of the KV cache (None: the same as the weights, the legacy meaning of `precision`)
    # and of the GEMMs' input activations (what the MACs multiply the weights with; fp16 with
    # narrower weights = weight-only quantisation, dequantised before the MACs).
    kv_precision: Precision | None = None
    activation_precision: Precision = Precision.FP16

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
        for name in ("precision", "kv_precision", "activation_precision"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                object.__setattr__(self, name, Precision(value))
            except ValueError:
                known = ", ".join(p.value for p in Precision)
                raise InputError(
                    f"model {self.name!r}: unknown {name.replace('_', ' ')} {value!r}; "
                    f"known: {known}"
                ) from None
        for name, fmt in (("bytes_per_weight", self.precision), ("bytes_per_kv", self.kv_format)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"model {self.name!r}: {name} must be a number, got {value!r}")
            if value != fmt.bytes_per_element:
                raise InputError(
                    f"model {self.name!r}: {name} ({value}) does not match the {fmt.value} "
                    f"format ({fmt.bytes_per_element} bytes); set formats with with_formats()"
                )

    # --- numeric formats ---------------------------------------------------------------
    @property
    def weight_format(self) -> Precision:
        return self.precision

    @property
    def kv_format(self) -> Precision:
        return self.precision if self.kv_precision is None else self.kv_precision

    @property
    def gemm_precision(self) -> Precision:
        """The format the weight GEMMs' MACs run in: the wider of the weight and activation
        formats (a tie goes to the activations): w4a16 and w8a16 run fp16 MACs on dequantised
        weights, W8A8 fp8/int8 runs 8-bit MACs, fp4 weights with fp4 activations fp4 MACs."""
        w, a = self.precision, self.activation_precision
        return w if w.width_bits > a.width_bits else a

    @property
    def dequantises_weights(self) -> bool:
        """True when the weights are stored in another format than the MACs use (weight-only
        quantisation): every weight element is converted (scale, offset) before the MACs."""
        return self.precision is not self.gemm_precision

    @property
    def precision_label(self) -> str:
        """Scheme name when the formats form one (fp16, fp8, int8, w8a16, w4a16, fp4), else
        `w<fmt>-a<fmt>-kv<fmt>`."""
        formats = (self.precision, self.activation_precision, self.kv_format)
        for name, scheme in PRECISION_SCHEMES.items():
            if scheme == formats and name != "int4":
                return name
        w, a, kv = (f.value for f in formats)
        return f"w{w}-a{a}-kv{kv}"

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
        return math.ceil(self.param_count * self.bytes_per_weight)

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
        return math.ceil(
            self.full_attention_layers * self.kv_elements_per_layer * self.bytes_per_kv
        )

    @property
    def kv_window_bytes_per_token(self) -> int:
        """KV bytes of one token in the sliding-window layers, held for the last
        `sliding_window` tokens only."""
        return math.ceil(
            self.sliding_window_layers * self.kv_elements_per_layer * self.bytes_per_kv
        )

    def kv_bytes(self, context: int) -> int:
        """KV bytes of one request holding `context` tokens: every token in the full layers,
        at most `sliding_window` tokens in the windowed ones."""
        window = min(context, self.sliding_window) if self.sliding_window_layers else 0
        return context * self.kv_bytes_per_token + window * self.kv_window_bytes_per_token

    def with_precision(self, precision: Precision | str) -> ModelSpec:
        """Copy in a named scheme (`PRECISION_SCHEMES`): fp16, fp8 and int8 (W8A8 with an 8-bit
        KV cache; activations between layers stay 16 bit as 8-bit serving engines keep them),
        w8a16 / w4a16 / int4 (weight-only) and fp4 (MXFP4 weights)."""
        if isinstance(precision, Precision) and precision.value not in PRECISION_SCHEMES:
            raise InputError(f"unknown precision {precision.value!r}")
        weights, activations, kv = parse_scheme(str(precision))
        return self.with_formats(weights, activations, kv)

    def with_formats(
        self,
        weights: Precision | str | None = None,
        activations: Precision | str | None = None,
        kv: Precision | str | None = None,
    ) -> ModelSpec:
        """Copy with the given formats per tensor kind (None keeps the current one)."""
        w = self.precision if weights is None else parse_format(weights, "weight precision")
        a = (
            self.activation_precision
            if activations is None
            else parse_format(activations, "activation precision")
        )
        k = self.kv_format if kv is None else parse_format(kv, "KV-cache precision")
        return dataclasses.replace(
            self,
            bytes_per_weight=w.bytes_per_element,
            bytes_per_kv=k.bytes_per_element,
            precision=w,
            kv_precision=None if k is w else k,
            activation_precision=a,
        )

    def to_dict(self) -> dict[str, object]:
        out = dataclasses.asdict(self)
        out["precision"] = self.precision.value
        out["kv_precision"] = self.kv_format.value
        out["activation_precision"] = self.activation_precision.value
        return out
