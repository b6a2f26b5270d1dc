"""Fault injection on `optimize`: signals at random points, a locked SQLite file, a full disk,
a PostgreSQL restart under two workers. Each test asserts the exact trial counts after recovery:
exactly n_trials COMPLETE, unique trial numbers, no RUNNING/WAITING left, and every trial that
was COMPLETE before the fault unchanged afterwards (nothing lost, nothing counted twice)."""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import run_cli
from tests.explore_fixtures import write_spec
from tests.test_study_reliability import _pg_url

N_TRIALS = 24


def _open(store: Path) -> optuna.Study | None:
    """The study in a local store, or None when the kill came before it existed."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if not store.exists() or store.stat().st_size == 0:
        return None
    if store.suffix == ".journal":
        storage = JournalStorage(JournalFileBackend(str(store)))
    else:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
            try:
                if not conn.execute("SELECT study_name FROM studies").fetchall():
                    return None
            except sqlite3.OperationalError:  # schema not created yet
                return None
        storage = optuna.storages.RDBStorage(f"sqlite:///{store}")
    if "tiny" not in [s.study_name for s in optuna.get_all_study_summaries(storage)]:
        return None
    return optuna.load_study(study_name="tiny", storage=storage)


Snapshot = dict[int, tuple[str, tuple[float, ...]]]  # trial number → (state name, values)


def _peek(store: Path) -> Snapshot | None:
    """The trials of study "tiny" read without writing anything (a read-only SQLite
    connection, or an in-memory replay of the journal); None before the study exists."""
    if not store.exists() or store.stat().st_size == 0:
        return None
    if store.suffix == ".journal":
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        try:
            storage = JournalStorage(JournalFileBackend(str(store)))
            study = optuna.load_study(study_name="tiny", storage=storage)
        except (KeyError, ValueError):
            return None
        return {t.number: (t.state.name, tuple(t.values or ())) for t in study.get_trials()}
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute(
                "SELECT t.number, t.state, v.value FROM trials t JOIN studies s "
                "ON s.study_id = t.study_id LEFT JOIN trial_values v ON v.trial_id = t.trial_id "
                "WHERE s.study_name = 'tiny' ORDER BY t.number, v.objective"
            ).fetchall()
    except sqlite3.OperationalError:  # schema not created yet
        return None
    snap: dict[int, tuple[str, tuple[float, ...]]] = {}
    for number, state, value in rows:
        st, values = snap.get(number, (state, ()))
        snap[number] = (st, values + ((value,) if value is not None else ()))
    return snap


def _count(snap: Snapshot, state: str) -> int:
    return sum(s == state for s, _ in snap.values())


PHASES = {
    # at least 3 trials committed: a kill must leave them untouched
    "complete": lambda snap: _count(snap, "COMPLETE") >= 3,
    # mid-trial: a trial asked and not told yet (and earlier ones committed)
    "running": lambda snap: _count(snap, "COMPLETE") >= 2 and _count(snap, "RUNNING") >= 1,
}


def _group_stopped(pgid: int) -> bool:
    """Every live process of the group is in state T (stopped)."""
    states = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = (Path("/proc") / entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                states.append(fields[0])
    return all(s in ("T", "t") for s in states)


def _freeze_in_phase(proc: subprocess.Popen[str], store: Path, phase: str) -> Snapshot:
    """Poll the store until it shows `phase`, freeze the whole process group (SIGSTOP), and
    re-read: if the phase still holds the group is frozen in it (nothing can change until the
    signal), else thaw and poll again. Returns the snapshot the processes are frozen at."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        snap = _peek(store)
        if snap is not None and PHASES[phase](snap):
            os.killpg(proc.pid, signal.SIGSTOP)
            while not _group_stopped(proc.pid):
                time.sleep(0.005)
            snap = _peek(store)
            if snap is not None and PHASES[phase](snap):
                return snap
            os.killpg(proc.pid, signal.SIGCONT)
        time.sleep(0.005)
    raise AssertionError(f"never observed phase {phase!r} in {store}")


