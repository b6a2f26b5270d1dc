"""`ModelSpec`: the shape of a decoder-only transformer, with derived sizes.

All sizes are element counts unless the name carries a unit (`_bytes`). Parameter counting follows
the published architectures: attention Q/K/V/O projections, an MLP that is gated (SwiGLU or
GeGLU: gate, up, down) or plain (up, down), RMS/LayerNorm weights, an optional MoE router, token
embeddings and an LM head that may be tied to the embeddings (Gemma, BLOOM).
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
        weights = h * self.q_size + 2 * h * self.kv_size + self.q_size * h
        bias = (self.q_size + 2 * self.kv_size + h) if self.linear_bias else 0
        return weights + bias

    @property
    def mlp_matrices(self) -> int:
        """Weight matrices per expert: 3 for gated (gate, up, down), 2 for plain."""
        return 3 if self.gated_mlp else 2

    @property
    def expert_params(self) -> int:
        h, f = self.hidden_size, self.ffn_size
        bias = ((self.mlp_matrices - 1) * f + h) if self.linear_bias else 0
        return self.mlp_matrices * h * f + bias

    @property
    def router_params(self) -> int:
        return self.hidden_size * self.num_experts if self.num_experts > 1 else 0

    @property
    def norm_params(self) -> int:
        # Two norms per layer; LayerNorm (bias models) has weight and bias.
        return 2 * self.hidden_size * (2 if self.linear_bias else 1)

    @property
    def layer_params(self) -> int:
        return (
            self.attention_params
            + self.num_experts * self.expert_params
            + self.router_params
            + self.norm_params
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
            self.num_layers * self.layer_params
            + self.embedding_params
            + self.lm_head_params
            + final_norm
            + embed_norm
        )

    @property
    def active_param_count(self) -> int:
        """Parameters touched by one token (top-k experts only)."""
        inactive = (self.num_experts - self.experts_per_token) * self.expert_params
        return self.param_count - self.num_layers * inactive

    @property
    def weight_bytes(self) -> int:
        return self.param_count * self.bytes_per_weight

    @property
    def kv_bytes_per_token(self) -> int:
        """K and V of one token over all layers."""
        return 2 * self.num_layers * self.kv_size * self.bytes_per_kv

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
