"""Hypervolume against wall time on the serving study (`studies/llama3-8b-chatbot.toml`).

Runs the study's default sampler through the product's own objective (`TrialObjective`, real
serving simulations, Optuna in-memory storage) for a fixed wall-clock budget and records, per
trial: the wall time since the start, whether it was feasible, its evaluation time (`eval_s`:
cache lookup + all stages, capacity search included), the capacity probes when the engine
reports them, the serving simulator's performance-model step evaluations (`perf_calls`: a load-
independent cost), whether the optimistic-bound skip pruned it, and the hypervolume of the
feasible trials so far (reference point = the spec's
objective references; `moocore`).

It uses only the API that the engine had before issue 14 as well (`load_spec`, `EvalContext`,
`ResultCache`, `TrialObjective`, `make_sampler`), so the same file measures an older checkout
side by side: `PYTHONPATH=<checkout> python benchmarks/explore_wall_time.py --spec
<checkout>/studies/llama3-8b-chatbot.toml`.

    nice -n 10 python benchmarks/explore_wall_time.py [--budget-s 240] [--seed 0] [--json out]
        [--trials N]   # per-trial cost at an equal trial count (with a long --budget-s)

The summary adds the process's CPU seconds, the part of them spent in Python's cyclic
garbage collector (`gc_cpu_s`) and the load average at the end.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import moocore
import numpy as np
import optuna

from ador_opt.explore.cache import ResultCache
from ador_opt.explore.evaluate import EvalContext
from ador_opt.explore.spec import load_spec
from ador_opt.explore.study import TrialObjective, make_sampler

optuna.logging.set_verbosity(optuna.logging.ERROR)
ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS_S = (30, 60, 120, 180, 240, 360, 480)


def hypervolume(points: list[list[float]], ref: np.ndarray, signs: np.ndarray) -> float:
    if not points:
        return 0.0
    p = np.asarray(points, dtype=float) * signs
    p = p[np.all(p < ref, axis=1)]
    return float(moocore.hypervolume(p, ref=ref)) if len(p) else 0.0


_STEP_CALLS = [0]


def _count_step_calls() -> None:
    """Count the serving simulator's performance-model step evaluations (its step cache's
    misses): a cost measure that does not depend on the machine's load. Wraps the `step_time`
    that `serving.stepcache` calls, so it counts the same thing on older checkouts."""
    from ador_opt.serving import stepcache

    inner = stepcache.step_time
    if getattr(inner, "_counted", False):
        return

    def counted(*args: Any, **kwargs: Any) -> Any:
        _STEP_CALLS[0] += 1
        return inner(*args, **kwargs)

    counted._counted = True  # type: ignore[attr-defined]
    stepcache.step_time = counted  # type: ignore[assignment]


def _perf_misses() -> int:
    """Performance-model step evaluations of the serving simulator so far."""
    return _STEP_CALLS[0]


class _GcClock:
    """CPU seconds spent in Python's cyclic garbage collector (gc.callbacks)."""

    def __init__(self) -> None:
        self.total = 0.0
        self._t0 = 0.0
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.process_time()
        else:
            self.total += time.process_time() - self._t0


def run(
    spec_path: Path,
    budget_s: float,
    seed: int,
    bound_skip: bool = True,
    n_trials: int | None = None,
) -> dict[str, Any]:
    _count_step_calls()
    spec = load_spec(spec_path)
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in spec.directions])
    ref = np.array([o.reference for o in spec.objectives]) * signs
    study = optuna.create_study(directions=spec.directions, sampler=make_sampler(spec, seed))
    ctx = EvalContext(spec) if bound_skip else EvalContext(spec, bound_skip=False)
    objective = TrialObjective(ctx, ResultCache())
    rows: list[dict[str, Any]] = []
    points: list[list[float]] = []
    start = time.perf_counter()

    misses = [_perf_misses()]
    cpu = [time.process_time()]
    cpu_start = cpu[0]
    gc_clock = _GcClock()

    def record(st: optuna.Study, t: Any) -> None:
        skipped = t.state == optuna.trial.TrialState.PRUNED and bool(t.user_attrs.get("skipped"))
        feasible = t.user_attrs.get("rejected_by") == "" and not skipped
        if feasible and not t.user_attrs.get("cache_hit"):
            points.append(list(t.values))
        now = _perf_misses()
        cpu_now = time.process_time()
        rows.append(
            {
                "wall_s": time.perf_counter() - start,
                "feasible": feasible,
                "skipped": skipped,
                "perf_calls": now - misses[0],
                # CPU seconds of this process since the previous trial ended (sampler +
                # evaluation): close to the wall time the trial would take on an idle core
                "cpu_s": cpu_now - cpu[0],
                "cache_hit": bool(t.user_attrs.get("cache_hit")),
                "eval_s": float(t.user_attrs.get("eval_s", 0.0)),
                "probes": t.user_attrs.get("metrics", {}).get("capacity_probes"),
                "early": "capacity_upper_rps" in t.user_attrs.get("metrics", {}),
                "hv": hypervolume(points, ref, signs),
            }
        )
        misses[0] = now
        cpu[0] = cpu_now

    study.optimize(
        objective, n_trials=n_trials, timeout=budget_s, callbacks=[record], gc_after_trial=False
    )
    gc.callbacks.remove(gc_clock)
    feas = [r for r in rows if r["feasible"] and not r["cache_hit"]]
    hv_at = {}
    for c in CHECKPOINTS_S:
        if c <= budget_s:
            before = [r["hv"] for r in rows if r["wall_s"] <= c]
            hv_at[str(c)] = before[-1] if before else 0.0
    probes = [r["probes"] for r in feas if r["probes"] is not None]
    skipped = [r for r in rows if r["skipped"]]
    return {
        "spec": str(spec_path),
        "trials": len(rows),
        "feasible": len(feas),
        "cache_hits": sum(r["cache_hit"] for r in rows),
        "median_eval_ms_feasible": 1e3 * statistics.median(r["eval_s"] for r in feas)
        if feas
        else None,
        "median_eval_ms_all": 1e3 * statistics.median(r["eval_s"] for r in rows) if rows else None,
        "median_probes_feasible": statistics.median(probes) if probes else None,
        "median_cpu_ms_feasible": 1e3 * statistics.median(r["cpu_s"] for r in feas)
        if feas
        else None,
        "median_perf_calls_feasible": statistics.median(r["perf_calls"] for r in feas)
        if feas
        else None,
        "skipped_by_bound": len(skipped),
        "median_eval_ms_skipped": 1e3 * statistics.median(r["eval_s"] for r in skipped)
        if skipped
        else None,
        "stopped_early": sum(r["early"] for r in feas),
        "cpu_s": time.process_time() - cpu_start,
        "gc_cpu_s": gc_clock.total,
        "load_average": list(os.getloadavg()),
        "hv_at_s": hv_at,
        "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", type=Path, default=ROOT / "studies" / "llama3-8b-chatbot.toml")
    ap.add_argument("--budget-s", type=float, default=240.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--trials", type=int, default=None, help="stop after this many trials (with the budget)"
    )
    ap.add_argument(
        "--no-bound-skip", action="store_true", help="evaluate every design fully (issue 14+)"
    )
    args = ap.parse_args()
    out = run(args.spec, args.budget_s, args.seed, not args.no_bound_skip, args.trials)
    summary = {k: v for k, v in out.items() if k != "rows"}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
