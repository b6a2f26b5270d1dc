"""Create, load and run studies (Optuna is used here and in the other `explore` modules only).

Storage layout: see the study storage schema (docs/exploration.md). `run_trials` is one worker:
it loops "lock → count → ask → unlock → evaluate → tell" until the study holds `target` COMPLETE
trials (counting other workers' RUNNING trials), the timeout passes, or a stop is requested.
"""

from __future__ import annotations

import contextlib
import gc
import math
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import optuna
from optuna.trial import TrialState

import ador_opt
from ador_opt.errors import InputError
from ador_opt.explore.cache import RECORD_ATTRS, ResultCache
from ador_opt.explore.evaluate import EvalContext, cache_key, evaluate_point
from ador_opt.explore.samplers import derive_seed
from ador_opt.explore.space import realise
from ador_opt.explore.spec import StudySpec, spec_differences, spec_hash, validate_spec
from ador_opt.explore.storage import (
    WORKER_ATTR,
    AskLock,
    StoreRef,
    alive_lock,
    ask_lock,
    check_store_present,
    fail_dead_local_trials,
    open_storage,
    store_identity,
    worker_id,
)
from ador_opt.redact import redact


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's log level at ERROR and its ExperimentalWarning off for the duration (the
    commands run inside this; importing the package changes no process-wide setting).

    ERROR, not WARNING: when a trial raises (a full disk, a dropped database connection) Optuna
    logs the traceback as a warning and then re-raises; the CLI already prints that exception as
    one line, so the traceback would only bury the message."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


def study_attrs(spec: StudySpec) -> dict[str, Any]:
    """Study user attrs of the storage schema."""
    data = spec.to_dict()
    if data["study"].get("storage"):  # secrets never reach the store: keep a redacted URL
        data["study"]["storage"] = redact(data["study"]["storage"])
    return {
        "ador_spec": data,
        "ador_spec_hash": spec_hash(data),
        "ador_objectives": [o.name for o in spec.objectives],
        "ador_objective_units": [o.unit for o in spec.objectives],
        "ador_reference_point": [o.reference for o in spec.objectives],
        "ador_version": ador_opt.__version__,
    }


def _direction_names(study: optuna.Study) -> list[str]:
    return [d.name.lower() for d in study.directions]


def check_compatible(study: optuna.Study, spec: StudySpec | None = None) -> StudySpec:
    """The spec stored in `study` (validated), after checking it against the study's
    directions and, when given, a spec the user asked to run. Raises `InputError` naming the
    differences (Optuna's `load_if_exists` would accept mismatched directions silently)."""
    attrs = study.user_attrs
    stored = attrs.get("ador_spec")
    if not isinstance(stored, dict):
        if not study.get_trials(deepcopy=False):
            raise InputError(
                f"study {study.study_name!r} has no ador_spec: its creation was interrupted; run "
                "`ador-opt optimize SPEC` (or `resume --spec SPEC`) again to finish creating it"
            )
        raise InputError(f"study {study.study_name!r} was not created by ador-opt (no ador_spec)")
    if attrs.get("ador_spec_hash") != spec_hash(stored):
        raise InputError(f"study {study.study_name!r}: stored spec does not match its hash")
    stored_spec = validate_spec(stored, where=f"study {study.study_name!r}")
    if _direction_names(study) != stored_spec.directions:
        raise InputError(
            f"study {study.study_name!r}: directions {_direction_names(study)} differ from the "
            f"stored spec's {stored_spec.directions}"
        )
    if spec is not None:
        if spec.directions != _direction_names(study):
            raise InputError(
                f"study {study.study_name!r} exists with directions {_direction_names(study)}; "
                f"the spec asks for {spec.directions} (use another --study-name or storage)"
            )
        if spec.spec_hash() != attrs["ador_spec_hash"]:
            diff = spec_differences(stored, spec.to_dict())
            raise InputError(
                f"study {study.study_name!r} exists with a different spec (differs in: "
                f"{', '.join(diff[:8]) or 'content'}); use another --study-name or storage"
            )
    return stored_spec


