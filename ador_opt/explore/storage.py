"""Where studies live: storage URLs, heartbeats, cross-process locks, stale-trial recovery.

`STORE` arguments are a path or an Optuna storage URL:

* `runs/x.db` (any path not ending in `.journal`) → SQLite `sqlite:///<abs path>` with a 60 s
  busy timeout (several local processes share it);
* `runs/x.journal` → Optuna's `JournalStorage` on a file (append-only log, no heartbeat);
* `postgresql://…`, `mysql://…`, `sqlite:///…` → `RDBStorage` on that URL.

RDB storages run a heartbeat: a RUNNING trial whose process died is failed after
`GRACE_PERIOD_S` by the next worker that starts a trial, and a copy of it is queued (WAITING)
by `RetryHeartbeatStaleTrialCallback`. Local files (SQLite, journal) also get an *alive
lock*: every process running trials holds a shared `flock` on `<file>.ador-alive`; the kernel
drops it when the process dies, so `resume` can tell at once that nobody is running and fail
every RUNNING trial without waiting for the grace period.

The *ask lock* serialises "count trials, then ask for a new one" across processes (a `flock`
on `<file>.ador-ask` for local files — not `<file>.lock`, which Optuna's journal backend
uses — and a PostgreSQL advisory lock for PostgreSQL). That is what makes a study end with
exactly `n_trials` COMPLETE trials however many workers share it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ador_opt.errors import InputError
from ador_opt.redact import redact

WORKER_ATTR = "ador_worker"  # trial system attr: "<host>:<pid>" of the process running it
HEARTBEAT_INTERVAL_S = 5  # assumption: trials last ≪ 5 s, so one beat per trial in practice
GRACE_PERIOD_S = 30  # a trial without a beat for 30 s belongs to a dead process
MAX_RETRY = 3  # a trial that keeps killing its workers is retried at most 3 times
SQLITE_BUSY_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class StoreRef:
    """A resolved `STORE` argument."""

    url: str  # Optuna URL, or "journal:<abs path>" for journal files
    path: Path | None  # the local file (SQLite or journal), None for servers
    given: str = ""  # the URL as the user wrote it (before choosing a driver)

    @property
    def kind(self) -> str:
        if self.url.startswith("journal:"):
            return "journal"
        return self.url.split(":", 1)[0].split("+", 1)[0]

    @property
    def display(self) -> str:
        return str(self.path) if self.path is not None else redact(self.given or self.url)


def pg_driver_url(url: str) -> str:
    """SQLAlchemy ≥ 2.1 maps `postgresql://` to psycopg 3; use psycopg2 (the project's test
    dependency) when only that driver is installed."""
    import importlib.util

    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec(
                "psycopg2"
            ):
                return "postgresql+psycopg2://" + url[len(prefix) :]
            return "postgresql://" + url[len(prefix) :]
    return url


def resolve_store(store: str) -> StoreRef:
    if "://" in store:
        if store.startswith("sqlite:///"):
            return StoreRef(store, Path(store[len("sqlite:///") :]).resolve())
        return StoreRef(pg_driver_url(store), None, store)
    path = Path(store).expanduser().resolve()
    if path.suffix == ".journal":
        return StoreRef(f"journal:{path}", path)
    return StoreRef(f"sqlite:///{path}", path)


def sqlite_busy_timeout_s() -> float:
    """How long a SQLite statement waits for another writer's lock before failing:
    `SQLITE_BUSY_TIMEOUT_S`, or the environment variable `ADOR_OPT_SQLITE_TIMEOUT_S`."""
    text = os.environ.get("ADOR_OPT_SQLITE_TIMEOUT_S", "")
    if not text:
        return SQLITE_BUSY_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise InputError(f"ADOR_OPT_SQLITE_TIMEOUT_S: expected seconds > 0, got {text!r}")
    return value


def default_store(study_name: str) -> StoreRef:
    return resolve_store(str(Path("runs") / f"{study_name}.db"))


class StoreError(RuntimeError):
    """The store itself failed (vanished during a run, corrupt, truncated): an environment
    failure, reported as one line with exit 1 (`environment_error`)."""


SQLITE_MAGIC = b"SQLite format 3\x00"
JOURNAL_MAGIC = b'{"op_code"'  # every record Optuna's journal writes starts with it


def check_local_store(path: Path, *, create: bool) -> None:
    """Refuse a local file that is not an ador-opt (Optuna) store before anything opens it for
    writing: a special file, an unrelated SQLite database, a text file named `.journal`, or an
    empty file where a store must already exist. A corrupt SQLite store is a `StoreError`."""
    import stat

    try:
        st = path.stat()
    except FileNotFoundError:
        if create:
            return
        raise InputError(f"no study store at {path}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file; refusing to use it as a study store")
    if st.st_size == 0:
        if create:
            return
        raise InputError(f"{path}: empty file (0 bytes), not an ador-opt study store")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if path.suffix == ".journal":
        if not head.startswith(JOURNAL_MAGIC[: len(head)]) or len(head) < len(JOURNAL_MAGIC):
            raise InputError(
                f"{path}: not an Optuna journal file; refusing to write into it (pick a new "
                "--storage path)"
            )
        return
    if head != SQLITE_MAGIC:
        raise InputError(
            f"{path}: not a SQLite database; refusing to write into it (pick a new --storage "
            "path, or name a journal store *.journal)"
        )
    check_optuna_sqlite(path)


def check_optuna_sqlite(path: Path) -> None:
    """`path` is a SQLite file with Optuna's tables and passes `PRAGMA integrity_check`
    (catches truncation and index corruption before a run appends to a broken store)."""
    import sqlite3

    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=sqlite_busy_timeout_s())
        try:
            rows = con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
            tables = {r[0] for r in rows}
            if not {"studies", "trials"} <= tables:
                raise InputError(
                    f"{path}: SQLite database without Optuna study tables; not an ador-opt "
                    "store, refusing to write into it"
                )
            check = con.execute("PRAGMA integrity_check(5)").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc):
            raise
        raise StoreError(f"{path}: the SQLite store is corrupt ({exc})") from None
    problems = [" ".join(str(r[0]).split()) for r in check if r and r[0] != "ok"]
    if problems:
        raise StoreError(
            f"{path}: the SQLite store is corrupt (integrity check: {problems[0][:120]}); "
            "restore it from a copy"
        )


def store_identity(ref: StoreRef) -> tuple[int, int] | None:
    """(device, inode) of a local store, to notice it vanishing or being replaced."""
    if ref.path is None:
        return None
    try:
        st = ref.path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def check_store_present(ref: StoreRef, identity: tuple[int, int] | None) -> None:
    """Raise `StoreError` when the local store file was deleted or replaced during a run (an
    open SQLite connection would go on writing into the unlinked file and report success)."""
    if ref.path is None or identity is None:
        return
    if store_identity(ref) != identity:
        raise StoreError(
            f"the study store {ref.path} was deleted or replaced during the run; the trials "
            "written since are lost"
        )


def open_storage(ref: StoreRef, *, create: bool) -> Any:
    """An Optuna storage for `ref`. With `create=False` a missing local file is an input error
    (reading commands must not create empty databases). A local file that is not an Optuna
    store is refused before anything is written to it."""
    import optuna
    from optuna.storages import JournalStorage

    if ref.path is not None:
        check_local_store(ref.path, create=create)
        if not ref.path.exists():
            try:
                ref.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(
                    f"cannot create the store directory {ref.path.parent}: {exc.strerror}"
                ) from None
    if ref.kind == "journal":
        assert ref.path is not None
        clear_stale_journal_lock(ref.path)
        try:
            return JournalStorage(TolerantJournalBackend(str(ref.path)))
        except OSError as exc:
            raise InputError(f"cannot open the journal store {ref.path}: {exc.strerror}") from None
        except ValueError as exc:
            raise StoreError(f"{ref.path}: unreadable journal store ({exc})") from None
    engine_kwargs: dict[str, Any] = {}
    if ref.kind == "sqlite":
        engine_kwargs["connect_args"] = {"timeout": sqlite_busy_timeout_s()}
    else:
        engine_kwargs["pool_pre_ping"] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = _rdb_storage(ref, engine_kwargs)
    if ref.kind == "sqlite":
        _sqlite_wal(storage.engine)
    return storage


JOURNAL_LOCK_STALE_S = 2.0  # Optuna holds its journal lock for one append: milliseconds


def clear_stale_journal_lock(path: Path) -> bool:
    """Remove Optuna's journal lock (`<file>.lock`, a symlink) left by a killed process.

    Optuna breaks such a lock only after its 30 s grace period, so every `resume` after a
    `kill -9` mid-append would first stall for 30 s. The lock is stale when it is older than
    `JOURNAL_LOCK_STALE_S` and no ador-opt process holds the alive lock of the store (the
    kernel drops that `flock` when its holder dies). Returns True when it removed one."""
    import sys

    lock = path.with_name(path.name + ".lock")
    try:
        st = os.lstat(lock)
    except OSError:
        return False
    if time.time() - st.st_mtime < JOURNAL_LOCK_STALE_S:
        return False
    probe = FileLock(path.with_name(path.name + ".ador-alive"))
    if not probe.acquire(blocking=False):
        return False  # a live worker: the lock may be its own
    try:
        lock.unlink()
    except OSError:
        return False
    finally:
        probe.release()
    print(
        f"warning: {path}: removed a stale journal lock left by a killed process", file=sys.stderr
    )
    return True


def _journal_backend_base() -> Any:
    from optuna.storages.journal import JournalFileBackend

    return JournalFileBackend


class TolerantJournalBackend(_journal_backend_base()):  # type: ignore[misc]
    """Optuna's `JournalFileBackend` that survives a torn record.

    Optuna 5 already skips an incomplete *last* line when reading (no newline yet), but
    `append_logs` then writes the next record right after the fragment, and the merged line
    makes every later read raise "Invalid log format" — the whole study becomes unreadable.
    Here (a) a record is never appended after a fragment: the fragment is closed with a
    newline first, under Optuna's journal lock; (b) a line that is not valid JSON is read as
    the complete record it ends with, if any (a fragment followed by an appended record), or
    else as a no-op (`DISCARD_TRIALS`, which Optuna's replay skips), so line numbers and
    Optuna's read offsets stay consistent. Each repair is reported once on stderr.
    """

    def __init__(self, file_path: str) -> None:
        super().__init__(file_path)
        self._warned: set[int] = set()

    def _warn(self, key: int, text: str) -> None:
        import sys

        if key not in self._warned:
            self._warned.add(key)
            print(f"warning: {self._file_path}: {text}", file=sys.stderr)

    def _salvage(self, line: bytes, log_number: int) -> dict[str, Any]:
        import json

        start = line.find(JOURNAL_MAGIC, 1)
        while start != -1:
            try:
                log = json.loads(line[start:])
            except ValueError:
                start = line.find(JOURNAL_MAGIC, start + 1)
                continue
            if isinstance(log, dict) and "op_code" in log:
                self._warn(
                    log_number,
                    f"line {log_number + 1}: skipped a torn record (a write cut short, e.g. by "
                    "a full disk) and kept the record appended after it",
                )
                return log
            start = line.find(JOURNAL_MAGIC, start + 1)
        self._warn(
            log_number,
            f"line {log_number + 1}: skipped a torn record (a write cut short, e.g. by a full "
            "disk); completed trials are unaffected",
        )
        return {"op_code": 10, "worker_id": ""}  # JournalOperation.DISCARD_TRIALS: a no-op

    def read_logs(self, log_number_from: int) -> Any:
        import json

        with open(self._file_path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start = 0
            offsets = self._log_number_offset
            if log_number_from in offsets:
                f.seek(offsets[log_number_from])
                start = log_number_from
                size -= offsets[log_number_from]
            for log_number, line in enumerate(f, start=start):
                size -= len(line)
                if size < 0 or not line.endswith(b"\n"):
                    break  # being written right now, or a torn last record: not a log yet
                if log_number + 1 not in offsets:
                    offsets[log_number + 1] = offsets[log_number] + len(line)
                if log_number < log_number_from:
                    continue
                try:
                    log = json.loads(line)
                    if not isinstance(log, dict) or "op_code" not in log:
                        raise ValueError("not a journal record")
                except ValueError:
                    log = self._salvage(line, log_number)
                yield log

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        import json

        from optuna.storages.journal._file import get_lock_file

        with get_lock_file(self._lock):
            data = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
            with open(self._file_path, "ab+") as f:
                end = f.seek(0, os.SEEK_END)
                if end > 0:
                    f.seek(end - 1)
                    if f.read(1) != b"\n":
                        self._warn(
                            -1,
                            "the last record was torn (cut without a newline); closed it so "
                            "that new records stay readable",
                        )
                        data = "\n" + data
                f.write(data.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())


def _rdb_storage(ref: StoreRef, engine_kwargs: dict[str, Any]) -> Any:
    """`RDBStorage` with a heartbeat. Two processes opening a brand-new SQLite file at once
    both try to create the schema; the loser fails ("table … already exists", a UNIQUE
    violation on alembic_version) and simply retries against the finished schema."""
    from optuna.storages import RDBStorage

    for attempt in range(4):
        try:
            return RDBStorage(
                ref.url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=HEARTBEAT_INTERVAL_S,
                grace_period=GRACE_PERIOD_S,
                heartbeat_stale_trial_callback=retry_callback(),
            )
        except ImportError as exc:
            raise InputError(
                f"storage {ref.display}: driver missing ({redact(str(exc))})"
            ) from None
        except Exception as exc:  # bad URL, unreachable server, not a database file
            racing = ("already exists", "UNIQUE constraint", "database is locked")
            if ref.kind == "sqlite" and any(r in str(exc) for r in racing) and attempt < 3:
                time.sleep(0.2 * (attempt + 1))
                continue
            msg = redact(" ".join(str(exc).split()))[:200]
            if ref.kind == "sqlite" and "malformed" in msg:
                raise StoreError(f"{ref.display}: the SQLite store is corrupt ({msg})") from None
            raise InputError(f"storage {ref.display}: cannot open ({msg})") from None
    raise AssertionError("unreachable")


def _sqlite_wal(engine: Any) -> None:
    """Write-ahead log + `synchronous=NORMAL`: a commit no longer waits for an fsync (≈ 7 ms
    each on our test machine, ~20 commits per trial), and readers do not block the writer.
    A crash of the *process* loses nothing; a power cut may lose the last commits, which
    `resume` then re-runs. Connections opened before this (schema creation) are dropped."""
    import sqlalchemy

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun by on_begin below
        tolerant_text(dbapi_conn)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    def on_begin(conn: Any) -> None:
        # BEGIN IMMEDIATE takes the write lock up front, so the busy timeout applies: a
        # deferred transaction that reads and then writes while another process writes gets
        # SQLITE_BUSY at once, without waiting (SQLite's deadlock rule), which Optuna reports
        # as a failed commit. With IMMEDIATE a locked store is waited for, then reported.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    sqlalchemy.event.listen(engine, "connect", on_connect)
    sqlalchemy.event.listen(engine, "begin", on_begin)
    engine.dispose()


def tolerant_text(dbapi_conn: Any) -> None:
    """Decode SQLite text with invalid UTF-8 bytes as U+FFFD instead of raising: one damaged
    attribute must not make the whole study unreadable (sqlite3 raises for the whole query)."""
    dbapi_conn.text_factory = lambda b: b.decode("utf-8", "replace")


def tolerant_sqlite(engine: Any) -> None:
    """`tolerant_text` on every connection of a SQLite engine (read-only commands)."""
    import sqlalchemy

    sqlalchemy.event.listen(engine, "connect", lambda conn, _rec: tolerant_text(conn))
    engine.dispose()


def retry_callback() -> Any:
    """Optuna's `RetryHeartbeatStaleTrialCallback` (queue a WAITING copy with the same
    params, at most `MAX_RETRY` times) that drops the dead worker's `WORKER_ATTR`, so the copy
    is never mistaken for a trial of a dead process once another worker picks it up."""
    import copy

    from optuna.storages import RetryHeartbeatStaleTrialCallback

    class _Retry(RetryHeartbeatStaleTrialCallback):
        def __call__(self, study: Any, trial: Any) -> None:
            trial = copy.deepcopy(trial)
            trial.system_attrs.pop(WORKER_ATTR, None)
            super().__call__(study, trial)

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _Retry(max_retry=MAX_RETRY)


# --- locks -------------------------------------------------------------------------------------
class FileLock:
    """`flock` on a side file; `shared=True` for the alive lock.

    The side file is removed by the last holder on release (so no empty `.ador-alive` /
    `.ador-ask` files stay beside a store once nothing runs). That is safe because `acquire`
    checks, once it holds the lock, that the path still names the file it locked, and starts
    again on the new file when a releasing process removed it in between."""

    def __init__(self, path: Path, shared: bool = False) -> None:
        self._path = path
        self._shared = shared
        self._fd: int | None = None

    def acquire(self, blocking: bool = True) -> bool:
        if self._fd is not None:
            return True
        mode = fcntl.LOCK_SH if self._shared else fcntl.LOCK_EX
        while True:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, mode if blocking else mode | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            try:
                same = os.stat(self._path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return True
            os.close(fd)  # removed by its last holder meanwhile: lock the new file

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            # The last holder (an exclusive lock is free to take) removes the side file.
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            with contextlib.suppress(FileNotFoundError):
                if os.stat(self._path).st_ino == os.fstat(self._fd).st_ino:
                    os.unlink(self._path)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


class PgAdvisoryLock:
    """A PostgreSQL session-level advisory lock keyed by the study name."""

    def __init__(self, url: str, study_name: str) -> None:
        import sqlalchemy

        self._engine = sqlalchemy.create_engine(url, pool_pre_ping=True)
        digest = hashlib.sha256(f"ador-opt:{study_name}".encode()).digest()
        self._key = int.from_bytes(digest[:8], "big", signed=True)
        self._conn: Any = None

    def acquire(self, blocking: bool = True) -> bool:
        import sqlalchemy

        if self._conn is not None:
            return True
        conn = self._engine.connect()
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self._key})
        conn.commit()
        self._conn = conn
        return True

    def release(self) -> None:
        import sqlalchemy

        if self._conn is not None:
            self._conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            self._conn.commit()
            self._conn.close()
            self._conn = None

    @property
    def held(self) -> bool:
        return self._conn is not None


class ThreadLock:
    """Fallback for storages without a cross-process lock (single process only)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held = False

    def acquire(self, blocking: bool = True) -> bool:
        self._held = self._lock.acquire(blocking)
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()

    @property
    def held(self) -> bool:
        return self._held


