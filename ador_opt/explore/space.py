"""The search space of the ADOR template (paper §V) and its mapping onto `ArchConfig`.

A `[space]` table in a study spec gives, per parameter, a fixed value, a range
`{min, max, step}` or a list `{choices = [...]}`. Parameters are named after the `ArchConfig`
contract fields where they map 1:1 (`sa_rows`, `core_count`, `mt_lanes`, `local_sram_kib`, …);
three more are conveniences that do not:

* `sa_dim` — square systolic arrays (sets `sa_rows` = `sa_cols`);
* `total_sram_mib` — the on-chip SRAM budget: `global_sram_mib` is *derived* as
  `total − core_count · local_sram_kib / 1024` (paper §V-B: "the remaining SRAM is fully
  allocated to global memory"), never sampled;
* `local_sram_fraction` — with `total_sram_mib`, the share of the budget given to the local
  buffers: `local_sram_kib = fraction · total · 1024 / core_count`, global = the rest. Unlike
  `local_sram_kib` against a fixed total, every sampled point is a valid split (the parser
  checks that the extreme fractions leave ≥ 1 MiB global and ≥ 1 KiB local per core);
* `mt_lanes = 0` means no MAC tree (then `mt_width` is 0 too).

Conditional parameters are sampled only where they exist (`CONDITIONS`): `mt_width` only when
`mt_lanes > 0`, `tp_sync` only when `tp > 1`; otherwise the base preset's value is used, so
two proposals that describe the same design are the same trial parameters.

Area-only overrides of the base preset (`physical_core_count`, `dram_phy_count`,
`p2p_link_count`: GA100's 128 physical SMs of which 108 are enabled, a die's 6 HBM PHYs of
which 5 are populated) are part of the preset's die and are kept, exactly as the preset is
measured as a baseline, unless a field they describe takes another value
(`AREA_OVERRIDES`) — then the design is a different die and its area follows its own values.

Systolic dimensions are multiples of 32 (paper §V-A: "configurations are tested in multiples of
32"); a range that would allow another value is an input error. Values not named in `[space]`
come from the `base` preset.
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
    "local_sram_fraction": ParamDef(
        "float", 0, doc="share of total_sram_mib in the local buffers (0 < f < 1)"
    ),
    "noc_gbps": ParamDef("float", 1, doc="NoC bandwidth per device (GB/s)"),
    "dram_type": ParamDef("cat", categories=tuple(e.value for e in DramType)),
    "dram_gbps": ParamDef("float", 1, doc="DRAM bandwidth per device (GB/s)"),
    "dram_gib": ParamDef("float", 1, doc="DRAM capacity per device (GiB)"),
    "p2p_type": ParamDef("cat", categories=tuple(e.value for e in LinkType)),
    "p2p_gbps": ParamDef("float", 1, doc="device-to-device bandwidth (GB/s)"),
    "devices": ParamDef("int", 1, doc="devices in the system"),
    "tp": ParamDef("int", 1, doc="tensor-parallel group size"),
    "tp_sync": ParamDef("cat", categories=tuple(e.value for e in TpSync)),
    "ep": ParamDef("int", 1, doc="expert-parallel group size (MoE models)"),
    "pp": ParamDef("int", 1, doc="pipeline stages"),
    "micro_batches": ParamDef("int", 0, doc="prefill micro-batches per pipeline pass (0 = pp)"),
    "scale_up_devices": ParamDef("int", 0, doc="devices per scale-up domain (0 = all)"),
    "scale_out_gbps": ParamDef("float", 1, doc="scale-out NIC bandwidth per device (GB/s)"),
    "freq_mhz": ParamDef("float", 1, doc="core clock (MHz)"),
}
CONFLICTS = (
    ("sa_dim", "sa_rows"),
    ("sa_dim", "sa_cols"),
    ("total_sram_mib", "global_sram_mib"),
    ("local_sram_fraction", "local_sram_kib"),
    ("local_sram_fraction", "global_sram_mib"),
)

# A parameter that exists only when another one allows it: name → (condition parameter, test).
# Sampled in an order that puts the condition first; when the test fails the parameter is not
# suggested at all (Optuna's define-by-run conditional space) and the base value applies.
CONDITIONS: dict[str, tuple[str, Any]] = {
    "mt_width": ("mt_lanes", lambda lanes: lanes > 0),
    "tp_sync": ("tp", lambda tp: tp > 1),
}

# Area-only override field → the ArchConfig fields whose values it describes (module doc).
AREA_OVERRIDES: dict[str, tuple[str, ...]] = {
    "physical_core_count": ("core_count",),
    "dram_phy_count": ("dram_type", "dram_gbps"),
    "p2p_link_count": ("p2p_type", "p2p_gbps"),
}


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

    def ordered(self) -> tuple[Param, ...]:
        """Sampled parameters in declaration order, each condition before what it governs."""
        rest = list(self.sampled)
        out: list[Param] = []
        while rest:
            for p in rest:
                cond = CONDITIONS.get(p.name)
                if cond is None or all(q.name != cond[0] for q in rest):
                    out.append(p)
                    rest.remove(p)
                    break
        return tuple(out)

    def active(self, name: str, values: Mapping[str, Any]) -> bool:
        """Whether parameter `name` exists given the other `values` (fixed + sampled so far)."""
        cond = CONDITIONS.get(name)
        if cond is None:
            return True
        other, test = cond
        value = values.get(other)
        if value is None:
            value = base_config(self.base).to_dict().get(other)
        return bool(test(value))

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Sample every non-fixed parameter that exists (`CONDITIONS`) on an Optuna trial."""
        out: dict[str, Any] = {}
        for p in self.ordered():
            if not self.active(p.name, {**self.fixed_values, **out}):
                continue
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
        """Fixed values merged with sampled `params` (space names, not yet ArchConfig fields);
        a conditional parameter whose condition fails is dropped (the base value applies)."""
        values = {**self.fixed_values, **params}
        sampled = self.sampled_names
        return {k: v for k, v in values.items() if k not in sampled or self.active(k, values)}

    @property
    def sampled_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.sampled)

    def points(self) -> Any:
        """Every distinct point of the space (conditional parameters only where they exist),
        as dicts of sampled values; for exhaustive references and small-space checks."""
        order = self.ordered()

        def rec(i: int, acc: dict[str, Any]) -> Any:
            if i == len(order):
                yield dict(acc)
                return
            p = order[i]
            if not self.active(p.name, {**self.fixed_values, **acc}):
                yield from rec(i + 1, acc)
                return
            for v in p.values:
                acc[p.name] = v
                yield from rec(i + 1, acc)
            acc.pop(p.name, None)

        return rec(0, {})


