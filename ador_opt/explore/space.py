"""The search space of the ADOR template (paper §V) and its mapping onto `ArchConfig`.

A `[space]` table in a study spec gives, per parameter, a fixed value, a range
`{min, max, step}` or a list `{choices = [...]}`. Parameters are named after the `ArchConfig`
contract fields where they map 1:1 (`sa_rows`, `core_count`, `mt_lanes`, `local_sram_kib`, …);
three more are conveniences that do not:

* `sa_dim` — square systolic arrays (sets `sa_rows` = `sa_cols`);
* `total_sram_mib` — the on-chip SRAM budget: `global_sram_mib` is *derived* as
  `total − core_count · local_sram_kib / 1024` (paper §V-B: "the remaining SRAM is fully
  allocated to global memory"), never sampled;
* `mt_lanes = 0` means no MAC tree (then `mt_width` is 0 too).

Systolic dimensions are multiples of 32 (paper §V-A: "configurations are tested in multiples of
32"); a range that would allow another value is an input error. Values not named in `[space]`
come from the `base` preset (with its area-only overrides cleared, so area follows the sampled
values).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ador_opt.errors import InputError
from ador_opt.hardware.arch import SA_GRANULE, ArchConfig, DramType, LinkType, TpSync
from ador_opt.hardware.presets import HARDWARE_PRESETS

Kind = Literal["int", "float", "cat"]

# Minimum global SRAM left after the local buffers. Assumption: the template always has a global
# buffer for the current chunk's KV (paper §IV-B); 1 MiB is the smallest we accept.
MIN_GLOBAL_SRAM_MIB = 1.0


@dataclass(frozen=True, slots=True)
class ParamDef:
    kind: Kind
    minimum: float = 0.0  # smallest allowed value (numeric kinds)
    multiple_of: int = 1
    categories: tuple[str, ...] = ()
    doc: str = ""


PARAMS: dict[str, ParamDef] = {
    "sa_dim": ParamDef("int", 32, SA_GRANULE, doc="square systolic array side (PEs)"),
    "sa_rows": ParamDef("int", 32, SA_GRANULE, doc="systolic array rows (PEs)"),
    "sa_cols": ParamDef("int", 32, SA_GRANULE, doc="systolic array columns (PEs)"),
    "sa_per_core": ParamDef("int", 1, doc="systolic arrays per core"),
    "core_count": ParamDef("int", 1, doc="cores per device"),
    "mt_width": ParamDef("int", 1, doc="MAC-tree inputs reduced per lane"),
    "mt_lanes": ParamDef("int", 0, doc="MAC-tree lanes per core (0 = no MAC tree)"),
    "vector_width": ParamDef("int", 1, doc="vector-unit FP32 lanes per core"),
    "local_sram_kib": ParamDef("float", 1, doc="local SRAM per core (KiB)"),
    "global_sram_mib": ParamDef("float", 1, doc="global SRAM per device (MiB)"),
    "total_sram_mib": ParamDef("float", 1, doc="SRAM budget; global = total − local·cores"),
    "noc_gbps": ParamDef("float", 1, doc="NoC bandwidth per device (GB/s)"),
    "dram_type": ParamDef("cat", categories=tuple(e.value for e in DramType)),
    "dram_gbps": ParamDef("float", 1, doc="DRAM bandwidth per device (GB/s)"),
    "dram_gib": ParamDef("float", 1, doc="DRAM capacity per device (GiB)"),
    "p2p_type": ParamDef("cat", categories=tuple(e.value for e in LinkType)),
    "p2p_gbps": ParamDef("float", 1, doc="device-to-device bandwidth (GB/s)"),
    "devices": ParamDef("int", 1, doc="devices in the system"),
    "tp": ParamDef("int", 1, doc="tensor-parallel group size"),
    "tp_sync": ParamDef("cat", categories=tuple(e.value for e in TpSync)),
    "freq_mhz": ParamDef("float", 1, doc="core clock (MHz)"),
}
CONFLICTS = (("sa_dim", "sa_rows"), ("sa_dim", "sa_cols"), ("total_sram_mib", "global_sram_mib"))


@dataclass(frozen=True, slots=True)
class Param:
    """One dimension of the space: `values` are all allowed values in order."""

    name: str
    kind: Kind
    values: tuple[Any, ...]
    is_range: bool  # {min, max, step} (ordered, sampled with suggest_int/float)
    low: float = 0.0
    high: float = 0.0
    step: float = 0.0

    @property
    def fixed(self) -> bool:
        return len(self.values) == 1


# Assumption: no search axis needs more than 100,000 values (the grid sampler refuses spaces of
# more than 10^6 points anyway); a range is enumerated, so a typo in `max` must not allocate
# billions of values.
MAX_RANGE_VALUES = 100_000


def _number(where: str, value: Any, kind: Kind) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{where}: expected a finite number, got {value!r}")
    if kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise InputError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    return value


def _check_value(where: str, d: ParamDef, value: Any) -> Any:
    if d.kind == "cat":
        if not isinstance(value, str) or value.lower() not in d.categories:
            raise InputError(
                f"{where}: unknown value {value!r}; allowed: {', '.join(d.categories)}"
            )
        return value.lower()
    v = _number(where, value, d.kind)
    if v < d.minimum:
        raise InputError(f"{where}: must be ≥ {d.minimum:g}, got {v}")
    if d.multiple_of > 1 and v % d.multiple_of:
        raise InputError(f"{where}: must be a multiple of {d.multiple_of}, got {v}")
    return v


def _parse_param(name: str, raw: Any) -> Param:
    where = f"space.{name}"
    if name not in PARAMS:
        raise InputError(f"{where}: unknown parameter; allowed: {', '.join(PARAMS)}")
    d = PARAMS[name]
    if isinstance(raw, dict):
        keys = set(raw)
        if keys == {"choices"}:
            choices = raw["choices"]
            if not isinstance(choices, list) or not choices:
                raise InputError(f"{where}.choices: must be a non-empty list")
            picked = tuple(_check_value(f"{where}.choices", d, v) for v in choices)
            if len(set(picked)) != len(picked):
                raise InputError(f"{where}.choices: duplicate values")
            return Param(name, d.kind, picked, False)
        if keys <= {"min", "max", "step"} and {"min", "max"} <= keys:
            if d.kind == "cat":
                raise InputError(f"{where}: a categorical parameter takes choices, not a range")
            low = _check_value(f"{where}.min", d, raw["min"])
            high = _number(f"{where}.max", raw["max"], d.kind)
            step = _number(f"{where}.step", raw.get("step", d.multiple_of), d.kind)
            if step <= 0:
                raise InputError(f"{where}.step: must be positive, got {step}")
            if high < low:
                raise InputError(f"{where}: empty range (min {low} > max {high})")
            if d.multiple_of > 1 and (step % d.multiple_of or low % d.multiple_of):
                bad = low + step if low % d.multiple_of == 0 else low
                raise InputError(
                    f"{where}: the range allows {bad}, but values must be multiples of "
                    f"{d.multiple_of} (use min and step that are multiples of {d.multiple_of})"
                )
            try:
                count = math.floor((high - low) / step + 1e-9) + 1
            except OverflowError:  # integers beyond float range
                count = MAX_RANGE_VALUES + 1
            if count > MAX_RANGE_VALUES:
                raise InputError(
                    f"{where}: the range has {count:,} values; at most {MAX_RANGE_VALUES:,} "
                    "(raise step or narrow min/max)"
                )
            values = tuple(
                (low + i * step) if d.kind == "int" else round(low + i * step, 9)
                for i in range(count)
            )
            last = values[-1]
            return Param(name, d.kind, values, True, float(low), float(last), float(step))
        allowed = "{min, max, step} or {choices = [...]}"
        raise InputError(f"{where}: unknown keys {sorted(keys)}; expected a value, {allowed}")
    if isinstance(raw, list):
        raise InputError(f"{where}: write a list as {{choices = [...]}}")
    return Param(name, d.kind, (_check_value(where, d, raw),), False)


@dataclass(frozen=True, slots=True)
class SearchSpace:
    base: str
    params: tuple[Param, ...]

    @property
    def sampled(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if not p.fixed)

    @property
    def fixed_values(self) -> dict[str, Any]:
        return {p.name: p.values[0] for p in self.params if p.fixed}

    @property
    def size(self) -> int:
        return math.prod(len(p.values) for p in self.sampled)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def grid(self) -> dict[str, list[Any]]:
        """Optuna GridSampler search space (sampled parameters only)."""
        return {p.name: list(p.values) for p in self.sampled}

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Sample every non-fixed parameter on an Optuna trial, in declaration order."""
        out: dict[str, Any] = {}
        for p in self.sampled:
            if not p.is_range:
                out[p.name] = trial.suggest_categorical(p.name, list(p.values))
            elif p.kind == "int":
                out[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), step=int(p.step))
            else:
                out[p.name] = trial.suggest_float(p.name, p.low, p.high, step=p.step)
        return out

    def distributions(self) -> dict[str, Any]:
        """Optuna distributions of the sampled parameters (for enqueue/add_trial)."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        out: dict[str, Any] = {}
        for p in self.sampled:
            if not p.is_range:
                out[p.name] = CategoricalDistribution(list(p.values))
            elif p.kind == "int":
                out[p.name] = IntDistribution(int(p.low), int(p.high), step=int(p.step))
            else:
                out[p.name] = FloatDistribution(p.low, p.high, step=p.step)
        return out

    def field_values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Fixed values merged with sampled `params` (space names, not yet ArchConfig fields)."""
        return {**self.fixed_values, **params}


