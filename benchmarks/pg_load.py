"""Load test: 8 `ador-opt worker` processes on one PostgreSQL study, exact counts at the end.

    python benchmarks/pg_load.py [--workers 8] [--trials 400] [--url postgresql://…]

The URL defaults to `ADOR_TEST_PG_URL` or `.ci/pg_url`; the benchmark creates a database of its
own (`ador_load_<random>`), runs `optimize --n-trials 1` to create the study (tiny static spec
of the test suite, `random` sampler), then starts all workers at once with `--n-trials N` and
waits for them. Checked: every worker exits 0; exactly N COMPLETE trials, unique trial
numbers, no RUNNING or WAITING trial; FAIL trials (none expected) counted. Measured: wall time,
trials/s, per-worker trial counts (from the `ador_worker` system attr). The database is
dropped afterwards. Prints one JSON document; results go to docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.explore_fixtures import write_spec  # noqa: E402


def _default_url() -> str | None:
    url = os.environ.get("ADOR_TEST_PG_URL")
    path = ROOT / ".ci" / "pg_url"
    return url or (path.read_text().strip() if path.exists() else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--url", default=_default_url())
    ap.add_argument("--dir", type=Path, default=Path("/tmp/ador_pg_load"))
    args = ap.parse_args()
    if not args.url:
        raise SystemExit("no PostgreSQL URL: pass --url or set ADOR_TEST_PG_URL")

    import optuna
    import sqlalchemy
    from optuna.trial import TrialState

    from ador_opt.explore.storage import WORKER_ATTR, resolve_store
    from ador_opt.redact import redact

    admin = sqlalchemy.create_engine(
        resolve_store(args.url).url, isolation_level="AUTOCOMMIT", pool_pre_ping=True
    )
    db = f"ador_load_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {db}"))
    url = args.url.rsplit("/", 1)[0] + "/" + db
    args.dir.mkdir(parents=True, exist_ok=True)
    spec = write_spec(args.dir, name="load", n_trials=1, sampler="random")
    cli = [sys.executable, "-m", "ador_opt"]
    try:
        first = subprocess.run([*cli, "optimize", str(spec), "--storage", url, "--json"],
                               capture_output=True, text=True, cwd=args.dir)  # fmt: skip
        if first.returncode != 0:
            raise SystemExit(f"optimize failed: {redact(first.stderr[-2000:])}")
        start = time.perf_counter()
        worker = [*cli, "worker", "--storage", url, "--study", "load", "--n-trials",
                  str(args.trials), "--json", "--seed"]  # fmt: skip
        pipe = subprocess.PIPE
        procs = [
            subprocess.Popen([*worker, str(i)], cwd=args.dir, stdout=pipe, stderr=pipe, text=True)
            for i in range(args.workers)
        ]
        outs = [p.communicate() for p in procs]
        wall = time.perf_counter() - start
        codes = [p.returncode for p in procs]
        storage = optuna.storages.RDBStorage(resolve_store(url).url)
        trials = optuna.load_study(study_name="load", storage=storage).get_trials()
        states = Counter(t.state.name for t in trials)
        numbers = [t.number for t in trials]
        per_worker = Counter(
            str(t.system_attrs.get(WORKER_ATTR, "?")).rsplit(":", 1)[-1]
            for t in trials
            if t.state == TrialState.COMPLETE
        )
        storage.engine.dispose()
        doc = {
            "workers": args.workers,
            "target": args.trials,
            "worker_exit_codes": codes,
            "states": dict(states),
            "complete": states.get("COMPLETE", 0),
            "unique_numbers": len(set(numbers)) == len(numbers),
            "exact": states.get("COMPLETE", 0) == args.trials
            and not states.get("RUNNING")
            and not states.get("WAITING")
            and len(set(numbers)) == len(numbers),
            "wall_s": round(wall, 1),
            "trials_per_s": round((args.trials - 1) / wall, 2),
            "complete_per_worker_process": sorted(per_worker.values(), reverse=True),
            "cores": os.cpu_count(),
            "stderr_tails": [redact(err[-300:]) for _out, err in outs if err.strip()][:3],
        }
        print(json.dumps(doc))
        if not doc["exact"] or any(codes):
            raise SystemExit(1)
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        admin.dispose()


if __name__ == "__main__":
    main()
