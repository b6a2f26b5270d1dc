"""Synthetic studies in the storage schema (briefs/schema.md), built directly with Optuna.

`build_study` writes a study with N COMPLETE trials, some infeasible, with every user attr the
schema names and Optuna 5 `set_constraint` calls, so the report and dashboard can be tested
without the exploration engine. The metrics are a cheap closed-form stand-in (not the
performance model): the report only reads what the schema stores. The benchmark
`benchmarks/report_scale.py` reuses it for a 5,000-trial store.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
import pytest

from ador_opt.hardware import area_breakdown, cost_breakdown
from ador_opt.hardware.presets import ADOR_PAPER

OBJECTIVES = ("capacity_per_mm2", "tbt_p99_ms", "area_mm2")
DIRECTIONS = ("maximize", "minimize", "minimize")
UNITS = ("req/s/mm²", "ms", "mm²")
REFERENCE_POINT = (0.0, 200.0, 900.0)
CONSTRAINTS = ("area_budget", "sram", "memory", "serving_slo")
AREA_BUDGET_MM2 = 700.0
TBT_SLO_MS = 150.0
# Placeholder objective values of infeasible trials: worst-case and finite (schema).
PLACEHOLDER = {"maximize": 0.0, "minimize": 1.0e9}

SA_DIMS = (32, 64, 96, 128)
CORES = (16, 24, 32, 40, 48)
MT_LANES = (0, 8, 16, 32)
LOCAL_KIB = (512, 1024, 2048)

# The engine's spec layout (ador_opt/explore/spec.py: `StudySpec.to_dict()`).
SPEC = {
    "study": {
        "name": "synthetic",
        "description": "",
        "n_trials": 0,
        "sampler": "random",
        "seed": 0,
        "n_jobs": 1,
        "timeout_s": None,
        "storage": None,
    },
    "model": {"names": ["llama-3-8b"], "precision": "fp16"},
    "scenarios": [
        {"kind": "static", "name": "b16", "batch": 16, "input_len": 256, "output_len": 64},
    ],
    "slo": {"ttft_p90_ms": 2000.0, "tbt_p99_ms": TBT_SLO_MS},
    "budget": {"area_mm2": AREA_BUDGET_MM2},
    "space": {"base": "ador-paper", "sa_dim": {"choices": list(SA_DIMS)}},
    "objectives": [
        {"name": n, "direction": d, "reference": r}
        for n, d, r in zip(OBJECTIVES, DIRECTIONS, REFERENCE_POINT, strict=True)
    ],
    "constraints": list(CONSTRAINTS),
}


def _evaluate(params: dict[str, int]) -> tuple[dict[str, object], dict[str, float], str]:
    """User attrs, constraint values and the rejecting stage of one synthetic design."""
    arch = ADOR_PAPER.replace(
        name="trial",
        sa_rows=params["sa_rows"],
        sa_cols=params["sa_cols"],
        core_count=params["core_count"],
        mt_width=16 if params["mt_lanes"] else 0,
        mt_lanes=params["mt_lanes"],
        local_sram_kib=float(params["local_sram_kib"]),
    )
    area = area_breakdown(arch)
    attrs: dict[str, object] = {
        "config": arch.to_dict(),
        "area_mm2": area.total_mm2,
        "cost_usd": cost_breakdown(arch).total_usd,
        "peak_tflops": arch.peak_tflops,
        "area_breakdown": area.to_dict(),
        "cache_hit": False,
        "eval_s": 0.001,
    }
    budget = area.total_mm2 - AREA_BUDGET_MM2
    sram = 1024.0 - params["local_sram_kib"]  # "needs 1 MiB per core" (synthetic rule)
    cons = {"area_budget": budget, "sram": sram, "memory": -1.0, "serving_slo": 0.0}
    metrics: dict[str, float] = {}
    rejected = ""
    if budget > 0:
        rejected = "budget"
        cons.update(sram=0.0, memory=0.0)
    elif sram > 0:
        rejected = "sram"
    else:
        # Stand-in metrics: decode speed grows with MAC-tree lanes, capacity with compute.
        tbt = 40.0 + 2400.0 / (1.0 + params["mt_lanes"]) + 3000.0 / arch.peak_tflops
        capacity = arch.peak_tflops**0.5 * (1.0 + params["mt_lanes"] / 16.0)
        metrics = {
            "tbt_p99_ms": tbt,
            "ttft_p90_ms": 2.0e5 / arch.peak_tflops,
            "capacity_rps": capacity,
            "capacity_per_mm2": capacity / area.total_mm2,
            "capacity_per_usd": capacity / cost_breakdown(arch).total_usd,
        }
        cons["serving_slo"] = tbt - TBT_SLO_MS
        if tbt > TBT_SLO_MS:
            rejected = "serving_slo"
    attrs["metrics"] = metrics
    attrs["rejected_by"] = rejected
    attrs["constraints"] = cons
    return attrs, cons, rejected


def _values(attrs: dict[str, object], rejected: str) -> list[float]:
    if rejected:
        return [PLACEHOLDER[d] for d in DIRECTIONS]
    metrics = attrs["metrics"]
    assert isinstance(metrics, dict)
    return [
        float(attrs["area_mm2"]) if n == "area_mm2" else float(metrics[n])  # type: ignore[arg-type]
        for n in OBJECTIVES
    ]


def build_study(
    storage: str | optuna.storages.BaseStorage,
    n_trials: int,
    *,
    name: str = "synthetic",
    seed: int = 0,
    legacy_constraints_list: bool = False,
    all_infeasible: bool = False,
) -> optuna.Study:
    """Create study `name` in `storage` with `n_trials` COMPLETE trials in the schema.

    `legacy_constraints_list=True` also writes the old `constraints` list system attr (what the
    engine does for the dashboard); False leaves only Optuna 5's `constraints:<name>` keys.
    `all_infeasible=True` makes every design blow the area budget.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, study_name=name, directions=list(DIRECTIONS))
    spec = dict(SPEC, study=dict(SPEC["study"], name=name))  # type: ignore[call-overload]
    if all_infeasible:
        spec["budget"] = {"area_mm2": 1.0}
    study.set_user_attr("ador_spec", spec)
    study.set_user_attr("ador_spec_hash", "0" * 64)
    study.set_user_attr("ador_objectives", list(OBJECTIVES))
    study.set_user_attr("ador_objective_units", list(UNITS))
    study.set_user_attr("ador_reference_point", list(REFERENCE_POINT))
    study.set_user_attr("ador_version", "test")
    rng = np.random.default_rng(seed)
    dists = {
        "sa_rows": optuna.distributions.CategoricalDistribution(SA_DIMS),
        "core_count": optuna.distributions.IntDistribution(16, 48, step=8),
        "mt_lanes": optuna.distributions.CategoricalDistribution(MT_LANES),
        "local_sram_kib": optuna.distributions.CategoricalDistribution(LOCAL_KIB),
    }
    trials = []
    for _ in range(n_trials):
        params = {
            "sa_rows": int(rng.choice(SA_DIMS)),
            "core_count": int(rng.choice(CORES)),
            "mt_lanes": int(rng.choice(MT_LANES)),
            "local_sram_kib": int(rng.choice(LOCAL_KIB)),
        }
        full = dict(params, sa_cols=params["sa_rows"])
        attrs, cons, rejected = _evaluate(full)
        if all_infeasible:
            cons["area_budget"] = float(attrs["area_mm2"]) - 1.0  # type: ignore[arg-type]
            attrs.update(rejected_by="budget", metrics={}, constraints=cons)
            rejected = "budget"
        system_attrs: dict[str, object] = {}
        if legacy_constraints_list:
            system_attrs["constraints"] = [cons[c] for c in CONSTRAINTS]
        trial = optuna.trial.create_trial(
            params=params,
            distributions=dists,
            values=_values(attrs, rejected),
            user_attrs=attrs,
            system_attrs=system_attrs,
            constraints=cons,
        )
        trials.append(trial)
    study.add_trials(trials)
    return study


