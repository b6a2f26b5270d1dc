"""Issue 15: hostile input and unlucky environments, one reproduction per reported failure.

Every case here failed on the code before the fix (checked by running this file with the old
tree first on PYTHONPATH; see docs/reliability.md): it exited 1 with an internal error, exited 0
with a silently wrong result, hung, ate the machine's memory, or wrote into a file that is not
an ador-opt store. Now: exit 2 with one line (bad input) or one clear line with exit 1
(environment), and nothing written where it does not belong.

Subprocesses that read special files run under `RLIMIT_AS` and a timeout, so the old behaviour
(reading `/dev/zero` to the end) fails the test instead of exhausting the machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import run_cli
from tests.explore_fixtures import TINY_SPEC, wait_complete, write_spec

SPECIAL_FILE_TIMEOUT_S = 20  # an instant refusal; the old code hung or read forever
MEMORY_CAP_BYTES = 2 * 1024**3  # the old code read /dev/zero until this limit


def _one_line(result: object, code: int, *needles: str) -> str:
    """Exit `code`, exactly one non-empty stderr line starting with "error:", no traceback."""
    rc, out, err = result.code, result.stdout, result.stderr  # type: ignore[attr-defined]
    assert rc == code, (rc, err[-1500:], out[:300])
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err[-1500:]
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in err and "internal error" not in err
    for needle in needles:
        assert needle.lower() in lines[0].lower(), (needle, lines[0])
    if code == 2:
        assert out == "", out[:300]
    return lines[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _capped(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))

    return subprocess.run(
        [sys.executable, "-m", "ador_opt", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=SPECIAL_FILE_TIMEOUT_S,
        preexec_fn=limit,
    )


class _Result:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr


# --- exit 2 instead of 1, and silent coercions ------------------------------------------------
SPEC_CASES = {
    "nested_2000_deep": lambda s: s + "\n[extra]\nx = " + "[" * 2000 + "]" * 2000 + "\n",
    "int_5000_digits": lambda s: s.replace("seed = 7", "seed = " + "9" * 5000),
    "n_trials_true": lambda s: s.replace("n_trials = 4", "n_trials = true"),
    "n_trials_string": lambda s: s.replace("n_trials = 4", 'n_trials = "3"'),
    "n_trials_float": lambda s: s.replace("n_trials = 4", "n_trials = 3.0"),
    "batch_float": lambda s: s.replace("batch = 4", "batch = 4.0"),
    "n_jobs_2000": lambda s: s.replace("n_trials = 4", "n_trials = 4\nn_jobs = 2000"),
}


@pytest.mark.parametrize("case", sorted(SPEC_CASES))
def test_bad_spec_exits_2_and_writes_no_store(tmp_path: Path, case: str) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC_CASES[case](TINY_SPEC.format(name="tiny", n_trials=4, sampler="random")))
    store = tmp_path / "s.db"
    result = run_cli("optimize", str(spec), "--storage", str(store), "--json", cwd=tmp_path)
    _one_line(result, 2)
    assert not store.exists() and not (tmp_path / "runs").exists()


HF_BASE = {
    "hidden_size": 4096,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "num_hidden_layers": 32,
    "vocab_size": 128256,
    "intermediate_size": 14336,
}
HF_CASES = {
    "zero_heads": ({"num_attention_heads": 0}, "num_attention_heads"),
    "non_numeric": ({"hidden_size": "big"}, "hidden_size"),
    "size_1e308": ({"hidden_size": 1e308}, "hidden_size"),
    "int_too_large": ({"vocab_size": 10**40}, "vocab_size"),
    "list_field": ({"num_hidden_layers": [1]}, "num_hidden_layers"),
    "bool_field": ({"num_hidden_layers": True}, "num_hidden_layers"),
    "string_number": ({"num_hidden_layers": "32"}, "num_hidden_layers"),
    "hidden_not_divisible": ({"hidden_size": 4100}, "divisible"),
}


@pytest.mark.parametrize("case", sorted(HF_CASES))
def test_bad_model_config_exits_2(tmp_path: Path, case: str) -> None:
    change, needle = HF_CASES[case]
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**HF_BASE, **change}))
    _one_line(run_cli("models", "show", str(folder), cwd=tmp_path), 2, needle)


def test_model_config_with_head_dim_may_be_indivisible(tmp_path: Path) -> None:
    """The divisibility rule applies only when head_dim is derived (no silent rounding)."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**HF_BASE, "hidden_size": 4100,
                                                    "head_dim": 128}))  # fmt: skip
    result = run_cli("models", "show", str(folder), "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr


def test_hardware_name_list_exits_2(tmp_path: Path) -> None:
    hw = tmp_path / "hw.json"
    hw.write_text(json.dumps({"base": "ador-paper", "name": [1]}))
    _one_line(run_cli("hardware", "show", str(hw), cwd=tmp_path), 2, "name")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--rate", "1", "--burstiness", "1e-300", "--num-requests", "10"], "burstiness"),
        (["--rate", "1", "--num-requests", "1000000000"], "--num-requests"),
        (["--rate", "1", "--num-requests", "10", "--replicas", "1000000000"], "--replicas"),
    ],
)
def test_resource_options_are_bounded(tmp_path: Path, args: list[str], needle: str) -> None:
    base = ["simulate", "--model", "llama-3-8b", "--hardware", "ador-paper", "--json"]
    _one_line(run_cli(*base, *args, cwd=tmp_path, timeout=60), 2, needle)


