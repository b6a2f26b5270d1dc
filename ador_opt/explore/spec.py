"""Study specs: a TOML file validated by pydantic v2, resolved into a `StudySpec`.

Layout (every table forbids unknown keys; see `studies/*.toml` and docs/exploration.md):

    constraints = ["sanity", "area", ...]     # optional; default: every applicable one
    [study]      name, description, n_trials, timeout_s, storage, n_jobs, sampler, seed
    [model]      names = [...], precision = "fp16" | "fp8" | "int8"
    [[scenarios]] kind = "static" (batch, input_len, output_len) |
                  kind = "serving" (workload, num_requests, seed)
    [slo]        ttft_p90_ms, tbt_p99_ms (serving); ttft_ms, tbt_ms (static)
    [budget]     area_mm2, cost_usd, power_w (per device; power = full-load TDP)
    [space]      base = "<preset>", <param> = value | {min, max, step} | {choices = [...]}
    [[objectives]] name, direction (default: the metric's natural one), reference

Validation is complete before anything touches a storage: `load_spec` either returns a
`StudySpec` or raises one `InputError` whose message names the key path and the allowed values.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ador_opt.errors import InputError
from ador_opt.explore.constraints import CONSTRAINTS
from ador_opt.explore.objectives import METRICS, MetricSource, aggregate
from ador_opt.explore.space import SearchSpace, parse_space
from ador_opt.limits import (
    MAX_BATCH,
    MAX_N_JOBS,
    MAX_NUM_REQUESTS,
    MAX_SMALL_INPUT_BYTES,
    MAX_TOKENS_PER_REQUEST,
    read_input_text,
)
from ador_opt.models import load_model
from ador_opt.models.spec import ModelSpec

SAMPLERS = ("tpe", "nsga2", "gp", "random", "grid", "stepwise")
# Chosen by benchmarks/sampler_efficiency.py (docs/bench-explore.md).
DEFAULT_SAMPLER: Literal["tpe", "nsga2", "gp", "random", "grid", "stepwise"] = "tpe"
# Keys of [study] that only steer one run; they are left out of the spec hash.
RUN_ONLY_KEYS = ("n_trials", "timeout_s", "storage", "n_jobs")
GRID_MAX_POINTS = 1_000_000


class _Strict(BaseModel):
    # allow_inf_nan=False: an infinite budget, SLO or reference would pass `gt=0` and then
    # poison the hypervolume reference point and the placeholder objective values.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StudySection(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)]
    description: str = ""
    n_trials: Annotated[int, Field(strict=True, gt=0)] = 100
    timeout_s: Annotated[float, Field(gt=0)] | None = None
    storage: str | None = None
    n_jobs: Annotated[int, Field(strict=True, gt=0, le=MAX_N_JOBS)] = 1
    sampler: Literal["tpe", "nsga2", "gp", "random", "grid", "stepwise"] = DEFAULT_SAMPLER
    # ≥ 0 and < 2^31: numpy seeds must lie in [0, 2^32); workers add their index and resume 1000
    seed: Annotated[int, Field(strict=True, ge=0, lt=2**31)] = 0


class ModelSection(_Strict):
    names: Annotated[list[str], Field(min_length=1)]
    precision: Literal["fp16", "fp8", "int8"] = "fp16"


class StaticScenario(_Strict):
    kind: Literal["static"]
    name: str = ""
    batch: Annotated[int, Field(strict=True, gt=0, le=MAX_BATCH)]
    input_len: Annotated[int, Field(strict=True, gt=0, le=MAX_TOKENS_PER_REQUEST)]
    output_len: Annotated[int, Field(strict=True, gt=0, le=MAX_TOKENS_PER_REQUEST)]


class ServingScenario(_Strict):
    kind: Literal["serving"]
    name: str = ""
    workload: str = "chat"
    num_requests: Annotated[int, Field(strict=True, gt=0, le=MAX_NUM_REQUESTS)] = 500
    seed: Annotated[int, Field(strict=True)] = 0


Scenario = Annotated[StaticScenario | ServingScenario, Field(discriminator="kind")]


class SloSection(_Strict):
    ttft_p90_ms: Annotated[float, Field(gt=0)] | None = None
    tbt_p99_ms: Annotated[float, Field(gt=0)] | None = None
    ttft_ms: Annotated[float, Field(gt=0)] | None = None
    tbt_ms: Annotated[float, Field(gt=0)] | None = None


class BudgetSection(_Strict):
    area_mm2: Annotated[float, Field(gt=0)] | None = None
    cost_usd: Annotated[float, Field(gt=0)] | None = None
    power_w: Annotated[float, Field(gt=0)] | None = None


class ObjectiveSection(_Strict):
    name: str
    direction: Literal["minimize", "maximize"] | None = None
    reference: float | None = None


class RobustSection(_Strict):
    """How objectives aggregate over the model × scenario pairs (constraints always take the
    worst pair: a design must serve every pair). `model_weights` / `scenario_weights` follow
    `model.names` / `scenarios`; a pair's weight is their product."""

    aggregate: Literal["worst", "mean", "quantile"] = "worst"
    quantile: Annotated[float, Field(gt=0, le=1)] = 0.9
    model_weights: list[Annotated[float, Field(gt=0)]] | None = None
    scenario_weights: list[Annotated[float, Field(gt=0)]] | None = None


