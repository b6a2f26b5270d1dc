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


def _count(cfg: dict[str, Any], path: Path, key: str, default: int = 0) -> int:
    """A non-negative JSON integer (absent or null → `default`)."""
    value = cfg.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{path}: {key} must be a non-negative integer, got {value!r:.60}")
    return value


def _flag(cfg: dict[str, Any], path: Path, key: str, default: bool) -> bool:
    value = cfg.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InputError(f"{path}: {key} must be true or false, got {value!r:.60}")
    return value


def _moe_fields(cfg: dict[str, Any], path: Path, model_type: str, layers: int) -> dict[str, Any]:
    """Expert counts and the dense/MoE layer mix: DeepSeek (n_routed_experts,
    n_shared_experts, first_k_dense_replace, moe_layer_freq), Qwen-MoE (num_experts,
    shared_expert_intermediate_size, decoder_sparse_step, mlp_only_layers), Mixtral and
    gpt-oss (num_local_experts)."""
    experts = _int(cfg, path, "n_routed_experts", "num_local_experts", "num_experts", default=1)
    if experts == 1:
        return {}
    top_k = _int(cfg, path, "num_experts_per_tok", "experts_per_token", default=1)
    out: dict[str, Any] = {"num_experts": experts, "experts_per_token": top_k}
    width = _count(cfg, path, "moe_intermediate_size")
    out["moe_ffn_size"] = width
    shared = _count(cfg, path, "n_shared_experts")
    shared_width = _count(cfg, path, "shared_expert_intermediate_size")
    if shared_width and width:  # Qwen2-MoE: one shared expert as wide as N routed ones
        shared = max(1, round(shared_width / width))
    out["num_shared_experts"] = shared
    if "first_k_dense_replace" in cfg or "moe_layer_freq" in cfg:
        first = _count(cfg, path, "first_k_dense_replace")
        freq = _count(cfg, path, "moe_layer_freq", default=1) or 1
        moe = sum(1 for i in range(first, layers) if i % freq == 0)
    else:
        only = cfg.get("mlp_only_layers") or []
        if not isinstance(only, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in only
        ):
            raise InputError(f"{path}: mlp_only_layers must be a list of layer indices")
        step = _count(cfg, path, "decoder_sparse_step", default=1) or 1
        moe = sum(1 for i in range(layers) if i not in set(only) and (i + 1) % step == 0)
    out["dense_layers"] = min(layers, max(0, layers - moe))
    if out["dense_layers"] == layers:
        raise InputError(f"{path}: the config routes experts but has no MoE layer")
    if model_type == "gpt_oss":
        out["expert_bias"] = True
    return out


def _mla_fields(cfg: dict[str, Any], path: Path) -> dict[str, Any]:
    """DeepSeek-V2/V3 multi-head latent attention (kv_lora_rank present and positive)."""
    rank = _count(cfg, path, "kv_lora_rank")
    if not rank:
        return {}
    rope = _int(cfg, path, "qk_rope_head_dim")
    nope = _int(cfg, path, "qk_nope_head_dim")
    return {
        "kv_lora_rank": rank,
        "q_lora_rank": _count(cfg, path, "q_lora_rank"),
        "qk_rope_head_dim": rope,
        "head_dim": nope + rope,
        "v_head_dim": _int(cfg, path, "v_head_dim", default=nope),
    }


def _window_fields(
    cfg: dict[str, Any], path: Path, model_type: str, layers: int, context: int
) -> dict[str, Any]:
    """Sliding-window layers: `layer_types` when given (gpt-oss, Gemma 2/3 in recent
    transformers), else Qwen's use_sliding_window + max_window_layers, else a window on every
    layer (Mistral-7B-v0.1) when it is shorter than the context."""
    window = _count(cfg, path, "sliding_window")
    types = cfg.get("layer_types")
    if types is not None:
        if not isinstance(types, list) or len(types) != layers:
            raise InputError(f"{path}: layer_types must list one type per layer ({layers})")
        windowed = sum(1 for t in types if t == "sliding_attention")
    elif not window or window >= context or cfg.get("use_sliding_window") is False:
        windowed = 0
    elif "max_window_layers" in cfg:  # Qwen2: layers from max_window_layers on are windowed
        windowed = max(0, layers - _count(cfg, path, "max_window_layers"))
    else:
        windowed = layers
    if windowed and not window:
        raise InputError(f"{path}: layer_types has sliding_attention layers but no sliding_window")
    out: dict[str, Any] = {"sliding_window": window if windowed else 0}
    out["sliding_window_layers"] = windowed
    if model_type == "gpt_oss":
        out["attention_sinks"] = True
    return out


def spec_from_hf_config(cfg: dict[str, Any], name: str, path: Path) -> ModelSpec:
    """Map the Llama/Mistral/Mixtral/Qwen/Qwen-MoE/DeepSeek/gpt-oss/BLOOM-style keys of a
    config.json to a ModelSpec."""
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
    mla = _mla_fields(cfg, path)
    if cfg.get("head_dim") is None and hidden % heads and not mla:
        raise InputError(
            f"{path}: hidden_size ({hidden}) is not divisible by num_attention_heads ({heads}); "
            "give head_dim explicitly"
        )
    head_dim = mla.pop("head_dim", None) or _int(cfg, path, "head_dim", default=hidden // heads)
    layers = _int(cfg, path, "num_hidden_layers", "n_layer", "num_layers")
    context = _int(cfg, path, "max_position_embeddings", "seq_length", default=4096)
    # gpt-oss puts biases on q/k/v/o but keeps RMSNorm; Qwen2's qkv biases stay on the
    # BLOOM-style flag as before.
    gpt_oss = model_type == "gpt_oss"
    return ModelSpec(
        name=name,
        num_layers=layers,
        hidden_size=hidden,
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        ffn_size=ffn,
        vocab_size=_int(cfg, path, "vocab_size"),
        gated_mlp=not is_bloom and (act in {"silu", "swiglu"} or model_type.startswith("gemma")),
        activation="gelu" if act.startswith("gelu") else ("relu" if act == "relu" else "silu"),
        tied_embeddings=_flag(cfg, path, "tie_word_embeddings", is_bloom),
        linear_bias=is_bloom or (not gpt_oss and _flag(cfg, path, "attention_bias", False)),
        attention_bias=gpt_oss and _flag(cfg, path, "attention_bias", False),
        qk_norm=model_type in {"qwen3", "qwen3_moe"},
        max_context=context,
        **_moe_fields(cfg, path, model_type, layers),
        **mla,
        **_window_fields(cfg, path, model_type, layers, context),
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
