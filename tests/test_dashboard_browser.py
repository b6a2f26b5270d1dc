"""optuna-dashboard in headless Chromium: the Pareto-front plot renders, infeasible trials are
drawn as infeasible (which they are not without the constraint bridge), at real or edge-band
positions, and hovering one shows the constraint that failed."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from ador_opt.explore.pareto import pareto_trials
from ador_opt.report import load_study_data
from ador_opt.report.dashboard import FAILED_PARAM, failed_label
from tests.test_dashboard import DashboardProcess, get_json
from tests.test_report_fixtures import PLACEHOLDER, build_study, sqlite_url

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
RENDER_TIMEOUT_S = 120

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="headless Chromium not installed (apt-get install chromium chromium-driver)",
    ),
]

# The traces of the dashboard's Pareto-front plot (plotly data of #graph-pareto-front).
TRACES_JS = """
const el = document.getElementById('graph-pareto-front');  // the plotly graph div itself
if (!el || !el.data) { return null; }
const axes = [el.layout.xaxis, el.layout.yaxis].map(a => (a && a.title && a.title.text) || '');
return el.data.map(t => ({hover: t.hovertemplate || '', n: (t.x || []).length,
                          color: t.marker ? t.marker.color : null,
                          x: Array.from(t.x || []), y: Array.from(t.y || []), axes: axes}));
"""

# Each embedded ador-* figure: is its legend inside the dashboard's card (not cut at the edge)?
LEGENDS_JS = """
return Array.from(document.querySelectorAll('[id^="user-defined-plot:ador-"]')).map(d => {
  const box = d.getBoundingClientRect();
  const lg = d.querySelector('g.legend');
  if (!lg) { return {id: d.id, legend: false}; }
  const r = lg.getBoundingClientRect();
  return {id: d.id, legend: true, inside: r.top >= box.top - 1 && r.bottom <= box.bottom + 1
          && r.left >= box.left - 1 && r.right <= box.right + 1};
});
"""


# The screen position of each point of the Pareto plot's "Infeasible Trial" trace.
INFEASIBLE_POINTS_JS = """
const el = document.getElementById('graph-pareto-front');
const t = el._fullData.find(t => (t.hovertemplate || '').includes('Infeasible Trial'));
return t ? Array.from(el.querySelectorAll('g.trace' + t.uid + ' path.point')) : [];
"""
HOVER_JS = """
const h = document.querySelector('#graph-pareto-front .hoverlayer');
return h ? h.textContent : '';
"""


def hover_infeasible(driver: Any) -> str:
    """Move the mouse onto infeasible points until the hover box of one is shown; its text."""
    from selenium.webdriver.common.action_chains import ActionChains

    points = driver.execute_script(INFEASIBLE_POINTS_JS)
    assert points, "no infeasible point drawn"
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", points[0])
    for point in points:  # a feasible point at the same spot would take the hover
        ActionChains(driver).move_to_element(point).perform()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            text = str(driver.execute_script(HOVER_JS))
            if "Infeasible Trial" in text:
                return text
            time.sleep(0.1)
    raise AssertionError("no infeasible point showed a hover box")


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1400,1800",
    ):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_pareto_front_renders_with_infeasible_trials(tmp_path: Path, driver: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    db = tmp_path / "study.db"
    build_study(sqlite_url(db), 40)  # only Optuna 5 `constraints:<name>` keys
    data = load_study_data(str(db))
    n_infeasible = sum(not t.feasible for t in data.trials)
    front = {t.number for t in pareto_trials(data)}
    assert 0 < n_infeasible < 40 and front

    server = DashboardProcess(db)  # with the study note and figures
    try:
        # The dashboard's JSON: every complete trial carries its constraint list.
        detail = get_json(f"{server.base}/api/studies/{server.info['study_id']}")
        complete = [t for t in detail["trials"] if t["state"] == "Complete"]
        assert len(complete) == 40 and all(t["constraints"] for t in complete)
        assert detail["note"]["body"].startswith("# ador-opt: synthetic")
        assert {g["id"] for g in detail["plotly_graph_objects"]} >= {"ador-hypervolume"}

        driver.get(server.info["url"])
        traces = WebDriverWait(driver, RENDER_TIMEOUT_S, poll_frequency=0.5).until(
            lambda d: (t := d.execute_script(TRACES_JS)) and sum(x["n"] for x in t) >= 40 and t
        )
        by_kind = {x["hover"].split("<extra>")[-1].split("</extra>")[0]: x for x in traces}
        assert by_kind["Infeasible Trial"]["n"] == n_infeasible
        assert set(by_kind["Best Trial"]["color"]) == front  # marker colour = trial number
        assert by_kind["Feasible Trial"]["n"] + by_kind["Best Trial"]["n"] == 40 - n_infeasible
        # The objective names the plots' axis pickers show carry their units; values are
        # rounded (4 significant digits), not 17-digit floats.
        names = detail.get("metric_names") or detail.get("objective_names")
        assert names == [
            "capacity_per_mm2 (req/s/mm²)", "tbt_p99_ms (ms)", "area_mm2 (mm²)"
        ], sorted(detail)  # fmt: skip
        for x in traces:
            for v in x["x"] + x["y"]:
                assert float(f"{v:.4g}") == v, v
        # Infeasible trials are drawn at their real value where it was computed (die area is
        # known for every design), not all on one placeholder dot.
        bad = by_kind["Infeasible Trial"]
        assert len(set(zip(bad["x"], bad["y"], strict=True))) > 1
        # …and never at the placeholders (which stretched the axes to 1e9 and put them on
        # one dot): where a value was never computed, in a band beyond the worse end.
        placeholders = set(PLACEHOLDER.values())
        assert not placeholders & set(bad["x"] + bad["y"]), (bad["x"], bad["y"])
        # Hovering an infeasible point names the constraint that failed, with by how much.
        text = hover_infeasible(driver)
        number = int(text.split('"number":')[1].split(",")[0])
        stored = optuna.load_study(study_name="synthetic", storage=sqlite_url(db)).trials[number]
        label = failed_label(stored)
        violated = [n for n, v in stored.constraints.items() if v > 0]
        assert label and violated and all(n in label for n in violated)
        assert f'"{FAILED_PARAM}": "{label}"' in text, text
        # The label is no hyperparameter: the importances leave it out.
        imps = get_json(f"{server.base}/api/studies/{server.info['study_id']}/param_importances")
        names = {x["name"] for per in imps["param_importances"] for x in per}
        assert names and FAILED_PARAM not in names, names
        legends = WebDriverWait(driver, RENDER_TIMEOUT_S, poll_frequency=0.5).until(
            lambda d: (g := d.execute_script(LEGENDS_JS)) and sum(x["legend"] for x in g) > 1 and g
        )
        assert all(x["inside"] for x in legends if x["legend"]), legends
        time.sleep(1.0)  # let plotly finish its transitions before the screenshot
        shot = tmp_path / "dashboard.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 20_000
    finally:
        server.stop()
