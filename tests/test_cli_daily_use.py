"""Daily use of the CLI (issue 16): results on stdout and progress on stderr for every command,
tables that fit the terminal, the answer at the end of a study, one option name per thing."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from ador_opt.progress import Progress
from tests.conftest import CASES_CSV, ROOT, run_cli
from tests.explore_fixtures import wait_complete, write_spec

EVAL = ("--model", "llama-3-8b", "--batch", "4", "--input-len", "256", "--output-len", "64")
SERVE = ("--model", "llama-3-8b", "--hardware", "ador-paper", "--workload", "chat")


def _step_cases(directory: Path) -> Path:
    lines = CASES_CSV.read_text().splitlines()
    keep = [ln for ln in lines[1:] if ",offline," not in ln and ",closed_loop," not in ln][:6]
    path = directory / "cases.csv"
    path.write_text("\n".join([lines[0], *keep]) + "\n")
    return path


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    """A finished 24-trial study (run once, human output) and its run's streams."""
    tmp = tmp_path_factory.mktemp("study")
    spec = write_spec(tmp, n_trials=24)
    db = tmp / "s.db"
    result = run_cli("optimize", str(spec), "--storage", str(db), cwd=tmp)
    assert result.code == 0, result.stderr
    return tmp, db, result


# --- results on stdout, progress on stderr -------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("models", "list"), "llama-3-8b"),
        (("models", "show", "llama-3-8b"), "num_layers"),
        (("hardware", "list"), "ador-paper"),
        (("hardware", "show", "ador-paper"), "area breakdown"),
        (("evaluate", *EVAL, "--hardware", "a100"), "TTFT"),
        (("compare", *EVAL[:2], "--hardware", "a100,ador-paper", "--batch", "4"), "ador-paper"),
        (("simulate", *SERVE, "--rate", "2", "--num-requests", "40"), "throughput"),
    ],
)
def test_results_on_stdout_nothing_on_stderr(args: tuple[str, ...], needle: str) -> None:
    result = run_cli(*args)
    assert result.code == 0, result.stderr
    assert needle in result.stdout
    assert result.stderr == ""  # quick commands: no progress either


def test_models_list_can_be_piped() -> None:
    """The issue's first complaint: `ador-opt models list | grep llama` found nothing."""
    proc = subprocess.run(
        f"{sys.executable} -m ador_opt models list | grep llama-3-8b",
        shell=True,
        capture_output=True,
        text=True,
        env=os.environ,
    )
    assert proc.returncode == 0 and "llama-3-8b" in proc.stdout


def test_validate_table_on_stdout_progress_on_stderr(tmp_path: Path) -> None:
    result = run_cli("validate", str(_step_cases(tmp_path)))
    assert result.code == 0, result.stderr
    assert "MAPE" in result.stdout
    assert "cases 6/6" in result.stderr and "MAPE" not in result.stderr


def test_capacity_result_on_stdout_probes_on_stderr() -> None:
    result = run_cli("capacity", *SERVE, "--num-requests", "200", "--slo-tbt-p99-ms", "110")
    assert result.code == 0, result.stderr
    assert "capacity" in result.stdout and "SLO:" in result.stdout
    assert "req/s meets the SLO" in result.stderr
    assert "capacity " not in result.stderr


def test_json_is_one_document_on_stdout_and_stderr_is_quiet(tmp_path: Path) -> None:
    for args in (
        ("models", "list", "--json"),
        ("evaluate", *EVAL, "--hardware", "a100", "--json"),
        ("validate", str(_step_cases(tmp_path)), "--json"),
        ("capacity", *SERVE, "--num-requests", "100", "--json"),
        ("optimize", str(write_spec(tmp_path, n_trials=6)), "--storage", "j.db", "--json"),
    ):
        result = run_cli(*args, cwd=tmp_path)
        assert result.code == 0, (args, result.stderr)
        json.loads(result.stdout)  # exactly one document: a second would not parse
        assert result.stdout.count("\n") == 1, args
        assert result.stderr == "", (args, result.stderr)