def _assert_exact(study: optuna.Study, n: int, before: dict[int, list[float]]) -> None:
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    states = [t.state for t in trials]
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    complete = {t.number: t for t in trials if t.state == TrialState.COMPLETE}
    assert len(complete) == n
    for number, values in before.items():  # no COMPLETE trial lost or re-evaluated
        assert complete[number].values == values
    # A trial interrupted mid-evaluation is FAIL and retried at most once per failure.
    retried = [t.system_attrs.get("failed_trial") for t in trials if "failed_trial" in
               t.system_attrs]  # fmt: skip
    assert len(retried) == len(set(retried))


def _spawn(args: list[str], cwd: Path, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ador_opt", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # own process group: SIGKILL reaches the workers too
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("phase", "n_jobs", "suffix"),
    [
        ("complete", 1, ".db"),
        ("running", 1, ".db"),
        ("running", 2, ".db"),
        ("running", 1, ".journal"),
        ("running", 2, ".journal"),
    ],
)
def test_sigkill_in_a_phase_then_resume(
    tmp_path: Path, phase: str, n_jobs: int, suffix: str
) -> None:
    """SIGKILL of the whole process group (a crash) frozen in a proven phase: after committed
    trials, or with a trial RUNNING. `resume` keeps every COMPLETE trial, fails and retries the
    one that was RUNNING, and ends with exactly n_trials."""
    spec = write_spec(tmp_path, n_trials=N_TRIALS)
    store = tmp_path / f"tiny{suffix}"
    proc = _spawn(["optimize", str(spec), "--storage", str(store), "--n-jobs", str(n_jobs),
                   "--json"], tmp_path)  # fmt: skip
    at_kill = _freeze_in_phase(proc, store, phase)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    after_kill = _peek(store)
    assert after_kill == at_kill  # the kill landed exactly in the phase we observed
    before = {n: list(v) for n, (s, v) in at_kill.items() if s == "COMPLETE"}
    running = {n for n, (s, _v) in at_kill.items() if s == "RUNNING"}
    assert len(before) >= 2 and (running if phase == "running" else True)
    result = run_cli("resume", str(store), "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["complete"] == N_TRIALS
    assert set(doc["recovered_trials"]) == running  # exactly the trials cut mid-evaluation
    study = _open(store)
    assert study is not None
    _assert_exact(study, N_TRIALS, before)
    failed = {t.number for t in study.get_trials() if t.state == TrialState.FAIL}
    assert failed == running


@pytest.mark.parametrize(("n_jobs", "suffix"), [(1, ".db"), (2, ".journal")])
def test_sigterm_mid_trial_finishes_it_then_resume(
    tmp_path: Path, n_jobs: int, suffix: str
) -> None:
    """SIGTERM of the parent (a polite stop) while a trial is RUNNING: the trial is finished
    (COMPLETE, not abandoned), the run exits 0 with `stopped`, and `resume` reaches n_trials."""
    spec = write_spec(tmp_path, n_trials=N_TRIALS)
    store = tmp_path / f"tiny{suffix}"
    proc = _spawn(["optimize", str(spec), "--storage", str(store), "--n-jobs", str(n_jobs),
                   "--json"], tmp_path)  # fmt: skip
    at_stop = _freeze_in_phase(proc, store, "running")
    proc.send_signal(signal.SIGTERM)  # pending until the group runs again
    os.killpg(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    doc = json.loads(out)
    assert doc["stopped"] is True and doc["complete"] < N_TRIALS
    after = _peek(store)
    assert after is not None
    running = [n for n, (s, _v) in at_stop.items() if s == "RUNNING"]
    assert running and all(after[n][0] == "COMPLETE" for n in running)
    assert _count(after, "RUNNING") == 0 and _count(after, "FAIL") == 0
    before = {n: list(v) for n, (s, v) in after.items() if s == "COMPLETE"}
    result = run_cli("resume", str(store), "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["complete"] == N_TRIALS
    study = _open(store)
    assert study is not None
    _assert_exact(study, N_TRIALS, before)


def test_sqlite_locked_by_another_writer(tmp_path: Path) -> None:
    """Another process holds the SQLite write lock: the run waits (busy timeout) and continues
    when the lock is released; a lock held past the timeout gives a one-line error, exit 1, and
    the store stays intact."""
    spec = write_spec(tmp_path, n_trials=6)
    store = tmp_path / "tiny.db"
    first = run_cli("optimize", str(spec), "--storage", str(store), "--json", cwd=tmp_path)
    assert first.code == 0, first.stderr
    study = _open(store)
    assert study is not None
    before = {t.number: list(t.values) for t in study.get_trials()}
    env = {"ADOR_OPT_SQLITE_TIMEOUT_S": "3"}

    # 1. Locked for 1 s (< timeout): the resume waits and reaches the target.
    locker = sqlite3.connect(store, timeout=1, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")
    releaser = threading.Timer(1.0, locker.rollback)
    releaser.start()
    try:
        result = run_cli("resume", str(store), "--n-trials", "10", "--json", cwd=tmp_path, env=env)
    finally:
        releaser.join()
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["complete"] == 10

    # 2. Locked for longer than the timeout: a clear error, nothing changed.
    locker.execute("BEGIN EXCLUSIVE")
    try:
        result = run_cli("resume", str(store), "--n-trials", "14", "--json", cwd=tmp_path, env=env)
    finally:
        locker.rollback()
        locker.close()
    assert result.code == 1, (result.code, result.stderr)  # environment failure, not bad input
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "locked" in lines[0], lines
    study = _open(store)
    assert study is not None
    after = study.get_trials()
    assert len([t for t in after if t.state == TrialState.COMPLETE]) == 10
    assert not [t for t in after if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    for t in after:
        if t.number in before:
            assert list(t.values) == before[t.number]
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # and the store still resumes once the lock is gone
    result = run_cli("resume", str(store), "--n-trials", "14", "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    _assert_exact(_open(store), 14, before)  # type: ignore[arg-type]


def _limit_file_size(max_bytes: int) -> None:
    # Runs in the child before exec: writes past max_bytes fail with EFBIG (SIGXFSZ ignored);
    # SQLite reports that as "disk I/O error" (a real ENOSPC gives "database or disk is full");
    # both are mapped to the same one-line message.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))


def test_full_disk_keeps_the_store_intact(tmp_path: Path) -> None:
    """The results directory fills up mid-study (simulated with RLIMIT_FSIZE on the process:
    no root or mount needed, and deterministic): the run stops with a one-line error, the
    SQLite store passes its integrity check with every earlier trial intact, and once space
    is back `resume` reaches n_trials exactly."""
    spec = write_spec(tmp_path, n_trials=5)
    store = tmp_path / "tiny.db"
    first = run_cli("optimize", str(spec), "--storage", str(store), "--json", cwd=tmp_path)
    assert first.code == 0, first.stderr
    study = _open(store)
    assert study is not None
    before = {t.number: list(t.values) for t in study.get_trials()}
    del study
    wal = store.with_name(store.name + "-wal")
    size = max(store.stat().st_size, wal.stat().st_size if wal.exists() else 0)
    proc = subprocess.run(
        [sys.executable, "-m", "ador_opt", "resume", str(store), "--n-trials", "400", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: _limit_file_size(size + 64 * 1024),
    )
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    # The last line is ours; Optuna's heartbeat thread may print its own traceback before it
    # (an exception in a thread we do not own), so no "no traceback" assertion here.
    assert lines[-1].startswith("error: ") and "full" in lines[-1], proc.stderr[-2000:]
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    result = run_cli("resume", str(store), "--n-trials", "40", "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["complete"] == 40
    _assert_exact(_open(store), 40, before)  # type: ignore[arg-type]


# --- PostgreSQL restart -----------------------------------------------------------------------
@pytest.fixture
def pg_fresh_db() -> Iterator[str]:
    """A fresh database, dropped afterwards through an engine that survives the restart
    (`pool_pre_ping`: the pooled admin connection dies with the server)."""
    url = _pg_url()
    if url is None:
        pytest.skip("no PostgreSQL: set ADOR_TEST_PG_URL or run .ci/start_postgres.sh")
    import uuid

    import sqlalchemy

    from ador_opt.explore.storage import resolve_store

    admin = sqlalchemy.create_engine(
        resolve_store(url).url, isolation_level="AUTOCOMMIT", pool_pre_ping=True
    )
    db = f"ador_fault_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {db}"))
    try:
        yield url.rsplit("/", 1)[0] + "/" + db
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        admin.dispose()


def _pg_restart() -> None:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions or os.geteuid() != 0:
        pytest.skip("restarting PostgreSQL needs root and pg_ctlcluster (as in CI)")
    subprocess.run(["pg_ctlcluster", versions[-1], "main", "restart"], check=True, timeout=120)


@pytest.mark.postgres
def test_postgres_restart_under_two_workers(tmp_path: Path, pg_fresh_db: str) -> None:
    url = pg_fresh_db
    name = "tiny-pg"
    n = 40
    spec = write_spec(tmp_path, n_trials=1)
    first = run_cli("optimize", str(spec), "--storage", url, "--study-name", name, "--json")
    assert first.code == 0, first.stderr
    workers = [
        _spawn(["worker", "--storage", url, "--study", name, "--n-trials", str(n), "--json"],
               tmp_path)
        for _ in range(2)
    ]  # fmt: skip
    from ador_opt.explore.storage import resolve_store

    storage = optuna.storages.RDBStorage(resolve_store(url).url,
                                         engine_kwargs={"pool_pre_ping": True})  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # restart once the workers are in the middle of it
        done = len(optuna.load_study(study_name=name, storage=storage).get_trials(
            states=(TrialState.COMPLETE,)))  # fmt: skip
        if done >= 6:
            break
        time.sleep(0.2)
    storage.engine.dispose()
    _pg_restart()
    codes = []
    for w in workers:
        _out, err = w.communicate(timeout=300)
        codes.append((w.returncode, err[-1500:]))
    # A worker may reconnect and finish, or fail on the dropped connection (one line, exit 1);
    # the study must then complete with one more worker — nothing lost or double-counted.
    for code, err in codes:
        assert code in (0, 1), (code, err)
        assert "Traceback" not in err
    finish = run_cli("worker", "--storage", url, "--study", name, "--n-trials", str(n), "--json")
    assert finish.code == 0, finish.stderr
    storage = optuna.storages.RDBStorage(resolve_store(url).url)
    trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == n
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert len({t.number for t in trials}) == len(trials)
    storage.engine.dispose()


# --- SCALE-Sim cache --------------------------------------------------------------------------
CORRUPTIONS = {
    "truncated": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "binary": lambda text: "\udcff\udcfe\x00garbage",
    "wrong_cycles": lambda text: text.replace('"cycles": ', '"cycles": 1'),
    "not_an_object": lambda text: "[1, 2, 3]",
    "null_cycles": lambda text: text.replace('"cycles": ', '"cycles": null, "x": '),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupted_scalesim_cache_entry_is_recomputed(tmp_path: Path, kind: str) -> None:
    pytest.importorskip("scalesim")
    from ador_opt.perf import scalesim_backend as sb

    shape = (8, 64, 64, 32, 32)  # m, k, n, rows, cols: a fraction of a second in SCALE-Sim
    good = sb.cached_compute_stage_cycles(*shape, directory=tmp_path)
    path = sb.cache_path(*shape, directory=tmp_path)
    text = path.read_text()
    path.write_bytes(CORRUPTIONS[kind](text).encode("utf-8", errors="surrogateescape"))
    with pytest.warns(UserWarning, match="corrupted; recomputing"):
        again = sb.cached_compute_stage_cycles(*shape, directory=tmp_path)
    assert again == good
    assert path.read_text() == text  # the entry was rewritten, identical (idempotent)


def test_scalesim_cache_hit_does_not_simulate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("scalesim")
    from ador_opt.perf import scalesim_backend as sb

    shape = (4, 32, 64, 32, 32)
    first = sb.cached_compute_stage_cycles(*shape, directory=tmp_path)

    def no_simulation(*_a: object) -> int:
        raise AssertionError("a valid cache entry must not be recomputed")

    monkeypatch.setattr(sb, "compute_stage_cycles", no_simulation)
    assert sb.cached_compute_stage_cycles(*shape, directory=tmp_path) == first
    assert not list(tmp_path.glob("**/.tmp-*"))  # no temp file left behind
