"""Scale benchmark: a 10,000-trial study on the journal storage with 2 worker processes, then
`pareto` and `report` on it.

    python benchmarks/scale_journal.py [--trials 10000] [--n-jobs 2] [--dir /tmp/ador_scale]

The study is the test suite's tiny static spec (`tests/explore_fixtures.py`: Llama-3-8B, batch 4,
a 4 × 3 × 3 × 3 × 2 space) with the `random` sampler: the point is the storage and worker
machinery, and TPE's per-trial cost grows with the history (it would dominate at 10,000
trials). Measured: wall time and trials/s of `optimize --n-jobs N`, the journal's size per
trial, the storage overhead per trial (wall · workers − Σ eval_s, over trials), the exact trial
count (COMPLETE, no duplicated numbers), and the wall time of `pareto --json` and `report`.
Prints one JSON document; results go to docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.explore_fixtures import write_spec  # noqa: E402


def _cli(*args: str, cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "ador_opt", *args], cwd=cwd, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"ador-opt {' '.join(args)} failed: {proc.stderr[-2000:]}")
    return elapsed, proc


def _machine() -> dict[str, object]:
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(
            (ln.split(":", 1)[1].strip() for ln in out.splitlines() if "Model name" in ln),
            "",
        )
    except OSError:
        pass
    return {"cpu": model or platform.processor(), "cores": os.cpu_count(), "python": sys.version}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/ador_scale"))
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    store = args.dir / "scale.journal"
    for stale in args.dir.glob("scale.journal*"):
        stale.unlink()
    spec = write_spec(args.dir, name="scale", n_trials=args.trials, sampler="random")

    wall_s, proc = _cli("optimize", str(spec), "--storage", str(store), "--n-jobs",
                        str(args.n_jobs), "--json", cwd=args.dir)  # fmt: skip
    summary = json.loads(proc.stdout)

    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    study = optuna.load_study(
        study_name="scale", storage=JournalStorage(JournalFileBackend(str(store)))
    )
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    numbers = [t.number for t in trials]
    eval_s = sum(float(t.user_attrs.get("eval_s", 0.0)) for t in complete)
    hits = sum(bool(t.user_attrs.get("cache_hit")) for t in complete)
    size = store.stat().st_size

    pareto_s, pareto = _cli("pareto", str(store), "--json", cwd=args.dir)
    all_s, _ = _cli("pareto", str(store), "--all", "--json", cwd=args.dir)
    report_s, _ = _cli("report", str(store), "--out", str(args.dir / "report"), cwd=args.dir)
    doc = {
        "machine": _machine(),
        "trials": args.trials,
        "n_jobs": args.n_jobs,
        "complete": len(complete),
        "states": {s.name: sum(t.state == s for t in trials) for s in TrialState},
        "unique_numbers": len(set(numbers)) == len(numbers),
        "optimize_wall_s": round(wall_s, 1),
        "trials_per_s": round(len(complete) / wall_s, 1),
        "eval_s_total": round(eval_s, 1),
        "cache_hits": hits,
        "overhead_ms_per_trial": round(1e3 * (wall_s * args.n_jobs - eval_s) / len(complete), 2),
        "journal_bytes": size,
        "journal_bytes_per_trial": round(size / len(complete)),
        "pareto_json_s": round(pareto_s, 2),
        "pareto_designs": len(json.loads(pareto.stdout)["designs"]),
        "pareto_all_json_s": round(all_s, 2),
        "report_s": round(report_s, 2),
        "summary_complete": summary["complete"],
    }
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
