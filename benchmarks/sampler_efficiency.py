"""Sampler efficiency: hypervolume and front coverage vs trials on a space whose exact Pareto
front is known.

The space is `studies/quickstart.toml`'s (8,820 designs; Llama-3-8B static batch; objectives
tokens/s per mm² ↑, TBT ↓, die area ↓; area ≤ 800 mm², TBT ≤ 50 ms). The benchmark

1. evaluates every design with the product's own `evaluate_point` (exhaustive front),
2. runs each sampler — wrapped exactly as a study wraps it (`NoRepeatSampler`: no design is
   proposed twice) — through the product's own objective (`TrialObjective`, same constraints,
   same placeholders) on Optuna's in-memory storage; every evaluation is served from a cache
   pre-filled by step 1, so a run costs only the sampler's own time,
3. records after every trial the hypervolume of the feasible trials (reference point fixed in
   advance to the spec's: 0 tok/s/mm², 50 ms, 800 mm²; `moocore`), the fraction of the
   exhaustive front's designs found, and IGD+ to the exhaustive front (in objective units
   normalised by the front's range),
4. reports, over 5 seeds (median): HV fraction, front fraction found and covered (within 0.1 %)
   at 50/100/200/300 trials,
   trials to 98 % / 99 % of the exhaustive HV, and the trials random sampling needs to match.

    python benchmarks/sampler_efficiency.py [--seeds 5] [--seed-start 0] [--trials 300]
        [--random-trials 3000] [--samplers tpe,tpe-plain,tpe-s10,nsga2,random,stepwise]
        [--spec studies/quickstart.toml] [--exhaustive /tmp/qs.pkl] [--json out.json]
        [--max-retries N]

`--exhaustive FILE` keeps step 1 between runs (written when absent, reused when its cache keys
match this tree's for the space and scenario; delete it after a model change). `--spec` takes
another static study (e.g. `studies/robust-8b-chat-long.toml`).

Sampler names: the study samplers (`tpe` is the shipped default: multivariate, 20 start-up
trials, half the proposals from trial 50 on model-ranked front neighbours), plus variants:
`tpe-plain` (the same TPE without the front search: the previous default), `tpe-s10` / `tpe-s5`
(10 / 5 start-up trials, no front search), `tpe-uni` (univariate, 10 start-up),
`tpe-pls<share>-<after>` (20 start-up and `<share>` % of the proposals from trial `<after>` on
are model-ranked front neighbours, `explore/frontsearch.py`).
"""

from __future__ import annotations

import argparse
import json
import pickle
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import moocore
import numpy as np
import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ador_opt.explore.cache import ResultCache  # noqa: E402
from ador_opt.explore.evaluate import EvalContext, cache_key, evaluate_point  # noqa: E402
from ador_opt.explore.samplers import NoRepeatSampler  # noqa: E402
from ador_opt.explore.space import realise  # noqa: E402
from ador_opt.explore.spec import StudySpec, load_spec  # noqa: E402
from ador_opt.explore.study import TrialObjective, make_sampler, record_of  # noqa: E402

TPE_VARIANTS: dict[str, dict[str, Any]] = {
    "tpe-s10": {"multivariate": True, "n_startup_trials": 10},
    "tpe-s5": {"multivariate": True, "n_startup_trials": 5},
    "tpe-uni": {"multivariate": False, "n_startup_trials": 10},
}


def sampler_for(spec: StudySpec, name: str, seed: int) -> optuna.samplers.BaseSampler:
    """A study sampler by name (as `make_sampler` builds it) or a TPE variant, wrapped."""
    if name.startswith("tpe-pls"):  # tpe-pls<percent>-<after>: model-ranked front neighbours
        inner = optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=20)
        share, _, after = name.removeprefix("tpe-pls").partition("-")
        return NoRepeatSampler(
            inner, spec.space, seed, local_share=float(share) / 100, local_after=int(after or 50)
        )
    if name == "tpe-plain":  # multivariate TPE, 20 start-up trials, no front search
        inner = optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=20)
        return NoRepeatSampler(inner, spec.space, seed)
    if name in TPE_VARIANTS:
        inner = optuna.samplers.TPESampler(seed=seed, **TPE_VARIANTS[name])
        return NoRepeatSampler(inner, spec.space, seed)
    return make_sampler(spec.with_overrides(sampler=name), seed)


