"""What a study served: models, scenarios and SLOs, read from its stored spec (`ador_spec`).

The spec dict is the engine's validated TOML after defaults (`[model] names, precision`,
`[[scenarios]]` of kind `static` (batch, input_len, output_len) or `serving` (workload,
num_requests, seed), `[slo]`, `[budget]`, `[space]`). The report re-evaluates the preset
baselines on exactly these scenarios. Reading is tolerant: a key that is missing only removes
the comparisons that need it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StaticCase:
    name: str
    batch: int
    input_len: int
    output_len: int


@dataclass(frozen=True, slots=True)
class ServingCase:
    name: str
    workload: str
    num_requests: int
    seed: int


@dataclass(frozen=True, slots=True)
class StudyScenario:
    models: tuple[str, ...]
    precision: str
    static: tuple[StaticCase, ...]
    serving: tuple[ServingCase, ...]
    slo: Mapping[str, float]
    budget: Mapping[str, float]
    devices: int
    tp: int

    @property
    def empty(self) -> bool:
        return not self.models or not (self.static or self.serving)

    def slo_limit(self, name: str) -> float | None:
        """A serving SLO limit the spec sets, or None (then `serving.resolve_slo`'s default,
        the same one the study used, applies)."""
        value = self.slo.get(name)
        return None if value is None else float(value)

    def describe(self) -> list[str]:
        """One line per scenario, for the report header and the dashboard note."""
        lines = []
        for s in self.static:
            lines.append(
                f"static batch {s.name or ''}: {s.batch} × ({s.input_len} in + "
                f"{s.output_len} out) tokens".replace("  ", " ")
            )
        for v in self.serving:
            lines.append(
                f"serving {v.name or ''}: workload {v.workload}, {v.num_requests} "
                f"requests, seed {v.seed}".replace("  ", " ")
            )
        return lines


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return default


def _numbers(section: Any) -> dict[str, float]:
    if not isinstance(section, Mapping):
        return {}
    return {
        str(k): float(v)
        for k, v in section.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _models(spec: Mapping[str, Any]) -> tuple[tuple[str, ...], str]:
    model = spec.get("model", spec.get("models"))
    precision = "fp16"
    names: list[str] = []
    if isinstance(model, str):
        names = [model]
    elif isinstance(model, list):
        names = [str(m) for m in model]
    elif isinstance(model, Mapping):
        raw = model.get("names", model.get("name", []))
        names = [raw] if isinstance(raw, str) else [str(m) for m in raw or []]
        precision = str(model.get("precision", precision))
    return tuple(names), precision


def _fixed_space_int(space: Any, key: str) -> int | None:
    """A `[space]` parameter fixed to one integer (e.g. `devices = 8`), else None."""
    if not isinstance(space, Mapping):
        return None
    value = space.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def parse_scenario(spec: Mapping[str, Any]) -> StudyScenario:
    models, precision = _models(spec)
    raw = spec.get("scenarios", spec.get("scenario", []))
    if isinstance(raw, Mapping):
        raw = [raw]
    static: list[StaticCase] = []
    serving: list[ServingCase] = []
    for i, sc in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(sc, Mapping):
            continue
        kind = str(sc.get("kind", "static"))
        name = str(sc.get("name", "") or f"scenario{i}")
        if kind == "static" and all(k in sc for k in ("batch", "input_len", "output_len")):
            static.append(
                StaticCase(
                    name, _int(sc["batch"], 1), _int(sc["input_len"], 1), _int(sc["output_len"], 1)
                )
            )
        elif kind == "serving":
            serving.append(
                ServingCase(
                    name,
                    str(sc.get("workload", "chat")),
                    _int(sc.get("num_requests"), 500),
                    _int(sc.get("seed"), 0),
                )
            )
    space = spec.get("space")
    tp = _fixed_space_int(space, "tp") or _int(spec.get("tp"), 1)
    devices = _fixed_space_int(space, "devices") or max(tp, _int(spec.get("devices"), tp))
    return StudyScenario(
        models=models,
        precision=precision,
        static=tuple(static),
        serving=tuple(serving),
        slo=_numbers(spec.get("slo")),
        budget=_numbers(spec.get("budget")),
        devices=devices,
        tp=tp,
    )
