"""`ador-opt report`: files, contents, contracts and bad input."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import uuid
from pathlib import Path

import numpy as np
import optuna
import pytest
from matplotlib import image as mpimg

from ador_opt.errors import InputError
from ador_opt.report import build_report, load_study_data
from ador_opt.report.baselines import BASELINE_PRESETS
from ador_opt.report.build import default_out_dir
from tests.conftest import ROOT, assert_input_error, run_cli
from tests.test_report_fixtures import (
    CONSTRAINTS,
    OBJECTIVES,
    ask_tell_study,
    build_study,
    sqlite_url,
)

N_TRIALS = 80


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "study.db"
    build_study(sqlite_url(path), N_TRIALS)
    return path


@pytest.fixture(scope="module")
def report_json(store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("report")
    result = run_cli("report", str(store), "--out", str(out), "--json")
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)  # exactly one JSON document on stdout
    assert isinstance(doc, dict)
    return doc


def _brute_front(store: Path) -> set[int]:
    study = optuna.load_study(study_name="synthetic", storage=sqlite_url(store))
    feas = [t for t in study.trials if all(v <= 0 for v in t.constraints.values())]
    sign = np.array([-1.0, 1.0, 1.0])  # capacity/mm² is maximised
    pts = {t.number: np.array(t.values) * sign for t in feas}
    return {
        n
        for n, p in pts.items()
        if not any(np.all(q <= p) and np.any(q < p) for q in pts.values())
    }


def test_json_contract_and_files(report_json: dict) -> None:
    assert set(report_json) >= {"html", "pngs", "designs"}
    assert Path(report_json["html"]).is_file()
    # One scatter per objective pair, hypervolume history, area breakdown.
    assert len(report_json["pngs"]) == 3 + 2
    for p in report_json["pngs"]:
        assert Path(p).is_file() and Path(p).suffix == ".png"
    assert report_json["n_complete"] == N_TRIALS


@pytest.mark.parametrize("index", range(5))
def test_pngs_are_not_blank(report_json: dict, index: int) -> None:
    img = mpimg.imread(report_json["pngs"][index])
    assert img.shape[0] > 200 and img.shape[1] > 300
    gray = img[..., :3].mean(axis=2)
    assert gray.std() > 0.05, "figure looks blank"
    assert (gray < 0.5).mean() > 0.002  # some dark ink: axes, labels, points


def test_designs_are_feasible_pareto_optimal(report_json: dict, store: Path) -> None:
    front = _brute_front(store)
    designs = report_json["designs"]
    assert 1 <= len(designs) <= 5
    assert {d["number"] for d in designs} <= front
    assert report_json["n_pareto"] == len(front)
    for d in designs:
        assert set(d) >= {"number", "values", "params", "config", "metrics", "role"}
        assert d["config"]["sa_rows"] % 32 == 0


def test_html_holds_plots_tables_and_is_offline(report_json: dict) -> None:
    html = Path(report_json["html"]).read_text(encoding="utf-8")
    assert 'id="pareto-plots"' in html and 'id="spec-table"' in html
    assert 'id="metric-table"' in html and 'id="hypervolume"' in html
    assert html.count("Plotly.newPlot") >= 5
    # Self-contained: plotly.js inlined, no external script or stylesheet.
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=", html)
    assert len(html) > 1_000_000  # plotly.js itself is ≈ 4.6 MB
    for preset in BASELINE_PRESETS:
        assert f"<th>{preset}</th>" in html
    for row in (
        "Core frequency (MHz)",
        "Systolic array (PEs)",
        "MAC tree (inputs × lanes)",
        "Core count",
        "Local memory (KiB/core)",
        "Global memory (MiB)",
        "DRAM bandwidth (TB/s)",
        "P2P bandwidth (GB/s)",
        "Performance (TFLOPS",
        "Die area (7 nm, mm²)",
    ):
        assert row in html, row
    for unit in ("req/s/mm²", "mm²", "ms"):
        assert unit in html


def test_spec_table_values_of_presets(report_json: dict) -> None:
    html = Path(report_json["html"]).read_text(encoding="utf-8")
    table = html[html.index('id="spec-table"') :]
    table = table[: table.index("</table>")]
    rows = {
        m.group(1): re.findall(r"<td>([^<]*)</td>", m.group(0))[1:]
        for m in re.finditer(r"<tr><td>([^<]*)</td>.*?</tr>", table)
    }
    # Last four columns are a100, llmcompass-l, llmcompass-t, ador-paper (paper §VI table).
    assert rows["Core count"][-4:] == ["108", "64", "64", "32"]
    assert rows["Local memory (KiB/core)"][-4:] == ["192", "192", "768", "2048"]
    assert rows["Global memory (MiB)"][-4:] == ["48", "24", "48", "16"]
    tflops = [float(v) for v in rows["Performance (TFLOPS, dense FP16)"][-4:]]
    assert tflops == pytest.approx([312, 196.6, 786.4, 417.8], abs=0.5)


def test_baselines_evaluated_on_the_study_scenario(report_json: dict) -> None:
    by_name = {b["name"]: b for b in report_json["baselines"]}
    assert list(by_name) == list(BASELINE_PRESETS)
    for b in by_name.values():
        m = b["metrics"]
        assert m["area_mm2"] > 0 and m["peak_tflops"] > 0
        # The synthetic spec has a static batch: TTFT/TBT/throughput are computed.
        assert m["ttft_ms"] > 0 and m["tbt_ms"] > 0 and m["throughput_tokens_per_s"] > 0
        assert m["throughput_per_mm2"] == pytest.approx(
            m["throughput_tokens_per_s"] / m["area_mm2"]
        )


def test_report_does_not_modify_the_store_and_defaults_next_to_it(
    store: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "runs" / "x.db"
    copy.parent.mkdir()
    copy.write_bytes(store.read_bytes())
    before = hashlib.sha256(copy.read_bytes()).hexdigest()
    r = build_report(sqlite_url(copy), None, baselines=False)  # default --out
    assert r.html == tmp_path / "runs" / "x-report" / "report.html"
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == before
    assert default_out_dir(str(copy), "s") == tmp_path / "runs" / "x-report"
    assert default_out_dir("postgresql://h/db", "s") == Path.cwd() / "s-report"


def test_zero_feasible_study_still_reports(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    build_study(sqlite_url(db), 25, all_infeasible=True)
    doc = build_report(str(db), tmp_path / "out").to_json()
    assert doc["n_feasible"] == 0 and doc["designs"] == [] and doc["hypervolume"] == 0.0
    html = Path(doc["html"]).read_text(encoding="utf-8")
    assert 'id="no-feasible"' in html and "No feasible trial" in html
    assert "all 25 complete trials violate a constraint" in html
    for p in doc["pngs"]:
        assert Path(p).stat().st_size > 5000


def test_journal_file_written_through_the_live_trial_api(tmp_path: Path) -> None:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    log = tmp_path / "study.log"
    ask_tell_study(JournalStorage(JournalFileBackend(str(log))), 12)
    data = load_study_data(str(log))
    assert data.name == "asktell" and len(data.trials) == 12
    assert all(set(t.constraints) == set(CONSTRAINTS) for t in data.trials)
    assert data.objectives == OBJECTIVES
    assert build_report(str(log), tmp_path / "o", baselines=False).html.is_file()


# --- bad input: exit 2, one line, no traceback, nothing written -------------------------------


def test_missing_store(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    assert_input_error(run_cli("report", str(missing)), "not found")
    with pytest.raises(InputError, match="not found"):
        load_study_data(f"sqlite:///{missing}")
    assert not missing.exists()


def test_store_that_is_not_a_study(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("hello\n")
    assert_input_error(run_cli("report", str(junk)), "neither a SQLite")
    assert junk.read_text() == "hello\n"
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("create table t (x)").connection.commit()
    with pytest.raises(InputError, match="no Optuna study tables"):
        load_study_data(str(other))
    empty = tmp_path / "empty.db"
    optuna.storages.RDBStorage(sqlite_url(empty))  # Optuna tables, no study
    with pytest.raises(InputError, match="holds no study"):
        load_study_data(str(empty))


def test_several_studies_need_a_name(tmp_path: Path) -> None:
    db = tmp_path / "two.db"
    build_study(sqlite_url(db), 5, name="alpha")
    build_study(sqlite_url(db), 5, name="beta")
    with pytest.raises(InputError, match="--study") as err:
        load_study_data(str(db))
    assert "alpha" in str(err.value) and "beta" in str(err.value)
    with pytest.raises(InputError, match="gamma"):
        load_study_data(str(db), "gamma")
    assert load_study_data(str(db), "beta").name == "beta"


def test_unreachable_storage_url() -> None:
    with pytest.raises(InputError, match="cannot open storage"):
        load_study_data("postgresql://nobody@127.0.0.1:1/none")


# --- any Optuna storage URL: PostgreSQL (skipped without a server) ----------------------------


def _pg_url() -> str | None:
    url = os.environ.get("ADOR_TEST_PG_URL")
    if url:
        return url
    path = ROOT / ".ci" / "pg_url"
    return path.read_text().strip() if path.exists() else None


@pytest.mark.postgres
def test_report_and_bridge_on_postgresql(tmp_path: Path) -> None:
    url = _pg_url()
    if url is None:
        pytest.skip("no PostgreSQL: set ADOR_TEST_PG_URL or run .ci/start_postgres.sh")
    import sqlalchemy

    from ador_opt.explore.storage import pg_driver_url
    from ador_opt.report.dashboard import ConstraintBridgeStorage

    url = pg_driver_url(url)
    admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"ador_report_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    db_url = url.rsplit("/", 1)[0] + "/" + name
    try:
        build_study(db_url, 15)
        doc = build_report(db_url, tmp_path / "pg", baselines=False).to_json()
        assert doc["n_complete"] == 15 and Path(doc["html"]).is_file()
        storage = optuna.storages.RDBStorage(db_url)
        bridge = ConstraintBridgeStorage(storage)
        study_id = storage.get_study_id_from_name("synthetic")
        assert all(t.system_attrs["constraints"] for t in bridge.get_all_trials(study_id))
        storage.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