def test_resume_n_jobs_is_bounded_like_optimize(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, n_trials=1, sampler="random")
    store = tmp_path / "s.db"
    assert run_cli("optimize", str(spec), "--storage", str(store), "--json").code == 0
    _one_line(run_cli("resume", str(store), "--n-jobs", "2000", "--json"), 2, "n-jobs")
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{store}")
    assert len(study.trials) == 1  # nothing started


def test_store_directory_that_cannot_be_created(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, n_trials=1, sampler="random")
    for store in ("/sys/ador-opt-test/s.db", f"{os.devnull}/sub/s.db"):
        result = run_cli("optimize", str(spec), "--storage", store, "--json", cwd=tmp_path)
        _one_line(result, 2, store.rsplit("/", 2)[0])


@pytest.mark.parametrize("kind", ["trace", "cases"])
def test_duplicate_csv_column_exits_2(tmp_path: Path, kind: str) -> None:
    if kind == "trace":
        path = tmp_path / "t.csv"
        path.write_text("input_len,output_len,input_len\n10,10,20\n")
        args = ["simulate", "--model", "llama-3-8b", "--hardware", "ador-paper", "--trace",
                str(path), "--rate", "1", "--json"]  # fmt: skip
    else:
        from tests.conftest import CASES_CSV

        lines = CASES_CSV.read_text().splitlines()
        header = lines[0].split(",")
        path = tmp_path / "c.csv"
        path.write_text(",".join([*header, header[1]]) + "\n" + lines[1] + ",x\n")
        args = ["validate", str(path), "--json"]
    _one_line(run_cli(*args, cwd=tmp_path), 2, "duplicate column")


def test_designs_batch_survives_bad_lines(tmp_path: Path) -> None:
    """DESIGN §3: a bad line gets `feasible: false` and its reason; the batch goes on."""
    path = tmp_path / "d.jsonl"
    bad = [
        '{"name": [1]}',
        '{"base": "ador-paper", "sa_rows": 1e308}',
        "[" * 2000 + "]" * 2000,
        '{"base": "ador-paper", "sa_rows": ' + "9" * 5000 + "}",
    ]
    path.write_bytes(("\n".join(['"ador-paper"', *bad]) + "\n").encode() + b"\xff\xfe\n"
                     + b'"ador-paper"\n')  # fmt: skip
    args = ["evaluate", "--model", "llama-3-8b", "--batch", "1", "--input-len", "8",
            "--output-len", "2", "--designs", str(path), "--json"]  # fmt: skip
    result = run_cli(*args, cwd=tmp_path)
    assert result.code == 0, result.stderr
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["line"] for d in docs] == list(range(1, 8))
    assert [d["feasible"] for d in docs] == [True] + [False] * 5 + [True]
    assert all(d["reason"] for d in docs[1:6])


# --- inputs only from regular files, with size caps -------------------------------------------
@pytest.fixture
def special_files(tmp_path: Path) -> dict[str, Path]:
    link = tmp_path / "zero-link.json"
    link.symlink_to("/dev/zero")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    return {"dev_zero": Path("/dev/zero"), "symlink_to_dev_zero": link, "fifo": fifo}


