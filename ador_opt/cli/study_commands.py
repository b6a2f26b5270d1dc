"""`ador-opt optimize | resume | worker | pareto` — thin wrappers over `ador_opt.explore`."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ador_opt.cli._common import emit_json, err_console
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
StudyName = Annotated[str | None, typer.Option("--study-name", help="Study in the store.")]

# Columns shown per design in the Pareto table (besides the objectives).
_TABLE_PARAMS = 8


def _explore() -> Any:
    """Import lazily: Optuna is heavy and other commands do not need it."""
    from ador_opt import explore

    return explore


def _render_pareto(view: Any, title: str) -> None:
    table = Table(title=title)
    table.add_column("#", justify="right")
    for name, unit in zip(view.objectives, view.units, strict=True):
        arrow = "↑" if view.directions[view.objectives.index(name)] == "maximize" else "↓"
        table.add_column(f"{name} ({unit}) {arrow}", justify="right")
    params = sorted({k for t in view.trials for k in t.params})[: _TABLE_PARAMS * 2]
    for p in params:
        table.add_column(p, justify="right")
    for t in view.trials:
        table.add_row(
            str(t.number),
            *(f"{v:.4g}" for v in t.values),
            *(_fmt(t.params.get(p, "")) for p in params),
        )
    # Wide enough for the objective and parameter columns even when stderr is not a terminal
    # (rich then assumes 80 columns and would squeeze the headers).
    console = err_console
    if not console.is_terminal:
        console = Console(stderr=True, width=max(console.width, 16 * len(table.columns)))
    console.print(table)
    if not view.trials:
        err_console.print("no feasible design yet")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _finish(summary: Any, study: Any, json_out: bool) -> None:
    explore = _explore()
    view = explore.pareto_view(study)
    if json_out:
        doc = summary.to_json()
        doc.update(view.to_json())
        emit_json(doc)
        return
    _render_pareto(view, f"Pareto-optimal feasible designs of {study.study_name}")
    state = "stopped" if summary.stopped else ("timed out" if summary.timed_out else "done")
    err_console.print(
        f"{state}: {summary.complete}/{summary.target} trials complete, {summary.feasible} "
        f"feasible, {len(view.trials)} on the Pareto front; store {summary.store}"
        + (f" ({summary.cache_hits} repeated designs not counted)" if summary.cache_hits else "")
    )
    if summary.recovered:
        err_console.print(f"recovered trials left RUNNING by a dead process: {summary.recovered}")


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
    stop.on_first = lambda: err_console.print(
        "stopping after the current trial (Ctrl-C again to abort)"
    )
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
    study_name: StudyName = None,
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
    target = n_trials or s.n_trials
    if target != s.n_trials:  # n_trials is run-only: the hash does not change
        data = study.user_attrs["ador_spec"]
        data["study"]["n_trials"] = target
        study.set_user_attr("ador_spec", data)
    summary = _run(study, ref, spec, target, n_jobs or s.n_jobs, s.seed + 1000,
                   timeout or s.timeout_s, json_out)  # fmt: skip
    _finish(summary, study, json_out)


def worker(
    storage: Annotated[str, typer.Option("--storage", help="Store path or URL (PostgreSQL).")],
    study: Annotated[str, typer.Option("--study", help="Study name.")],
    n_trials: NTrials = None,
    timeout: Timeout = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Sampler seed of this worker.")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """One more worker on an existing study (e.g. on another machine, PostgreSQL storage)."""
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
    """Feasible Pareto-optimal designs of a study (table, --json or --csv)."""
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


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize)
    app.command("resume")(resume)
    app.command("worker")(worker)
    app.command("pareto")(pareto)
