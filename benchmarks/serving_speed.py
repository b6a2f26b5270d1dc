"""Serving-simulator speed: simulated requests per second of wall/CPU time on one core.

Workload: the `chat` preset, llama-3-8b on `ador-paper`, 20,000 requests (Poisson), Sarathi
scheduler defaults. Each rate runs in a fresh subprocess (no cache of any stage is warm), twice:

* cold — every distinct step shape costs one call of the perf model (`perf.step_time`);
* warm — the same run again, all step shapes memoised: the cost of the simulator itself.

Also reports how far the bucketed (memoised) step times are from exact ones on a sample of the
run's real steps. Results go to stdout as a markdown table (and JSON with --json); the numbers
in docs/bench-serving.md come from this script.

    python benchmarks/serving_speed.py [--requests 20000] [--rates 5,10,20,23.3] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import time

import numpy as np

from ador_opt.hardware import load_hardware
from ador_opt.models import load_model
from ador_opt.perf import step_time
from ador_opt.serving import simulate_run, stepcache, workload_preset
from ador_opt.serving.stepcache import composition_of


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def bucket_error(hw, model, keys: list, samples: int = 300) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Relative error of bucketed vs exact step time on `samples` real step shapes."""
    rng = random.Random(0)
    picked = rng.sample(keys, min(samples, len(keys)))
    errs = []
    for raw in picked:
        exact = step_time(hw, model, composition_of(raw), 1).seconds
        timer = stepcache.StepTimer(hw, model, 1)
        chunks, n_dec, ctx = raw
        bucketed = timer.lookup(timer.key(list(chunks), n_dec, ctx)).seconds
        errs.append(bucketed / exact - 1)
    arr = np.array(errs)
    return {"mean": float(arr.mean()), "max": float(arr.max()), "min": float(arr.min())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--rates", default="5,10,20,23.3")
    ap.add_argument("--hardware", default="ador-paper")
    ap.add_argument("--model", default="llama-3-8b")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--one-rate", type=float, help=argparse.SUPPRESS)  # child process mode
    args = ap.parse_args()
    if args.one_rate is None:
        rows = [
            json.loads(
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--one-rate",
                        rate,
                        "--requests",
                        str(args.requests),
                        "--hardware",
                        args.hardware,
                        "--model",
                        args.model,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            for rate in args.rates.split(",")
        ]
        report(rows, args)
        return
    hw = load_hardware(args.hardware)
    model = load_model(args.model)
    chat = workload_preset("chat")

    raw_keys: list = []
    original_key = stepcache.StepTimer.key

    def recording_key(self, chunks, n_dec, ctx):  # type: ignore[no-untyped-def]
        if len(raw_keys) < 200000:
            raw_keys.append((tuple(chunks), n_dec, ctx))
        return original_key(self, chunks, n_dec, ctx)

    rows = []
    for rate in (args.one_rate,):
        timings = {}
        for phase in ("cold", "warm"):
            if phase == "cold":
                stepcache.StepTimer.key = recording_key  # type: ignore[method-assign]
            else:
                stepcache.StepTimer.key = original_key  # type: ignore[method-assign]
            wall, cpu = time.perf_counter(), time.process_time()
            run = simulate_run(hw, model, chat, rate, args.requests, seed=0)
            timings[phase] = (time.perf_counter() - wall, time.process_time() - cpu, run)
        stepcache.StepTimer.key = original_key  # type: ignore[method-assign]
        cold_wall, cold_cpu, run = timings["cold"]
        warm_wall, warm_cpu, _ = timings["warm"]
        r = run.report
        rows.append(
            {
                "rate_per_s": rate,
                "requests": args.requests,
                "steps": r.steps,
                "distinct_shapes": r.distinct_step_shapes,
                "perf_evaluations": r.perf_evaluations,
                "cold_wall_s": cold_wall,
                "cold_cpu_s": cold_cpu,
                "cold_req_per_cpu_s": args.requests / cold_cpu,
                "warm_wall_s": warm_wall,
                "warm_cpu_s": warm_cpu,
                "warm_req_per_cpu_s": args.requests / warm_cpu,
                "perf_eval_us": 1e6 * (cold_cpu - warm_cpu) / max(1, r.perf_evaluations),
                "throughput_req_per_s": r.requests_per_s,
                "tbt_p99_ms": r.tbt_ms.p99,
                "ttft_p90_ms": r.ttft_ms.p90,
                "bucket_error": bucket_error(hw, model, raw_keys),
            }
        )
    print(json.dumps(rows[0]))


def report(rows: list[dict], args: argparse.Namespace) -> None:  # type: ignore[type-arg]
    doc = {"cpu": cpu_model(), "python": platform.python_version(), "runs": rows}
    if args.json:
        print(json.dumps(doc, indent=1))
        return
    print(f"CPU: {doc['cpu']}; Python {doc['python']}; {args.model} on {args.hardware}, chat")
    print(
        "| rate req/s | steps | shapes | perf evals | cold CPU s | cold req/s | warm CPU s "
        "| warm req/s | µs/perf eval | bucket err mean/max |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        err = row["bucket_error"]
        print(
            f"| {row['rate_per_s']:g} | {row['steps']} | {row['distinct_shapes']} | "
            f"{row['perf_evaluations']} | {row['cold_cpu_s']:.2f} | "
            f"{row['cold_req_per_cpu_s']:.0f} | {row['warm_cpu_s']:.2f} | "
            f"{row['warm_req_per_cpu_s']:.0f} | {row['perf_eval_us']:.0f} | "
            f"{100 * err['mean']:.2f} % / {100 * err['max']:.2f} % |"
        )


if __name__ == "__main__":
    main()