@dataclass(frozen=True, slots=True)
class Realised:
    """The outcome of mapping sampled values onto the template."""

    arch: ArchConfig | None
    fields: dict[str, Any]  # ArchConfig field values (contract names), even when invalid
    violation: float  # ≤ 0 when sane; else a relative measure of how far off
    reason: str


def base_config(base: str) -> ArchConfig:
    """The base preset's configuration, area-only overrides included (module doc)."""
    hw = HARDWARE_PRESETS[base]
    if hw.arch is None:
        raise InputError(f"space.base: {base!r} is a GPU; the search needs an HDA preset")
    return hw.arch.replace(name="trial")


def _area_overrides(fields: dict[str, Any], base: Mapping[str, Any]) -> None:
    """Clear an area-only override when a field it describes differs from the base preset's."""
    for override, described in AREA_OVERRIDES.items():
        if fields.get(override) and any(fields[f] != base[f] for f in described):
            fields[override] = 0


def realise(space: SearchSpace, params: Mapping[str, Any]) -> Realised:
    """ArchConfig of one point (parameter sanity is the first pruning stage)."""
    base = base_config(space.base).to_dict()
    values = space.field_values(params)
    fields = dict(base)
    for name, value in values.items():
        if name == "sa_dim":
            fields["sa_rows"] = fields["sa_cols"] = value
        elif name not in ("total_sram_mib", "local_sram_fraction"):
            fields[name] = value
    if "local_sram_fraction" in values:
        total = float(values["total_sram_mib"])
        frac = float(values["local_sram_fraction"])
        fields["local_sram_kib"] = round(frac * total * 1024.0 / fields["core_count"], 6)
        values = {k: v for k, v in values.items() if k != "local_sram_fraction"}
        values["total_sram_mib"] = total
    _area_overrides(fields, base)
    if fields["mt_lanes"] == 0:
        fields["mt_width"] = 0
    elif fields["mt_width"] == 0:
        return Realised(None, fields, 1.0, "mt_lanes > 0 needs mt_width > 0")
    if "total_sram_mib" in values:
        total = float(values["total_sram_mib"])
        local_mib = fields["core_count"] * fields["local_sram_kib"] / 1024.0
        fields["global_sram_mib"] = round(total - local_mib, 9)
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
    _check_sram_split(space)
    _refuse_redundant(space)
    return space