optuna.logging.set_verbosity(optuna.logging.ERROR)
SPEC_PATH = ROOT / "studies" / "quickstart.toml"
TARGET_FRACTION = 0.98


def _to_min(values: np.ndarray, directions: list[str]) -> np.ndarray:
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return values * signs


def hypervolume(points: list[list[float]], ref: np.ndarray, directions: list[str]) -> float:
    if not points:
        return 0.0
    p = _to_min(np.asarray(points, dtype=float), directions)
    p = p[np.all(p < ref, axis=1)]
    return float(moocore.hypervolume(p, ref=ref)) if len(p) else 0.0


def exhaustive(
    spec: StudySpec,
) -> tuple[ResultCache, list[list[float]], list[str], int, float]:
    """Evaluate every design; returns the filled cache, feasible values and their cache keys,
    count, seconds."""
    ctx = EvalContext(spec)
    cache = ResultCache()
    feasible: list[list[float]] = []
    keys: list[str] = []
    t0 = time.perf_counter()
    n = 0
    for params in spec.space.points():
        result = evaluate_point(ctx, params)
        real = realise(spec.space, params)
        key = cache_key(ctx, real.arch, real.fields)
        cache.put(key, record_of(result))
        if result.feasible:
            feasible.append(list(result.values))
            keys.append(key)
        n += 1
    return cache, feasible, keys, n, time.perf_counter() - t0


def exhaustive_cached(
    spec: StudySpec, path: Path | None
) -> tuple[ResultCache, list[list[float]], list[str], int, float]:
    """`exhaustive(spec)`, saved to / reloaded from `path` (a pickle) when given. A saved
    evaluation is reused only when its cache keys are exactly this tree's keys for the space
    (the config hashes and the scenario hash: a changed space or scenario re-evaluates); a
    changed performance model with the same keys is not detected — delete the file then."""
    ctx = EvalContext(spec)
    keys_now = [
        cache_key(ctx, r.arch, r.fields)
        for r in (realise(spec.space, p) for p in spec.space.points())
    ]
    if path is not None and path.exists():
        saved = pickle.loads(path.read_bytes())
        if saved["all_keys"] == keys_now:
            cache = ResultCache()
            for key, record in saved["records"].items():
                cache.put(key, record)
            return cache, saved["feasible"], saved["keys"], saved["n"], saved["eval_s"]
        print(f"{path}: saved for another space or scenario; re-evaluating")
    cache, feasible, keys, n, eval_s = exhaustive(spec)
    if path is not None:
        records = {k: cache.get(k) for k in keys_now}
        path.write_bytes(
            pickle.dumps(
                {
                    "all_keys": keys_now,
                    "records": records,
                    "feasible": feasible,
                    "keys": keys,
                    "n": n,
                    "eval_s": eval_s,
                }
            )
        )
    return cache, feasible, keys, n, eval_s


def igd_plus(points: list[list[float]], front: np.ndarray, scale: np.ndarray, dirs: list[str]):
    if not points:
        return float("inf")
    p = _to_min(np.asarray(points, dtype=float), dirs) / scale
    return float(moocore.igd_plus(p, ref=front / scale))


CHECKPOINTS = (50, 100, 200, 300)
# Relative tolerance of the "front covered" count: an exhaustive-front design is covered when a
# found feasible design is within 0.1 % of it or better on every objective. 0.1 % is two orders
# of magnitude below the performance model's cross-validated error (README), so two designs
# this close are the same answer to an architect; the strict "front found" count is kept too.
COVER_EPS = 1e-3


def covered_by(point: np.ndarray, front: np.ndarray, eps: float = COVER_EPS) -> np.ndarray:
    """Which rows of `front` (minimisation form) `point` covers within relative `eps`."""
    return np.all(point[None, :] <= front + eps * np.abs(front), axis=1)


def tied_front_designs(front: np.ndarray, eps: float = COVER_EPS) -> int:
    """Front designs covered within `eps` by another front design (ties at that tolerance)."""
    covers = np.array([covered_by(p, front, eps) for p in front])  # [j, i]: j covers i
    np.fill_diagonal(covers, False)
    return int(covers.any(axis=0).sum())


