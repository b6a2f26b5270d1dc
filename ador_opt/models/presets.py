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


# --- model families of #17 (MoE with shared experts, MLA, sliding window + sinks) -----------
# Each preset transcribes the config.json of the official model repository (model card cited);
# tests/test_models.py checks the published totals and active counts.

# deepseek-ai/DeepSeek-V3 config.json (model card: 671 B total, 37 B activated per token;
# DeepSeek-V3 Technical Report, arXiv:2412.19437): 61 layers, hidden 7168, 128 heads, MLA with
# q_lora_rank 1536, kv_lora_rank 512, qk_nope_head_dim 128 + qk_rope_head_dim 64, v_head_dim
# 128; first_k_dense_replace 3 dense layers of intermediate_size 18432, then 58 MoE layers of
# 256 routed experts (moe_intermediate_size 2048, 8 per token) + 1 shared expert; vocab 129280;
# max_position_embeddings 163840. The multi-token-prediction module (num_nextn_predict_layers
# 1, the other 14 B of the 685 B checkpoint) is not part of the served model counted here.
_DEEPSEEK_V3 = ModelSpec(
    name="deepseek-v3",
    num_layers=61,
    hidden_size=7168,
    num_heads=128,
    num_kv_heads=128,
    head_dim=192,
    ffn_size=18432,
    vocab_size=129280,
    num_experts=256,
    experts_per_token=8,
    moe_ffn_size=2048,
    num_shared_experts=1,
    dense_layers=3,
    kv_lora_rank=512,
    q_lora_rank=1536,
    qk_rope_head_dim=64,
    v_head_dim=128,
    max_context=163840,
)


def _qwen3_moe(
    name: str, layers: int, hidden: int, heads: int, ffn: int, expert_ffn: int
) -> ModelSpec:
    """Qwen3-MoE (config.json of Qwen/Qwen3-235B-A22B and Qwen/Qwen3-30B-A3B): 4 KV heads of
    128, q/k RMSNorm per head, 128 experts with 8 per token, no shared expert, every layer MoE
    (decoder_sparse_step 1, mlp_only_layers []), vocab 151936, untied LM head, 40960 tokens."""
    return ModelSpec(
        name=name,
        num_layers=layers,
        hidden_size=hidden,
        num_heads=heads,
        num_kv_heads=4,
        head_dim=128,
        ffn_size=ffn,
        vocab_size=151936,
        num_experts=128,
        experts_per_token=8,
        moe_ffn_size=expert_ffn,
        qk_norm=True,
        max_context=40960,
    )


def _gpt_oss(name: str, layers: int, experts: int) -> ModelSpec:
    """gpt-oss (config.json of openai/gpt-oss-120b and -20b; model card "gpt-oss-120b &
    gpt-oss-20b", OpenAI 2025, Table 1: 116.83 B / 5.13 B active and 20.91 B / 3.61 B):
    hidden 2880, 64 query heads and 8 KV heads of 64, biases on q/k/v/o, one learned sink per
    head, layer_types alternating sliding_attention (sliding_window 128) and full_attention,
    experts of intermediate_size 2880 with biases, 4 per token, router with bias, vocab 201088,
    untied LM head, max_position_embeddings 131072. (Shipped with MXFP4 experts; precision is
    a separate setting.)"""
    return ModelSpec(
        name=name,
        num_layers=layers,
        hidden_size=2880,
        num_heads=64,
        num_kv_heads=8,
        head_dim=64,
        ffn_size=2880,
        vocab_size=201088,
        num_experts=experts,
        experts_per_token=4,
        expert_bias=True,
        attention_bias=True,
        attention_sinks=True,
        sliding_window=128,
        sliding_window_layers=layers // 2,
        max_context=131072,
    )


_FAMILY_PRESETS: dict[str, ModelSpec] = {
    "deepseek-v3": _DEEPSEEK_V3,
    # Qwen3-235B-A22B: 94 layers, hidden 4096, 64 heads, expert width 1536 (model card: 235 B
    # total, 22 B activated, 234 B non-embedding).
    "qwen3-235b-a22b": _qwen3_moe("qwen3-235b-a22b", 94, 4096, 64, 12288, 1536),
    # Qwen3-30B-A3B: 48 layers, hidden 2048, 32 heads, expert width 768 (model card: 30.5 B
    # total, 3.3 B activated, 29.9 B non-embedding).
    "qwen3-30b-a3b": _qwen3_moe("qwen3-30b-a3b", 48, 2048, 32, 6144, 768),
    "gpt-oss-120b": _gpt_oss("gpt-oss-120b", 36, 128),
    "gpt-oss-20b": _gpt_oss("gpt-oss-20b", 24, 32),
    # meta-llama/Llama-3.1-405B config.json (Llama 3 Herd of Models, arXiv:2407.21783, Table 3:
    # 126 layers, model dim 16384, FFN 53248, 128 heads, 8 KV heads; 405 B).
    "llama-3.1-405b": ModelSpec(
        name="llama-3.1-405b",
        num_layers=126,
        hidden_size=16384,
        num_heads=128,
        num_kv_heads=8,
        head_dim=128,
        ffn_size=53248,
        vocab_size=_LLAMA3_VOCAB,
        max_context=131072,
    ),
}
_PRESETS.update(_FAMILY_PRESETS)

MODEL_PRESETS: Registry[ModelSpec] = Registry("model", _PRESETS)
