"""End to end on a study made by the engine: `ador-opt optimize` → `report` → `pareto`."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from ador_opt.report.dashboard import constraint_order, legacy_constraints
from tests.conftest import ROOT, run_cli

QUICKSTART = ROOT / "studies" / "quickstart.toml"
N_TRIALS = 12


@pytest.fixture(scope="module")
def engine_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not QUICKSTART.exists():
        pytest.skip("studies/quickstart.toml not present")
    db = tmp_path_factory.mktemp("e2e") / "quick.db"
    result = run_cli(
        "optimize",
        str(QUICKSTART),
        "--storage",
        f"sqlite:///{db}",
        "--n-trials",
        str(N_TRIALS),
        "--json",
        cwd=db.parent,
    )
    assert result.code == 0, result.stderr
    return db


def test_report_agrees_with_the_engines_pareto(engine_store: Path, tmp_path: Path) -> None:
    rep = run_cli("report", str(engine_store), "--out", str(tmp_path / "r"), "--json")
    assert rep.code == 0, rep.stderr
    doc = json.loads(rep.stdout)
    par = run_cli("pareto", str(engine_store), "--json")
    assert par.code == 0, par.stderr
    front = json.loads(par.stdout)
    assert doc["objectives"] == front["objectives"]
    assert doc["directions"] == front["directions"]
    assert doc["n_complete"] == N_TRIALS
    assert doc["n_pareto"] == len(front["designs"])
    front_numbers = {d["number"] for d in front["designs"]}
    assert {d["number"] for d in doc["designs"]} <= front_numbers
    # The quickstart is a static-batch study: the presets get the same static metrics.
    for b in doc["baselines"]:
        assert not b["notes"], b
        for key in front["objectives"]:
            assert key in b["metrics"], (b["name"], key)
    html = Path(doc["html"]).read_text(encoding="utf-8")
    assert "llama-3-8b" in html and 'id="spec-table"' in html


def test_engine_writes_constraints_once_and_the_bridge_rebuilds_the_list(
    engine_store: Path,
) -> None:
    """The engine writes only Optuna 5's `constraints:<name>` keys (issue 14 item 3), so the
    dashboard's old list can come only from the read-side bridge: rebuilt in the spec's order,
    it equals the trial's own per-name constraint values."""
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{engine_store}")
    order = constraint_order(study.user_attrs["ador_spec"])
    assert order
    for t in study.trials:
        assert "constraints" not in t.system_attrs
        rebuilt = legacy_constraints(t.system_attrs, order)
        assert rebuilt == [t.user_attrs["constraints"][n] for n in order]


def test_dashboard_api_lists_constraints_for_every_trial_of_an_optimize_study(
    engine_store: Path,
) -> None:
    """Issue acceptance: optuna-dashboard's `/api/studies/<id>` shows non-empty constraints for
    every complete trial of a study made by `optimize`, and the infeasible ones are > 0."""
    from tests.test_dashboard import DashboardProcess, get_json

    # Without the bridge optuna-dashboard 0.21 would show no constraint for these trials (the
    # engine does not write the old list): this test fails if the bridge is bypassed.
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{engine_store}")
    assert all("constraints" not in t.system_attrs for t in study.trials)
    server = DashboardProcess(engine_store, "--no-prepare")
    try:
        detail = get_json(f"{server.base}/api/studies/{server.info['study_id']}")
    finally:
        server.stop()
    complete = [t for t in detail["trials"] if t["state"] == "Complete"]
    assert len(complete) == N_TRIALS
    assert all(t["constraints"] for t in complete)
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{engine_store}")
    infeasible = {t.number for t in study.trials if any(v > 0 for v in t.constraints.values())}
    shown = {t["number"] for t in complete if any(c > 0 for c in t["constraints"])}
    assert shown == infeasible