def study_names(storage: Any) -> list[str]:
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    return [s.study_name for s in summaries]


def only_study(names: Sequence[str], wanted: str | None, where: str) -> str:
    """The study `wanted`, or the only study in the store (`where` names the store)."""
    if wanted is None:
        if not names:
            raise InputError(f"{where}: the store holds no study")
        if len(names) > 1:
            raise InputError(
                f"{where} holds {len(names)} studies; pick one with --study "
                f"({', '.join(sorted(names))})"
            )
        return names[0]
    if wanted not in names:
        raise InputError(
            f"{where}: no study {wanted!r}; known: {', '.join(sorted(names)) or 'none'}"
        )
    return wanted


def load_study(ref: StoreRef, study_name: str | None = None) -> optuna.Study:
    """Open an existing study; with one study in the store the name may be omitted."""
    storage = open_storage(ref, create=False)
    name = only_study(study_names(storage), study_name, ref.display)
    return optuna.load_study(study_name=name, storage=storage)


def create_or_open(ref: StoreRef, spec: StudySpec) -> tuple[optuna.Study, bool]:
    """The study named by `spec` in `ref`: created with the schema's attrs, or reopened after
    checking that the spec is unchanged. Returns (study, created).

    Creation and the spec attrs happen under the store's ask lock, so two first runs racing on
    a new store agree (the second waits, then finds the complete study). A study left without
    its spec by a crash between the two steps (no ador_spec, no trial) is adopted: the attrs
    are written now, so the store never stays unusable."""
    storage = open_storage(ref, create=True)
    lock = ask_lock(ref, spec.name)
    lock.acquire()
    try:
        if spec.name in study_names(storage):
            study = optuna.load_study(study_name=spec.name, storage=storage)
            if adopt_unfinished(study, spec):
                return study, True
            check_compatible(study, spec)
            return study, False
        study = optuna.create_study(
            storage=storage,
            study_name=spec.name,
            directions=[optuna.study.StudyDirection[d.upper()] for d in spec.directions],
            load_if_exists=False,
        )
        write_spec_attrs(study, spec)
        return study, True
    finally:
        lock.release()


def write_spec_attrs(study: optuna.Study, spec: StudySpec) -> None:
    """The schema's study attrs; `ador_spec_hash` last, so a study with a hash has a spec."""
    attrs = study_attrs(spec)
    for key, value in attrs.items():
        if key != "ador_spec_hash":
            study.set_user_attr(key, value)
    study.set_user_attr("ador_spec_hash", attrs["ador_spec_hash"])


def set_target_trials(study: optuna.Study, spec: StudySpec, target: int | None) -> int:
    """The trial count a resume runs to: `target` if given (stored in the study's spec so a
    later plain `resume` keeps it; `n_trials` is run-only and not in the spec hash), else the
    spec's own `n_trials`."""
    wanted = target or spec.file.study.n_trials
    if wanted != spec.file.study.n_trials:
        data = study.user_attrs["ador_spec"]
        data["study"]["n_trials"] = wanted
        study.set_user_attr("ador_spec", data)
    return wanted


def adopt_unfinished(study: optuna.Study, spec: StudySpec) -> bool:
    """Finish the creation of a study that a crash left without its spec (no trial yet, no
    `ador_spec_hash`, directions matching `spec`). Returns True when it did."""
    attrs = study.user_attrs
    if "ador_spec_hash" in attrs or study.get_trials(deepcopy=False):
        return False
    if _direction_names(study) != spec.directions:
        return False
    write_spec_attrs(study, spec)
    return True


# --- samplers -------------------------------------------------------------------------------
def make_sampler(
    spec: StudySpec, seed: int, parallel: bool = False
) -> optuna.samplers.BaseSampler:
    """The spec's sampler, never repeating a design (`explore/samplers.py`)."""
    from ador_opt.explore.samplers import make_sampler as _make

    return _make(spec, seed, parallel)