def test_optimize_prints_results_on_stdout_and_progress_on_stderr(study) -> None:
    _tmp, db, result = study
    assert "Pareto-optimal feasible designs of tiny" in result.stdout
    assert "done: 24/24 trials complete" in result.stdout
    assert "trials 24/24" in result.stderr  # the plain progress line (stderr is no terminal)
    assert "Pareto" not in result.stderr
    # No empty lock side files are left beside the store.
    assert sorted(p.name for p in db.parent.iterdir() if p.name.startswith("s.db")) == ["s.db"]


@pytest.mark.parametrize("command", ["pareto", "report", "resume"])
def test_study_commands_results_on_stdout(study, command: str) -> None:
    tmp, db, _ = study
    extra = ("--out", str(tmp / f"rep-{command}"), "--no-baselines") if command == "report" else ()
    result = run_cli(command, str(db), *extra, cwd=tmp)
    assert result.code == 0, result.stderr
    assert result.stdout.strip()
    if command == "report":
        assert "HTML:" in result.stdout and "HTML:" not in result.stderr
    else:
        assert "Pareto-optimal" in result.stdout and "Pareto-optimal" not in result.stderr


def test_dashboard_prepare_only_on_stdout(study) -> None:
    tmp, db, _ = study
    result = run_cli("dashboard", str(db), "--prepare-only", cwd=tmp)
    assert result.code == 0, result.stderr
    assert "prepared study tiny" in result.stdout


# --- tables fit the terminal ---------------------------------------------------------------


# A table line starts with a left-edge box character and must end with its right edge: rich
# cuts a too-wide table at the console width, so a line length ≤ width proves nothing alone.
EDGES = {"┏": "┓", "┃": "┃", "┡": "┩", "│": "│", "└": "┘"}


def assert_tables_whole(out: str, width: int) -> None:
    lines = [ln.rstrip() for ln in out.splitlines()]
    assert max(len(ln) for ln in lines) <= width
    rows = [ln for ln in lines if ln[:1] in EDGES]
    assert rows, out
    for ln in rows:
        assert ln[-1] == EDGES[ln[0]], f"table cut at {width} columns: {ln!r}"
    assert "…" not in out  # no header cut to "through…"


def test_fit_table_plans_widths_rich_would_leave_too_wide() -> None:
    """The model list at 80 columns: rich's own shrinking left it 82 wide (cut right edge)."""
    from ador_opt.cli._common import Col, fit_table

    cols = [Col("name", numeric=False)] + [
        Col(h) for h in ("params (B)", "layers", "hidden", "heads/kv", "experts", "KV B/token")
    ]
    rows = [["llama-3.3-70b", "70.55", "80", "8192", "112/112", "1/1", "4014080"]]
    for width in (80, 70):
        console = Console(width=width, file=io.StringIO())
        console.print(fit_table("model presets", cols, rows, width))
        text = console.file.getvalue()  # type: ignore[attr-defined]
        assert_tables_whole(text, width)
        assert "llama-3.3-70b" in text and "4014080" in text  # values stay whole


def test_pareto_table_fits_80_and_uses_200_columns(study) -> None:
    tmp, db, _ = study
    narrow = run_cli("pareto", str(db), cwd=tmp, env={"COLUMNS": "80"})
    wide = run_cli("pareto", str(db), cwd=tmp, env={"COLUMNS": "200"})
    assert narrow.code == 0 and wide.code == 0
    assert_tables_whole(narrow.stdout, 80)
    assert_tables_whole(wide.stdout, 200)
    header = lambda out: next(ln for ln in out.splitlines() if "tput/mm²" in ln)  # noqa: E731
    assert header(wide.stdout).count("┃") > header(narrow.stdout).count("┃")  # more columns
    assert "hidden to fit 80 columns" in narrow.stdout
    assert "hidden" not in wide.stdout
    assert "sa_dim" in wide.stdout


@pytest.mark.parametrize("columns", ["80", "200"])
def test_catalogue_tables_fit(columns: str) -> None:
    for args in (("models", "list"), ("hardware", "list"), ("hardware", "show", "ador-paper")):
        result = run_cli(*args, env={"COLUMNS": columns})
        assert result.code == 0
        assert_tables_whole(result.stdout, int(columns))


