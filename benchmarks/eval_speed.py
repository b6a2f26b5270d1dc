"""Speed of `evaluate --designs` per design, side by side with GenZ on the same scenario.

    /work/venv/bin/python benchmarks/eval_speed.py                 # 1000 designs, 50 for GenZ
    /work/venv/bin/python benchmarks/eval_speed.py --designs 2000 --genz-designs 100 --json

Scenario: one static batch (LLaMA-3-8B, batch 16, 1024 → 1024 tokens, FP16, tp 1 — the
paper's Fig. 15 setting). Designs: distinct random points of the ADOR template around the
`ador-paper` preset (cores, array size, MAC-tree lanes, SRAM, DRAM bandwidth), written to a
JSON-lines file exactly as a user would pass to `evaluate --designs`.

Measured in one process and one run:

* ador-opt in-process: `evaluate_design_lines` over the file (the code `evaluate --designs`
  runs), after a warm-up on designs not in the timed set; time per design = total / N, plus the
  median of per-design times.
* ador-opt CLI: `ador-opt evaluate --designs` as a subprocess on N and on N/10 designs; the
  marginal time per design is the difference divided by the difference in N (start-up cancels).
* the GPU model: static batches on an A100 whose HBM bandwidth differs per evaluation (no
  cache hits).
* GenZ (`genz-llm`, import `GenZ`): `prefill_moddeling` + `decode_moddeling` for each design
  mapped to a GenZ system dict (peak TFLOPS, DRAM GB/s and GB, P2P GB/s), same model, batch and
  lengths. GenZ does one decode evaluation per design (at the final context); ador-opt does
  one prefill and 5 sampled decode steps. Ratio = GenZ time / ador-opt time per design.

Side by side with another checkout (e.g. `main` before a change, exported with `git archive`):

    python benchmarks/eval_speed.py --designs 2000 --baseline /tmp/main-tree --runs 5 --json

runs, in each of `--runs` rounds and in alternating order, the in-process timing (in a fresh
child process) and the two CLI runs for this checkout and for the baseline (PYTHONPATH set to
each), and reports per side the median and range over the rounds, the ratio baseline / this
checkout, and the 1-minute load average at the start of every round (the machine is shared: the
ratio, measured under the same load, is the robust figure).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ador_opt.hardware.presets import GPU_SPECS, HARDWARE_PRESETS, Hardware
from ador_opt.models import MODEL_PRESETS
from ador_opt.perf.evaluate import evaluate_design, evaluate_design_lines

MODEL = "llama-3-8b"
GENZ_MODEL = "llama3_8b"  # GenZ's name for the same config (meta-llama/Meta-Llama-3-8B)
BATCH, INPUT_LEN, OUTPUT_LEN = 16, 1024, 1024


def random_designs(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` distinct design lines around ador-paper (fields of the HDA template)."""
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    while len(out) < count:
        side = int(rng.choice([32, 64, 96, 128]))
        design = {
            "base": "ador-paper",
            "core_count": int(rng.choice([8, 16, 24, 32, 48, 64])),
            "sa_rows": side,
            "sa_cols": side,
            "mt_lanes": int(rng.choice([4, 8, 16, 32])),
            "local_sram_kib": float(rng.choice([1024, 2048, 4096])),
            "global_sram_mib": float(rng.choice([8, 16, 32, 64])),
            "dram_gbps": float(rng.integers(8, 41) * 100),
        }
        key = json.dumps(design, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(design)
    return out


def write_jsonl(designs: list[dict[str, Any]], path: Path) -> None:
    path.write_text("".join(json.dumps(d) + "\n" for d in designs))


def time_in_process(path: Path) -> tuple[float, float, int, int, float]:
    """(mean wall s per design, median wall s per design, designs, feasible, CPU s per
    design)."""
    model = MODEL_PRESETS[MODEL]
    times: list[float] = []
    feasible = 0
    cpu = time.process_time()
    start = time.perf_counter()
    last = start
    for doc in evaluate_design_lines(path, model, BATCH, INPUT_LEN, OUTPUT_LEN):
        now = time.perf_counter()
        times.append(now - last)
        last = now
        feasible += bool(doc["feasible"])
    total = time.perf_counter() - start
    cpu = time.process_time() - cpu
    return total / len(times), statistics.median(times), len(times), feasible, cpu / len(times)


def time_cli(path: Path, code: Path | None = None) -> float:
    """Wall seconds of `ador-opt evaluate --designs path --json`."""
    return run_cli(path, code)[0]


def run_cli(path: Path, code: Path | None = None) -> tuple[float, float]:
    """(wall, CPU) seconds of `ador-opt evaluate --designs path --json` (PYTHONPATH = `code` if
    given, so the package of that checkout runs); CPU = the child's user + system time."""
    cmd = [
        sys.executable,
        "-m",
        "ador_opt",
        "evaluate",
        "--model",
        MODEL,
        "--batch",
        str(BATCH),
        "--input-len",
        str(INPUT_LEN),
        "--output-len",
        str(OUTPUT_LEN),
        "--designs",
        str(path),
        "--json",
    ]
    env = None
    if code is not None:
        env = {**os.environ, "PYTHONPATH": str(code)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # cwd: a neutral folder, or `python -m` would import the package from the current one
    proc = subprocess.run(
        cmd, capture_output=True, text=True, check=False, env=env, cwd=path.parent
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"CLI failed: {proc.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def time_gpu_model(count: int) -> float:
    """Mean seconds per static-batch evaluation on an A100 with a distinct bandwidth each."""
    model = MODEL_PRESETS[MODEL]
    base = GPU_SPECS["a100-sxm-80gb"]
    hws = [
        Hardware(f"a100-{i}", None, dataclasses.replace(base, hbm_gbps=1500.0 + i))
        for i in range(count)
    ]
    start = time.perf_counter()
    for hw in hws:
        evaluate_design(hw, model, BATCH, INPUT_LEN, OUTPUT_LEN)
    return (time.perf_counter() - start) / count


def genz_system(design: dict[str, Any]) -> dict[str, Any]:
    arch = HARDWARE_PRESETS["ador-paper"].arch
    assert arch is not None
    arch = arch.replace(**{k: v for k, v in design.items() if k != "base"})
    return {
        "Flops": arch.peak_tflops,
        "Memory_BW": arch.dram_gbps,
        "Memory_size": arch.dram_gib,
        "ICN": arch.p2p_gbps,
        "real_values": True,
    }


def time_genz(designs: list[dict[str, Any]]) -> tuple[float, float] | None:
    """(mean, median) seconds per design of GenZ prefill + decode, or None without GenZ."""
    try:
        from GenZ import decode_moddeling, prefill_moddeling
    except ImportError:
        return None

    def run(system: dict[str, Any]) -> None:
        prefill_moddeling(
            model=GENZ_MODEL,
            batch_size=BATCH,
            input_tokens=INPUT_LEN,
            system_name=system,
            bits="bf16",
        )
        decode_moddeling(
            model=GENZ_MODEL,
            batch_size=BATCH,
            input_tokens=INPUT_LEN,
            output_tokens=OUTPUT_LEN,
            system_name=system,
            bits="bf16",
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run(genz_system(designs[0]))  # warm-up (imports, first-call set-up)
        times = []
        for design in designs[1:]:
            start = time.perf_counter()
            run(genz_system(design))
            times.append(time.perf_counter() - start)
    return statistics.fmean(times), statistics.median(times)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": version("numpy"),
        "genz_llm": version("genz-llm"),
    }


def in_process_child(code: Path, warm_path: Path, path: Path) -> dict[str, float]:
    """`time_in_process` in a fresh interpreter running the package of checkout `code`."""
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import eval_speed as e; "
        "assert e.evaluate_design_lines.__code__.co_filename.startswith(sys.argv[4]); "
        "from pathlib import Path; e.time_in_process(Path(sys.argv[2])); "
        "r = e.time_in_process(Path(sys.argv[3])); "
        "print(json.dumps({'mean_ms': r[0] * 1e3, 'median_ms': r[1] * 1e3, 'designs': r[2], "
        "'cpu_ms': r[4] * 1e3}))"
    )
    here = Path(__file__).resolve().parent
    proc = subprocess.run(
        [sys.executable, "-c", script, str(here), str(warm_path), str(path), str(code)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(code)},
        cwd=path.parent,  # not the checkout: `-c` puts the current folder first on sys.path
    )
    return dict(json.loads(proc.stdout))


KEYS = ("mean_ms", "median_ms", "cpu_ms", "cli_marginal_ms", "cli_marginal_cpu_ms")


def side_by_side(
    codes: dict[str, Path], paths: tuple[Path, Path, Path], timed: int, runs: int
) -> dict[str, Any]:
    """Alternate the sides over `runs` rounds; per side and round: in-process mean/median and
    CLI marginal ms per design; then medians, ranges and the ratio of the first side to the
    second (> 1: the second is faster)."""
    warm_path, full_path, small_path = paths
    rounds: list[dict[str, Any]] = []
    names = list(codes)
    for r in range(runs):
        order = names if r % 2 == 0 else names[::-1]
        row: dict[str, Any] = {"load_avg_1min": os.getloadavg()[0]}
        for name in order:
            code = codes[name]
            inproc = in_process_child(code, warm_path, full_path)
            (t_full, c_full), (t_small, c_small) = (
                run_cli(full_path, code),
                run_cli(small_path, code),
            )
            extra = timed - timed // 10
            marginal = (t_full - t_small) / extra * 1e3
            marginal_cpu = (c_full - c_small) / extra * 1e3
            row[name] = {
                **inproc,
                "cli_marginal_ms": marginal,
                "cli_marginal_cpu_ms": marginal_cpu,
                "cli_wall_s": t_full,
            }
            print(
                f"round {r + 1} {name}: in-process {inproc['mean_ms']:.3f} mean / "
                f"{inproc['median_ms']:.3f} median wall, {inproc['cpu_ms']:.3f} CPU ms; CLI "
                f"marginal {marginal:.3f} wall / {marginal_cpu:.3f} CPU ms "
                f"(load {row['load_avg_1min']:.2f})",
                file=sys.stderr,
            )
        rounds.append(row)
    summary: dict[str, Any] = {"rounds": rounds}
    for name in names:
        summary[name] = {
            key: {
                "median": statistics.median(row[name][key] for row in rounds),
                "min": min(row[name][key] for row in rounds),
                "max": max(row[name][key] for row in rounds),
            }
            for key in KEYS
        }
    a, b = names
    summary["ratio_first_over_second"] = {
        key: statistics.median(row[a][key] / row[b][key] for row in rounds) for key in KEYS
    }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--designs", type=int, default=1000)
    parser.add_argument("--genz-designs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--baseline", type=Path, help="another checkout to time side by side with this one"
    )
    parser.add_argument("--runs", type=int, default=5, help="rounds of the side-by-side mode")
    args = parser.parse_args(argv)
    if args.designs < 100:
        parser.error("--designs must be ≥ 100")

    warm, timed = 20, args.designs
    designs = random_designs(warm + timed, args.seed)
    report: dict[str, Any] = {
        "scenario": {
            "model": MODEL,
            "batch": BATCH,
            "input_len": INPUT_LEN,
            "output_len": OUTPUT_LEN,
            "precision": "fp16",
            "tp": 1,
        },
        "machine": machine(),
    }
    log: Callable[[str], None] = (lambda s: print(s, file=sys.stderr)) if args.json else print
    with tempfile.TemporaryDirectory() as tmp:
        warm_path, full_path, small_path = (
            Path(tmp) / n for n in ("w.jsonl", "n.jsonl", "s.jsonl")
        )
        write_jsonl(designs[:warm], warm_path)
        write_jsonl(designs[warm:], full_path)
        write_jsonl(designs[warm : warm + timed // 10], small_path)
        if args.baseline is not None:
            here = Path(__file__).resolve().parents[1]
            codes = {"baseline": args.baseline.resolve(), "this": here}
            paths = (warm_path, full_path, small_path)
            report["side_by_side"] = side_by_side(codes, paths, timed, args.runs)
            report["designs"] = timed
            for name in codes:
                med = report["side_by_side"][name]
                cli, cpu = med["cli_marginal_ms"], med["cli_marginal_cpu_ms"]
                log(
                    f"{name} ({codes[name]}), medians of {args.runs} runs, ms per design: "
                    f"in-process {med['mean_ms']['median']:.3f} mean / "
                    f"{med['median_ms']['median']:.3f} median wall, "
                    f"{med['cpu_ms']['median']:.3f} CPU; CLI marginal {cli['median']:.3f} wall "
                    f"({cli['min']:.3f}–{cli['max']:.3f}), {cpu['median']:.3f} CPU"
                )
            ratio = report["side_by_side"]["ratio_first_over_second"]
            log(
                "baseline / this (median of per-round ratios): "
                + ", ".join(f"{k} {v:.2f}×" for k, v in ratio.items())
            )
            log(f"machine: {report['machine']}")
            if args.json:
                print(json.dumps(report))
            return 0
        time_in_process(warm_path)
        mean_s, median_s, n, feasible, _ = time_in_process(full_path)
        report["ador_opt_in_process"] = {
            "designs": n,
            "feasible": feasible,
            "mean_ms_per_design": mean_s * 1e3,
            "median_ms_per_design": median_s * 1e3,
        }
        log(
            f"ador-opt in-process: {n} designs ({feasible} feasible), "
            f"{mean_s * 1e3:.2f} ms/design mean, {median_s * 1e3:.2f} ms median"
        )
        t_full, t_small = time_cli(full_path), time_cli(small_path)
        marginal = (t_full - t_small) / (timed - timed // 10)
        report["ador_opt_cli"] = {
            "wall_s_full": t_full,
            "wall_s_tenth": t_small,
            "marginal_ms_per_design": marginal * 1e3,
        }
        log(
            f"ador-opt CLI: {timed} designs {t_full:.2f} s, {timed // 10} designs "
            f"{t_small:.2f} s → marginal {marginal * 1e3:.2f} ms/design"
        )
    gpu_s = time_gpu_model(200)
    report["gpu_model_ms_per_evaluation"] = gpu_s * 1e3
    log(f"GPU model (a100, distinct bandwidths): {gpu_s * 1e3:.2f} ms/evaluation")
    genz = time_genz(designs[warm : warm + args.genz_designs + 1])
    if genz is None:
        log("GenZ not installed (pip install genz-llm): no comparison")
        report["genz"] = None
    else:
        g_mean, g_median = genz
        report["genz"] = {
            "designs": args.genz_designs,
            "mean_ms_per_design": g_mean * 1e3,
            "median_ms_per_design": g_median * 1e3,
            "ratio_genz_over_ador_opt_in_process": g_mean / mean_s,
            "ratio_genz_over_ador_opt_cli_marginal": g_mean / marginal,
        }
        log(
            f"GenZ prefill+decode: {args.genz_designs} designs, {g_mean * 1e3:.1f} ms/design "
            f"mean, {g_median * 1e3:.1f} ms median → GenZ/ador-opt = {g_mean / mean_s:.1f}× "
            f"(in-process), {g_mean / marginal:.1f}× (CLI marginal)"
        )
    log(f"machine: {report['machine']}")
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