# --- the objective -------------------------------------------------------------------------------
def record_of(result: Any) -> dict[str, Any]:
    return {
        "config": result.config,
        "area_mm2": result.area_mm2,
        "cost_usd": result.cost_usd,
        "peak_tflops": result.peak_tflops,
        "area_breakdown": result.area_breakdown,
        "metrics": result.metrics,
        "rejected_by": result.rejected_by,
        "constraints": result.constraints,
        "reason": result.reason,
        "values": list(result.values),
    }


def settle_memos() -> None:
    """Exempt every object alive now from Python's cyclic garbage collector (`gc.freeze`).

    The evaluations' memos (performance-model caches, the serving simulator's step times)
    gain ~10⁴ objects per serving trial and live for the whole study, so each full
    collection, triggered whenever the long-lived objects have grown by a quarter, rescans
    all of them: 25–29 % of the CPU time of 60-trial chatbot studies went to the collector
    before (docs/bench-explore.md). Frozen objects are still freed by reference counting; only
    reference cycles among them wait for `gc.unfreeze()` (`run_trials` calls it when it
    returns), and a trial leaves none behind (the simulator drops an aborted run's pending
    events, `serving.simulator._run`)."""
    gc.freeze()


class TrialObjective:
    """Optuna objective: suggest → cache or evaluate → write constraints and user attrs."""

    def __init__(
        self, ctx: EvalContext, cache: ResultCache, on_start: Callable[[], None] | None = None
    ) -> None:
        self.ctx = ctx
        self.cache = cache
        self.on_start = on_start
        self.worker = worker_id()

    def __call__(self, trial: optuna.Trial) -> list[float]:
        # Who runs this trial: lets a worker on the same host fail it at once if we die.
        trial.storage.set_trial_system_attr(trial._trial_id, WORKER_ATTR, self.worker)
        params = self.ctx.space.suggest(trial)
        if self.on_start is not None:
            # The trial and its params exist now: let other workers ask (after the params, so
            # their samplers see this design as taken — explore/samplers.py).
            self.on_start()
        t0 = time.perf_counter()  # eval_s: cache lookup + evaluation, not Optuna's sampling
        real = realise(self.ctx.space, params)
        key = cache_key(self.ctx, real.arch, real.fields)
        record = self.cache.get(key, trial.study)
        hit = record is not None
        if record is None:
            # The feasible designs known so far let the evaluation skip designs whose
            # optimistic bound they dominate, and the capacity search stop early on designs
            # that cannot reach the front (evaluate._bound_skip, evaluate._front_stop).
            ctx = replace(
                self.ctx,
                front=self.cache.feasible_values(),
                neighbours=self.cache.capacity_ratios(),
            )
            result = evaluate_point(ctx, params)
            settle_memos()
            record = record_of(result)
            if result.skipped:
                # A bound-skipped design is stored honestly: PRUNED (no objective values, so
                # no sampler can take it for an observation), with its attrs, the bound in
                # `metrics` and the reason; not cached (a later front never makes the skip
                # wrong, but keeps the record out of the cache's feasible set).
                self._write(trial, record, key, False, t0, skipped=result.skipped)
                raise optuna.TrialPruned(result.reason)
            self.cache.put(key, record)
        self._write(trial, record, key, hit, t0)
        return [float(v) for v in record["values"]]

    def _write(
        self, trial: optuna.Trial, record: dict[str, Any], key: str, hit: bool, t0: float,
        **extra: Any,
    ) -> None:  # fmt: skip
        """The trial's attrs from its record (eval_s: cache lookup + evaluation since `t0`)."""
        user = {attr: record[attr] for attr in RECORD_ATTRS}
        user.update(cache_key=key, cache_hit=hit, eval_s=time.perf_counter() - t0, **extra)
        # Constraints are written once, in Optuna 5's per-name form; optuna-dashboard 0.21
        # (which reads only the old list) gets them from report/dashboard.py's read-side bridge.
        cons = record["constraints"]
        system = {f"constraints:{n}": float(cons[n]) for n in self.ctx.spec.constraints}
        write_trial_attrs(trial, user, system)