def ask_tell_study(
    storage: str | optuna.storages.BaseStorage,
    n_trials: int,
    *,
    name: str = "asktell",
    seed: int = 1,
) -> None:
    """Same schema through the live-trial API (`trial.set_constraint`) the engine uses."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        directions=list(DIRECTIONS),
        sampler=optuna.samplers.RandomSampler(seed=seed),
    )
    for key, value in (
        ("ador_spec", SPEC),
        ("ador_objectives", list(OBJECTIVES)),
        ("ador_objective_units", list(UNITS)),
        ("ador_reference_point", list(REFERENCE_POINT)),
    ):
        study.set_user_attr(key, value)
    for _ in range(n_trials):
        trial = study.ask()
        dim = trial.suggest_categorical("sa_rows", SA_DIMS)
        params = {
            "sa_rows": dim,
            "sa_cols": dim,
            "core_count": trial.suggest_int("core_count", 16, 48, step=8),
            "mt_lanes": trial.suggest_categorical("mt_lanes", MT_LANES),
            "local_sram_kib": trial.suggest_categorical("local_sram_kib", LOCAL_KIB),
        }
        attrs, cons, rejected = _evaluate(params)
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        for key in CONSTRAINTS:
            trial.set_constraint(key, cons[key])
        study.tell(trial, _values(attrs, rejected))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


# --- the builder itself follows the schema ---------------------------------------------------


def test_builder_writes_the_schema(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "s.db")
    build_study(url, 20)
    study = optuna.load_study(study_name="synthetic", storage=url)
    trials = study.get_trials()
    assert len(trials) == 20
    for key in ("ador_spec", "ador_objectives", "ador_objective_units", "ador_reference_point"):
        assert key in study.user_attrs
    rejected = {t.user_attrs["rejected_by"] for t in trials}
    assert "" in rejected and rejected - {""}, rejected
    for t in trials:
        assert set(t.constraints) == set(CONSTRAINTS)
        assert "constraints" not in t.system_attrs  # only Optuna 5 keys
        feasible = all(v <= 0 for v in t.constraints.values())
        assert feasible == (t.user_attrs["rejected_by"] == "")
        assert all(math.isfinite(v) for v in t.values)


@pytest.mark.parametrize("legacy", [False, True])
def test_builder_constraint_formats(tmp_path: Path, legacy: bool) -> None:
    study = build_study(optuna.storages.InMemoryStorage(), 5, legacy_constraints_list=legacy)
    t = study.get_trials()[0]
    assert ("constraints" in t.system_attrs) == legacy
