"""`ador-opt report` (HTML + PNG) and `ador-opt dashboard` (optuna-dashboard with the
constraint bridge). The work lives in `ador_opt.report`; this module only parses and prints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ador_opt.cli._common import emit_json, err_console, out_console
from ador_opt.errors import InputError

StoreArg = Annotated[
    str, typer.Argument(help="SQLite file of the study (or any Optuna storage URL).")
]
StudyOpt = Annotated[
    str | None,
    typer.Option(
        "--study",
        "--study-name",
        help="Study name (optional when the store has one). Alias: --study-name.",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def report(
    store: StoreArg,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Output directory (default: next to the store, <name>-report)."
        ),
    ] = None,
    study: StudyOpt = None,
    no_baselines: Annotated[
        bool, typer.Option("--no-baselines", help="Skip evaluating the preset baselines.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """HTML page + PNGs: Pareto fronts, hypervolume, spec table vs. A100/LLMCompass/ADOR."""
    from ador_opt.report import build_report

    def say(msg: str) -> None:
        if not json_out:
            err_console.print(f"[dim]report:[/dim] {msg}")

    result = build_report(store, out, study, baselines=not no_baselines, progress=say)
    if json_out:
        emit_json(result.to_json())
        return
    a = result.analysis
    out_console.print(
        f"{len(a.study.trials)} complete trials, {len(a.study.feasible)} feasible, "
        f"{len(a.front)} Pareto-optimal"
    )
    if not a.study.feasible:
        out_console.print("[yellow]no feasible trial[/yellow]: the report says so")
    out_console.print(f"HTML: {result.html}", soft_wrap=True)
    for p in result.pngs:
        out_console.print(f"PNG:  {p}", soft_wrap=True)


def _default_artifact_dir(store: str) -> Path | None:
    if store.startswith("sqlite:///"):
        store = store.removeprefix("sqlite:///").split("?", 1)[0]
    if "://" in store:
        return None
    path = Path(store)
    return path.with_name(f"{path.stem}-artifacts")


def dashboard(
    store: StoreArg,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    study: StudyOpt = None,
    artifact_dir: Annotated[
        Path | None,
        typer.Option(
            "--artifact-dir",
            help="Where the PNG artifacts live (default: <store>-artifacts next to a SQLite "
            "file; none for a storage URL).",
        ),
    ] = None,
    prepare_only: Annotated[
        bool,
        typer.Option("--prepare-only", help="Write the note and figures, then exit."),
    ] = False,
    no_prepare: Annotated[
        bool,
        typer.Option("--no-prepare", help="Serve without writing the note and figures."),
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """optuna-dashboard on the study, with Optuna 5 constraints shown as (in)feasible."""
    from ador_opt.report import dashboard as db
    from ador_opt.report.load import open_storage, pick_study

    if not prepare_only:
        db.check_port(host, port)
    artifacts = artifact_dir if artifact_dir is not None else _default_artifact_dir(store)
    if artifacts is not None:
        artifacts = artifacts.resolve()
    # Validate the store before anything is printed or written (exit 2, one line).
    name, study_id = pick_study(open_storage(store), study, store)
    info: dict[str, object] = {"study": name, "study_id": study_id}
    if not no_prepare:
        if not json_out:
            err_console.print("[dim]dashboard:[/dim] writing the study note and figures")
        try:
            prep = db.prepare_study(store, name, artifacts)
        except InputError:
            raise
        except Exception as exc:
            if prepare_only:
                raise
            # E.g. SQLite busy while `optimize` writes: the trials can still be served.
            err_console.print(
                f"[yellow]warning[/yellow]: could not write the note and figures "
                f"({exc.__class__.__name__}: {exc}); serving the trials without them"
            )
            info["prepare_error"] = f"{exc.__class__.__name__}: {exc}"
        else:
            info.update(
                note_chars=prep.note_chars,
                graphs=list(prep.graph_ids),
                artifacts=list(prep.artifacts),
                artifact_dir=str(artifacts) if artifacts is not None else None,
            )
    if prepare_only:
        if json_out:
            emit_json(info)
        else:
            out_console.print(f"prepared study {info['study']} (id {info['study_id']})")
        return

    def ready(url: str) -> None:
        study_url = f"{url}studies/{info['study_id']}"
        if json_out:
            emit_json({**info, "url": study_url})
        else:
            out_console.print(f"optuna-dashboard: {study_url}  (Ctrl-C to stop)", soft_wrap=True)

    try:
        db.serve(store, host, port, artifacts if not no_prepare else artifact_dir, ready)
    except KeyboardInterrupt:
        if not json_out:
            err_console.print("dashboard stopped")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("dashboard")(dashboard)