READERS = {
    "spec": lambda p: ["optimize", str(p)],
    "model": lambda p: ["models", "show", str(p)],
    "hardware": lambda p: ["hardware", "show", str(p)],
    "designs": lambda p: ["evaluate", "--model", "llama-3-8b", "--batch", "1", "--input-len",
                          "8", "--output-len", "2", "--designs", str(p)],
    "trace": lambda p: ["simulate", "--model", "llama-3-8b", "--hardware", "ador-paper",
                        "--trace", str(p), "--rate", "1"],
    "cases": lambda p: ["validate", str(p)],
}  # fmt: skip


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("special", ["dev_zero", "symlink_to_dev_zero", "fifo"])
def test_special_files_are_refused_at_once(
    tmp_path: Path, special_files: dict[str, Path], reader: str, special: str
) -> None:
    path = special_files[special]
    if reader == "hardware":  # the loader picks the parser by suffix
        path = tmp_path / "hw.json"
        path.symlink_to(special_files[special].resolve() if special != "fifo" else
                        special_files["fifo"])  # fmt: skip
    elif reader == "model" and special == "dev_zero":
        pass  # a path that exists and is not a directory: read as config.json
    result = _Result(_capped(READERS[reader](path), tmp_path))
    _one_line(result, 2, "not a regular file")


def test_oversized_input_is_refused_before_parsing(tmp_path: Path) -> None:
    from ador_opt.errors import InputError
    from ador_opt.limits import read_input_text

    path = tmp_path / "big.toml"
    with path.open("wb") as fh:
        fh.truncate(64 * 1024)  # sparse: costs nothing
    with pytest.raises(InputError, match="more than the 1,024 allowed"):
        read_input_text(path, "spec", max_bytes=1024)