# --- the answer at the end of a study ------------------------------------------------------


def test_end_of_study_answer_and_next_commands(study) -> None:
    _tmp, _db, result = study
    out = result.stdout
    assert "answer: best design per objective and the balanced one" in out
    assert "best tput/mm²" in out and "best area" in out and "balanced" in out
    assert "sa_dim" in out.split("answer:")[1]  # the key parameters of each pick
    assert "next: ador-opt report s.db" in out and "ador-opt dashboard s.db" in out


def test_pareto_front_sorted_best_first_without_duplicates(study) -> None:
    tmp, db, _ = study
    doc = json.loads(run_cli("pareto", str(db), "--json", cwd=tmp).stdout)
    first = [d["values"][0] for d in doc["designs"]]
    assert first == sorted(first, reverse=True)  # throughput_per_mm2 is maximised
    table = run_cli("pareto", str(db), cwd=tmp, env={"COLUMNS": "200"}).stdout
    rows = [ln for ln in table.splitlines() if ln.startswith("│")]
    values = [tuple(cell.strip() for cell in ln.split("│")[2:4]) for ln in rows]
    assert len(values) == len(set(values))  # identical objective pairs are shown once


def test_progress_best_values_name_their_trial(study) -> None:
    _tmp, _db, result = study
    line = [ln for ln in result.stderr.splitlines() if "trials 24/24" in ln][-1]
    assert "best tput/mm²" in line and "(#" in line


def test_plain_progress_lines_when_stderr_is_not_a_terminal() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=200)
    with Progress("cases", 3, console, every_s=0.0) as bar:
        for done in (1, 2, 3):
            bar.update(done)
    lines = buf.getvalue().splitlines()
    assert lines[:3] == [ln for ln in lines if ln.startswith("cases ")][:3]
    assert [ln.split(" ")[1] for ln in lines] == ["1/3", "2/3", "3/3", "3/3"]
    assert "ETA" in lines[0] and "ETA" not in lines[-1]


def test_live_bar_keeps_count_and_eta_at_80_columns() -> None:
    """On a terminal the long status goes below the bar: with it on the bar's line, rich cut
    every column of an 80-column terminal to "t…" and the count and ETA were gone."""
    import re

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=80, color_system=None)
    status = "feasible 87; best tput/mm² 4.343 (#78), TBT 6.076 (#18), area 344.5 (#3)"
    with Progress("trials", 300, console) as bar:
        bar.update(87, status)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue()).replace("\r", "\n")
    lines = [ln for ln in screen.splitlines() if ln.strip()]
    bar_line = next(ln for ln in reversed(lines) if ln.startswith("trials "))
    assert "87/300" in bar_line and "ETA" in bar_line and "…" not in bar_line, bar_line
    assert status in lines and max(len(ln) for ln in lines) <= 80


def test_ctrl_c_prints_the_resume_command(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, n_trials=400)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ador_opt", "optimize", str(spec), "--storage", "c.db"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    wait_complete(tmp_path / "c.db", 2, proc)  # the study loop runs: Ctrl-C lands mid-study
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    with sqlite3.connect(f"file:{tmp_path / 'c.db'}?mode=ro", uri=True) as conn:
        (done,) = conn.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()
    assert 2 <= done < 400  # stopped by the signal, not by finishing
    stopped = next(ln for ln in out.splitlines() if ln.startswith("stopped:"))
    assert "continue with: ador-opt resume c.db" in stopped
    assert "ador-opt resume c.db" in err  # said at once, when Ctrl-C arrives


# --- one name per thing --------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--study", "--study-name"])
def test_study_option_has_one_name_and_an_alias(study, flag: str) -> None:
    tmp, db, _ = study
    for args in (
        ("pareto", str(db), flag, "tiny", "--json"),
        ("resume", str(db), flag, "tiny", "--json"),
        ("dashboard", str(db), flag, "tiny", "--prepare-only", "--json"),
        ("worker", "--storage", str(db), flag, "tiny", "--json"),
    ):
        result = run_cli(*args, cwd=tmp)
        assert result.code == 0, (args, result.stderr)
        assert json.loads(result.stdout)["study"] == "tiny"


