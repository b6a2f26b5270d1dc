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