# --- files that are not ador-opt stores -------------------------------------------------------
def _foreign_sqlite(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('my data')")
    return path


@pytest.mark.parametrize("kind", ["foreign_sqlite", "empty", "text_journal", "text_db"])
@pytest.mark.parametrize("command", ["optimize", "resume", "pareto", "worker", "report"])
def test_files_that_are_not_stores_are_never_written(
    tmp_path: Path, kind: str, command: str
) -> None:
    if kind == "foreign_sqlite":
        store = _foreign_sqlite(tmp_path / "other.db")
    elif kind == "empty":
        store = tmp_path / "empty.db"
        store.touch()
    else:
        store = tmp_path / ("notes.journal" if kind == "text_journal" else "notes.db")
        store.write_text("shopping list\nmilk\n")
    if kind == "empty" and command == "optimize":
        pytest.skip("a 0-byte file is an empty SQLite database: optimize may create a store")
    before = _digest(store)
    spec = write_spec(tmp_path, n_trials=1, sampler="random")
    args = {
        "optimize": ["optimize", str(spec), "--storage", str(store)],
        "resume": ["resume", str(store)],
        "pareto": ["pareto", str(store), "--json"],
        "worker": ["worker", "--storage", str(store), "--study", "tiny"],
        "report": ["report", str(store), "--out", str(tmp_path / "rep")],
    }[command]
    _one_line(run_cli(*args, cwd=tmp_path), 2)
    assert _digest(store) == before
    leftovers = {p.name for p in tmp_path.iterdir()} - {store.name, spec.name}
    assert not leftovers, leftovers


def _make_store(tmp_path: Path, n: int = 6, suffix: str = ".db") -> tuple[Path, Path]:
    spec = write_spec(tmp_path, n_trials=n, sampler="random")
    store = tmp_path / f"tiny{suffix}"
    result = run_cli("optimize", str(spec), "--storage", str(store), "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    return spec, store


def _checkpoint(store: Path) -> None:
    with sqlite3.connect(store) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")


def test_truncated_sqlite_store_is_an_error(tmp_path: Path) -> None:
    _spec, store = _make_store(tmp_path)
    _checkpoint(store)
    data = store.read_bytes()
    store.write_bytes(data[: len(data) // 2])
    for args in (["resume", str(store), "--n-trials", "8"], ["pareto", str(store), "--json"]):
        line = _one_line(run_cli(*args, cwd=tmp_path), 1, "corrupt")
        assert "UnboundLocalError" not in line


def test_index_corruption_is_noticed_by_resume(tmp_path: Path) -> None:
    """An index that disagrees with its table (rows removed from the index only): SQLite reads
    go on, so the old resume appended to the broken store; the integrity check refuses it."""
    _spec, store = _make_store(tmp_path)
    _checkpoint(store)
    with sqlite3.connect(store) as conn:
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'ix_trials_study_id'"
        ).fetchone()
    with store.open("r+b") as fh:  # zero the cell count of the index's root page
        offset = (root - 1) * page_size + (100 if root == 1 else 0)
        fh.seek(offset + 3)
        fh.write(b"\x00\x00")
    before = _digest(store)
    _one_line(run_cli("resume", str(store), "--n-trials", "8", cwd=tmp_path), 1, "corrupt")
    assert _digest(store) == before


def test_one_invalid_utf8_byte_does_not_hide_the_study(tmp_path: Path) -> None:
    _spec, store = _make_store(tmp_path)
    with sqlite3.connect(store) as conn:
        conn.execute(
            "UPDATE trial_user_attributes SET value_json = CAST(X'2261ff6222' AS TEXT) "
            "WHERE trial_user_attribute_id = (SELECT MIN(trial_user_attribute_id) FROM "
            "trial_user_attributes WHERE key = 'reason')"
        )
    par = run_cli("pareto", str(store), "--json", cwd=tmp_path)
    assert par.code == 0, par.stderr
    res = run_cli("resume", str(store), "--n-trials", "8", "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["complete"] == 8
    rep = run_cli("report", str(store), "--out", str(tmp_path / "r"), "--json", cwd=tmp_path)
    assert rep.code == 0, rep.stderr


# --- journal store with a torn record ---------------------------------------------------------
def _journal_trials(store: Path) -> dict[int, tuple[TrialState, list[float] | None]]:
    try:
        from ador_opt.explore.storage import TolerantJournalBackend as Backend
    except ImportError:  # the tree before the fix: Optuna's own backend
        from optuna.storages.journal import JournalFileBackend as Backend

    storage = optuna.storages.JournalStorage(Backend(str(store)))
    study = optuna.load_study(study_name="tiny", storage=storage)
    return {t.number: (t.state, t.values) for t in study.get_trials()}


def test_torn_last_journal_record_survives_resume(tmp_path: Path) -> None:
    """A full disk cut the last record without a newline. The old resume appended after the
    fragment and every later read failed; now the fragment is closed off and skipped."""
    _spec, store = _make_store(tmp_path, n=6, suffix=".journal")
    data = store.read_bytes()
    assert data.endswith(b"\n")
    store.write_bytes(data[:-25])  # mid-record, no newline
    before = {n: v for n, (s, v) in _journal_trials(store).items() if s == TrialState.COMPLETE}
    assert len(before) >= 5
    res = run_cli("resume", str(store), "--n-trials", "10", "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert "torn" in res.stderr
    assert json.loads(res.stdout)["complete"] == 10
    after = _journal_trials(store)
    assert sum(s == TrialState.COMPLETE for s, _ in after.values()) == 10
    for number, values in before.items():
        assert after[number] == (TrialState.COMPLETE, values)
    par = run_cli("pareto", str(store), "--json", cwd=tmp_path)  # readable by every command
    assert par.code == 0, par.stderr


def test_journal_with_a_merged_torn_line_is_readable(tmp_path: Path) -> None:
    """What the old code left behind: a fragment with the next record appended to it on the
    same line, then more records. The record after the fragment is recovered."""
    _spec, store = _make_store(tmp_path, n=4, suffix=".journal")
    lines = store.read_bytes().splitlines(keepends=True)
    cut = len(lines) // 2
    broken = b"".join(lines[: cut - 1]) + lines[cut - 1][:20] + b"".join(lines[cut:])
    store.write_bytes(broken)
    par = run_cli("pareto", str(store), "--json", cwd=tmp_path)
    assert par.code == 0, par.stderr
    assert "torn" in par.stderr
    res = run_cli("resume", str(store), "--n-trials", "6", "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["complete"] == 6


# --- store creation, races, vanished stores ----------------------------------------------------
@pytest.mark.parametrize("suffix", [".db", ".journal"])
def test_creation_cut_before_the_spec_is_recovered(tmp_path: Path, suffix: str) -> None:
    """A crash between `create_study` and writing the spec attrs left a study without
    `ador_spec` that nothing would open. `optimize` (or `resume --spec`) finishes it."""
    from ador_opt.explore.storage import open_storage, resolve_store

    spec = write_spec(tmp_path, n_trials=3, sampler="random")
    store = tmp_path / f"tiny{suffix}"
    storage = open_storage(resolve_store(str(store)), create=True)
    optuna.create_study(storage=storage, study_name="tiny", directions=["maximize", "minimize"])
    _one_line(run_cli("resume", str(store), cwd=tmp_path), 2, "interrupted")
    res = run_cli("resume", str(store), "--spec", str(spec), "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["complete"] == 3
    again = run_cli("optimize", str(spec), "--storage", str(store), "--json", cwd=tmp_path)
    assert again.code == 0, again.stderr


def test_creation_cut_is_recovered_by_optimize(tmp_path: Path) -> None:
    from ador_opt.explore.storage import open_storage, resolve_store

    spec = write_spec(tmp_path, n_trials=3, sampler="random")
    store = tmp_path / "tiny.journal"
    storage = open_storage(resolve_store(str(store)), create=True)
    optuna.create_study(storage=storage, study_name="tiny", directions=["maximize", "minimize"])
    res = run_cli("optimize", str(spec), "--storage", str(store), "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["complete"] == 3


@pytest.mark.parametrize("suffix", [".journal", ".db"])
def test_a_run_that_finds_a_study_being_created_waits_for_its_spec(
    tmp_path: Path, suffix: str
) -> None:
    """The race made deterministic: the first run has created the study but not yet written
    its spec (it holds the store's ask lock, as `create_or_open` does). The second run must
    wait and then join the complete study — the old code failed it with "no ador_spec"."""
    import fcntl

    from ador_opt.explore.spec import load_spec
    from ador_opt.explore.storage import open_storage, resolve_store
    from ador_opt.explore.study import study_attrs

    spec = write_spec(tmp_path, n_trials=4, sampler="random")
    store = tmp_path / f"race{suffix}"
    ask = os.open(store.with_name(store.name + ".ador-ask"), os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(ask, fcntl.LOCK_EX)
    storage = open_storage(resolve_store(str(store)), create=True)
    study = optuna.create_study(storage=storage, study_name="tiny",
                                directions=["maximize", "minimize"])  # fmt: skip
    second = subprocess.Popen(
        [sys.executable, "-m", "ador_opt", "optimize", str(spec), "--storage", str(store),
         "--json"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(3)  # the second run is now at the study, waiting (or, before the fix, gone)
    still_waiting = second.poll() is None
    for key, value in study_attrs(load_spec(spec)).items():  # what the first run writes
        study.set_user_attr(key, value)
    fcntl.flock(ask, fcntl.LOCK_UN)
    os.close(ask)
    out, err = second.communicate(timeout=300)
    assert still_waiting, err
    assert second.returncode == 0, err
    assert json.loads(out)["complete"] == 4


@pytest.mark.parametrize("suffix", [".journal", ".db"])
def test_two_first_runs_racing_on_a_new_store_agree(tmp_path: Path, suffix: str) -> None:
    """Smoke test of the real race (timing-dependent: it passed on the old code too; the
    deterministic version is the test above)."""
    spec = write_spec(tmp_path, n_trials=8, sampler="random")
    store = tmp_path / f"race{suffix}"
    args = [sys.executable, "-m", "ador_opt", "optimize", str(spec), "--storage", str(store),
            "--json"]  # fmt: skip
    procs = [subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]  # fmt: skip
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert json.loads(out)["complete"] == 8
    res = run_cli("pareto", str(store), "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr


def test_store_deleted_during_optimize_is_an_error(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, n_trials=300, sampler="random")
    store = tmp_path / "gone.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ador_opt", "optimize", str(spec), "--storage", str(store),
         "--json"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_complete(store, 3, proc)
    for p in tmp_path.glob("gone.db*"):
        if not p.name.endswith((".ador-ask", ".ador-alive")):
            p.unlink()
    out, err = proc.communicate(timeout=300)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert proc.returncode == 1, (proc.returncode, out[:300], err[-1500:])
    assert lines and lines[-1].startswith("error: ") and "deleted" in lines[-1], err[-1500:]
    assert "Traceback" not in err


# --- workers die with their parent -------------------------------------------------------------
def _group_alive(pgid: int) -> list[int]:
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = (Path("/proc") / entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":  # pgrp, not a zombie
            alive.append(int(entry))
    return alive


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_the_parent_ends_its_workers(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, n_trials=5000, sampler="random")
    store = tmp_path / "orphans.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ador_opt", "optimize", str(spec), "--storage", str(store),
         "--n-jobs", "2", "--json"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_complete(store, 4, proc)
        workers = [p for p in _group_alive(proc.pid) if p != proc.pid]
        assert len(workers) >= 2, workers  # the two workers (and multiprocessing's helper)
        proc.kill()  # the parent only, as `kill -9 <pid>` does
        proc.wait()
        deadline = time.monotonic() + 15
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_alive(proc.pid), "workers outlived their parent"
    finally:
        for pid in _group_alive(proc.pid):
            os.kill(pid, signal.SIGKILL)
    res = run_cli("resume", str(store), "--n-trials", "12", "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["complete"] >= 12


# --- report --out and symlinks -----------------------------------------------------------------
def test_report_out_does_not_follow_symlinks(tmp_path: Path) -> None:
    _spec, store = _make_store(tmp_path, n=6)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "rep"
    out.mkdir()
    (out / "report.html").symlink_to(victim)
    _one_line(run_cli("report", str(store), "--out", str(out), cwd=tmp_path), 2, "symbolic link")
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]  # nothing else written
    (out / "report.html").unlink()
    res = run_cli("report", str(store), "--out", str(out), "--json", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp file left
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "report.html").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