def _check_sram_split(space: SearchSpace) -> None:
    """`local_sram_fraction` needs `total_sram_mib`, and its extremes must leave every split
    valid: ≥ MIN_GLOBAL_SRAM_MIB global at the largest fraction and smallest total, ≥ 1 KiB
    local per core at the smallest fraction, smallest total and most cores."""
    frac = space.param("local_sram_fraction")
    if frac is None:
        return
    if space.param("total_sram_mib") is None:
        raise InputError("space.local_sram_fraction: needs space.total_sram_mib (the budget)")
    totals = _values(space, "total_sram_mib")
    if max(frac.values) >= 1 or min(frac.values) <= 0:
        raise InputError("space.local_sram_fraction: values must lie strictly between 0 and 1")
    left = min(totals) * (1 - max(frac.values))
    if left < MIN_GLOBAL_SRAM_MIB:
        raise InputError(
            f"space.local_sram_fraction: {max(frac.values):g} of {min(totals):g} MiB leaves "
            f"{left:.2f} MiB global, below {MIN_GLOBAL_SRAM_MIB:g} MiB; lower the fraction"
        )
    cores = max(_values(space, "core_count"))
    if min(frac.values) * min(totals) * 1024 / cores < 1:
        raise InputError(
            "space.local_sram_fraction: the smallest fraction leaves < 1 KiB per core"
        )


def design_key(space: SearchSpace, params: Mapping[str, Any]) -> str:
    """Content key of the design `params` describe (equal for proposals that realise to the
    same ArchConfig, e.g. differing only in a parameter that does not exist there)."""
    real = realise(space, params)
    if real.arch is not None:
        return real.arch.canonical_key()
    import hashlib
    import json

    blob = json.dumps(dict(real.fields), sort_keys=True, default=str).encode()
    return "invalid:" + hashlib.sha256(blob).hexdigest()[:20]


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
    alone = single and max(_values(space, "ep")) == 1 and max(_values(space, "pp")) == 1
    if "tp_sync" in sampled and single:
        raise InputError("space.tp_sync: has no effect when tp is 1; sample tp > 1 or drop it")
    if alone:  # replicas (devices / tp·ep·pp groups) do not talk to each other
        for name in ("p2p_type", "p2p_gbps"):
            if name in sampled:
                raise InputError(
                    f"space.{name}: without tensor parallelism (tp = 1) no device-to-device "
                    "link is used; sample tp > 1 or drop it"
                )
    if "mt_width" in sampled and max(_values(space, "mt_lanes")) == 0:
        raise InputError("space.mt_width: has no effect without a MAC tree (mt_lanes = 0)")
