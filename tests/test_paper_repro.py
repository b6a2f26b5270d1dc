"""Issue 18: every paper experiment runs from one command and writes its table; the Fig. 13
command (`ador-opt tp-sync`) keeps the CLI contract; the sweep's numbers mean what they say."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ador_opt.explore.spec import load_spec, validate_spec
from ador_opt.hardware.arch import TpSync
from ador_opt.hardware.presets import HARDWARE_PRESETS
from ador_opt.models import load_model
from ador_opt.models.ops import BatchComposition
from ador_opt.perf.hda import hda_step_time
from ador_opt.perf.tp import HIDE_TOLERANCE
from ador_opt.perf.tp_sweep import sync_bytes_per_token_layer, tp_sync_sweep
from tests.conftest import assert_input_error, run_cli

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "studies" / "paper"
FIGURES = ("fig11a", "fig11b", "fig12", "fig13", "fig15", "fig16", "fig17")
ADOR = HARDWARE_PRESETS["ador-paper"].arch
assert ADOR is not None


def _script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


@pytest.mark.parametrize("fig", FIGURES)
def test_each_experiment_is_one_command_writing_its_table(fig: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _script(str(PAPER / "repro.py"), fig, "--quick", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for ext in ("csv", "md", "png"):
        path = out / f"{fig}.{ext}"
        assert path.is_file() and path.stat().st_size > 0, path
    assert (out / f"{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (out / f"{fig}.csv").open() as fh:
        rows = [r for r in csv.reader(fh) if r and r[0] != "table"]
    assert rows, "the table has no rows"
    md = (out / f"{fig}.md").read_text()
    assert md.startswith("### Fig. 1") and md == proc.stdout  # results on stdout
    assert "wrote" in proc.stderr  # progress on stderr


def test_fig15_table_has_the_four_designs_and_their_ratios(tmp_path: Path) -> None:
    proc = _script(str(PAPER / "repro.py"), "fig15", "--quick", "--out", str(tmp_path), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    with (tmp_path / "fig15.csv").open() as fh:
        rows = [r for r in csv.reader(fh) if r[0] != "table"]
    assert {r[4] for r in rows} == {"a100", "llmcompass-l", "llmcompass-t", "ador-paper"}
    for r in rows:  # the baseline's own ratios are 1, the others' are not all 1
        if r[4] == "a100":
            assert float(r[8]) == pytest.approx(1.0) and float(r[9]) == pytest.approx(1.0)
    assert any(abs(float(r[9]) - 1.0) > 0.01 for r in rows if r[4] == "ador-paper")


def test_the_search_study_holds_the_paper_design_and_its_budgets() -> None:
    spec = load_spec(PAPER / "search-llama3-8b-chat.toml")
    assert [o.name for o in spec.objectives] == ["capacity_per_mm2", "tbt_p99_ms", "tdp_w"]
    data = tomllib.loads((PAPER / "search-llama3-8b-chat.toml").read_text())
    assert data["budget"]["area_mm2"] == 826.0  # the A100's die (paper Table VI)
    # DRAM is not searched: the paper's 80 GiB HBM2e at 2 TB/s comes from the base preset.
    assert not {"dram_type", "dram_gbps", "dram_gib"} & set(data["space"])
    base = {p.name: p.values for p in spec.space.sampled}
    own = {**ADOR.to_dict(), "sa_dim": ADOR.sa_rows}
    for name, allowed in base.items():
        assert own[name] in allowed, name


TINY_SEARCH = """
[study]
name = "tiny-search"
n_trials = 4
seed = 0
sampler = "grid"

[model]
names = ["llama-3-8b"]

[[scenarios]]
kind = "serving"
name = "chat"
workload = "chat"
num_requests = 150
seed = 0

[budget]
area_mm2 = 826.0

[space]
base = "ador-paper"
sa_dim = { choices = [64, 128] }
sa_per_core = { choices = [1, 2] }

[[objectives]]
name = "capacity_per_mm2"

