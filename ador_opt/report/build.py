"""`ador-opt report`: read a study, choose designs, compare with the presets, write HTML + PNGs."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ador_opt.errors import InputError
from ador_opt.explore.pareto import (
    HypervolumeHistory,
    choose_designs,
    hypervolume_history,
    pareto_trials,
)
from ador_opt.redact import redact
from ador_opt.report import figures as fg
from ador_opt.report import html as ht
from ador_opt.report import interactive, plots
from ador_opt.report.baselines import evaluate_baselines
from ador_opt.report.load import StudyData, TrialRecord, load_study_data
from ador_opt.report.scenario import StudyScenario, parse_scenario
from ador_opt.report.tables import (
    DesignEntry,
    comparison_table,
    entry_from_baseline,
    entry_from_trial,
    markdown_table,
    spec_table,
)

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything derived from a study that the page, the JSON and the dashboard note use."""

    study: StudyData
    scenario: StudyScenario
    front: tuple[TrialRecord, ...]
    chosen: tuple[DesignEntry, ...]
    baselines: tuple[DesignEntry, ...]
    history: HypervolumeHistory | None

    @property
    def entries(self) -> tuple[DesignEntry, ...]:
        return self.chosen + self.baselines


@dataclass(frozen=True, slots=True)
class ReportResult:
    html: Path
    pngs: tuple[Path, ...]
    analysis: Analysis

    def to_json(self) -> dict[str, Any]:
        a = self.analysis
        return {
            "html": str(self.html),
            "pngs": [str(p) for p in self.pngs],
            "study": a.study.name,
            "objectives": list(a.study.objectives),
            "directions": list(a.study.directions),
            "n_complete": len(a.study.trials),
            "n_feasible": len(a.study.feasible),
            "n_pareto": len(a.front),
            "hypervolume": a.history.final if a.history else None,
            "designs": [design_json(e, a.study) for e in a.chosen],
            "baselines": [
                {"name": e.label, "metrics": dict(e.metrics), "notes": list(e.notes)}
                for e in a.baselines
            ],
        }


def design_json(e: DesignEntry, study: StudyData) -> dict[str, Any]:
    trial = next(t for t in study.trials if t.number == e.trial_number)
    return {
        "number": trial.number,
        "role": e.role,
        "values": list(trial.values),
        "params": dict(trial.params),
        "config": dict(trial.config),
        "metrics": dict(trial.metrics),
        "area_mm2": trial.area_mm2,
        "cost_usd": trial.cost_usd,
        "peak_tflops": trial.peak_tflops,
    }


def analyse(study: StudyData, *, baselines: bool = True) -> Analysis:
    scenario = parse_scenario(study.spec)
    front = pareto_trials(study)
    chosen = tuple(
        entry_from_trial(t, role, scenario.devices)
        for t, role in choose_designs(front, study.objectives, study.maximise)
    )
    base: tuple[DesignEntry, ...] = ()
    if baselines:
        # Without a scenario only the design facts (area, TFLOPS, cost) are compared.
        base = tuple(entry_from_baseline(r) for r in evaluate_baselines(scenario))
    return Analysis(study, scenario, front, chosen, base, hypervolume_history(study))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:40] or "objective"


def pareto_png_name(study: StudyData, i: int, j: int) -> str:
    """File name of the scatter of objectives i and j (report and dashboard artifacts)."""
    return f"pareto_{_slug(study.objectives[i])}__{_slug(study.objectives[j])}.png"


def _summary(a: Analysis, store: str) -> dict[str, str]:
    s = a.study
    rejected = Counter(t.rejected_by or "constraint" for t in s.trials if not t.feasible)
    objectives = ", ".join(
        f"{s.objectives[k]} ({s.directions[k]}, {s.units[k] or '–'})"
        for k in range(len(s.objectives))
    )
    items = {
        "store": redact(store),
        "study": s.name,
        "objectives": objectives,
        "trials": f"{len(s.trials)} complete of {s.n_total} "
        f"({', '.join(f'{k.lower()} {v}' for k, v in sorted(s.states.items()))})",
        "feasible": f"{len(s.feasible)} ({len(a.front)} Pareto-optimal)",
        "rejected by stage": ", ".join(f"{k} {v}" for k, v in rejected.most_common()) or "none",
    }
    if a.scenario.models:
        items["models"] = ", ".join(a.scenario.models) + f" ({a.scenario.precision})"
    for k, line in enumerate(a.scenario.describe()):
        items[f"scenario {k + 1}"] = line
    if a.scenario.slo:
        items["SLOs"] = ", ".join(f"{k} ≤ {v:g}" for k, v in a.scenario.slo.items())
    if a.scenario.budget:
        items["budget"] = ", ".join(f"{k} ≤ {v:g}" for k, v in a.scenario.budget.items())
    if a.history is not None:
        ref = ", ".join(f"{v:g}" for v in a.history.reference_point)
        items["hypervolume"] = f"{a.history.final:.6g} (reference point {ref})"
    else:
        items["hypervolume"] = "undefined: the study stores no reference point"
    if s.spec_hash:
        items["spec hash"] = s.spec_hash[:16]
    if s.version:
        items["ador-opt version"] = s.version
    return items


