"""Scale benchmark: `ador-opt report`, `ador-opt pareto` and `ador-opt dashboard --prepare-only`
on a SQLite store with 5,000 trials (target: each ≤ 30 s wall, start-up included).

The store follows the storage schema (briefs/schema.md) and is built with the synthetic study
builder of the tests (`tests/test_report_fixtures.py`: every user attr of a real trial, ~12 %
feasible, Optuna 5 `constraints:<name>` keys). Building it takes a few minutes (Optuna's SQLite
insert rate), so it is cached at `--store` and reused when it already holds the trials.

    python benchmarks/report_scale.py [--trials 5000] [--store /tmp/ador_report_scale.db]

Prints one JSON line per measurement and a summary table; results go to docs/bench-report.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_report_fixtures import build_study  # noqa: E402

TARGET_S = 30.0


def ensure_store(path: Path, n_trials: int) -> float:
    """Build the store unless it already holds `n_trials` trials; returns build seconds."""
    url = f"sqlite:///{path}"
    if path.exists():
        try:
            study = optuna.load_study(study_name="synthetic", storage=url)
            if len(study.get_trials(deepcopy=False)) == n_trials:
                return 0.0
        except Exception:
            pass
        path.unlink()
    t0 = time.perf_counter()
    build_study(url, n_trials)
    return time.perf_counter() - t0


def timed_cli(*args: str) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "ador_opt", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return time.perf_counter() - t0, proc.returncode, proc.stdout


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5000)
    ap.add_argument(
        "--store", type=Path, default=Path(tempfile.gettempdir()) / "ador_report_scale.db"
    )
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    build_s = ensure_store(args.store, args.trials)
    print(
        json.dumps(
            {
                "store": str(args.store),
                "trials": args.trials,
                "build_s": round(build_s, 1),
                "size_mb": round(args.store.stat().st_size / 1e6, 1),
            }
        )
    )
    machine = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "optuna": optuna.__version__,
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps({"machine": machine}))

    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeat):
            cases = {
                "report": ("report", str(args.store), "--out", f"{tmp}/r{k}", "--json"),
                "pareto": ("pareto", str(args.store), "--json"),
                "pareto --all": ("pareto", str(args.store), "--all", "--json"),
                "dashboard --prepare-only": (
                    "dashboard",
                    str(args.store),
                    "--prepare-only",
                    "--artifact-dir",
                    f"{tmp}/art",
                    "--json",
                ),
            }
            for name, argv in cases.items():
                wall, code, out = timed_cli(*argv)
                info: dict[str, object] = {
                    "case": name,
                    "run": k,
                    "wall_s": round(wall, 2),
                    "exit": code,
                }
                if code == 0 and name == "report":
                    doc = json.loads(out)
                    info.update(
                        n_feasible=doc["n_feasible"],
                        n_pareto=doc["n_pareto"],
                        html_mb=round(Path(doc["html"]).stat().st_size / 1e6, 1),
                    )
                if code == 0 and name.startswith("pareto"):
                    info["designs"] = len(json.loads(out)["designs"])
                print(json.dumps(info))
                if code == 0:
                    results.setdefault(name, []).append(wall)
    print()
    print(f"{'command':28s} {'best s':>8s} {'worst s':>8s}  ≤ {TARGET_S:.0f} s")
    for name, walls in results.items():
        ok = "yes" if max(walls) <= TARGET_S else "NO"
        print(f"{name:28s} {min(walls):8.2f} {max(walls):8.2f}  {ok}")


if __name__ == "__main__":
    main()
