"""Open a study store read-only and turn its trials into plain records (the storage schema).

`STORE` is a SQLite file path, a JournalStorage file path, or any Optuna storage URL. Opening
never creates or migrates anything: a missing file, a file that is not an Optuna store, or a
URL that cannot be reached is an `InputError` (exit 2), and the store is left untouched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from ador_opt.errors import InputError
from ador_opt.explore.objectives import unit_of
from ador_opt.explore.storage import (
    TolerantJournalBackend,
    check_optuna_sqlite,
    pg_driver_url,
    tolerant_sqlite,
)
from ador_opt.explore.study import only_study
from ador_opt.redact import redact

SQLITE_MAGIC = b"SQLite format 3\x00"

# Objectives whose value a trial stores outside `metrics` (schema: top-level user attrs).
TOP_LEVEL_METRICS = ("area_mm2", "cost_usd", "peak_tflops")


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """One COMPLETE trial. `values` are the objective values Optuna stores (placeholders for
    infeasible trials); `known` holds each objective's real value where the stages that ran
    produced it (None when the trial was rejected before it was computed)."""

    number: int
    values: tuple[float, ...]
    known: tuple[float | None, ...]
    params: Mapping[str, Any]
    config: Mapping[str, Any]
    metrics: Mapping[str, float]
    area_mm2: float | None
    cost_usd: float | None
    peak_tflops: float | None
    area_breakdown: Mapping[str, float]
    constraints: Mapping[str, float]
    rejected_by: str
    feasible: bool
    cache_hit: bool
    cache_key: str = ""  # the engine's result-cache key (same design + scenario ⇒ same key)

    def metric(self, name: str) -> float | None:
        """A metric by name, including the top-level ones (area, cost, peak TFLOPS)."""
        if name in self.metrics:
            return self.metrics[name]
        if name in TOP_LEVEL_METRICS:
            return getattr(self, name)
        return None


@dataclass(frozen=True, slots=True)
class StudyData:
    """Everything the report needs from one study."""

    name: str
    study_id: int
    objectives: tuple[str, ...]
    directions: tuple[str, ...]  # "minimize" | "maximize"
    units: tuple[str, ...]
    reference_point: tuple[float, ...] | None
    spec: Mapping[str, Any]
    spec_hash: str
    version: str
    trials: tuple[TrialRecord, ...]
    n_total: int  # all trials in any state
    states: Mapping[str, int] = field(default_factory=dict)

    @property
    def feasible(self) -> tuple[TrialRecord, ...]:
        return tuple(t for t in self.trials if t.feasible)

    @property
    def maximise(self) -> tuple[bool, ...]:
        return tuple(d == "maximize" for d in self.directions)

    def label(self, index: int) -> str:
        """Axis label of objective `index` with its unit."""
        unit = self.units[index]
        return f"{self.objectives[index]} ({unit})" if unit else self.objectives[index]


def open_storage(store: str) -> BaseStorage:
    """An Optuna storage for `store` without creating or migrating anything."""
    if store.startswith("sqlite:///"):
        # SQLAlchemy would create a missing SQLite file: check the path like a plain one.
        path = Path(store.removeprefix("sqlite:///").split("?", 1)[0])
        if not path.is_file():
            raise InputError(f"study store not found: {path}")
        _check_optuna_sqlite(path)
        store = str(path)
    if "://" in store:
        try:
            return optuna.storages.RDBStorage(pg_driver_url(store), skip_table_creation=True)
        except Exception as exc:  # driver missing, server down, bad URL, old schema …
            detail = redact(" ".join(str(exc).split()))[:200]
            raise InputError(f"cannot open storage {redact(store)!r}: {detail}") from None
    path = Path(store)
    if not path.is_file():
        raise InputError(f"study store not found: {store}")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise InputError(f"cannot read study store {store}: {exc.strerror}") from None
    if head == SQLITE_MAGIC:
        _check_optuna_sqlite(path)
        try:
            storage = optuna.storages.RDBStorage(f"sqlite:///{path}", skip_table_creation=True)
        except Exception as exc:
            raise InputError(f"{store}: not a readable Optuna store ({exc})") from None
        tolerant_sqlite(storage.engine)  # one bad UTF-8 byte must not hide the whole study
        return storage
    return _open_journal(path)


def _check_optuna_sqlite(path: Path) -> None:
    """Optuna's tables present and `PRAGMA integrity_check` clean (explore.storage)."""
    try:
        check_optuna_sqlite(path)
    except InputError:
        raise InputError(f"{path}: SQLite file holds no Optuna study tables") from None


def _open_journal(path: Path) -> BaseStorage:
    """A JournalStorage file: JSON lines, each an operation with an `op_code`."""
    import json

    from optuna.storages.journal import JournalStorage

    not_store = InputError(f"{path}: neither a SQLite Optuna store nor an Optuna journal file")
    try:
        with path.open("rb") as fh:
            first = json.loads(fh.readline())
    except (OSError, ValueError):
        raise not_store from None
    if not isinstance(first, dict) or "op_code" not in first:
        raise not_store
    try:
        storage = JournalStorage(TolerantJournalBackend(str(path)))  # survives a torn record
        storage.get_all_studies()
    except Exception:
        raise not_store from None
    return storage