def _front_rows(a: Analysis, limit: int = 100) -> tuple[list[str], list[list[str]]]:
    s = a.study
    header = ["trial", *(s.label(k) for k in range(len(s.objectives))), "params"]
    rows = []
    for t in a.front[:limit]:
        params = ", ".join(f"{k}={v}" for k, v in t.params.items())
        rows.append([f"#{t.number}", *(f"{v:.5g}" for v in t.values), params])
    return header, rows


def default_out_dir(store: str, study_name: str) -> Path:
    """`runs/x.db` (or `sqlite:///runs/x.db`) → `runs/x-report/`; another storage URL →
    `./<study>-report/`."""
    if store.startswith("sqlite:///"):
        store = store.removeprefix("sqlite:///").split("?", 1)[0]
    if "://" not in store:
        path = Path(store)
        return path.with_name(f"{path.stem}-report")
    return Path.cwd() / f"{study_name}-report"


def build_report(
    store: str,
    out_dir: Path | None = None,
    study_name: str | None = None,
    *,
    baselines: bool = True,
    progress: Progress | None = None,
) -> ReportResult:
    """Write `report.html` and the PNGs into `out_dir` (default: `default_out_dir`)."""
    say = progress or (lambda _msg: None)
    study = load_study_data(store, study_name)
    if out_dir is None:
        out_dir = default_out_dir(store, study.name)
    names = [pareto_png_name(study, i, j) for i, j in fg.objective_pairs(len(study.objectives))]
    names += ["hypervolume.png", "area_breakdown.png", "report.html"]
    _refuse_links(out_dir, names)
    say(f"{len(study.trials)} complete trials; choosing designs and evaluating baselines")
    a = analyse(study, baselines=baselines)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output directory {out_dir}: {exc.strerror}") from None
    say("drawing figures")
    front_set = fg.front_numbers(study)
    pngs: list[Path] = []
    pair_figs: list[str] = []
    for i, j in fg.objective_pairs(len(study.objectives)):
        pair = fg.pair_data(study, i, j, front_set, a.chosen, a.baselines)
        title = f"{study.name}: {study.objectives[j]} vs {study.objectives[i]}"
        name = pareto_png_name(study, i, j).removesuffix(".png")
        pngs.append(_placed(plots.pareto_png, pair, title, out_dir / f"{name}.png"))
        pair_figs.append(ht.figure_html(interactive.pareto_figure(pair, title), name))
    hv_title = f"{study.name}: hypervolume history"
    pngs.append(_placed(plots.hypervolume_png, a.history, hv_title, out_dir / "hypervolume.png"))
    area_title = "die-area breakdown: chosen designs and presets"
    pngs.append(_placed(plots.area_png, a.entries, area_title, out_dir / "area_breakdown.png"))

    sections: list[ht.Section] = [ht.Section("", ht.meta_html(_summary(a, store)))]
    if not study.feasible:
        reason = (
            "the study has no complete trial yet"
            if not study.trials
            else f"all {len(study.trials)} complete trials violate a constraint"
        )
        sections.append(
            ht.Section(
                "",
                f'<div class="warn" id="no-feasible"><b>No feasible '
                f"trial</b>: {ht.esc(reason)}. Loosen the budget or "
                "SLOs, or widen the search space.</div>",
            )
        )
    if len(study.objectives) < 2:
        sections.append(
            ht.Section("", '<div class="warn">single-objective study: no Pareto scatter</div>')
        )
    sections.append(
        ht.Section(
            "Pareto fronts",
            '<p class="small">Feasible trials, the Pareto-optimal ones '
            "(all objectives), infeasible trials (drawn at their real value "
            "where the stages that ran computed it, else in a band at the "
            "worse edge of the axis) and the preset baselines.</p>"
            f'<div class="grid" id="pareto-plots">{"".join(pair_figs)}</div>',
        )
    )
    sections.append(
        ht.Section(
            "Hypervolume history",
            ht.figure_html(interactive.hypervolume_figure(a.history, hv_title), "hypervolume"),
        )
    )
    entries = a.entries
    header, rows = spec_table(entries)
    sections.append(
        ht.Section(
            "Specifications: chosen designs and presets",
            '<p class="small">Chosen designs: Pareto-optimal trials (best on each objective, the '
            "balanced one, then the most spread-out), at most five. Presets from the ADOR paper's "
            "table (§VI) as modelled here.</p>"
            + ht.table_html(header, rows, table_id="spec-table"),
        )
    )
    header, rows, _keys = comparison_table(entries, study.objectives)
    notes = [
        f"<li><b>{ht.esc(e.label)}</b>: {ht.esc(n)}</li>" for e in a.baselines for n in e.notes
    ]
    sections.append(
        ht.Section(
            "Metric comparison",
            '<p class="small">Chosen designs: the metrics stored with their trial. Presets: '
            "computed now on the study's scenarios with the same definitions (worst value over "
            "models × scenarios); ★ marks the best value of each column; area efficiency = "
            "1/(latency · devices · die area).</p>"
            + ht.table_html(
                header,
                rows,
                table_id="metric-table",
                row_classes=["baseline" if e.is_baseline else "" for e in entries],
            )
            + (f"<ul class='small'>{''.join(notes)}</ul>" if notes else ""),
        )
    )
    sections.append(
        ht.Section(
            "Area breakdown",
            ht.figure_html(interactive.area_figure(entries, area_title), "area-breakdown"),
        )
    )
    if a.front:
        fh, fr = _front_rows(a)
        more = f"<p class='small'>first 100 of {len(a.front)}</p>" if len(a.front) > 100 else ""
        sections.append(
            ht.Section(
                "All Pareto-optimal trials", more + ht.table_html(fh, fr, table_id="front-table")
            )
        )
    links = "".join(f'<li><a href="{ht.esc(p.name)}">{ht.esc(p.name)}</a></li>' for p in pngs)
    sections.append(ht.Section("Static figures (PNG)", f"<ul>{links}</ul>"))
    html_path = out_dir / "report.html"
    page = ht.page(f"ador-opt report — {study.name}", sections)
    _placed(lambda path: path.write_text(page, encoding="utf-8"), html_path)
    say(f"wrote {html_path}")
    return ReportResult(html_path, tuple(pngs), a)