class SpecFile(_Strict):
    constraints: list[str] | None = None
    study: StudySection
    model: ModelSection
    scenarios: Annotated[list[Scenario], Field(min_length=1)]
    slo: SloSection = SloSection()
    budget: BudgetSection = BudgetSection()
    space: dict[str, Any]
    objectives: Annotated[list[ObjectiveSection], Field(min_length=1)]
    robust: RobustSection | None = None


@dataclass(frozen=True, slots=True)
class Objective:
    name: str
    direction: str
    unit: str
    reference: float


@dataclass(frozen=True, slots=True)
class StudySpec:
    """A fully validated study: the pydantic model plus everything derived from it."""

    file: SpecFile
    space: SearchSpace
    models: tuple[ModelSpec, ...]
    objectives: tuple[Objective, ...]
    constraints: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.file.study.name

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    @property
    def pair_weights(self) -> list[float]:
        """Weight of each model × scenario pair (models outer, scenarios inner)."""
        r = self.file.robust
        mw = (r.model_weights if r else None) or [1.0] * len(self.models)
        sw = (r.scenario_weights if r else None) or [1.0] * len(self.file.scenarios)
        return [m * s for m in mw for s in sw]

    def aggregate(
        self, name: str, values: list[float], weights: list[float] | None = None
    ) -> float:
        """Metric `name` over pairs (`weights`: those pairs' weights, default all pairs'), as
        the spec's `[robust]` asks (worst by default)."""
        r = self.file.robust
        if r is None:
            return aggregate(name, values)
        w = self.pair_weights if weights is None else weights
        return aggregate(name, values, r.aggregate, w, r.quantile)

    def to_dict(self) -> dict[str, Any]:
        """The `ador_spec` user attr: the spec after defaults, JSON-able."""
        data = self.file.model_dump(mode="json")
        if data.get("robust") is None:  # absent: specs (and hashes) of studies made before
            data.pop("robust", None)
        data["constraints"] = list(self.constraints)
        data["objectives"] = [
            {"name": o.name, "direction": o.direction, "reference": o.reference}
            for o in self.objectives
        ]
        return data

    def spec_hash(self) -> str:
        return spec_hash(self.to_dict())

    def with_overrides(self, **study_changes: Any) -> StudySpec:
        """A copy with `[study]` keys replaced (CLI overrides), re-validated."""
        changes = {k: v for k, v in study_changes.items() if v is not None}
        if not changes:
            return self
        data = self.to_dict()
        data["study"].update(changes)
        return validate_spec(data)


