"""`ador-opt optimize | resume | worker | pareto` — thin wrappers over `ador_opt.explore`.

Results on stdout: the Pareto table (best first by the first objective, near-duplicates shown
once), then the answer — the best design per objective and the balanced (knee) one with their
parameters — the run's state and the next commands. Progress on stderr.
"""

from __future__ import annotations

import functools
import os
import shlex
from collections.abc import Callable
from typing import Annotated, Any

import typer

from ador_opt.cli._common import Col, emit_json, err_console, out_console, print_table
from ador_opt.errors import InputError
from ador_opt.limits import MAX_N_JOBS

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
NTrials = Annotated[
    int | None,
    typer.Option("--n-trials", min=1, help="Total COMPLETE trials the study should reach."),
]
NJobs = Annotated[
    int | None,
    typer.Option("--n-jobs", min=1, max=MAX_N_JOBS, help="Local worker processes."),
]
Timeout = Annotated[
    float | None, typer.Option("--timeout", min=0.001, help="Stop starting trials after S s.")
]
# One name for the study option on every command: --study; --study-name (DESIGN §9's name on
# `optimize`) is accepted everywhere as an alias.
StudyName = Annotated[
    str | None,
    typer.Option(
        "--study",
        "--study-name",
        help="Study in the store (optional when it holds one). Alias: --study-name.",
    ),
]


def _explore() -> Any:
    """Import lazily: Optuna is heavy and other commands do not need it."""
    from ador_opt import explore

    return explore


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _objective_header(view: Any, i: int) -> str:
    from ador_opt.explore.objectives import short_label

    name, unit = view.objectives[i], view.units[i]
    arrow = "↑" if view.directions[i] == "maximize" else "↓"
    return f"{short_label(name)} ({unit}) {arrow}" if unit else f"{short_label(name)} {arrow}"


def _render_pareto(view: Any, title: str) -> None:
    explore = _explore()
    rows = explore.pareto.distinct(view.trials)
    params = sorted({k for t in view.trials for k in t.params})
    cols = [Col("#")]
    cols += [Col(_objective_header(view, i)) for i in range(len(view.objectives))]
    cols += [Col(p, optional=True) for p in params]
    table = [
        [
            f"{t.number}" + (f" +{alike}" if alike else ""),
            *(f"{v:.4g}" for v in t.values),
            *(_fmt(t.params.get(p, "")) for p in params),
        ]
        for t, alike in rows
    ]
    caption = None
    if any(alike for _, alike in rows):
        rel = explore.pareto.NEAR_DUPLICATE_REL
        caption = (
            f"#N +k: k more designs within {rel:.1%} of #N on every objective (--json lists all)"
        )
    if not view.trials:
        out_console.print(f"{title}: no feasible design yet")
        return
    print_table(title, cols, table, caption)


def _render_answer(view: Any) -> None:
    """Best per objective and the balanced design, one column each, parameters as rows."""
    from ador_opt.explore.objectives import short_label

    explore = _explore()
    labels = [short_label(o) for o in view.objectives]
    picks = explore.pareto.choose_designs(view.trials, labels, view.maximise, spread=False)
    if not picks:
        return
    cols = [Col("", numeric=False)] + [Col(f"#{t.number}") for t, _ in picks]
    rows = [["shown as", *(role for _, role in picks)]]
    for i in range(len(view.objectives)):
        rows.append([_objective_header(view, i), *(f"{t.values[i]:.4g}" for t, _ in picks)])
    params = sorted({k for t, _ in picks for k in t.params})
    rows += [[p, *(_fmt(t.params.get(p, "–")) for t, _ in picks)] for p in params]
    print_table("answer: best design per objective and the balanced one", cols, rows)


def _store_arg(store: str) -> str:
    """The store as a user would type it in this directory (relative path when shorter)."""
    if "://" not in store:
        try:
            rel = os.path.relpath(store)
        except ValueError:
            rel = store
        if not rel.startswith(".."):
            store = rel
    return shlex.quote(store)


def _study_arg(study: Any) -> str:
    names = _explore().study.study_names(study._storage)
    return f" --study {shlex.quote(study.study_name)}" if len(names) > 1 else ""


def _finish(summary: Any, study: Any, json_out: bool) -> None:
    explore = _explore()
    view = explore.pareto_view(study)
    if json_out:
        doc = summary.to_json()
        doc.update(view.to_json())
        emit_json(doc)
        return
    _render_pareto(view, f"Pareto-optimal feasible designs of {study.study_name}")
    _render_answer(view)
    state = "stopped" if summary.stopped else ("timed out" if summary.timed_out else "done")
    store, which = _store_arg(summary.store), _study_arg(study)
    line = (
        f"{state}: {summary.complete}/{summary.target} trials complete, {summary.feasible} "
        f"feasible, {len(view.trials)} on the Pareto front; store {summary.store}"
        + (f" ({summary.cache_hits} repeated designs not counted)" if summary.cache_hits else "")
    )
    if summary.complete < summary.target:
        line += f"; continue with: ador-opt resume {store}{which}"
    out_console.print(line, soft_wrap=True)
    if summary.recovered:
        out_console.print(f"recovered trials left RUNNING by a dead process: {summary.recovered}")
    out_console.print(f"next: ador-opt report {store}{which}   (HTML + PNG)")
    out_console.print(f"      ador-opt dashboard {store}{which}   (optuna-dashboard)")