def write_trial_attrs(trial: optuna.Trial, user: dict[str, Any], system: dict[str, Any]) -> None:
    """Write a trial's user and system attrs.

    On SQLite and PostgreSQL RDB storages all of them go in one transaction as two multi-row
    upserts (the same statements Optuna issues per key; ≈ 100× fewer round trips than ~20
    separate commits). Elsewhere through the public per-key API (`set_constraint` for the
    `constraints:<name>` keys).
    """
    storage = trial.storage
    backend = getattr(storage, "_backend", storage)
    engine = getattr(backend, "engine", None)
    if (
        isinstance(backend, optuna.storages.RDBStorage)
        and engine is not None
        and (engine.name in ("sqlite", "postgresql"))
    ):
        _upsert_attrs(backend, trial._trial_id, user, system)
        return
    for k, v in system.items():
        if k.startswith("constraints:"):
            trial.set_constraint(k.split(":", 1)[1], v)
        else:
            storage.set_trial_system_attr(trial._trial_id, k, v)
    for k, v in user.items():
        trial.set_user_attr(k, v)


def _upsert_attrs(
    backend: Any, trial_id: int, user: dict[str, Any], system: dict[str, Any]
) -> None:
    import json

    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    if backend.engine.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]

    with _create_scoped_session(backend.scoped_session, True) as session:
        row = models.TrialModel.find_or_raise_by_id(trial_id, session)
        backend.check_trial_is_updatable(trial_id, row.state)
        for model_cls, attrs in (
            (models.TrialUserAttributeModel, user),
            (models.TrialSystemAttributeModel, system),
        ):
            if not attrs:
                continue
            stmt = insert(model_cls).values(
                [
                    {"trial_id": trial_id, "key": k, "value_json": json.dumps(v)}
                    for k, v in attrs.items()
                ]
            )
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[model_cls.trial_id, model_cls.key],
                    set_={"value_json": stmt.excluded.value_json},
                )
            )


# --- one worker -------------------------------------------------------------------------------
@dataclass
class StopFlag:
    """Set by Ctrl-C (first press) or by a parent process; checked between trials."""

    event: Any = field(default_factory=threading.Event)
    on_first: Callable[[], None] | None = None

    @property
    def requested(self) -> bool:
        return bool(self.event.is_set())

    def install(self) -> None:
        """First SIGINT/SIGTERM: stop after the current trial. Second: abort at once."""

        def handler(signum: int, frame: Any) -> None:
            if self.event.is_set():
                raise KeyboardInterrupt
            self.event.set()
            if self.on_first is not None:
                self.on_first()

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, handler)
            signal.signal(signal.SIGTERM, handler)


@dataclass(frozen=True, slots=True)
class Counts:
    """`complete` counts designs: COMPLETE trials that evaluated a design the study did not
    hold yet; `cache_hits` the COMPLETE trials that repeated one (reported apart, they do not
    count toward `n_trials`)."""

    complete: int
    running: int
    waiting: int
    failed: int
    feasible: int
    cache_hits: int = 0
    skipped: int = 0  # PRUNED by the bound skip (counted in `complete`: a design was decided)


def count_trials(study: optuna.Study) -> Counts:
    by_state: dict[TrialState, int] = {}
    feasible = 0
    hits = 0
    skipped = 0
    for t in study.get_trials(deepcopy=False):
        by_state[t.state] = by_state.get(t.state, 0) + 1
        if t.state == TrialState.COMPLETE:
            if t.user_attrs.get("cache_hit") is True:
                hits += 1
            elif t.user_attrs.get("rejected_by") == "":
                feasible += 1
        elif t.state == TrialState.PRUNED and t.user_attrs.get("skipped"):
            skipped += 1
    return Counts(
        by_state.get(TrialState.COMPLETE, 0) - hits + skipped,
        by_state.get(TrialState.RUNNING, 0),
        by_state.get(TrialState.WAITING, 0),
        by_state.get(TrialState.FAIL, 0),
        feasible,
        hits,
        skipped,
    )