AskLock = FileLock | PgAdvisoryLock | ThreadLock


def ask_lock(ref: StoreRef, study_name: str) -> AskLock:
    if ref.path is not None:
        return FileLock(ref.path.with_name(ref.path.name + ".ador-ask"))
    if ref.kind.startswith("postgres"):
        return PgAdvisoryLock(ref.url, study_name)
    return ThreadLock()


def alive_lock(ref: StoreRef) -> FileLock | None:
    if ref.path is None:
        return None
    return FileLock(ref.path.with_name(ref.path.name + ".ador-alive"), shared=True)


def recover_stale_trials(study: Any, ref: StoreRef) -> list[int]:
    """Fail RUNNING trials whose process is gone and queue a retry of each.

    Heartbeat storages: trials past the grace period. Local files: when no process holds the
    alive lock, every RUNNING trial (its process is dead). Returns the failed trial numbers.
    """
    import optuna
    from optuna.storages import fail_stale_trials
    from optuna.trial import TrialState

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
        fail_stale_trials(study)
        dead = fail_dead_local_trials(study)
        failed = [
            t.number
            for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
            if t.number not in before and t.number not in dead
        ]
        failed += dead
        probe = FileLock(ref.path.with_name(ref.path.name + ".ador-alive")) if ref.path else None
        if probe is not None and probe.acquire(blocking=False):
            try:
                retry = retry_callback()
                for t in study.get_trials(deepcopy=True, states=(TrialState.RUNNING,)):
                    try:
                        study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
                    except optuna.exceptions.UpdateFinishedTrialError:
                        continue
                    retry(study, study._storage.get_trial(t._trial_id))
                    failed.append(t.number)
            finally:
                probe.release()
    return sorted(failed)