def hv_curve(
    spec: StudySpec,
    cache: ResultCache,
    sampler: str,
    seed: int,
    n_trials: int,
    ref: np.ndarray,
    front_keys: set[str],
    front: np.ndarray,
    scale: np.ndarray,
) -> tuple[list[float], list[float], dict[int, float], list[float]]:
    """After each of `n_trials` trials: HV of the feasible trials, the fraction of the
    exhaustive front's designs found and the fraction covered within `COVER_EPS`; IGD+ at the
    checkpoints."""
    study_sampler = "tpe" if sampler in TPE_VARIANTS or sampler.startswith("tpe-") else sampler
    run_spec = spec.with_overrides(sampler=study_sampler)
    study = optuna.create_study(
        directions=run_spec.directions, sampler=sampler_for(run_spec, sampler, seed)
    )
    objective = TrialObjective(EvalContext(run_spec), cache)
    study.optimize(objective, n_trials=n_trials, gc_after_trial=False)
    directions = run_spec.directions
    curve: list[float] = []
    found_curve: list[float] = []
    igd: dict[int, float] = {}
    points: list[list[float]] = []
    found: set[str] = set()
    covered = np.zeros(len(front), dtype=bool)
    covered_curve: list[float] = []
    for i, t in enumerate(study.get_trials(deepcopy=False)):
        if t.user_attrs.get("rejected_by") == "":
            points.append(list(t.values))
            covered |= covered_by(_to_min(np.asarray(t.values, dtype=float), directions), front)
            if t.user_attrs["cache_key"] in front_keys:
                found.add(t.user_attrs["cache_key"])
        curve.append(hypervolume(points, ref, directions) if points else 0.0)
        found_curve.append(len(found) / len(front_keys))
        covered_curve.append(float(covered.mean()))
        if i + 1 in CHECKPOINTS:
            igd[i + 1] = igd_plus(points, front, scale, directions)
    return curve, found_curve, igd, covered_curve


def trials_to_reach(curve: list[float], level: float) -> int | None:
    for i, hv in enumerate(curve):
        if hv >= level * (1 - 1e-12):
            return i + 1
    return None


def _median_need(curves: list[list[float]], level: float, cap: int) -> float:
    """Median trials to reach `level` (runs that never reach it count as `cap + 1`)."""
    return float(statistics.median([trials_to_reach(c, level) or cap + 1 for c in curves]))


