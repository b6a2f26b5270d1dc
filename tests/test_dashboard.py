"""`ador-opt dashboard`: the constraint bridge, the study note/figures, and the live API."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna_dashboard import get_note
from optuna_dashboard._serializer import serialize_frozen_trial

from ador_opt.errors import InputError
from ador_opt.report.dashboard import (
    FAILED_PARAM,
    ConstraintBridgeStorage,
    check_port,
    constraint_order,
    failed_label,
    legacy_constraints,
    prepare_study,
)
from tests.conftest import ROOT, assert_input_error, run_cli
from tests.test_report_fixtures import CONSTRAINTS, build_study, sqlite_url

SERVER_START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return json.loads(resp.read())


class DashboardProcess:
    """`ador-opt dashboard STORE --port P --json` as a subprocess; stopped by its pid."""

    def __init__(self, store: Path, *extra: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ador_opt",
                "dashboard",
                str(store),
                "--port",
                str(self.port),
                "--json",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the JSON document, printed once listening
        if not line:
            raise AssertionError(f"dashboard did not start: {self.proc.stderr.read()}")  # type: ignore[union-attr]
        self.info = json.loads(line)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                get_json(f"{self.base}/api/meta")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dash") / "study.db"
    build_study(sqlite_url(path), 60)  # Optuna 5 keys only: the bridge must add the list
    return path


# --- the bridge --------------------------------------------------------------------------------


def test_constraint_order_from_the_spec() -> None:
    assert constraint_order({"constraints": ["b", "a"]}) == ["b", "a"]
    assert constraint_order({"constraints": [{"name": "x"}, {"name": "y"}]}) == ["x", "y"]
    assert constraint_order({"constraints": {"p": 1, "q": 2}}) == ["p", "q"]
    assert constraint_order(None) == [] and constraint_order({}) == []


def test_legacy_list_follows_the_spec_order_then_the_rest() -> None:
    attrs = {"constraints:b": 2.0, "constraints:a": -1.0, "constraints:z": 3.0, "other": 1}
    assert legacy_constraints(attrs, ["a", "b"]) == [-1.0, 2.0, 3.0]
    assert legacy_constraints({"constraints": [1.0], "constraints:a": 1.0}, ["a"]) is None
    assert legacy_constraints({"x": 1}, ["a"]) is None


def test_bridge_gives_every_trial_the_list_without_touching_the_store(store: Path) -> None:
    inner = optuna.storages.RDBStorage(sqlite_url(store))
    bridge = ConstraintBridgeStorage(inner)
    study_id = inner.get_study_id_from_name("synthetic")
    raw = inner.get_all_trials(study_id)
    bridged = bridge.get_all_trials(study_id)
    assert len(bridged) == len(raw) == 60
    n_infeasible = 0
    for r, b in zip(raw, bridged, strict=True):
        assert "constraints" not in r.system_attrs  # store untouched, object not mutated
        assert b.system_attrs["constraints"] == [
            r.system_attrs[f"constraints:{c}"] for c in CONSTRAINTS
        ]
        # What the dashboard serialises: a non-empty list, infeasible iff Optuna says so.
        ser = serialize_frozen_trial(study_id, b, {})
        optuna_feasible = all(v <= 0 for v in r.constraints.values())
        assert ser["constraints"] and all(v <= 0 for v in ser["constraints"]) == optuna_feasible
        n_infeasible += not optuna_feasible
        assert (
            bridge.get_trial(r._trial_id).system_attrs["constraints"]
            == b.system_attrs["constraints"]
        )
    assert 0 < n_infeasible < 60
    assert "constraints" not in inner.get_trial(raw[0]._trial_id).system_attrs


def test_bridge_leaves_trials_that_have_the_list(tmp_path: Path) -> None:
    storage = optuna.storages.InMemoryStorage()
    study = build_study(storage, 5, legacy_constraints_list=True)
    bridge = ConstraintBridgeStorage(storage)
    for t in bridge.get_all_trials(study._study_id):
        assert t.system_attrs["constraints"] == [
            t.user_attrs["constraints"][c] for c in CONSTRAINTS
        ]


def test_failed_constraint_label(store: Path) -> None:
    """Each infeasible trial carries a display-only parameter naming what failed, first in its
    params (the dashboard's hover text); feasible trials get none, so it stays out of the
    intersection search space (parallel coordinates, importances)."""
    inner = optuna.storages.RDBStorage(sqlite_url(store))
    bridge = ConstraintBridgeStorage(inner)
    study_id = inner.get_study_id_from_name("synthetic")
    raw = inner.get_all_trials(study_id)
    n_labelled = 0
    for r, b in zip(raw, bridge.get_all_trials(study_id), strict=True):
        violated = [n for n, v in r.constraints.items() if v > 0]
        if not violated:
            assert FAILED_PARAM not in b.params and b.params == r.params
            continue
        label = b.params[FAILED_PARAM]
        assert next(iter(b.params)) == FAILED_PARAM and all(n in label for n in violated)
        assert {k: v for k, v in b.params.items() if k != FAILED_PARAM} == r.params
        ser = serialize_frozen_trial(study_id, b, {})
        assert ser["params"][0]["name"] == FAILED_PARAM
        assert ser["params"][0]["param_external_value"] == label
        assert FAILED_PARAM not in r.params  # the store's trial is not mutated
        n_labelled += 1
    assert n_labelled and FAILED_PARAM not in optuna.search_space.intersection_search_space(
        bridge.get_all_trials(study_id)
    )


def test_failed_label_text() -> None:
    def trial(cons: dict[str, float], **attrs: object) -> optuna.trial.FrozenTrial:
        return optuna.trial.create_trial(values=[1.0], constraints=cons, user_attrs=attrs)

    assert failed_label(trial({"area": -0.2, "sram": 0.0})) is None
    assert failed_label(trial({"area": 0.14})) == "area +14 % over (die area ≤ budget.area_mm2)"
    assert failed_label(trial({"memory": 2.2, "area": 0.001})).startswith(
        "memory 3.2× the limit (weights + KV of the scenario fit DRAM); area +0.1 % over"
    )
    assert failed_label(trial({"sanity": 1.0}, reason="tp=3 does not divide the heads")) == (
        "sanity: tp=3 does not divide the heads (parameters form a valid ArchConfig)"
    )
    assert failed_label(trial({"x": 0.0}, rejected_by="budget")) == "rejected by budget"


def test_without_the_bridge_the_dashboard_sees_no_constraints(store: Path) -> None:
    """The fact the bridge exists for (DESIGN §8): 0.21 reads only the old list."""
    inner = optuna.storages.RDBStorage(sqlite_url(store))
    study_id = inner.get_study_id_from_name("synthetic")
    trial = inner.get_all_trials(study_id)[0]
    assert serialize_frozen_trial(study_id, trial, {})["constraints"] == []


# --- note, figures, artifacts ------------------------------------------------------------------


def test_prepare_writes_note_figures_and_artifacts(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    build_study(sqlite_url(db), 40)
    art = tmp_path / "artifacts"
    first = prepare_study(str(db), None, art, baselines=False)
    study = optuna.load_study(study_name="synthetic", storage=sqlite_url(db))
    note = get_note(study)
    assert note.startswith("# ador-opt: synthetic")
    assert "| Specification |" in note and "best " in note
    assert study.metric_names == ["capacity_per_mm2", "tbt_p99_ms", "area_mm2"]
    attrs = study._storage.get_study_system_attrs(study._study_id)
    graphs = {k.split(":")[2] for k in attrs if k.startswith("dashboard:plot_data:")}
    assert graphs == set(first.graph_ids) and "ador-hypervolume" in graphs
    metas = [json.loads(v) for k, v in attrs.items() if k.startswith("artifacts:")]
    assert sorted(m["filename"] for m in metas) == sorted(
        [
            "pareto_capacity_per_mm2__tbt_p99_ms.png",
            "pareto_capacity_per_mm2__area_mm2.png",
            "pareto_tbt_p99_ms__area_mm2.png",
            "hypervolume.png",
            "area_breakdown.png",
        ]
    )
    assert len(list(art.iterdir())) == 5
    # A second run replaces the figures and artifacts instead of piling up copies.
    prepare_study(str(db), None, art, baselines=False)
    attrs = study._storage.get_study_system_attrs(study._study_id)
    live = [json.loads(v) for k, v in attrs.items() if k.startswith("artifacts:")]
    assert sum(m is not None for m in live) == 5
    assert len(list(art.iterdir())) == 5
    assert note == get_note(study)


# --- the live server ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(store: Path) -> Iterator[DashboardProcess]:
    proc = DashboardProcess(store, "--no-prepare")
    yield proc
    proc.stop()


def test_api_shows_constraints_for_every_complete_trial(
    server: DashboardProcess, store: Path
) -> None:
    study_id = server.info["study_id"]
    assert server.info["url"].endswith(f"/dashboard/studies/{study_id}")
    detail = get_json(f"{server.base}/api/studies/{study_id}")
    trials = [t for t in detail["trials"] if t["state"] == "Complete"]
    assert len(trials) == 60
    assert all(t["constraints"] for t in trials)
    expected = {
        t.number
        for t in optuna.load_study(study_name="synthetic", storage=sqlite_url(store)).trials
        if any(v > 0 for v in t.constraints.values())
    }
    shown = {t["number"] for t in trials if any(c > 0 for c in t["constraints"])}
    assert shown == expected and expected


def test_dashboard_bad_input(tmp_path: Path, server: DashboardProcess, store: Path) -> None:
    missing = tmp_path / "none.db"
    assert_input_error(run_cli("dashboard", str(missing), "--port", str(free_port())), "not found")
    assert not missing.exists()
    with pytest.raises(InputError, match=f"cannot listen on 127.0.0.1:{server.port}"):
        check_port("127.0.0.1", server.port)
    with pytest.raises(InputError, match="port"):
        check_port("127.0.0.1", 70000)
