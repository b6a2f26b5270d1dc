"""The from-scratch search against the paper's design (issue 18, item 3).

    ador-opt optimize studies/paper/search-llama3-8b-chat.toml --n-trials 250 --n-jobs 1
    python studies/paper/search.py                       # front vs ador-paper, tables, PNG
    python studies/paper/search.py --contract            # + knob contract around both designs

Reads the study, evaluates the `ador-paper` preset as a point of the same space through the
same pruning stages and capacity search as every trial (`explore.evaluate.evaluate_point`),
and writes `<out>/search.{csv,md,png}`:

* every feasible design that matches or Pareto-dominates ador-paper on (capacity under SLO per
  mm², TBT p99), and the 2-D / 3-D fronts;
* the spec table of the winning designs next to ador-paper;
* the winners re-scored with `--rescore-requests` simulated requests (the study uses 400 per
  probe), so the advantage is not an artefact of a short simulation;
* for each knob where a winner differs from ador-paper: its cost (area, $, full-load power)
  and its effect, moved alone from ador-paper's value to the winner's and back — a knob the
  model prices at zero shows up as a row with Δarea = Δ$ = ΔTDP = 0;
* with `--contract`, the knob contract (`explore.knobs.knob_findings`: no dead, no free knob)
  swept around ador-paper and the capacity winner.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from ador_opt.explore.evaluate import EvalContext, PointResult, evaluate_point
from ador_opt.explore.knobs import knob_findings
from ador_opt.explore.space import base_config, realise
from ador_opt.explore.spec import load_spec
from ador_opt.hardware.presets import HARDWARE_PRESETS, Hardware
from ador_opt.report.load import TrialRecord, load_study_data
from ador_opt.serving.capacity import find_capacity
from ador_opt.serving.slo import resolve_slo
from ador_opt.serving.workload import workload_preset

HERE = Path(__file__).resolve().parent
SPEC = HERE / "search-llama3-8b-chat.toml"
CAP, TBT, TDP = "capacity_per_mm2", "tbt_p99_ms", "tdp_w"
SPEC_ROWS = (
    ("freq_mhz", "clock (MHz)"),
    ("core_count", "cores"),
    ("sa_rows", "systolic array (rows = cols)"),
    ("sa_per_core", "arrays per core"),
    ("mt_width", "MAC-tree width"),
    ("mt_lanes", "MAC-tree lanes per core"),
    ("vector_width", "vector lanes per core"),
    ("local_sram_kib", "local SRAM per core (KiB)"),
    ("global_sram_mib", "global SRAM (MiB)"),
    ("noc_gbps", "NoC (GB/s)"),
    ("dram_type", "DRAM"),
    ("dram_gib", "DRAM size (GiB)"),
    ("dram_gbps", "DRAM bandwidth (GB/s)"),
    ("p2p_type", "P2P link"),
)
METRIC_ROWS = (
    ("peak_tflops", "peak fp16 TFLOPS", 1),
    ("area_mm2", "die area (mm²)", 1),
    ("tdp_w", "full-load power (W)", 0),
    ("cost_usd", "device cost ($)", 0),
    ("capacity_rps", "capacity under SLO (req/s)", 2),
    (CAP, "capacity per mm² (req/s/mm²)", 4),
    ("ttft_p90_ms", "TTFT p90 at capacity (ms)", 0),
    (TBT, "TBT p99 at capacity (ms)", 2),
)

# Area breakdown rows (mm²; `hardware.area` keys): per core, then per die.
AREA_ROWS = (
    ("area: systolic arrays per core", lambda b: b["core_systolic_mm2"]),
    ("area: MAC tree per core", lambda b: b["core_mac_tree_mm2"]),
    (
        "area: control + register file + vector + crossbar per core",
        lambda b: (
            b["core_control_mm2"]
            + b["core_register_file_mm2"]
            + b["core_vector_alu_mm2"]
            + b["core_crossbar_mm2"]
        ),
    ),
    ("area: local SRAM per core", lambda b: b["core_local_sram_mm2"]),
    ("area: all cores", lambda b: b["cores_total_mm2"]),
    ("area: global SRAM", lambda b: b["global_sram_mm2"]),
    ("area: DRAM PHY + controllers", lambda b: b["dram_phy_mm2"] + b["dram_ctrl_mm2"]),
    ("area: P2P PHY + controllers", lambda b: b["p2p_phy_mm2"] + b["p2p_ctrl_mm2"]),
)


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ador_point(ctx: EvalContext) -> dict[str, Any]:
    """ador-paper's own value of every sampled parameter (refuses a space without it)."""
    base = base_config(ctx.space.base).to_dict()
    point: dict[str, Any] = {}
    for p in ctx.space.sampled:
        own = base["sa_rows"] if p.name == "sa_dim" else base[p.name]
        if own not in p.values:
            raise SystemExit(f"the space does not contain ador-paper's {p.name} = {own!r}")
        point[p.name] = own
    real = realise(ctx.space, point).arch
    paper = HARDWARE_PRESETS["ador-paper"].arch
    assert real is not None and paper is not None
    if real.replace(name=paper.name).canonical_key() != paper.canonical_key():
        raise SystemExit("the space's ador-paper point does not realise to the preset")
    return point


