"""The numbers of docs/paper-comparison.md, from the product's own commands.

Runs `ador-opt hardware show`, `compare` (Fig. 15 settings) and `capacity` (Fig. 16 settings)
with `--json` and prints the values the document quotes, so the page can be regenerated after
any model change:

    python benchmarks/paper_comparison.py                 # ≈ 1–3 min (capacity searches)
    python benchmarks/paper_comparison.py --no-capacity   # design table and Fig. 15 only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

PRESETS = ("a100", "llmcompass-l", "llmcompass-t", "ador-paper")


def cli(*args: str) -> Any:
    out = subprocess.run(
        [sys.executable, "-m", "ador_opt", *args, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def design_table() -> None:
    print("| design | peak TFLOPS | area mm² | TDP W |")
    print("|---|---|---|---|")
    for name in PRESETS:
        d = cli("hardware", "show", name)
        print(
            f"| {name} | {d['peak_tflops']:.1f} | {d['area_mm2']:.1f} | {d.get('tdp_w', 0):.0f} |"
        )


def fig15(model: str, hardware: str, batches: str, tp: str | None) -> None:
    args = ["compare", "--model", model, "--hardware", hardware, "--batch", batches]
    if tp:
        args += ["--tp", tp]
    doc = cli(*args)
    print(f"\n{model} tp={tp or 1}: hardware, batch, TTFT ms, TBT ms, area mm², ratios vs base")
    for row in doc["rows"]:
        if not row.get("feasible"):
            print(f"  {row['hardware']} b{row['batch']}: infeasible ({row.get('reason')})")
            continue
        r = row.get("vs_baseline") or {}
        print(
            f"  {row['hardware']:>13} b{row['batch']:<4} TTFT {row['ttft_ms']:9.2f}  "
            f"TBT {row['tbt_ms']:7.2f}  area {row['area_total_mm2']:7.1f}  "
            f"TBT× {r.get('tbt_speedup', 1):.2f}  TTFT-eff× {r.get('ttft_area_eff_ratio', 1):.2f}"
            f"  TBT-eff× {r.get('tbt_area_eff_ratio', 1):.2f}"
        )


def capacity(model: str, hardware: str, tp: str, extra: tuple[str, ...] = ()) -> None:
    doc = cli(
        "capacity",
        "--model",
        model,
        "--hardware",
        hardware,
        "--workload",
        "chat",
        "--num-requests",
        "2000",
        "--tp",
        tp,
        *extra,
    )
    keys = ("max_rate", "max_rate_per_s", "slo")
    shown = {k: doc[k] for k in keys if k in doc}
    print(f"  capacity {model} on {hardware} tp={tp} {' '.join(extra)}: {shown}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-capacity", action="store_true")
    args = parser.parse_args(argv)
    design_table()
    fig15("llama-3-8b", ",".join(PRESETS), "16,150", None)
    fig15("llama-3-70b", "a100,ador-paper", "16,150", "8")
    if not args.no_capacity:
        print()
        capacity("llama-3-8b", "ador-paper", "1")
        capacity("llama-3-8b", "a100", "1")
        capacity("yi-34b", "ador-paper", "1")
        capacity("yi-34b", "ador-paper", "2")
        capacity("yi-34b", "a100", "2")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
