"""Load a `ModelSpec` from a local Hugging Face `config.json` (no download, ever)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ador_opt.errors import InputError
from ador_opt.models.presets import MODEL_PRESETS
from ador_opt.models.spec import ModelSpec


def _get(cfg: dict[str, Any], path: Path, *keys: str, default: Any = None) -> Any:
    for key in keys:
        if key in cfg:
            return cfg[key]
    if default is not None:
        return default
    raise InputError(f"{path}: missing key {keys[0]!r} in config.json")


def spec_from_hf_config(cfg: dict[str, Any], name: str, path: Path) -> ModelSpec:
    """Map the Llama/Mistral/Mixtral/Qwen/BLOOM-style keys of a config.json to a ModelSpec."""
    hidden = int(_get(cfg, path, "hidden_size", "n_embd", "d_model"))
    heads = int(_get(cfg, path, "num_attention_heads", "n_head", "num_heads"))
    kv_heads = int(cfg.get("num_key_value_heads") or heads)
    model_type = str(cfg.get("model_type", ""))
    is_bloom = model_type == "bloom"
    ffn = int(cfg.get("intermediate_size") or cfg.get("n_inner") or 4 * hidden)
    try:
        return ModelSpec(
            name=name,
            num_layers=int(_get(cfg, path, "num_hidden_layers", "n_layer", "num_layers")),
            hidden_size=hidden,
            num_heads=heads,
            num_kv_heads=kv_heads,
            head_dim=int(cfg.get("head_dim") or hidden // heads),
            ffn_size=ffn,
            vocab_size=int(_get(cfg, path, "vocab_size")),
            gated_mlp=not is_bloom and str(cfg.get("hidden_act", "silu")) in {"silu", "swiglu"},
            tied_embeddings=bool(cfg.get("tie_word_embeddings", is_bloom)),
            num_experts=int(cfg.get("num_local_experts") or cfg.get("num_experts") or 1),
            experts_per_token=int(cfg.get("num_experts_per_tok") or 1),
            linear_bias=is_bloom or bool(cfg.get("attention_bias", False)),
            max_context=int(cfg.get("max_position_embeddings") or cfg.get("seq_length") or 4096),
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: {exc}") from None


def load_model(name_or_path: str) -> ModelSpec:
    """A preset name, or a path to a local config.json (or a folder holding one)."""
    path = Path(name_or_path)
    if name_or_path.lower() in MODEL_PRESETS:
        return MODEL_PRESETS[name_or_path]
    if not path.exists():
        return MODEL_PRESETS[name_or_path]  # raises "unknown model ...; known: ..."
    if path.is_dir():
        path = path / "config.json"
    try:
        cfg = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read model config ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(cfg, dict):
        raise InputError(f"{path}: a model config must be a JSON object")
    return spec_from_hf_config(cfg, name=path.parent.name or path.stem, path=path)
