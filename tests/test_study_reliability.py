"""Studies survive kill -9 and Ctrl-C, and several workers reach exactly n_trials."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import ROOT, run_cli
from tests.explore_fixtures import write_spec


def _pg_url() -> str | None:
    url = os.environ.get("ADOR_TEST_PG_URL")
    if url:
        return url
    path = ROOT / ".ci" / "pg_url"
    return path.read_text().strip() if path.exists() else None


def _states(storage: str, name: str = "tiny") -> dict[TrialState, list[optuna.trial.FrozenTrial]]:
    # Read-only peek first: opening a half-created SQLite file with Optuna would create tables.
    import sqlite3

    path = storage.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT study_name FROM studies").fetchall()
    if (name,) not in rows:
        raise KeyError(name)
    study = optuna.load_study(study_name=name, storage=storage)
    out: dict[TrialState, list[optuna.trial.FrozenTrial]] = {s: [] for s in TrialState}
    for t in study.get_trials():
        out[t.state].append(t)
    return out


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ador_opt", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_complete(storage: str, n: int, proc: subprocess.Popen[str], limit_s: float = 120):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if len(_states(storage)[TrialState.COMPLETE]) >= n:
                return
        except Exception:  # study or schema still being created by the CLI
            pass
        time.sleep(0.2)
    raise AssertionError("study made no progress")


def test_sigkill_then_resume_loses_nothing(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, n_trials=40)
    db = tmp_path / "runs" / "tiny.db"
    storage = f"sqlite:///{db}"
    proc = _start(["optimize", str(spec), "--json"], tmp_path)
    while not db.exists():
        time.sleep(0.1)
    _wait_for_complete(storage, 8, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    before = _states(storage)
    done_before = {t.number: t.values for t in before[TrialState.COMPLETE]}
    running_before = [t.number for t in before[TrialState.RUNNING]]
    assert len(done_before) < 40

    result = run_cli("resume", str(db), "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["recovered_trials"] == running_before
    after = _states(storage)
    assert not after[TrialState.RUNNING] and not after[TrialState.WAITING]
    assert len(after[TrialState.COMPLETE]) == 40
    complete = {t.number: t for t in after[TrialState.COMPLETE]}
    for number, values in done_before.items():  # no completed trial lost or changed
        assert complete[number].values == values
    # The killed trial failed and was retried with the parameters it had been given (it may
    # have been killed half-way through sampling them; the retry samples the rest).
    failed = {t.number: t for t in after[TrialState.FAIL]}
    assert sorted(failed) == running_before
    for number in running_before:
        retry = [t for t in complete.values() if t.system_attrs.get("failed_trial") == number]
        assert len(retry) == 1
        assert failed[number].params.items() <= retry[0].params.items()


def test_ctrl_c_stops_after_the_current_trial(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, n_trials=200)
    db = tmp_path / "runs" / "tiny.db"
    proc = _start(["optimize", str(spec), "--json"], tmp_path)
    while not db.exists():
        time.sleep(0.1)
    _wait_for_complete(f"sqlite:///{db}", 3, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    doc = json.loads(out)
    assert doc["stopped"] is True and doc["complete"] < 200
    states = _states(f"sqlite:///{db}")
    assert not states[TrialState.RUNNING] and not states[TrialState.FAIL]
    assert len(states[TrialState.COMPLETE]) == doc["complete"]


@pytest.mark.parametrize("suffix", [".db", ".journal"])
def test_n_jobs_reaches_exactly_n_trials(tmp_path: Path, suffix: str) -> None:
    spec = write_spec(tmp_path, n_trials=30)
    store = tmp_path / f"store{suffix}"
    result = run_cli(
        "optimize", str(spec), "--n-jobs", "2", "--storage", str(store), "--json", cwd=tmp_path
    )
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["complete"] == 30
    if suffix == ".db":
        study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{store}")
    else:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        study = optuna.load_study(
            study_name="tiny", storage=JournalStorage(JournalFileBackend(str(store)))
        )
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 30
    assert sorted(t.number for t in trials) == list(range(30))


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh database on the test server (PostgreSQL ≥ 15 keeps `public` of the default
    database closed to non-owners), dropped afterwards."""
    url = _pg_url()
    if url is None:
        pytest.skip("no PostgreSQL: set ADOR_TEST_PG_URL or run .ci/start_postgres.sh")
    import sqlalchemy

    from ador_opt.explore.storage import resolve_store

    admin = sqlalchemy.create_engine(resolve_store(url).url, isolation_level="AUTOCOMMIT")
    db = f"ador_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {db}"))
    try:
        yield url.rsplit("/", 1)[0] + "/" + db
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        admin.dispose()