def pick_study(storage: BaseStorage, study: str | None, store: str) -> tuple[str, int]:
    """The study named `study`, or the only study in the store: (name, study id)."""
    studies = storage.get_all_studies()
    name = only_study([s.study_name for s in studies], study, redact(store))
    return name, next(s._study_id for s in studies if s.study_name == name)


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def known_values(
    trial: FrozenTrial, objectives: Sequence[str], feasible: bool
) -> tuple[float | None, ...]:
    """Each objective's real value: the stored value of a feasible trial; for an infeasible one
    (whose stored values are placeholders) the metric the stages that ran computed, else None."""
    values = trial.values or ()
    ua = trial.user_attrs
    metrics = ua.get("metrics")
    metrics = metrics if isinstance(metrics, dict) else {}
    known: list[float | None] = []
    for i, name in enumerate(objectives):
        if feasible and i < len(values):
            known.append(float(values[i]))
            continue
        value = _float(metrics.get(name))
        if value is None and name in TOP_LEVEL_METRICS:
            value = _float(ua.get(name))
        known.append(value)
    return tuple(known)


def _record(trial: FrozenTrial, objectives: Sequence[str]) -> TrialRecord:
    ua = trial.user_attrs
    raw_metrics = ua.get("metrics") or {}
    metrics = (
        {str(k): f for k, v in raw_metrics.items() if (f := _float(v)) is not None}
        if isinstance(raw_metrics, dict)
        else {}
    )
    constraints = {str(k): float(v) for k, v in trial.constraints.items()}
    rejected = str(ua.get("rejected_by", "") or "")
    feasible = not rejected and all(v <= 0 for v in constraints.values())
    values = tuple(float(v) for v in (trial.values or ()))
    tops = {k: _float(ua.get(k)) for k in TOP_LEVEL_METRICS}
    breakdown = ua.get("area_breakdown") or {}
    return TrialRecord(
        number=trial.number,
        values=values,
        known=known_values(trial, objectives, feasible),
        params=dict(trial.params),
        config=dict(ua.get("config") or {}),
        metrics=metrics,
        area_mm2=tops["area_mm2"],
        cost_usd=tops["cost_usd"],
        peak_tflops=tops["peak_tflops"],
        area_breakdown={str(k): f for k, v in breakdown.items() if (f := _float(v)) is not None}
        if isinstance(breakdown, dict)
        else {},
        constraints=constraints,
        rejected_by=rejected,
        feasible=feasible,
        cache_hit=bool(ua.get("cache_hit", False)),
        cache_key=str(ua.get("cache_key", "") or ""),
    )


def load_study_data(store: str, study: str | None = None) -> StudyData:
    """Read study `study` (or the only one) from `store` into a `StudyData`."""
    storage = open_storage(store)
    name, study_id = pick_study(storage, study, store)
    return load_from_storage(storage, name, study_id, store)


def load_from_storage(storage: BaseStorage, name: str, study_id: int, store: str) -> StudyData:
    """`load_study_data` on an already opened storage (`store` only names it in errors)."""
    try:
        opt_study = optuna.load_study(study_name=name, storage=storage)
        all_trials = opt_study.get_trials(deepcopy=False)
    except Exception as exc:
        detail = redact(" ".join(str(exc).split()))[:200]
        raise InputError(f"{redact(store)}: cannot read study {name!r} ({detail})") from None
    attrs = opt_study.user_attrs
    directions = tuple(d.name.lower() for d in opt_study.directions)
    objectives = tuple(str(o) for o in attrs.get("ador_objectives") or ())
    if len(objectives) != len(directions):
        metric_names = opt_study.metric_names
        objectives = (
            tuple(metric_names)
            if metric_names
            else tuple(f"objective_{i}" for i in range(len(directions)))
        )
    units = tuple(str(u) for u in attrs.get("ador_objective_units") or ())
    if len(units) != len(objectives):
        units = tuple(unit_of(o) for o in objectives)  # the metrics registry
    ref = attrs.get("ador_reference_point")
    reference = None
    if isinstance(ref, list | tuple) and len(ref) == len(objectives):
        floats = [_float(v) for v in ref]
        if all(v is not None for v in floats):
            reference = tuple(float(v) for v in floats)  # type: ignore[arg-type]
    states: dict[str, int] = {}
    for t in all_trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    complete = [
        _record(t, objectives)
        for t in all_trials
        if t.state == TrialState.COMPLETE and t.values is not None
    ]
    spec = attrs.get("ador_spec")
    return StudyData(
        name=name,
        study_id=study_id,
        objectives=objectives,
        directions=directions,
        units=units,
        reference_point=reference,
        spec=spec if isinstance(spec, dict) else {},
        spec_hash=str(attrs.get("ador_spec_hash", "")),
        version=str(attrs.get("ador_version", "")),
        trials=tuple(complete),
        n_total=len(all_trials),
        states=states,
    )
