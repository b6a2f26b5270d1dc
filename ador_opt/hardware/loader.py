"""Resolve a hardware argument: a preset name, a TOML/JSON file, or a design dict."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from ador_opt.errors import InputError
from ador_opt.hardware.arch import ArchConfig
from ador_opt.hardware.presets import HARDWARE_PRESETS, Hardware
from ador_opt.limits import MAX_SMALL_INPUT_BYTES, read_input_text


def hardware_from_dict(data: Any, where: str = "design") -> Hardware:
    """`{"base": "<preset>", <field>: <value>, ...}` (overrides on an HDA preset) or a full
    ArchConfig. Unknown fields and bad values raise `InputError` naming them."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: a design must be a JSON/TOML object")
    data = dict(data)
    base_name = data.pop("base", None)
    known = set(ArchConfig.field_names())
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"{where}: unknown hardware field(s): {', '.join(unknown)}")
    if "name" in data and not isinstance(data["name"], str):
        raise InputError(f"{where}: name must be a string, got {data['name']!r:.60}")
    if base_name is not None:
        if not isinstance(base_name, str):
            raise InputError(f"{where}: base must be a preset name")
        base = HARDWARE_PRESETS[base_name]
        if base.arch is None or (base.gpu is not None and data):
            if data:
                raise InputError(f"{where}: GPU preset {base_name!r} takes no overrides")
            return base
        if not data:
            return base
        arch = base.arch.replace(**{"name": f"{base.name}*", **data})
        return Hardware(str(data.get("name", arch.name)), arch, None)
    try:
        arch = ArchConfig(**data)
    except TypeError as exc:
        raise InputError(f"{where}: {exc}") from None
    return Hardware(arch.name, arch, None)


def load_hardware(name_or_path: str) -> Hardware:
    """A preset name or a path to a `.toml` / `.json` design file."""
    if name_or_path.lower() in HARDWARE_PRESETS:
        return HARDWARE_PRESETS[name_or_path]
    path = Path(name_or_path)
    if not path.suffix or not path.exists():
        if path.suffix in {".toml", ".json"}:
            raise InputError(f"hardware file not found: {path}")
        return HARDWARE_PRESETS[name_or_path]  # raises "unknown hardware ...; known: ..."
    text = read_input_text(path, "hardware file", MAX_SMALL_INPUT_BYTES)
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: malformed TOML: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:  # 5,000-digit integer, nesting too deep
        raise InputError(f"{path}: unreadable ({str(exc)[:80]})") from None
    if isinstance(data, dict) and "name" not in data and "base" not in data:
        data["name"] = path.stem
    return hardware_from_dict(data, where=str(path))