@dataclass(frozen=True, slots=True)
class Realised:
    """The outcome of mapping sampled values onto the template."""

    arch: ArchConfig | None
    fields: dict[str, Any]  # ArchConfig field values (contract names), even when invalid
    violation: float  # ≤ 0 when sane; else a relative measure of how far off
    reason: str


def base_config(base: str) -> ArchConfig:
    hw = HARDWARE_PRESETS[base]
    if hw.arch is None:
        raise InputError(f"space.base: {base!r} is a GPU; the search needs an HDA preset")
    # Area-only overrides describe one physical die; a search point derives area from its own
    # values instead.
    return hw.arch.replace(name="trial", physical_core_count=0, dram_phy_count=0, p2p_link_count=0)


def realise(space: SearchSpace, params: Mapping[str, Any]) -> Realised:
    """ArchConfig of one point (parameter sanity is the first pruning stage)."""
    base = base_config(space.base)
    values = space.field_values(params)
    fields = base.to_dict()
    for name, value in values.items():
        if name == "sa_dim":
            fields["sa_rows"] = fields["sa_cols"] = value
        elif name != "total_sram_mib":
            fields[name] = value
    if fields["mt_lanes"] == 0:
        fields["mt_width"] = 0
    elif fields["mt_width"] == 0:
        return Realised(None, fields, 1.0, "mt_lanes > 0 needs mt_width > 0")
    if "total_sram_mib" in values:
        total = float(values["total_sram_mib"])
        local_mib = fields["core_count"] * fields["local_sram_kib"] / 1024.0
        fields["global_sram_mib"] = total - local_mib
        if total - local_mib < MIN_GLOBAL_SRAM_MIB:
            excess = (local_mib + MIN_GLOBAL_SRAM_MIB) / total - 1.0
            return Realised(
                None,
                fields,
                max(excess, 1e-6),
                f"local SRAM {local_mib:.1f} MiB leaves < {MIN_GLOBAL_SRAM_MIB:g} MiB global "
                f"of the {total:g} MiB budget",
            )
    if fields["tp"] > fields["devices"]:
        return Realised(None, fields, fields["tp"] / fields["devices"] - 1.0, "tp > devices")
    if fields["devices"] % fields["tp"]:
        return Realised(None, fields, 1.0, "devices not a multiple of tp")
    try:
        arch = ArchConfig(**fields)
    except InputError as exc:
        return Realised(None, fields, 1.0, str(exc))
    return Realised(arch, arch.to_dict(), -1.0, "")