def compare_with_random(
    results: dict[str, Any], default: str, hv_star: float, trials: int, random_trials: int
) -> dict[str, Any]:
    """The two acceptance criteria, at several HV levels (see docs/bench-explore.md)."""
    d_curves = results[default]["curves"]
    r_curves = results["random"]["curves"]
    d_final = float(np.median([c[trials - 1] for c in d_curves]))
    levels = {
        "98%": 0.98 * hv_star,
        "99%": 0.99 * hv_star,
        "99.5%": 0.995 * hv_star,
        f"default@{trials}": d_final,
    }
    rows = {}
    for name, level in levels.items():
        d_need = _median_need(d_curves, level, trials)
        r_need = _median_need(r_curves, level, random_trials)
        rows[name] = {
            "default_trials": d_need,
            "random_trials": r_need,
            "ratio": r_need / d_need,
            "random_censored": r_need > random_trials,
        }
        more = "≥ " if r_need > random_trials else ""
        print(
            f"  HV {name:>12}: {default} needs {d_need:g} trials (median), random "
            f"{more}{min(r_need, random_trials):g} → {more}{r_need / d_need:.1f}×"
        )
    verdict = {
        "default": default,
        "default_median_hv_fraction_at_trials": d_final / hv_star,
        "meets_98pct_within_trials": d_final / hv_star >= TARGET_FRACTION,
        "levels": rows,
    }
    print(
        f"default {default}: median HV after {trials} trials = {d_final / hv_star:.4f} of "
        f"HV* (≥ {TARGET_FRACTION}: {verdict['meets_98pct_within_trials']})"
    )
    return verdict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--random-trials", type=int, default=3000)
    ap.add_argument("--samplers", default="tpe,tpe-plain,tpe-s10,nsga2,random,stepwise")
    ap.add_argument("--default", default=None, help="sampler judged against the criteria")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--max-retries",
        type=int,
        default=None,
        help="re-asks of the wrapped sampler before NoRepeatSampler's neighbour step "
        "(default: the shipped samplers.MAX_RETRIES)",
    )
    ap.add_argument("--spec", type=Path, default=SPEC_PATH, help="a static study's spec")
    ap.add_argument(
        "--exhaustive",
        type=Path,
        default=None,
        help="pickle that keeps the exhaustive evaluation between runs (written if absent)",
    )
    ap.add_argument("--seed-start", type=int, default=0, help="first seed (seeds are consecutive)")
    args = ap.parse_args()
    if args.max_retries is not None:
        import ador_opt.explore.samplers as samplers_module

        samplers_module.MAX_RETRIES = args.max_retries

    spec = load_spec(args.spec)
    directions = spec.directions
    ref = _to_min(np.array([o.reference for o in spec.objectives]), directions)
    cache, feasible, keys, n_designs, eval_s = exhaustive_cached(spec, args.exhaustive)
    hv_star = hypervolume(feasible, ref, directions)
    mins = _to_min(np.array(feasible), directions)
    on_front = moocore.is_nondominated(mins)
    front = mins[on_front]
    front_keys = {k for k, on in zip(keys, on_front, strict=True) if on}
    scale = np.maximum(front.max(axis=0) - front.min(axis=0), 1e-12)
    print(
        f"space: {n_designs} designs, {len(feasible)} feasible, {len(front_keys)} on the "
        f"exhaustive front ({tied_front_designs(front)} of them within {COVER_EPS:.1%} of "
        f"another front design on every objective); evaluated in {eval_s:.1f} s; "
        f"HV* = {hv_star:.6g}"
    )
    default = args.default or spec.file.study.sampler
    results: dict[str, Any] = {}
    for sampler in args.samplers.split(","):
        n = args.random_trials if sampler == "random" else args.trials
        t0 = time.perf_counter()
        runs = [
            hv_curve(spec, cache, sampler, seed, n, ref, front_keys, front, scale)
            for seed in range(args.seed_start, args.seed_start + args.seeds)
        ]
        wall = time.perf_counter() - t0
        curves = [r[0] for r in runs]
        frac = np.array(curves) / hv_star
        median = np.median(frac, axis=0)
        found = np.median(np.array([r[1] for r in runs]), axis=0)
        cover = np.median(np.array([r[3] for r in runs]), axis=0)
        reach = [trials_to_reach(c, TARGET_FRACTION * hv_star) for c in curves]
        reach99 = [trials_to_reach(c, 0.99 * hv_star) for c in curves]
        results[sampler] = {
            "median_hv_fraction": {str(k): float(median[k - 1]) for k in CHECKPOINTS if k <= n},
            "median_front_fraction": {str(k): float(found[k - 1]) for k in CHECKPOINTS if k <= n},
            "median_front_covered": {str(k): float(cover[k - 1]) for k in CHECKPOINTS if k <= n},
            "median_igd_plus": {
                str(k): float(statistics.median(r[2][k] for r in runs))
                for k in CHECKPOINTS
                if k <= n
            },
            "median_curve": [float(x) for x in median],
            "trials_to_98pct": reach,
            "trials_to_99pct": reach99,
            "wall_s_per_run": wall / args.seeds,
            "curves": [[float(x) for x in c] for c in curves],
            "front_curves": [[float(x) for x in r[1]] for r in runs],
            "covered_curves": [[float(x) for x in r[3]] for r in runs],
            "igd_plus": [{str(k): float(v) for k, v in r[2].items()} for r in runs],
        }
        r = results[sampler]
        shown = ", ".join(
            f"{k}: {v:.4f}/{r['median_front_fraction'][k]:.2f}/"
            f"{r['median_front_covered'][k]:.2f}/{r['median_igd_plus'][k]:.4f}"
            for k, v in r["median_hv_fraction"].items()
        )
        per_seed = " ".join(f"{round(x[1][-1] * len(front_keys))}" for x in runs)
        print(
            f"{sampler:>9}: median HV fraction/front found/front covered ({COVER_EPS:.1%})/IGD+ "
            f"{shown}; front designs found per seed at the end: {per_seed}; trials to 98 %: "
            f"{reach}; to 99 %: {reach99}; {wall / args.seeds:.1f} s/run",
            flush=True,
        )
    verdict: dict[str, Any] = {}
    if default in results and "random" in results:
        verdict = compare_with_random(results, default, hv_star, args.trials, args.random_trials)
    machine = {
        "python": platform.python_version(),
        "optuna": optuna.__version__,
        "processor": platform.processor() or platform.machine(),
        "cpus": __import__("os").cpu_count(),
    }
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "space": n_designs,
                    "feasible": len(feasible),
                    "hv_star": hv_star,
                    "results": results,
                    "verdict": verdict,
                    "machine": machine,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
