"""Every feasible tp × ep × pp layout of studies/mixtral-ep-tp-pp.toml at one core design, as a
markdown table (docs/parallelism.md, "Measured"). Runs the study's own pruning stages
(`evaluate_point`), no Optuna; a few seconds.

    python benchmarks/parallel_layouts.py [--sa-dim 128] [--cores 32] [--p2p-gbps 256]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from ador_opt.explore.evaluate import EvalContext, evaluate_point
from ador_opt.explore.spec import load_spec

STUDY = Path(__file__).resolve().parents[1] / "studies" / "mixtral-ep-tp-pp.toml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sa-dim", type=int, default=128)
    ap.add_argument("--cores", type=int, default=32)
    ap.add_argument("--p2p-gbps", type=float, default=256.0)
    args = ap.parse_args()
    ctx = EvalContext(load_spec(STUDY))
    print("| tp | ep | pp | replicas | tokens/s per mm² | TBT ms | TTFT ms |")
    print("|---|---|---|---|---|---|---|")
    for tp, ep, pp in itertools.product((1, 2, 4), (1, 2, 4, 8), (1, 2, 4)):
        point = {"sa_dim": args.sa_dim, "core_count": args.cores, "tp": tp, "ep": ep, "pp": pp,
                 "p2p_gbps": args.p2p_gbps}  # fmt: skip
        r = evaluate_point(ctx, point)
        if r.feasible:
            m = r.metrics
            print(f"| {tp} | {ep} | {pp} | {8 // (tp * ep * pp)} | {m['throughput_per_mm2']:.3f} "
                  f"| {m['tbt_ms']:.1f} | {m['ttft_ms']:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