def _refuse_links(out_dir: Path, names: list[str]) -> None:
    """Refuse, before anything is written, an output name that is a symbolic link (it could
    point out of the directory: `report --out` must never overwrite a file elsewhere)."""
    for name in names:
        path = out_dir / name
        if path.is_symlink():
            raise InputError(
                f"{path} is a symbolic link; refusing to write through it (remove it or pick "
                "another --out directory)"
            )


def _placed(write: Callable[..., Any], *args: Any) -> Path:
    """Run `write(*args[:-1], tmp)` on a temp name in the same directory, then move the result
    onto `args[-1]`: `os.replace` swaps the directory entry (a symlink planted meanwhile is
    replaced, never followed) and readers never see a half-written file."""
    import os
    import tempfile

    final = Path(args[-1])
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.stem}.", suffix=final.suffix, dir=final.parent
    )
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 would make the report private
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(*args[:-1], tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def markdown_summary(a: Analysis, store: str = "") -> str:
    """The study note for optuna-dashboard: spec summary, best designs, presets."""
    lines = [f"# ador-opt: {a.study.name}", ""]
    for k, v in _summary(a, store).items():
        if k != "store" or store:
            lines.append(f"- **{k}**: {v}")
    if not a.study.feasible:
        lines += ["", "**No feasible trial** — every complete trial violates a constraint."]
    if a.chosen or a.baselines:
        header, rows = spec_table(a.entries)
        lines += ["", "## Chosen designs beside the presets", "", markdown_table(header, rows)]
        header, rows, _ = comparison_table(a.entries, a.study.objectives)
        lines += ["", "## Metrics", "", markdown_table(header, rows)]
        lines += ["", "Roles: " + "; ".join(f"{e.label} = {e.role}" for e in a.chosen)]
    lines += ["", "_Written by `ador-opt dashboard`; regenerate with `ador-opt report`._"]
    return "\n".join(lines)