[[objectives]]
name = "tbt_p99_ms"
reference = 200.0

[[objectives]]
name = "tdp_w"
reference = 800.0
"""


def test_search_report_runs_on_a_tiny_study(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY_SEARCH)
    validate_spec(tomllib.loads(TINY_SEARCH))
    store = tmp_path / "tiny.db"
    r = run_cli("optimize", str(spec), "--storage", str(store), "--json", cwd=tmp_path)
    assert r.code == 0, r.stderr
    out = tmp_path / "out"
    proc = _script(
        str(PAPER / "search.py"), str(store), "--spec", str(spec), "--out", str(out),
        "--rescore-requests", "150", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    md = (out / "search.md").read_text()
    assert "ador-paper through the same stages" in md and "Knobs where" in md
    assert (out / "search.png").stat().st_size > 0
    with (out / "search.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[1][0] == "ador-paper" and sum(r[0] == "trial" for r in rows) == 4


# ------------------------------------------------------------------------------------------
# Fig. 13: the sweep and its CLI command
# ------------------------------------------------------------------------------------------


def test_min_bandwidth_to_hide_is_the_tolerance_boundary() -> None:
    """At the reported bandwidth the step is within HIDE_TOLERANCE of an infinitely fast link;
    at 80 % of it, it is not (so the number is the boundary, not any bandwidth that hides)."""
    model = load_model("llama-3-8b")
    batch = BatchComposition.decode_only(1, 1024)
    for p in tp_sync_sweep(ADOR, model, batch, (2, 4)):
        arch = ADOR.replace(tp_sync=p.sync, devices=p.tp, tp=p.tp)
        at = hda_step_time(arch.replace(p2p_gbps=p.min_p2p_gbps_to_hide), model, batch, p.tp)
        below = hda_step_time(
            arch.replace(p2p_gbps=0.8 * p.min_p2p_gbps_to_hide), model, batch, p.tp
        )
        assert at.seconds <= p.ideal_step_s * (1 + HIDE_TOLERANCE) * (1 + 1e-9)
        assert below.seconds > p.ideal_step_s * (1 + HIDE_TOLERANCE)
        assert p.step_s >= p.ideal_step_s


def test_sync_volumes_follow_the_ring_formulas() -> None:
    m = load_model("llama-3-8b")
    h, ffn, ab = m.hidden_size, m.ffn_size, m.bytes_per_activation
    # all-gather of attention out, O out, MLP activation and MLP out: (p−1)/p of each row
    assert (
        sync_bytes_per_token_layer(m, TpSync.ALL_GATHER, 2) == 0.5 * (m.q_size + 2 * h + ffn) * ab
    )
    assert sync_bytes_per_token_layer(m, TpSync.MEGATRON, 4) == 2 * 2 * 0.75 * h * ab
    assert sync_bytes_per_token_layer(m, TpSync.ALL_REDUCE, 1) == 0.0
    for tp in (2, 4, 8, 16):  # ring: Megatron always moves the least, all-reduce the most
        v = {s: sync_bytes_per_token_layer(m, s, tp) for s in TpSync}
        assert v[TpSync.MEGATRON] < v[TpSync.ALL_GATHER] < v[TpSync.ALL_REDUCE]


def test_exactly_one_fastest_sync_per_tp() -> None:
    points = tp_sync_sweep(ADOR, load_model("llama-3-8b"), BatchComposition.decode_only(16, 512),
                           (2, 8))  # fmt: skip
    for tp in (2, 8):
        mine = [p for p in points if p.tp == tp]
        assert len(mine) == 3 and sum(p.best_at_design_bw for p in mine) == 1
        best = next(p for p in mine if p.best_at_design_bw)
        assert best.step_s == min(p.step_s for p in mine)


def test_tp_sync_cli_json_contract() -> None:
    r = run_cli("tp-sync", "--model", "llama-3-8b", "--tp", "2,4", "--json")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["hide_tolerance"] == HIDE_TOLERANCE
    assert doc["hardware"] == "ador-paper" and doc["p2p_gbps"] == ADOR.p2p_gbps
    got = {(p["tp"], p["tp_sync"]) for p in doc["points"]}
    assert got == {(tp, s.value) for tp in (2, 4) for s in TpSync}
    lib = tp_sync_sweep(ADOR, load_model("llama-3-8b"), BatchComposition.decode_only(1, 1024),
                        (2, 4))  # fmt: skip
    by = {(p["tp"], p["tp_sync"]): p for p in doc["points"]}
    for p in lib:  # the CLI prints the library's numbers, nothing of its own
        row = by[(p.tp, p.sync.value)]
        assert row["min_p2p_gbps_to_hide"] == pytest.approx(p.min_p2p_gbps_to_hide, rel=1e-12)
        assert row["step_ms"] == pytest.approx(p.step_s * 1e3, rel=1e-12)


def test_tp_sync_cli_table_states_the_tolerance() -> None:
    r = run_cli("tp-sync", "--model", "llama-3-8b", "--tp", "2", "--prefill", "256",
                env={"COLUMNS": "200"})  # fmt: skip
    assert r.code == 0, r.stderr
    assert "within 1 % of an infinitely fast link" in r.stdout
    assert "prefill 256 tokens" in r.stdout


def test_tp_sync_cli_csv_has_every_point() -> None:
    r = run_cli("tp-sync", "--model", "llama-3-8b", "--tp", "2,4", "--csv")
    assert r.code == 0, r.stderr
    rows = list(csv.DictReader(r.stdout.splitlines()))
    assert len(rows) == 6 and {"tp", "tp_sync", "min_p2p_gbps_to_hide"} <= set(rows[0])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--model", "llama-3-70b", "--tp", "3"), "does not divide"),
        (("--model", "llama-3-8b", "--hardware", "a100"), "not an hda"),
        (("--model", "llama-3-8b", "--sync", "broadcast"), "unknown method"),
        (("--model", "llama-3-8b", "--tp", "2,x"), "--tp"),
        (("--model", "llama-3-8b", "--tp", "1"), "2…"),
        (("--model", "llama-3-8b", "--batch", "0"), "--batch"),
        (("--model", "no-such-model"), "no-such-model"),
    ],
)
def test_tp_sync_cli_bad_input(args: tuple[str, ...], needle: str) -> None:
    assert_input_error(run_cli("tp-sync", *args, "--json"), needle)


# The capacity winner of the documented search run (docs/paper-reproduction.md, trial #204).
WINNER = {
    "sa_dim": 64, "sa_per_core": 2, "core_count": 32, "mt_lanes": 0, "local_sram_kib": 1024,
    "global_sram_mib": 8, "noc_gbps": 1024, "vector_width": 32, "freq_mhz": 2000,
}  # fmt: skip


@pytest.mark.slow
def test_the_documented_winner_dominates_ador_paper_through_the_study_path() -> None:
    """Acceptance of issue 18: under the A100's area and the paper's DRAM, the search's winner
    matches or Pareto-dominates ador-paper on (capacity under SLO per mm², TBT p99), both
    evaluated by the study's own stages (2,000 requests per capacity probe)."""
    from ador_opt.explore.evaluate import EvalContext, evaluate_point

    ctx = EvalContext(load_spec(PAPER / "search-llama3-8b-chat.toml"))
    own = {**ADOR.to_dict(), "sa_dim": ADOR.sa_rows}
    paper = evaluate_point(ctx, {p.name: own[p.name] for p in ctx.space.sampled})
    winner = evaluate_point(ctx, WINNER)
    assert paper.feasible and winner.feasible, (paper.reason, winner.reason)
    assert winner.area_mm2 <= 826.0
    assert winner.metrics["capacity_per_mm2"] >= paper.metrics["capacity_per_mm2"]
    assert winner.metrics["tbt_p99_ms"] <= paper.metrics["tbt_p99_ms"]
