"""TTFT/TBT of the ador-paper design (llama-3-8b fp16, input 1024, output 1024 static batch)
under one-knob changes, measured through `ador-opt evaluate --designs ... --json` (the product
path). Prints a markdown table on stdout.

    python benchmarks/hda_knobs.py                # all sweeps
    python benchmarks/hda_knobs.py --json         # raw rows

Sweeps: the preset itself at batch 1/16/150; mt_lanes 0…32; sa_weight_double_buffer (when the
field exists); vector_width 8 vs 128; local_sram_kib at a fixed total SRAM.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ador_opt.hardware.arch import ArchConfig

BATCHES = (1, 16, 150)


def variants() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = [("ador-paper", {})]
    for lanes in (0, 1, 2, 4, 8, 16, 32):
        over: dict[str, Any] = {"mt_lanes": lanes}
        if lanes == 0:
            over["mt_width"] = 0
        out.append((f"mt_lanes={lanes}", over))
    for width, lanes in ((8, 32), (32, 8), (64, 4), (128, 2), (256, 1)):
        out.append((f"mt {lanes} lanes x {width}", {"mt_width": width, "mt_lanes": lanes}))
    if "sa_weight_double_buffer" in ArchConfig.field_names():
        for lanes in (0, 1, 2, 4, 8, 16, 32):
            over = {"sa_weight_double_buffer": True, "mt_lanes": lanes}
            if lanes == 0:
                over["mt_width"] = 0
            out.append((f"sa_weight_double_buffer, mt_lanes={lanes}", over))
    out.append(("vector_width=8", {"vector_width": 8}))
    # fixed total SRAM 32·2 MiB + 16 MiB = 80 MiB
    out.append(("local 1024 KiB + global 48 MiB", {"local_sram_kib": 1024, "global_sram_mib": 48}))
    out.append(("local 512 KiB + global 64 MiB", {"local_sram_kib": 512, "global_sram_mib": 64}))
    out.append(("sa_per_core=2", {"sa_per_core": 2}))
    out.append(("sa_per_core=4", {"sa_per_core": 4}))
    return out


def run(batch: int, designs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "designs.jsonl"
        path.write_text("".join(json.dumps(d) + "\n" for d in designs))
        cmd = [sys.executable, "-m", "ador_opt", "evaluate", "--model", "llama-3-8b",
               "--batch", str(batch), "--input-len", "1024", "--output-len", "1024",
               "--designs", str(path), "--json"]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    vs = variants()
    designs = [{"base": "ador-paper", **over} for _, over in vs]
    rows: dict[str, dict[int, dict[str, Any]]] = {label: {} for label, _ in vs}
    for b in BATCHES:
        for (label, _), res in zip(vs, run(b, designs), strict=True):
            rows[label][b] = res
    if args.json:
        print(json.dumps(rows))
        return
    head = " | ".join(f"TTFT b{b} | TBT b{b}" for b in BATCHES)
    print(f"| design | {head} | area mm² |")
    print("|---" * (2 + 2 * len(BATCHES)) + "|")
    for label, per in rows.items():
        cells = []
        for b in BATCHES:
            r = per[b]
            if not r.get("feasible", True):
                cells += ["infeasible", "—"]
            else:
                cells += [f"{r['ttft_ms']:.1f}", f"{r['tbt_ms']:.2f}"]
        area = per[BATCHES[0]].get("area_mm2", float("nan"))
        print(f"| {label} | {' | '.join(cells)} | {area:.1f} |")


if __name__ == "__main__":
    main()