WAIT_FOR_OTHERS_S = 0.5


def fail_stale_trials(study: optuna.Study) -> None:
    """Optuna's heartbeat check (no-op for storages without a heartbeat)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def run_trials(
    study: optuna.Study,
    ref: StoreRef,
    target: int,
    *,
    seed: int,
    parallel: bool = False,
    timeout_s: float | None = None,
    stop: StopFlag | None = None,
    on_trial: Callable[[optuna.Study, Any], None] | None = None,
    capacity_fn: Any = None,
) -> int:
    """Run trials until the study has `target` COMPLETE trials (waiting for the other
    workers' last RUNNING trials, and taking over any that go stale). Returns trials run
    here."""
    spec = validate_spec(study.user_attrs["ador_spec"], where=f"study {study.study_name!r}")
    # A new random stream for every run of the study: the seed mixes in the history's length.
    history = len(study.get_trials(deepcopy=False))
    study.sampler = make_sampler(spec, derive_seed(seed, history), parallel)
    lock: AskLock = ask_lock(ref, study.study_name)
    objective = TrialObjective(EvalContext(spec, capacity_fn), ResultCache(), lock.release)
    alive = alive_lock(ref)
    if alive is not None:
        alive.acquire()
    stop = stop or StopFlag()
    start = time.monotonic()
    ran = 0
    callbacks = [on_trial] if on_trial is not None else []
    identity = store_identity(ref)
    try:
        while not stop.requested:
            check_store_present(ref, identity)
            if timeout_s is not None and time.monotonic() - start >= timeout_s:
                break
            lock.acquire()
            try:
                counts = count_trials(study)
                if counts.complete >= target:
                    break
                if counts.complete + counts.running >= target:
                    # Other workers hold the last trials. Wait for them rather than exit: if
                    # one of them died, its trial turns stale (heartbeat), is failed and
                    # re-queued, and this worker runs it.
                    lock.release()
                    time.sleep(WAIT_FOR_OTHERS_S)
                    fail_stale_trials(study)
                    fail_dead_local_trials(study)
                    continue
                grid = study.sampler
                if isinstance(grid, optuna.samplers.GridSampler) and grid.is_exhausted(study):
                    break  # every grid point is done: more trials would only repeat them
                if getattr(study.sampler, "exhausted", False):
                    _say_exhausted(study, spec, counts.complete)
                    break
                try:
                    study.optimize(
                        objective,
                        n_trials=1,
                        gc_after_trial=False,
                        show_progress_bar=False,
                        callbacks=callbacks,
                    )
                    ran += 1
                except optuna.exceptions.UpdateFinishedTrialError:
                    # Another worker judged this trial dead (heartbeat missed under heavy
                    # load) and re-queued it; the copy will be run, so just go on.
                    continue
            finally:
                lock.release()
    finally:
        if alive is not None:
            alive.release()
        gc.unfreeze()  # back to normal collection (see `settle_memos`)
    check_store_present(ref, identity)
    return ran


def _say_exhausted(study: optuna.Study, spec: StudySpec, designs: int) -> None:
    """Every design of the space has been evaluated: say so on stderr (DESIGN §9)."""
    import sys

    print(
        f"study {study.study_name!r}: the search space is exhausted — all {designs} distinct "
        f"designs of its {spec.space.size} points are evaluated; stopping early",
        file=sys.stderr,
    )


def trial_values_ok(values: Any) -> bool:
    return values is not None and all(math.isfinite(v) for v in values)
