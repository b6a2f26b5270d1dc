"""Model presets from the published Hugging Face `config.json` files of each model.

Sources (config.json of the official model repositories): Llama-2 7B/13B/70B, Meta-Llama-3-8B,
Llama-3.1-8B, Meta-Llama-3-70B, Llama-3.3-70B, 01-ai/Yi-34B, Mixtral-8x7B-v0.1, bigscience/bloom,
google/gemma-2b and google/gemma-7b (architecture table of the Gemma report, Gemma Team 2024).
Published sizes these reproduce (tests/test_models.py): llama-3-8b 8.03 B, llama-3-70b 70.6 B,
mixtral-8x7b 46.7 B, yi-34b 34.4 B, llama-2-70b 69.0 B, bloom-176b 176 B, gemma-2b 2.51 B,
gemma-7b 8.54 B (both with embeddings).
"""

from __future__ import annotations

from ador_opt.models.spec import ModelSpec
from ador_opt.registry import Registry

_LLAMA3_VOCAB = 128256
_LLAMA2_VOCAB = 32000


def _llama3_8b(name: str, max_context: int) -> ModelSpec:
    return ModelSpec(
        name=name,
        num_layers=32,
        hidden_size=4096,
        num_heads=32,
        num_kv_heads=8,
        head_dim=128,
        ffn_size=14336,
        vocab_size=_LLAMA3_VOCAB,
        max_context=max_context,
    )


def _llama3_70b(name: str, max_context: int) -> ModelSpec:
    return ModelSpec(
        name=name,
        num_layers=80,
        hidden_size=8192,
        num_heads=64,
        num_kv_heads=8,
        head_dim=128,
        ffn_size=28672,
        vocab_size=_LLAMA3_VOCAB,
        max_context=max_context,
    )


_GEMMA_VOCAB = 256000


def _gemma(name: str, layers: int, hidden: int, heads: int, kv_heads: int, ffn: int) -> ModelSpec:
    """Gemma 1 (config.json of google/gemma-2b, -7b): GeGLU MLP (gated, GELU), head dim 256,
    RMSNorm, 256k vocabulary, LM head tied to the embeddings, 8192-token context."""
    return ModelSpec(
        name=name,
        num_layers=layers,
        hidden_size=hidden,
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=256,
        ffn_size=ffn,
        vocab_size=_GEMMA_VOCAB,
        gated_mlp=True,
        activation="gelu",
        tied_embeddings=True,
        max_context=8192,
    )


_PRESETS: dict[str, ModelSpec] = {
    "llama-2-7b": ModelSpec(
        name="llama-2-7b",
        num_layers=32,
        hidden_size=4096,
        num_heads=32,
        num_kv_heads=32,
        head_dim=128,
        ffn_size=11008,
        vocab_size=_LLAMA2_VOCAB,
        max_context=4096,
    ),
    "llama-2-13b": ModelSpec(
        name="llama-2-13b",
        num_layers=40,
        hidden_size=5120,
        num_heads=40,
        num_kv_heads=40,
        head_dim=128,
        ffn_size=13824,
        vocab_size=_LLAMA2_VOCAB,
        max_context=4096,
    ),
    "llama-2-70b": ModelSpec(
        name="llama-2-70b",
        num_layers=80,
        hidden_size=8192,
        num_heads=64,
        num_kv_heads=8,
        head_dim=128,
        ffn_size=28672,
        vocab_size=_LLAMA2_VOCAB,
        max_context=4096,
    ),
    "llama-3-8b": _llama3_8b("llama-3-8b", 8192),
    "llama-3.1-8b": _llama3_8b("llama-3.1-8b", 131072),
    "llama-3-70b": _llama3_70b("llama-3-70b", 8192),
    "llama-3.3-70b": _llama3_70b("llama-3.3-70b", 131072),
    "yi-34b": ModelSpec(
        name="yi-34b",
        num_layers=60,
        hidden_size=7168,
        num_heads=56,
        num_kv_heads=8,
        head_dim=128,
        ffn_size=20480,
        vocab_size=64000,
        max_context=4096,
    ),
    "mixtral-8x7b": ModelSpec(
        name="mixtral-8x7b",
        num_layers=32,
        hidden_size=4096,
        num_heads=32,
        num_kv_heads=8,
        head_dim=128,
        ffn_size=14336,
        vocab_size=_LLAMA2_VOCAB,
        num_experts=8,
        experts_per_token=2,
        max_context=32768,
    ),
    # Gemma-2B: 18 layers, hidden 2048, 8 query heads sharing one KV head (MQA), FFN 16384.
    "gemma-2b": _gemma("gemma-2b", 18, 2048, 8, 1, 16384),
    # Gemma-7B: 28 layers, hidden 3072, 16 heads (q width 4096 > hidden), 16 KV heads, FFN 24576.
    "gemma-7b": _gemma("gemma-7b", 28, 3072, 16, 16, 24576),
    "bloom-176b": ModelSpec(
        name="bloom-176b",
        num_layers=70,
        hidden_size=14336,
        num_heads=112,
        num_kv_heads=112,
        head_dim=128,
        ffn_size=57344,
        vocab_size=250880,
        gated_mlp=False,
        tied_embeddings=True,
        linear_bias=True,
        max_context=2048,
    ),
}

MODEL_PRESETS: Registry[ModelSpec] = Registry("model", _PRESETS)