def environment_error(exc: BaseException) -> str | None:
    """A one-line explanation when `exc` (or an exception it wraps) is a storage failure of the
    environment rather than a bug: a store locked by another process past the busy timeout,
    or a full disk. None otherwise."""
    import errno

    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            break
        if isinstance(seen, StoreError):
            return " ".join(redact(str(seen)).split())
        text = str(seen).lower()
        code = getattr(seen, "errno", None)
        if "database is locked" in text:
            return (
                f"the SQLite store is locked by another process (waited "
                f"{sqlite_busy_timeout_s():g} s); nothing was written — retry when it finishes"
            )
        full = "disk is full" in text or "disk i/o error" in text  # SQLITE_FULL / IOERR_WRITE
        if full or code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            return (
                "cannot write the study store: the disk is full (or a quota / file-size limit "
                "was hit); completed trials are kept — free space and run `ador-opt resume`"
            )
        seen = seen.__cause__ or seen.__context__
    return None


def worker_id() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_dead_local_trials(study: Any) -> list[int]:
    """Fail (and re-queue) RUNNING trials whose worker process on *this* host is gone, and
    trials that no worker ever claimed.

    Covers storages without a heartbeat (journal files) and spares the heartbeat's grace
    period on the others; trials of other hosts are left to the heartbeat. A trial without
    `WORKER_ATTR` `GRACE_PERIOD_S` after it started was created by a worker that died before
    its objective began (it claims the trial first thing): e.g. a PostgreSQL restart between
    Optuna's `ask` and the first heartbeat. Optuna's stale check never fails such a trial (it
    has no heartbeat row), so the study would wait for it forever.
    """
    import datetime
    import socket

    import optuna
    from optuna.trial import TrialState

    host = socket.gethostname()
    failed: list[int] = []
    retry = retry_callback()
    now = datetime.datetime.now()  # Optuna stamps datetime_start with naive local time
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = str(t.system_attrs.get(WORKER_ATTR, ""))
        if not owner:
            started = t.datetime_start
            if started is None or (now - started).total_seconds() < GRACE_PERIOD_S:
                continue
        else:
            owner_host, _, pid = owner.rpartition(":")
            if owner_host != host or not pid.isdigit() or _pid_alive(int(pid)):
                continue
        try:
            study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry(study, study._storage.get_trial(t._trial_id))
        failed.append(t.number)
    return failed