def parse_space(raw: Any) -> SearchSpace:
    """Validate a `[space]` table; errors name the key (`space.<param>`)."""
    if not isinstance(raw, dict):
        raise InputError("space: must be a table")
    raw = dict(raw)
    base = raw.pop("base", "ador-paper")
    if not isinstance(base, str):
        raise InputError("space.base: must be a preset name")
    try:
        base_config(base)
    except InputError as exc:
        raise InputError(f"space.base: {exc}") from None
    params = tuple(_parse_param(name, value) for name, value in raw.items())
    names = {p.name for p in params}
    for a, b in CONFLICTS:
        if a in names and b in names:
            raise InputError(f"space.{b}: conflicts with space.{a}; give one of them")
    space = SearchSpace(base, params)
    if not space.sampled:
        raise InputError("space: nothing to search (every parameter is fixed)")
    _refuse_redundant(space)
    return space


def _values(space: SearchSpace, name: str) -> tuple[Any, ...]:
    p = space.param(name)
    if p is not None:
        return p.values
    return (base_config(space.base).to_dict()[name],)


def _refuse_redundant(space: SearchSpace) -> None:
    """Refuse sampled parameters that cannot change any metric given the rest of the space
    (a knob the optimiser can only waste trials on, or — when it costs area — always set to
    its cheapest value): TP sync or device links without tensor parallelism, MAC-tree width
    without a MAC tree."""
    sampled = {p.name for p in space.sampled}
    single = max(_values(space, "tp")) == 1
    if "tp_sync" in sampled and single:
        raise InputError("space.tp_sync: has no effect when tp is 1; sample tp > 1 or drop it")
    if single:  # replicas (devices / tp groups) do not talk to each other
        for name in ("p2p_type", "p2p_gbps"):
            if name in sampled:
                raise InputError(
                    f"space.{name}: without tensor parallelism (tp = 1) no device-to-device "
                    "link is used; sample tp > 1 or drop it"
                )
    if "mt_width" in sampled and max(_values(space, "mt_lanes")) == 0:
        raise InputError("space.mt_width: has no effect without a MAC tree (mt_lanes = 0)")