def _run(
    study: Any,
    ref: Any,
    spec: Any,
    target: int,
    n_jobs: int,
    seed: int,
    timeout: float | None,
    json_out: bool,
) -> Any:
    explore = _explore()
    stop = explore.StopFlag()
    # Worked out now: the handler runs inside a signal, where no storage query may run.
    said = (
        "stopping after the current trial (Ctrl-C again to abort); "
        f"continue later with: ador-opt resume {_store_arg(ref.display)}{_study_arg(study)}"
    )
    stop.on_first = lambda: err_console.print(said, soft_wrap=True)
    stop.install()
    before = explore.count_trials(study).complete
    progress = explore.StudyProgress(
        target, before, [o.name for o in spec.objectives], not json_out, err_console
    )
    return explore.drive(
        study, ref, target, n_jobs=n_jobs, seed=seed, timeout_s=timeout, progress=progress,
        stop=stop,
    )  # fmt: skip


def optimize(
    spec_path: Annotated[str, typer.Argument(metavar="SPEC.toml", help="Study spec file.")],
    storage: Annotated[str | None, typer.Option("--storage", help="Store path or URL.")] = None,
    n_trials: NTrials = None,
    n_jobs: NJobs = None,
    timeout: Timeout = None,
    study_name: Annotated[
        str | None,
        typer.Option(
            "--study",
            "--study-name",
            help="Name of the study (default: the spec's [study] name). Alias: --study-name.",
        ),
    ] = None,
    sampler: Annotated[str | None, typer.Option("--sampler", help="Override the sampler.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override the seed.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Run a study from a TOML spec (creates the store, or continues an identical study)."""
    explore = _explore()
    spec = explore.load_spec(spec_path)
    if sampler is not None and sampler not in explore.SAMPLERS:
        raise InputError(
            f"--sampler: unknown sampler {sampler!r}; allowed: {', '.join(explore.SAMPLERS)}"
        )
    spec = spec.with_overrides(
        name=study_name, sampler=sampler, seed=seed, n_trials=n_trials, storage=storage,
        n_jobs=n_jobs, timeout_s=timeout,
    )  # fmt: skip
    s = spec.file.study
    ref = explore.resolve_store(s.storage) if s.storage else explore.default_store(spec.name)
    study, _created = explore.create_or_open(ref, spec)
    summary = _run(study, ref, spec, s.n_trials, s.n_jobs, s.seed, s.timeout_s, json_out)
    _finish(summary, study, json_out)


def resume(
    store: Annotated[str, typer.Argument(metavar="STORE", help="SQLite path or storage URL.")],
    n_trials: NTrials = None,
    n_jobs: NJobs = None,
    timeout: Timeout = None,
    study_name: StudyName = None,
    spec_path: Annotated[
        str | None, typer.Option("--spec", help="Refuse unless the study was made by this spec.")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Continue a study after Ctrl-C, kill -9 or a crash, up to its n_trials (or --n-trials)."""
    explore = _explore()
    given = explore.load_spec(spec_path) if spec_path else None
    ref = explore.resolve_store(store)
    study = explore.load_study(ref, study_name)
    if given is not None:  # finish a creation that a crash cut short (no spec, no trial)
        explore.adopt_unfinished(study, given)
    spec = explore.check_compatible(study, given)
    s = spec.file.study
    target = explore.set_target_trials(study, spec, n_trials)
    summary = _run(study, ref, spec, target, n_jobs or s.n_jobs, s.seed + 1000,
                   timeout or s.timeout_s, json_out)  # fmt: skip
    _finish(summary, study, json_out)


def worker(
    storage: Annotated[str, typer.Option("--storage", help="Store path or URL (PostgreSQL).")],
    study: Annotated[
        str, typer.Option("--study", "--study-name", help="Study name. Alias: --study-name.")
    ],
    n_trials: NTrials = None,
    timeout: Timeout = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Sampler seed of this worker.")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """One more worker on an existing study (on another machine: PostgreSQL storage)."""
    explore = _explore()
    ref = explore.resolve_store(storage)
    st = explore.load_study(ref, study)
    spec = explore.check_compatible(st)
    s = spec.file.study
    worker_seed = seed if seed is not None else s.seed + os.getpid()
    summary = _run(st, ref, spec, n_trials or s.n_trials, 1, worker_seed,
                   timeout or s.timeout_s, json_out)  # fmt: skip
    _finish(summary, st, json_out)


def pareto(
    store: Annotated[str, typer.Argument(metavar="STORE", help="SQLite path or storage URL.")],
    study_name: StudyName = None,
    json_out: JsonFlag = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="CSV on stdout.")] = False,
    include_all: Annotated[
        bool, typer.Option("--all", help="Every complete feasible trial, not just the front.")
    ] = False,
) -> None:
    """Feasible Pareto-optimal designs of a study, best first (table, --json or --csv)."""
    if json_out and csv_out:
        raise InputError("--json and --csv are exclusive")
    explore = _explore()
    study = explore.load_study(explore.resolve_store(store), study_name)
    view = explore.pareto_view(study, include_all=include_all)
    if json_out:
        emit_json(view.to_json())
    elif csv_out:
        typer.echo(view.to_csv(), nl=False)
    else:
        what = "feasible designs" if include_all else "Pareto-optimal feasible designs"
        _render_pareto(view, f"{what} of {study.study_name}")


def _quiet(command: Callable[..., None]) -> Callable[..., None]:
    """Run `command` with Optuna's logging and experimental warnings quiet (set here, for the
    command, not at import)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        with _explore().quiet_optuna():
            command(*args, **kwargs)

    return run


def register(app: typer.Typer) -> None:
    app.command("optimize")(_quiet(optimize))
    app.command("resume")(_quiet(resume))
    app.command("worker")(_quiet(worker))
    app.command("pareto")(_quiet(pareto))
