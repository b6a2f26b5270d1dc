"""Studies end to end: optimize → storage schema → pareto contracts; reproducibility; cache."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ador_opt.explore import create_or_open, resolve_store, run_trials, validate_spec
from ador_opt.explore.pareto import nondominated_mask
from ador_opt.explore.spec import spec_hash
from tests.conftest import assert_input_error, run_cli
from tests.explore_fixtures import spec_dict, write_spec

SCHEMA_TRIAL_ATTRS = {
    "config",
    "area_mm2",
    "cost_usd",
    "peak_tflops",
    "area_breakdown",
    "metrics",
    "rejected_by",
    "constraints",
    "cache_hit",
    "eval_s",
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One small study run through the CLI (shared by the contract tests)."""
    d = tmp_path_factory.mktemp("study")
    spec = write_spec(d, n_trials=24)
    result = run_cli("optimize", str(spec), "--json", cwd=d)
    assert result.code == 0, result.stderr
    return d / "runs" / "tiny.db", json.loads(result.stdout)


def _load(db: Path) -> optuna.Study:
    return optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")


def test_optimize_json_and_storage_schema(finished: tuple[Path, dict]) -> None:
    db, doc = finished
    assert doc["complete"] == 24 and doc["n_trials"] == 24 and doc["study"] == "tiny"
    assert doc["objectives"] == ["throughput_per_mm2", "area_mm2"]
    assert doc["directions"] == ["maximize", "minimize"]
    study = _load(db)
    attrs = study.user_attrs
    assert attrs["ador_objectives"] == doc["objectives"]
    assert attrs["ador_objective_units"] == ["tok/s/mm²", "mm²"]
    assert attrs["ador_reference_point"] == [0.0, 700.0]
    assert attrs["ador_spec_hash"] == spec_hash(attrs["ador_spec"])
    assert attrs["ador_version"]
    names = attrs["ador_spec"]["constraints"]
    trials = study.get_trials()
    assert len(trials) == 24 and all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:
        assert set(t.user_attrs) >= SCHEMA_TRIAL_ATTRS
        assert list(t.user_attrs["constraints"]) == names
        # Constraints are written once, in Optuna 5's per-name form (issue 14 item 3); the
        # dashboard's old list is built on the read side (report/dashboard.py).
        assert t.constraints == t.user_attrs["constraints"]
        assert "constraints" not in t.system_attrs
        feasible = all(v <= 0 for v in t.user_attrs["constraints"].values())
        assert feasible == (t.user_attrs["rejected_by"] == "")
        if not feasible:
            assert t.values == [0.0, 700.0]
        assert t.user_attrs["config"]["sa_rows"] % 32 == 0 or t.user_attrs["rejected_by"]


def test_pareto_json_contract(finished: tuple[Path, dict]) -> None:
    db, _ = finished
    result = run_cli("pareto", str(db), "--json")
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == {"study", "objectives", "directions", "designs"}
    assert doc["designs"], "the tiny study has feasible designs"
    study = _load(db)
    by_number = {t.number: t for t in study.get_trials()}
    values = []
    for d in doc["designs"]:
        assert set(d) == {"number", "values", "params", "metrics"}
        t = by_number[d["number"]]
        assert t.user_attrs["rejected_by"] == "" and d["values"] == t.values
        assert d["params"] == t.params and d["metrics"] == t.user_attrs["metrics"]
        values.append(d["values"])
    import numpy as np

    assert nondominated_mask(np.array(values), doc["directions"]).all()
    # --all lists every distinct feasible design; the front is a subset of it.
    every = json.loads(run_cli("pareto", str(db), "--json", "--all").stdout)["designs"]
    feasible = {
        str(t.user_attrs["cache_key"])
        for t in by_number.values()
        if t.user_attrs["rejected_by"] == ""
    }
    assert len(every) == len(feasible)
    assert {d["number"] for d in doc["designs"]} <= {d["number"] for d in every}


def test_pareto_csv_and_table(finished: tuple[Path, dict]) -> None:
    db, _ = finished
    out = run_cli("pareto", str(db), "--csv")
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0][:3] == ["number", "throughput_per_mm2", "area_mm2"]
    table = run_cli("pareto", str(db), env={"COLUMNS": "200"})
    assert table.code == 0 and table.stderr == ""
    assert "area (mm²)" in table.stdout


def test_pareto_bad_store(tmp_path: Path) -> None:
    assert_input_error(run_cli("pareto", str(tmp_path / "none.db")), "no study store")
    assert not (tmp_path / "none.db").exists()


def test_same_seed_same_trials(tmp_path: Path) -> None:
    runs = []
    for i in range(2):
        ref = resolve_store(str(tmp_path / f"s{i}.db"))
        study, _ = create_or_open(ref, validate_spec(spec_dict(n_trials=12)))
        run_trials(study, ref, 12, seed=7)
        runs.append([(t.params, t.values) for t in study.get_trials()])
    assert runs[0] == runs[1]