def spec_hash(ador_spec: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of `ador_spec` without the run-only keys."""
    data = json.loads(json.dumps(ador_spec))
    for key in RUN_ONLY_KEYS:
        data.get("study", {}).pop(key, None)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def spec_differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Key paths where two spec dicts differ (run-only keys ignored)."""
    out: list[str] = []
    for key in sorted(set(a) | set(b)):
        path = f"{prefix}{key}"
        if prefix == "study." and key in RUN_ONLY_KEYS:
            continue
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out.extend(spec_differences(va, vb, f"{path}."))
        elif va != vb:
            out.append(path)
    return out


# --- pydantic error → one line ---------------------------------------------------------------
def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = SpecFile
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if model is SpecFile and part == "scenarios":
            model = {"static": StaticScenario, "serving": ServingScenario}
            continue
        if isinstance(model, dict):
            model = model.get(part)
            continue
        field = model.model_fields.get(part) if model else None
        annotation = getattr(field, "annotation", None)
        args = [a for a in getattr(annotation, "__args__", ()) if isinstance(a, type)]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        elif args and issubclass(args[0], BaseModel):
            model = args[0]
        else:
            return []
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _loc_text(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
        elif i >= 2 and loc[0] == "scenarios" and part in ("static", "serving") and i == 2:
            continue  # discriminated-union tag
        else:
            parts.append(str(part))
    return ".".join(parts) or "spec"


def _one_line(exc: ValidationError) -> str:
    errors = exc.errors()
    err = errors[0]
    loc = tuple(err["loc"])
    where = _loc_text(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc)
        text = f"{where}: unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    elif kind == "missing":
        text = f"{where}: required key is missing"
    else:
        got = err.get("input")
        shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
        text = f"{where}: {err['msg']} (got {shown})"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return text


# --- semantic checks ----------------------------------------------------------------------
def _default_reference(name: str, f: SpecFile) -> float | None:
    metric = METRICS[name]
    if metric.direction == "maximize":
        return 0.0
    limits = {
        "area_mm2": f.budget.area_mm2,
        "cost_usd": f.budget.cost_usd,
        "tdp_w": f.budget.power_w,
        "power_w": f.budget.power_w,  # mean power ≤ TDP ≤ the budget
        "ttft_p90_ms": f.slo.ttft_p90_ms,
        "tbt_p99_ms": f.slo.tbt_p99_ms,
        "ttft_ms": f.slo.ttft_ms,
        "tbt_ms": f.slo.tbt_ms,
    }
    return limits.get(name)


def _objectives(f: SpecFile) -> tuple[Objective, ...]:
    kinds = {s.kind for s in f.scenarios}
    out: list[Objective] = []
    for i, o in enumerate(f.objectives):
        where = f"objectives[{i}]"
        if o.name not in METRICS:
            raise InputError(
                f"{where}.name: unknown objective {o.name!r}; allowed: {', '.join(METRICS)}"
            )
        metric = METRICS[o.name]
        if metric.source in (MetricSource.STATIC, MetricSource.SERVING) and (
            metric.source.value not in kinds
        ):
            raise InputError(
                f"{where}.name: {o.name} needs a scenario of kind {metric.source.value!r}"
            )
        if any(prev.name == o.name for prev in out):
            raise InputError(f"{where}.name: objective {o.name!r} is listed twice")
        direction = o.direction or metric.direction
        reference = o.reference
        if reference is None and direction == metric.direction:
            reference = _default_reference(o.name, f)
        if reference is None:
            raise InputError(
                f"{where}.reference: give a reference value (the worst acceptable {o.name}, "
                "used as the hypervolume reference point)"
            )
        out.append(Objective(o.name, direction, metric.unit, float(reference)))
    return tuple(out)


def _constraints(f: SpecFile) -> tuple[str, ...]:
    kinds = {s.kind for s in f.scenarios}
    applicable = ["sanity", "sram", "memory"]
    if f.budget.area_mm2 is not None:
        applicable.insert(1, "area")
    if f.budget.cost_usd is not None:
        applicable.insert(applicable.index("sram"), "cost")
    if f.budget.power_w is not None:
        applicable.insert(applicable.index("sram"), "power")
    applicable.insert(applicable.index("sram"), "shoreline")
    ttft = (f.slo.ttft_ms is not None and "static" in kinds) or (
        f.slo.ttft_p90_ms is not None and "serving" in kinds
    )
    tbt = (f.slo.tbt_ms is not None and "static" in kinds) or (
        f.slo.tbt_p99_ms is not None and "serving" in kinds
    )
    if ttft:
        applicable.append("roofline_ttft")
    if tbt:
        applicable.append("roofline_tbt")
    if "static" in kinds and f.slo.ttft_ms is not None:
        applicable.append("slo_ttft")
    if "static" in kinds and f.slo.tbt_ms is not None:
        applicable.append("slo_tbt")
    if "serving" in kinds:
        applicable.append("slo_capacity")
    if f.constraints is None:
        return tuple(applicable)
    chosen: list[str] = []
    for i, name in enumerate(f.constraints):
        if name not in CONSTRAINTS:
            raise InputError(
                f"constraints[{i}]: unknown constraint {name!r}; allowed: {', '.join(CONSTRAINTS)}"
            )
        if name not in applicable:
            raise InputError(
                f"constraints[{i}]: {name!r} does not apply to this spec (missing budget, SLO "
                f"or scenario); applicable: {', '.join(applicable)}"
            )
        if name not in chosen:
            chosen.append(name)
    if "sanity" not in chosen:
        chosen.insert(0, "sanity")  # an invalid configuration cannot be evaluated at all
    # Keep the canonical (stage) order whatever the file's order.
    return tuple(n for n in applicable if n in chosen)


# Modules Optuna's GPSampler imports (PyTorch for the GPs, SciPy for the acquisition optimiser).
GP_NEEDS = ("torch", "scipy")


def _check_sampler(f: SpecFile, space: SearchSpace) -> None:
    sampler = f.study.sampler
    missing = (
        [m for m in GP_NEEDS if importlib.util.find_spec(m) is None] if sampler == "gp" else []
    )
    if missing:
        raise InputError(
            f"study.sampler: 'gp' needs {' and '.join(missing)} (pip install -e '.[gp]'); "
            "use tpe or nsga2"
        )
    if sampler == "grid" and space.size > GRID_MAX_POINTS:
        raise InputError(
            f"study.sampler: grid over {space.size} points exceeds {GRID_MAX_POINTS}; "
            "narrow the space or use another sampler"
        )


def validate_spec(data: Any, where: str = "spec") -> StudySpec:
    """Validate a parsed TOML/JSON spec. Raises `InputError` (one line) on any problem."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: a study spec must be a table")
    try:
        f = SpecFile.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{where}: {_one_line(exc)}") from None
    try:
        space = parse_space(f.space)
        models = []
        for i, name in enumerate(f.model.names):
            try:
                models.append(load_model(name).with_precision(f.model.precision))
            except InputError as exc:
                raise InputError(f"model.names[{i}]: {exc}") from None
        if any(s.kind == "serving" for s in f.scenarios):
            _check_workloads(f)
        objectives = _objectives(f)
        constraints = _constraints(f)
        _check_robust(f)
        _check_sampler(f, space)
        if f.study.sampler == "grid" and f.study.n_jobs > 1:
            pass  # GridSampler is safe with several workers (it skips running grid points)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    return StudySpec(f, space, tuple(models), objectives, constraints)


def _check_robust(f: SpecFile) -> None:
    r = f.robust
    if r is None:
        return
    for key, weights, n, what in (
        ("model_weights", r.model_weights, len(f.model.names), "model.names"),
        ("scenario_weights", r.scenario_weights, len(f.scenarios), "scenarios"),
    ):
        if weights is not None and len(weights) != n:
            raise InputError(
                f"robust.{key}: {len(weights)} weights for {n} {what} (one weight per entry)"
            )
    if r.aggregate == "worst" and (r.model_weights or r.scenario_weights):
        raise InputError("robust: weights have no effect with aggregate = 'worst'")


def _check_workloads(f: SpecFile) -> None:
    from ador_opt import serving

    preset = getattr(serving, "workload_preset", None)
    for i, s in enumerate(f.scenarios):
        if isinstance(s, ServingScenario) and preset is not None:
            try:
                preset(s.workload)
            except InputError as exc:
                raise InputError(f"scenarios[{i}].workload: {exc}") from None


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a TOML study spec file."""
    p = Path(path)
    text = read_input_text(p, "study spec", MAX_SMALL_INPUT_BYTES)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p}: malformed TOML: {exc}") from None
    except RecursionError:
        raise InputError(f"{p}: malformed TOML: nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise InputError(f"{p}: malformed TOML: {str(exc)[:80]}") from None
    return validate_spec(data, where=str(p))