def values(r: PointResult | TrialRecord) -> tuple[float, float, float]:
    m = r.metrics
    return (m[CAP], m[TBT], m[TDP] if TDP in m else float(r.metrics.get("tdp_w", math.nan)))


def dominates2(a: Sequence[float], b: Sequence[float]) -> bool:
    """a Pareto-dominates b on (capacity/mm² ↑, TBT p99 ↓)."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def front(points: Sequence[tuple[int, tuple[float, ...]]], dims: int) -> list[int]:
    """Numbers of the non-dominated points (first objective maximised, the rest minimised)."""

    def dom(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        better = (a[0] >= b[0], *(a[i] <= b[i] for i in range(1, dims)))
        strict = (a[0] > b[0], *(a[i] < b[i] for i in range(1, dims)))
        return all(better) and any(strict)

    return [n for n, v in points if not any(dom(w, v) for _, w in points)]


def hardware_of(ctx: EvalContext, params: Mapping[str, Any], name: str) -> Hardware:
    arch = realise(ctx.space, params).arch
    assert arch is not None
    return Hardware(name, arch.replace(name=name), None)


def fmt(v: Any, digits: int = 2) -> str:
    if isinstance(v, bool) or not isinstance(v, float):
        return str(v)
    return f"{v:.{digits}f}"


def md_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", nargs="?", default="runs/paper-search-llama3-8b-chat.db")
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--out", type=Path, default=Path("runs/paper"))
    parser.add_argument("--rescore-requests", type=int, default=2000)
    parser.add_argument("--contract", action="store_true", help="run the knob contract too")
    args = parser.parse_args(argv)

    spec = load_spec(args.spec)
    ctx = EvalContext(spec)
    data = load_study_data(args.store)
    if tuple(data.objectives) != (CAP, TBT, TDP):
        raise SystemExit(f"{args.store}: objectives {data.objectives}, expected {CAP, TBT, TDP}")
    base_pt = ador_point(ctx)
    paper = evaluate_point(ctx, base_pt)
    if not paper.feasible:
        raise SystemExit(f"ador-paper is infeasible in this study: {paper.reason}")
    pv = values(paper)
    feas = [t for t in data.feasible if not t.cache_hit]
    pts = [(t.number, values(t)) for t in feas]
    by_num = {t.number: t for t in feas}
    match = [n for n, v in pts if v[0] >= pv[0] and v[1] <= pv[1]]
    dom3 = [n for n, v in pts if v[0] >= pv[0] and v[1] <= pv[1] and v[2] <= pv[2]]
    front2, front3 = front(pts, 2), front(pts, 3)
    say(
        f"{len(feas)} feasible designs; {len(match)} match or dominate ador-paper on "
        f"(capacity/mm², TBT p99), {len(dom3)} also on power; 2-D front {len(front2)}"
    )
    if not match:
        raise SystemExit("no design matches ador-paper on (capacity/mm², TBT p99)")
    w_cap = max(match, key=lambda n: by_num[n].metrics[CAP])
    w_tbt = min((n for n in front2 if n in match), key=lambda n: by_num[n].metrics[TBT])
    winners = {"capacity winner": w_cap, "TBT winner": w_tbt}
    if dom3:
        winners["all-three winner"] = max(dom3, key=lambda n: by_num[n].metrics[CAP])
    names = list(winners)

    md: list[str] = [
        f"### Search: {data.name}, {len(data.trials)} trials, {len(feas)} feasible\n",
        f"ador-paper through the same stages: capacity/mm² {pv[0]:.4f}, TBT p99 {pv[1]:.2f} ms, "
        f"TDP {pv[2]:.0f} W. Designs matching or dominating it on (capacity/mm², TBT p99): "
        f"{len(match)}; also on power: {len(dom3)}. 2-D front: {len(front2)} designs, "
        f"3-D front: {len(front3)}.\n",
    ]
    # Spec table
    cols = ["", "ador-paper", *[f"{k} (#{winners[k]})" for k in names]]
    recs: list[Mapping[str, Any]] = [paper.config, *[by_num[winners[k]].config for k in names]]
    mets: list[Mapping[str, Any]] = [paper.metrics, *[by_num[winners[k]].metrics for k in names]]
    rows = [[label, *[fmt(r[f]) for r in recs]] for f, label in SPEC_ROWS]
    rows += [[label, *[fmt(float(m[f]), d) for m in mets]] for f, label, d in METRIC_ROWS]
    bds: list[Mapping[str, Any]] = [
        paper.area_breakdown,
        *[by_num[winners[k]].area_breakdown for k in names],
    ]
    rows += [[label, *[fmt(float(fn(b)), 2) for b in bds]] for label, fn in AREA_ROWS]
    probe_n = spec.file.scenarios[0].num_requests
    md += [f"#### Spec table (study path, {probe_n} requests per probe)\n", md_table(cols, rows)]

    # Re-score with more requests
    model = spec.models[0]
    wl = workload_preset(spec.file.scenarios[0].workload)
    slo = resolve_slo(model)
    resc: list[list[Any]] = []
    csv_rows: list[list[Any]] = []
    for label, params in (
        ("ador-paper", base_pt),
        *[(k, by_num[winners[k]].params) for k in names],
    ):
        hw = hardware_of(ctx, params, label.replace(" ", "-"))
        t0 = time.perf_counter()
        res = find_capacity(hw, model, wl, slo, args.rescore_requests, 0)
        rep = res.report
        area = by_num[winners[label]].area_mm2 if label in winners else paper.area_mm2
        assert area is not None
        resc.append(
            [
                label,
                fmt(res.max_rate_per_s),
                fmt(res.max_rate_per_s / area, 4),
                fmt(rep.ttft_ms.p90 if rep else math.nan, 0),
                fmt(rep.tbt_ms.p99 if rep else math.nan),
            ]
        )
        say(f"rescored {label}: {res.max_rate_per_s:.2f} req/s ({time.perf_counter() - t0:.0f} s)")
    base_cap = float(resc[0][2])
    for row in resc:
        row.append(fmt(float(row[2]) / base_cap))
    md += [
        f"#### Re-scored with {args.rescore_requests} requests (`capacity` path, seed 0)\n",
        md_table(
            ["design", "req/s", "req/s/mm²", "TTFT p90 ms", "TBT p99 ms", "× ador-paper"], resc
        ),
    ]

    # Knob costs: each differing knob moved alone, ador-paper → winner value, and winner → ador.
    win_params = dict(by_num[w_cap].params)
    knob_rows: list[list[Any]] = []
    for p in ctx.space.sampled:
        a, w = base_pt[p.name], win_params.get(p.name, base_pt[p.name])
        if a == w:
            continue
        fwd = evaluate_point(ctx, {**base_pt, p.name: w})
        back = evaluate_point(ctx, {**win_params, p.name: a})
        win = by_num[w_cap]

        def delta(r: PointResult, ref: Any, key: str) -> str:
            if key in ("area_mm2", "cost_usd"):
                x, y = getattr(r, key), getattr(ref, key)
            else:
                x, y = r.metrics.get(key, math.nan), ref.metrics.get(key, math.nan)
            return (
                f"{x - y:+.4g}" if r.feasible or key in ("area_mm2", "cost_usd") else "infeasible"
            )

        knob_rows.append(
            [
                p.name,
                a,
                w,
                delta(fwd, paper, "area_mm2"),
                delta(fwd, paper, "cost_usd"),
                delta(fwd, paper, TDP),
                delta(fwd, paper, CAP),
                delta(fwd, paper, TBT),
                delta(back, win, CAP) if back.feasible else f"infeasible ({back.rejected_by})",
                delta(back, win, "area_mm2"),
                delta(back, win, TDP),
            ]
        )
        csv_rows.append(["knob", *knob_rows[-1]])
    md += [
        f"#### Knobs where the capacity winner (#{w_cap}) differs from ador-paper\n",
        "Each knob moved alone. Left: from ador-paper to the winner's value (Δ against "
        "ador-paper). Right: the winner with that knob put back to ador-paper's value (Δ "
        "against the winner). A knob priced at zero would show Δarea = Δ$ = ΔTDP = 0.\n",
        md_table(
            [
                "knob",
                "ador-paper",
                "winner",
                "Δarea mm²",
                "Δ$",
                "ΔTDP W",
                "Δcap/mm²",
                "ΔTBT p99 ms",
                "winner back: Δcap/mm²",
                "Δarea mm²",
                "ΔTDP W",
            ],
            knob_rows,
        ),
    ]
    if args.contract:
        t0 = time.perf_counter()
        findings, sweeps = knob_findings(ctx, [base_pt, win_params])
        n_eval = sum(len(r) for runs in sweeps.values() for r in runs)
        text = (
            "none (no dead and no free knob)"
            if not findings
            else "; ".join(f"{f.param}: {f.kind} ({f.detail})" for f in findings)
        )
        md.append(
            f"#### Knob contract around ador-paper and #{w_cap}\n\n{n_eval} designs evaluated "
            f"in {time.perf_counter() - t0:.0f} s; findings: {text}.\n"
        )
    # Files
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "search.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["kind", "number", CAP, TBT, TDP, "dominates_ador_2d", "front2", "front3"])
        w.writerow(["ador-paper", "", *pv, "", "", ""])
        for n, v in pts:
            w.writerow(["trial", n, *v, n in match, n in front2, n in front3])
        for row in csv_rows:
            w.writerow(row)
    text = "\n".join(md)
    (args.out / "search.md").write_text(text)
    fig, ax = plt.subplots(figsize=(7, 5))
    xs, ys, cs = zip(*[(v[0], v[1], v[2]) for _, v in pts], strict=True)
    sc = ax.scatter(xs, ys, c=cs, cmap="viridis", s=14, label="feasible designs")
    fig.colorbar(sc, label="full-load power (W)")
    f2 = sorted((by_num[n].metrics[CAP], by_num[n].metrics[TBT]) for n in front2)
    ax.plot([a for a, _ in f2], [b for _, b in f2], "k-", lw=0.8, label="2-D front")
    ax.scatter([pv[0]], [pv[1]], marker="*", s=220, c="red", label="ador-paper")
    for k in names:
        m = by_num[winners[k]].metrics
        ax.annotate(k, (m[CAP], m[TBT]), fontsize=7)
    ax.set(xlabel="capacity under SLO per mm² (req/s/mm²)", ylabel="TBT p99 at capacity (ms)")
    ax.legend(fontsize=7)
    ax.set_title("llama-3-8b chat, A100 area and paper DRAM as budgets")
    fig.tight_layout()
    fig.savefig(args.out / "search.png", dpi=110)
    plt.close(fig)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
