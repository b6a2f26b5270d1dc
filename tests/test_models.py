"""Model presets against published sizes; KV bytes exact; config.json loader."""

from __future__ import annotations

import json

import pytest

from ador_opt.errors import InputError
from ador_opt.models import MODEL_PRESETS, load_model

# Published parameter counts (model cards), billions.
PUBLISHED_PARAMS_B = {
    "llama-3-8b": 8.03,
    "llama-3-70b": 70.6,
    "mixtral-8x7b": 46.7,
    "yi-34b": 34.4,
    "llama-2-70b": 69.0,
    "bloom-176b": 176.0,
    "llama-2-7b": 6.74,
    "llama-2-13b": 13.0,
    # Gemma report (Gemma Team 2024, parameter-count table): 2.51 B and 8.54 B with embeddings.
    "gemma-2b": 2.51,
    "gemma-7b": 8.54,
}


@pytest.mark.parametrize("name,published", PUBLISHED_PARAMS_B.items())
def test_param_count_within_one_percent(name: str, published: float) -> None:
    got = MODEL_PRESETS[name].param_count / 1e9
    assert abs(got - published) / published < 0.01, (name, got)


@pytest.mark.parametrize(
    "name,layers,kv_heads,head_dim",
    [
        ("llama-3-8b", 32, 8, 128),
        ("llama-2-7b", 32, 32, 128),
        ("llama-3-70b", 80, 8, 128),
        ("bloom-176b", 70, 112, 128),
        ("yi-34b", 60, 8, 128),
    ],
)
def test_kv_bytes_per_token_exact(name: str, layers: int, kv_heads: int, head_dim: int) -> None:
    # K and V, every layer, fp16: 2 · layers · kv_heads · head_dim · 2 bytes.
    assert MODEL_PRESETS[name].kv_bytes_per_token == 2 * layers * kv_heads * head_dim * 2


def test_gemma_presets_match_published_configs() -> None:
    # google/gemma-2b and -7b config.json: GeGLU (gated, GELU), head_dim 256, vocab 256000,
    # tied embeddings; 2B has one KV head (MQA), 7B has 16.
    g2, g7 = MODEL_PRESETS["gemma-2b"], MODEL_PRESETS["gemma-7b"]
    for m in (g2, g7):
        assert (m.gated_mlp, m.activation, m.head_dim, m.vocab_size) == (True, "gelu", 256, 256000)
        assert m.tied_embeddings and m.lm_head_params == 0
    assert (g2.num_layers, g2.hidden_size, g2.num_heads, g2.num_kv_heads) == (18, 2048, 8, 1)
    assert (g7.num_layers, g7.hidden_size, g7.num_heads, g7.num_kv_heads) == (28, 3072, 16, 16)
    assert (g2.ffn_size, g7.ffn_size) == (16384, 24576)
    # Tolerance 0.1 %: the published figures are rounded to 0.01 B.
    assert abs(g2.param_count / 1e9 - 2.51) < 0.005 and abs(g7.param_count / 1e9 - 8.54) < 0.005
    # Tying matters: an untied 2B would carry another 524 M parameters (21 % more).
    assert g2.embedding_params == 256000 * 2048


def test_gemma_hf_config_loads_as_geglu(tmp_path) -> None:
    cfg = {
        "model_type": "gemma",
        "hidden_size": 2048,
        "num_attention_heads": 8,
        "num_key_value_heads": 1,
        "head_dim": 256,
        "num_hidden_layers": 18,
        "intermediate_size": 16384,
        "vocab_size": 256000,
        "hidden_act": "gelu",
        "max_position_embeddings": 8192,
        "tie_word_embeddings": True,
    }
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    spec = load_model(str(tmp_path))
    assert spec.gated_mlp and spec.activation == "gelu"
    assert spec.param_count == MODEL_PRESETS["gemma-2b"].param_count


def test_int8_is_one_byte_and_distinct_from_fp8() -> None:
    m = MODEL_PRESETS["gemma-7b"]
    m8, f8 = m.with_precision("int8"), m.with_precision("fp8")
    assert m8.weight_bytes * 2 == m.weight_bytes
    assert m8.kv_bytes_per_token * 2 == m.kv_bytes_per_token
    assert m8.bytes_per_activation == 2  # activations between layers stay 16 bit
    assert m8.precision.value == "int8" and f8.precision.value == "fp8"
    assert m8 != f8  # caches keyed by the spec must not mix the two formats


def test_unknown_precision_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown precision"):
        MODEL_PRESETS["gemma-2b"].with_precision("int3")


def test_llama3_8b_kv_is_128_kib_per_token() -> None:
    assert MODEL_PRESETS["llama-3-8b"].kv_bytes_per_token == 131072


def test_fp8_halves_weights_and_kv() -> None:
    m = MODEL_PRESETS["llama-3.1-8b"]
    m8 = m.with_precision("fp8")
    assert m8.weight_bytes * 2 == m.weight_bytes
    assert m8.kv_bytes_per_token * 2 == m.kv_bytes_per_token


def test_mixtral_active_params() -> None:
    # Mixtral 8x7B: ≈ 12.9 B parameters active per token (Mistral AI).
    active = MODEL_PRESETS["mixtral-8x7b"].active_param_count / 1e9
    assert abs(active - 12.9) / 12.9 < 0.02


def test_hf_config_loader_roundtrip(tmp_path) -> None:
    cfg = {
        "model_type": "llama",
        "hidden_size": 4096,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "num_hidden_layers": 32,
        "intermediate_size": 14336,
        "vocab_size": 128256,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "max_position_embeddings": 8192,
    }
    folder = tmp_path / "my-llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    spec = load_model(str(folder))
    assert spec.name == "my-llama"
    assert spec.param_count == MODEL_PRESETS["llama-3-8b"].param_count


def test_hf_config_missing_key(tmp_path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"hidden_size": 64}))
    with pytest.raises(InputError, match="num_attention_heads"):
        load_model(str(path))


def test_hf_config_malformed(tmp_path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="malformed JSON"):
        load_model(str(path))


def test_unknown_model_names_known_ones() -> None:
    with pytest.raises(InputError, match="llama-3-8b"):
        load_model("gpt-17")
