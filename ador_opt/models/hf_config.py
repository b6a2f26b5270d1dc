"""Load a `ModelSpec` from a local Hugging Face `config.json` (no download, ever)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ador_opt.errors import InputError
from ador_opt.limits import MAX_SMALL_INPUT_BYTES, read_input_text
from ador_opt.models.presets import MODEL_PRESETS
from ador_opt.models.spec import ModelSpec


def _get(cfg: dict[str, Any], path: Path, *keys: str, default: Any = None) -> Any:
    for key in keys:
        if key in cfg:
            return cfg[key]
    if default is not None:
        return default
    raise InputError(f"{path}: missing key {keys[0]!r} in config.json")


def _int(cfg: dict[str, Any], path: Path, *keys: str, default: int | None = None) -> int:
    """A positive JSON integer under the first of `keys` present (None/0/absent → `default`
    where the HF convention allows it). Floats (`3.0`, `1e308`), strings (`"3"`), booleans
    and lists are refused: a config that says `true` heads is a mistake, not 1 head."""
    key = next((k for k in keys if k in cfg), keys[0])
    value = cfg.get(key)
    if value is None and default is not None:
        return default
    if value is None:
        raise InputError(f"{path}: missing key {keys[0]!r} in config.json")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{path}: {key} must be an integer, got {value!r:.60}")
    if value <= 0:
        raise InputError(f"{path}: {key} must be a positive integer, got {value}")
    return value


def _flag(cfg: dict[str, Any], path: Path, key: str, default: bool) -> bool:
    value = cfg.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InputError(f"{path}: {key} must be true or false, got {value!r:.60}")
    return value


def spec_from_hf_config(cfg: dict[str, Any], name: str, path: Path) -> ModelSpec:
    """Map the Llama/Mistral/Mixtral/Qwen/BLOOM-style keys of a config.json to a ModelSpec."""
    hidden = _int(cfg, path, "hidden_size", "n_embd", "d_model")
    heads = _int(cfg, path, "num_attention_heads", "n_head", "num_heads")
    kv_heads = _int(cfg, path, "num_key_value_heads", default=heads)
    model_type = cfg.get("model_type", "")
    if not isinstance(model_type, str):
        raise InputError(f"{path}: model_type must be a string, got {model_type!r:.60}")
    is_bloom = model_type == "bloom"
    # Gemma's config.json says "gelu" (GeGLU: its MLP is gated like SwiGLU).
    act = cfg.get("hidden_activation") or cfg.get("hidden_act") or "silu"
    if not isinstance(act, str):
        raise InputError(f"{path}: hidden_act must be a string, got {act!r:.60}")
    act = act.lower()
    ffn = _int(cfg, path, "intermediate_size", "n_inner", default=4 * hidden)
    if cfg.get("head_dim") is None and hidden % heads:
        raise InputError(
            f"{path}: hidden_size ({hidden}) is not divisible by num_attention_heads ({heads}); "
            "give head_dim explicitly"
        )
    head_dim = _int(cfg, path, "head_dim", default=hidden // heads)
    experts = _int(cfg, path, "num_local_experts", "num_experts", default=1)
    context = _int(cfg, path, "max_position_embeddings", "seq_length", default=4096)
    return ModelSpec(
        name=name,
        num_layers=_int(cfg, path, "num_hidden_layers", "n_layer", "num_layers"),
        hidden_size=hidden,
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        ffn_size=ffn,
        vocab_size=_int(cfg, path, "vocab_size"),
        gated_mlp=not is_bloom and (act in {"silu", "swiglu"} or model_type.startswith("gemma")),
        activation="gelu" if act.startswith("gelu") else ("relu" if act == "relu" else "silu"),
        tied_embeddings=_flag(cfg, path, "tie_word_embeddings", is_bloom),
        num_experts=experts,
        experts_per_token=_int(cfg, path, "num_experts_per_tok", default=1),
        linear_bias=is_bloom or _flag(cfg, path, "attention_bias", False),
        max_context=context,
    )


def load_model(name_or_path: str) -> ModelSpec:
    """A preset name, or a path to a local config.json (or a folder holding one)."""
    path = Path(name_or_path)
    if name_or_path.lower() in MODEL_PRESETS:
        return MODEL_PRESETS[name_or_path]
    if not path.exists():
        return MODEL_PRESETS[name_or_path]  # raises "unknown model ...; known: ..."
    if path.is_dir():
        path = path / "config.json"
    text = read_input_text(path, "model config", MAX_SMALL_INPUT_BYTES)
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:  # 5,000-digit integers, nesting 100,000 deep
        raise InputError(f"{path}: unreadable JSON ({str(exc)[:80]})") from None
    if not isinstance(cfg, dict):
        raise InputError(f"{path}: a model config must be a JSON object")
    return spec_from_hf_config(cfg, name=path.parent.name or path.stem, path=path)
