"""Drive a study to its target: recovery, one or several local worker processes, progress.

`--n-jobs N` starts N worker processes (spawned, each a `study.run_trials` loop on the same
store). They coordinate only through the storage and the ask lock, exactly like `ador-opt
worker` processes on other machines do; the parent shows progress and forwards Ctrl-C as a
"stop after the current trial" event. If a worker dies, the parent recovers its trial and runs
the remainder itself, so the study still reaches its target.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import optuna

from ador_opt.explore.progress import StudyProgress, snapshot
from ador_opt.explore.storage import (
    StoreRef,
    check_store_present,
    open_storage,
    recover_stale_trials,
    store_identity,
)
from ador_opt.explore.study import StopFlag, count_trials, quiet_optuna, run_trials

POLL_S = 0.5
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCHDOG_S = 1.0  # how often a worker checks that its parent is still alive


def die_with_parent(parent_pid: int) -> None:
    """Make this worker process end when its parent dies, even by `kill -9` (no cleanup can
    run in the parent then). Linux: `prctl(PR_SET_PDEATHSIG, SIGKILL)` — the kernel kills us
    when the parent thread exits. Everywhere (and as a backstop for the race where the parent
    died before the prctl call): a daemon thread that exits the process once the parent pid
    changes (we were re-parented to init or a subreaper). A trial cut short this way stays
    RUNNING and is recovered by the next `resume` (alive lock / heartbeat)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(WATCHDOG_S)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="ador-parent-watchdog", daemon=True).start()


@dataclass
class RunSummary:
    study: str
    store: str
    target: int
    complete: int
    feasible: int
    ran: int
    stopped: bool
    timed_out: bool
    recovered: list[int] = field(default_factory=list)
    worker_exitcodes: list[int] = field(default_factory=list)
    cache_hits: int = 0  # COMPLETE trials that repeated a design (not counted in `complete`)

    def to_json(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "storage": self.store,
            "n_trials": self.target,
            "complete": self.complete,
            "feasible": self.feasible,
            "ran": self.ran,
            "stopped": self.stopped,
            "timed_out": self.timed_out,
            "recovered_trials": self.recovered,
            "cache_hits": self.cache_hits,
        }


def _child(
    ref: StoreRef,
    study_name: str,
    target: int,
    seed: int,
    timeout_s: float | None,
    event: Any,
    parent_pid: int,
) -> None:
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns Ctrl-C into `event`
    signal.signal(signal.SIGTERM, lambda *_: event.set())
    with quiet_optuna():
        storage = open_storage(ref, create=False)
        study = optuna.load_study(study_name=study_name, storage=storage)
        run_trials(
            study,
            ref,
            target,
            seed=seed,
            parallel=True,
            timeout_s=timeout_s,
            stop=StopFlag(event=event),
        )


def drive(
    study: optuna.Study,
    ref: StoreRef,
    target: int,
    *,
    n_jobs: int,
    seed: int,
    timeout_s: float | None,
    progress: StudyProgress,
    stop: StopFlag,
    capacity_fn: Any = None,
) -> RunSummary:
    directions = [d.name.lower() for d in study.directions]
    identity = store_identity(ref)
    recovered = recover_stale_trials(study, ref)
    start_complete = count_trials(study).complete
    start = time.monotonic()
    ran = 0
    exitcodes: list[int] = []

    def on_trial(st: optuna.Study, _trial: Any) -> None:
        progress.update(snapshot(st, directions))

    with progress:
        progress.update(snapshot(study, directions))
        if n_jobs > 1:
            ctx = multiprocessing.get_context("spawn")
            event = ctx.Event()
            stop.on_first = event.set
            procs = [
                ctx.Process(
                    target=_child,
                    args=(ref, study.study_name, target, seed + i, timeout_s, event, os.getpid()),
                    daemon=False,
                )
                for i in range(n_jobs)
            ]
            for p in procs:
                p.start()
            try:
                while any(p.is_alive() for p in procs):
                    time.sleep(POLL_S)
                    check_store_present(ref, identity)
                    if stop.requested:
                        event.set()
                    progress.update(snapshot(study, directions))
            except KeyboardInterrupt:  # second Ctrl-C: abort the workers now
                for p in procs:
                    p.terminate()
                raise
            finally:
                for p in procs:
                    p.join()
            exitcodes = [p.exitcode if p.exitcode is not None else -1 for p in procs]
            timed_out = timeout_s is not None and time.monotonic() - start >= timeout_s
            short = count_trials(study).complete < target
            if short and not stop.requested and not timed_out:
                # A worker died: recover its trial and finish the study here.
                recovered += recover_stale_trials(study, ref)
                left = None if timeout_s is None else timeout_s - (time.monotonic() - start)
                run_trials(
                    study, ref, target, seed=seed + n_jobs, timeout_s=left, stop=stop,
                    on_trial=on_trial, capacity_fn=capacity_fn,
                )  # fmt: skip
        else:
            ran += run_trials(
                study, ref, target, seed=seed, timeout_s=timeout_s, stop=stop,
                on_trial=on_trial, capacity_fn=capacity_fn,
            )  # fmt: skip
        snap = snapshot(study, directions)
        progress.update(snap)
    check_store_present(ref, identity)
    counts = count_trials(study)
    timed_out = timeout_s is not None and time.monotonic() - start >= timeout_s
    if n_jobs > 1:
        ran = max(0, counts.complete - start_complete)  # trials the workers completed
    return RunSummary(
        study=study.study_name,
        store=ref.display,
        target=target,
        complete=counts.complete,
        feasible=counts.feasible,
        ran=ran,
        stopped=stop.requested,
        timed_out=timed_out and counts.complete < target,
        recovered=recovered,
        worker_exitcodes=exitcodes,
        cache_hits=counts.cache_hits,
    )
