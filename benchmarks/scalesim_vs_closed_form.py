"""SCALE-Sim 3.0.0's compute stage vs the closed-form WS cycle count on full-size LLM GEMMs.

For every (shape, array) pair: SCALE-Sim's weight-stationary compute cycles from its compute
stage (ador_opt.perf.scalesim_backend.compute_stage_cycles, run in slabs of whole column folds),
the closed form ⌈K/R⌉·⌈N/C⌉·(2R + C + M − 2) − 1, their difference, the wall time of each,
and the double-buffered count the HDA model uses (for reference).

    python benchmarks/scalesim_vs_closed_form.py [--quick] [--csv OUT.csv]

Shapes are per-device GEMMs of llama-3-8b and llama-3-70b (fp16): decode (M = 1, 16, 150) and
prefill chunks (M = 128…1024). Takes tens of minutes (the 32×32 prefill shapes dominate);
`--quick` runs three small decode shapes only. Results: docs/bench-scalesim.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from ador_opt.perf.scalesim_backend import compute_stage_cycles, scalesim_version
from ador_opt.perf.systolic import ws_cycles, ws_cycles_double_buffered

ARRAYS = (32, 64, 128, 256)
# name: (M, K, N). llama-3-8b: hidden 4096, q 4096 + kv 2·1024, ffn 14336 (gate+up fused);
# llama-3-70b: hidden 8192, q 8192 + kv 2·1024, ffn 28672; "tp8" = one device of 8.
SHAPES: dict[str, tuple[int, int, int]] = {
    "8b qkv decode b1": (1, 4096, 6144),
    "8b o_proj decode b1": (1, 4096, 4096),
    "8b gate_up decode b1": (1, 4096, 28672),
    "8b down decode b1": (1, 14336, 4096),
    "8b qkv decode b16": (16, 4096, 6144),
    "8b down decode b150": (150, 14336, 4096),
    "8b qkv prefill 512": (512, 4096, 6144),
    "8b o_proj prefill 512": (512, 4096, 4096),
    "8b gate_up prefill 256": (256, 4096, 28672),
    "8b down prefill 512": (512, 14336, 4096),
    "70b qkv decode b1": (1, 8192, 10240),
    "70b o_proj decode b1": (1, 8192, 8192),
    "70b down decode b1": (1, 28672, 8192),
    "70b o_proj prefill 128": (128, 8192, 8192),
    "70b qkv tp8 prefill 1024": (1024, 8192, 1280),
}
QUICK = ("8b qkv decode b1", "8b o_proj decode b1", "70b qkv tp8 prefill 1024")


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in out.splitlines()
                if ln.startswith("Model name")
            ),
            platform.processor(),
        )
    except (OSError, subprocess.CalledProcessError):
        model = platform.processor()
    return f"{model}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three small shapes only")
    parser.add_argument("--csv", type=Path, help="append one row per result to this CSV")
    args = parser.parse_args()
    names = QUICK if args.quick else tuple(SHAPES)
    print(f"# SCALE-Sim {scalesim_version()} compute stage vs closed form; {machine()}")
    header = [
        "shape",
        "M",
        "K",
        "N",
        "array",
        "scalesim_cycles",
        "closed_form_cycles",
        "diff_cycles",
        "double_buffered_cycles",
        "scalesim_s",
        "closed_form_us",
    ]
    writer = None
    fh = None
    if args.csv:
        new = not args.csv.exists()
        fh = args.csv.open("a", newline="")
        writer = csv.writer(fh)
        if new:
            writer.writerow(header)
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    worst = 0
    try:
        for name in names:
            m, k, n = SHAPES[name]
            for a in ARRAYS:
                t0 = time.perf_counter()
                sim = compute_stage_cycles(m, k, n, a, a)
                t1 = time.perf_counter()
                closed = ws_cycles(m, k, n, a, a)
                t2 = time.perf_counter()
                row = [
                    name,
                    m,
                    k,
                    n,
                    f"{a}x{a}",
                    sim,
                    closed,
                    sim - closed,
                    ws_cycles_double_buffered(m, k, n, a, a),
                    f"{t1 - t0:.2f}",
                    f"{(t2 - t1) * 1e6:.1f}",
                ]
                worst = max(worst, abs(sim - closed))
                print("| " + " | ".join(str(x) for x in row) + " |", flush=True)
                if writer is not None and fh is not None:
                    writer.writerow(row)
                    fh.flush()
    finally:
        if fh is not None:
            fh.close()
    print(f"# largest |difference|: {worst} cycles")
    return 0 if worst == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