@pytest.mark.postgres
def test_two_postgres_workers_reach_exactly_n_trials(tmp_path: Path, pg_database: str) -> None:
    url = pg_database
    name = "tiny-pg"
    spec = write_spec(tmp_path, n_trials=1)
    first = run_cli("optimize", str(spec), "--storage", url, "--study-name", name, "--json")
    assert first.code == 0, first.stderr
    workers = [
        _start(["worker", "--storage", url, "--study", name, "--n-trials", "30", "--json"],
               tmp_path)
        for _ in range(2)
    ]  # fmt: skip
    for w in workers:
        _out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
    from ador_opt.explore.storage import resolve_store

    storage = optuna.storages.RDBStorage(resolve_store(url).url)
    trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 30
    assert sorted(t.number for t in trials) == list(range(30))
    storage.engine.dispose()


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_trials_of_dead_local_workers_are_requeued(tmp_path: Path) -> None:
    from ador_opt.explore import create_or_open, resolve_store, validate_spec
    from ador_opt.explore.storage import WORKER_ATTR, fail_dead_local_trials, worker_id
    from tests.explore_fixtures import spec_dict

    ref = resolve_store(str(tmp_path / "d.db"))
    study, _ = create_or_open(ref, validate_spec(spec_dict()))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    host = worker_id().rpartition(":")[0]
    orphan, alive = study.ask(), study.ask()
    orphan.suggest_int("sa_dim", 32, 128, step=32)
    study._storage.set_trial_system_attr(orphan._trial_id, WORKER_ATTR, f"{host}:{dead}")
    study._storage.set_trial_system_attr(alive._trial_id, WORKER_ATTR, worker_id())
    assert fail_dead_local_trials(study) == [orphan.number]
    states = {t.number: t for t in study.get_trials()}
    assert states[orphan.number].state == TrialState.FAIL
    assert states[alive.number].state == TrialState.RUNNING
    (copy,) = [t for t in states.values() if t.state == TrialState.WAITING]
    assert copy.params == states[orphan.number].params
    assert WORKER_ATTR not in copy.system_attrs
    assert copy.system_attrs["failed_trial"] == orphan.number


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_no_worker_claimed_is_requeued_after_the_grace_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI failure: PostgreSQL restarted between a worker's `ask` and its first heartbeat left
    a RUNNING trial with no heartbeat row and no owner; the finishing worker waited for it
    until its 300 s timeout. Unclaimed and older than the grace period, it is failed and
    re-queued; unclaimed and young (its worker may be about to claim it), it is left alone."""
    import datetime

    from ador_opt.explore import create_or_open, resolve_store, validate_spec
    from ador_opt.explore import storage as storage_module
    from tests.explore_fixtures import spec_dict

    ref = resolve_store(str(tmp_path / "u.db"))
    study, _ = create_or_open(ref, validate_spec(spec_dict()))
    unclaimed = study.ask()
    assert storage_module.fail_dead_local_trials(study) == []  # young: maybe being claimed
    later = datetime.datetime.now() + datetime.timedelta(seconds=storage_module.GRACE_PERIOD_S)

    class _Later(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> _Later:  # type: ignore[override]
            return cls.fromtimestamp(later.timestamp(), tz)

    monkeypatch.setattr(datetime, "datetime", _Later)
    assert storage_module.fail_dead_local_trials(study) == [unclaimed.number]
    monkeypatch.undo()
    states = {t.number: t.state for t in study.get_trials()}
    assert states[unclaimed.number] == TrialState.FAIL
    assert list(states.values()).count(TrialState.WAITING) == 1