def test_optimize_takes_study_and_study_name(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, n_trials=3)
    for flag, name in (("--study-name", "a"), ("--study", "b")):
        result = run_cli("optimize", str(spec), "--storage", "n.db", flag, name, "--json",
                         cwd=tmp_path)  # fmt: skip
        assert result.code == 0, result.stderr
        assert json.loads(result.stdout)["study"] == name
    # Two studies in the store now: the next commands name the study.
    again = run_cli("pareto", "n.db", cwd=tmp_path)
    assert again.code == 2 and "--study" in again.stderr


def test_version() -> None:
    import ador_opt

    result = run_cli("--version")
    assert result.code == 0 and result.stdout.strip() == f"ador-opt {ador_opt.__version__}"


@pytest.mark.parametrize(
    "command", ["optimize", "resume", "pareto", "report", "dashboard", "worker", "capacity"]
)
def test_help_without_bool_placeholders(command: str) -> None:
    result = run_cli(command, "--help", env={"COLUMNS": "100"})
    assert result.code == 0
    assert "<bool>" not in result.stdout
    if command == "capacity":
        assert "--rate" not in result.stdout  # capacity searches the rate itself


def test_designs_accept_a_bare_preset_name_and_the_shipped_example(tmp_path: Path) -> None:
    shipped = ROOT / "examples" / "designs.jsonl"
    result = run_cli("evaluate", *EVAL, "--designs", str(shipped), "--json")
    docs = [json.loads(ln) for ln in result.stdout.splitlines()]
    assert [d["feasible"] for d in docs] == [True] * len(docs) and len(docs) >= 3
    assert docs[0]["hardware"] == "a100"  # written bare: `a100`
    bad = tmp_path / "bad.jsonl"
    bad.write_text("no-such-chip\n")
    doc = json.loads(run_cli("evaluate", *EVAL, "--designs", str(bad), "--json").stdout)
    assert doc["feasible"] is False and "unknown hardware 'no-such-chip'" in doc["reason"]


# --- capacity's words ----------------------------------------------------------------------


def test_capacity_says_only_limits_in_force_and_no_nan() -> None:
    result = run_cli("capacity", *SERVE, "--num-requests", "200", "--slo-tbt-p99-ms", "110")
    assert result.code == 0, result.stderr
    slo = next(ln for ln in result.stdout.splitlines() if ln.startswith("SLO:"))
    assert "TTFT" not in slo and "inf" not in slo  # no TTFT limit was set
    assert "TBT p99 ≤ 110.0 ms (given)" in slo
    assert "median scheduling delay ≤ 2000 ms (default: Sarathi-Serve" in slo
    assert "nan" not in result.stderr.lower()
    assert "violates the SLO: stopped early" in result.stderr
    given = run_cli("capacity", *SERVE, "--num-requests", "100", "--slo-ttft-p90-ms", "5000")
    assert "TTFT p90 ≤ 5000 ms (given)" in given.stdout


def test_scalesim_runs_report_each_shape(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """`evaluate --sa-backend scalesim` shows a line per shape SCALE-Sim runs (minutes each at
    full size); a cached shape runs nothing and says nothing."""
    import logging

    from ador_opt.perf.scalesim_backend import cached_compute_stage_cycles

    with caplog.at_level(logging.INFO, logger="ador_opt.scalesim"):
        cycles = cached_compute_stage_cycles(8, 16, 8, 4, 4, directory=tmp_path)
        again = cached_compute_stage_cycles(8, 16, 8, 4, 4, directory=tmp_path)
    lines = [r.getMessage() for r in caplog.records if r.name == "ador_opt.scalesim"]
    assert cycles == again > 0
    assert len(lines) == 2 and "8×16×8 on a 4×4 array" in lines[0] and "done in" in lines[1]