def test_cache_hits_reuse_results(tmp_path: Path) -> None:
    spec = validate_spec(spec_dict(n_trials=4))
    ref = resolve_store(str(tmp_path / "c.db"))
    study, _ = create_or_open(ref, spec)
    point = {
        "sa_dim": 64,
        "core_count": 32,
        "mt_lanes": 8,
        "local_sram_kib": 1024,
        "dram_gbps": 3200,
    }
    for _ in range(3):
        study.enqueue_trial(point)
    run_trials(study, ref, 1, seed=0)  # one design
    run_trials(study, ref, 2, seed=0)  # a fresh worker: found in the storage, then in-process
    t0, t1, t2 = study.get_trials()[:3]
    assert [t.user_attrs["cache_hit"] for t in (t0, t1, t2)] == [False, True, True]
    for t in (t1, t2):
        assert t.values == t0.values
        for key in ("config", "metrics", "constraints", "rejected_by", "area_mm2"):
            assert t.user_attrs[key] == t0.user_attrs[key]
        assert t.constraints == t0.constraints


def test_changed_spec_is_refused_with_the_difference(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, n_trials=3)
    assert run_cli("optimize", str(spec), "--json", cwd=tmp_path).code == 0
    text = spec.read_text().replace("tbt_ms = 40.0", "tbt_ms = 30.0")
    spec.write_text(text)
    result = run_cli("optimize", str(spec), cwd=tmp_path)
    assert_input_error(result, "different spec", "slo.tbt_ms")
    assert_input_error(
        run_cli("resume", "runs/tiny.db", "--spec", str(spec), cwd=tmp_path), "slo.tbt_ms"
    )
    flipped = text.replace(
        'name = "area_mm2"', 'name = "area_mm2"\ndirection = "maximize"\nreference = 0.0'
    )
    spec.write_text(flipped)
    assert_input_error(run_cli("optimize", str(spec), cwd=tmp_path), "directions")


def test_resume_extends_and_sampler_override(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, n_trials=4)
    first = run_cli("optimize", str(spec), "--json", "--sampler", "random", cwd=tmp_path)
    assert first.code == 0, first.stderr
    again = run_cli("resume", "runs/tiny.db", "--n-trials", "7", "--json", cwd=tmp_path)
    assert again.code == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["complete"] == 7 and doc["ran"] == 3
    study = _load(tmp_path / "runs" / "tiny.db")
    assert study.user_attrs["ador_spec"]["study"]["n_trials"] == 7
    assert study.user_attrs["ador_spec"]["study"]["sampler"] == "random"
    assert_input_error(
        run_cli("optimize", str(spec), "--sampler", "annealing", cwd=tmp_path), "annealing"
    )


@pytest.mark.parametrize("sampler", ["nsga2", "grid", "stepwise"])
def test_other_samplers_fill_the_schema(tmp_path: Path, sampler: str) -> None:
    ref = resolve_store(str(tmp_path / f"{sampler}.db"))
    study, _ = create_or_open(ref, validate_spec(spec_dict(n_trials=6, sampler=sampler)))
    run_trials(study, ref, 6, seed=1)
    trials = study.get_trials()
    assert len(trials) == 6 and all(t.state == TrialState.COMPLETE for t in trials)
    assert all(SCHEMA_TRIAL_ATTRS - {"cache_hit"} <= set(t.user_attrs) for t in trials)


def test_grid_stops_when_exhausted_and_timeout(tmp_path: Path) -> None:
    data = spec_dict(n_trials=8, sampler="grid")
    data["space"] = {"base": "ador-paper", "sa_dim": {"choices": [32, 64]},
                     "core_count": {"choices": [16, 32]}, "total_sram_mib": 64,
                     "local_sram_kib": 256}  # fmt: skip
    ref = resolve_store(str(tmp_path / "g.db"))
    study, _ = create_or_open(ref, validate_spec(data))
    assert run_trials(study, ref, 8, seed=0) == 4
    assert sorted((t.params["sa_dim"], t.params["core_count"]) for t in study.get_trials()) == [
        (32, 16), (32, 32), (64, 16), (64, 32)
    ]  # fmt: skip
    spec = write_spec(tmp_path, n_trials=50)
    result = run_cli("optimize", str(spec), "--timeout", "0.001", "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["timed_out"] is True and doc["complete"] < 50


@pytest.mark.slow
def test_quickstart_finishes_with_a_feasible_front(tmp_path: Path) -> None:
    """The README's main job (`studies/quickstart.toml`, 300 trials): ≈ 30 s on 2 cores."""
    from tests.conftest import ROOT

    result = run_cli("optimize", str(ROOT / "studies" / "quickstart.toml"), cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "Pareto-optimal feasible designs of quickstart" in result.stdout
    assert "300/300 trials complete" in result.stdout
    doc = json.loads(run_cli("pareto", "runs/quickstart.db", "--json", cwd=tmp_path).stdout)
    assert doc["designs"]
