"""Measured effect of every template knob, one at a time, on ador-paper (docs/perf-hda.md).

For each knob, every other field stays at the ador-paper preset (area-only overrides cleared,
as inside a study) and the knob takes each listed value; each design runs `evaluate` on
llama-3-8b fp16, 1024 prompt + 1024 output tokens, at batch 1, 16 and 150 (the paper's Fig. 15
batches). Link knobs (`p2p_*`, `tp_sync`) run the same model on a TP2 pair; two combined
sweeps show the MAC tree's shape at 256 MACs per core and its lanes with in-array weight
double buffering. Printed as one
Markdown table per knob: TTFT and TBT (ms) per batch, die area (mm²), full-load power (W) and
energy per output token at batch 16 (mJ).

    python benchmarks/knob_effects.py > /tmp/knobs.md
    python benchmarks/knob_effects.py --knob mt_lanes     # one knob
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ador_opt.hardware.area import die_area_mm2
from ador_opt.hardware.presets import HARDWARE_PRESETS, Hardware
from ador_opt.models import load_model
from ador_opt.perf.evaluate import evaluate_design

BATCHES = (1, 16, 150)
INPUT_LEN = OUTPUT_LEN = 1024

# knob → (values, base overrides). Values bracket the paper's point and the shipped ranges.
KNOBS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "freq_mhz": ((1000.0, 1500.0, 2000.0, 2500.0, 3000.0), {}),  # 3000: above the ceiling
    "core_count": ((16, 24, 32, 48, 64), {}),
    "sa_dim": ((32, 64, 96, 128), {}),
    "sa_per_core": ((1, 2, 4), {}),
    "sa_weight_double_buffer": ((False, True), {}),
    "mt_lanes": ((0, 1, 2, 4, 8, 16, 32), {}),
    "mt_width": ((4, 8, 16, 32, 64), {}),
    "vector_width": ((8, 16, 32, 64, 128, 256), {}),
    "local_sram_kib": ((256.0, 512.0, 1024.0, 2048.0, 4096.0), {}),
    "global_sram_mib": ((4.0, 8.0, 16.0, 32.0, 64.0), {}),
    "noc_gbps": ((512.0, 1024.0, 2048.0, 4096.0, 8192.0), {}),
    "dram_type": (("hbm2e", "hbm3", "hbm3e"), {}),
    "dram_gbps": ((1000.0, 1600.0, 2000.0, 3200.0, 4000.0), {}),
    "dram_gib": ((24.0, 48.0, 80.0, 128.0), {}),
    "p2p_type": (("pcie4", "pcie5", "nvlink3", "nvlink4"), {"devices": 2, "tp": 2}),
    "p2p_gbps": ((16.0, 32.0, 64.0, 128.0, 256.0), {"devices": 2, "tp": 2}),
    "tp_sync": (("all-gather", "all-reduce", "megatron"), {"devices": 2, "tp": 2}),
}
# Two-field sweeps: knob → (label, fields) rows; the tree's shape at a fixed 256 MACs per core,
# and MAC-tree lanes with in-array weight double buffering.
COMBOS: dict[str, tuple[tuple[str, dict[str, Any]], ...]] = {
    "mt_shape": tuple(
        (f"{lanes} lanes × {256 // lanes}", {"mt_lanes": lanes, "mt_width": 256 // lanes})
        for lanes in (1, 2, 4, 8, 16, 32)
    ),
    "mt_lanes+double_buffer": tuple(
        (
            f"{lanes} lanes",
            {"mt_lanes": lanes, "mt_width": 16 if lanes else 0, "sa_weight_double_buffer": True},
        )
        for lanes in (0, 1, 2, 4, 8, 16, 32)
    ),
}


def _design(name: str, fields: dict[str, Any]) -> Hardware:
    base = HARDWARE_PRESETS["ador-paper"].arch
    assert base is not None
    return Hardware(name, base.replace(name=name, **fields), None)


# A preset's area-only override describes its physical die; a knob that changes what the
# override sizes re-derives it (as a study trial does).
AREA_OVERRIDE_OF = {
    "core_count": "physical_core_count",
    "dram_type": "dram_phy_count",
    "dram_gbps": "dram_phy_count",
    "dram_gib": "dram_phy_count",
    "p2p_type": "p2p_link_count",
    "p2p_gbps": "p2p_link_count",
}


def _rows(knob: str) -> list[tuple[str, dict[str, Any]]]:
    if knob in COMBOS:
        return list(COMBOS[knob])
    values, overrides = KNOBS[knob]
    rows = []
    for value in values:
        fields = dict(overrides)
        if knob == "sa_dim":
            fields["sa_rows"] = fields["sa_cols"] = value
        else:
            fields[knob] = value
        if knob == "mt_lanes" and value == 0:
            fields["mt_width"] = 0
        if knob in AREA_OVERRIDE_OF:
            fields[AREA_OVERRIDE_OF[knob]] = 0
        rows.append((str(value), fields))
    return rows


def _tdp_w(hw: Hardware) -> float | None:
    try:
        from ador_opt.hardware.power import power_breakdown
    except ImportError:
        return None
    assert hw.arch is not None
    return float(power_breakdown(hw.arch).tdp_w)


def _fmt(x: Any, digits: int = 2) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def knob_table(knob: str) -> str:
    model = load_model("llama-3-8b")
    head = ["value"]
    for b in BATCHES:
        head += [f"TTFT b{b} ms", f"TBT b{b} ms"]
    head += ["area mm²", "TDP W", "mJ/token b16"]
    lines = [f"### `{knob}`", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, fields in _rows(knob):
        try:
            hw = _design(f"{knob}={label}", fields)
        except Exception as exc:  # an invalid value of the template
            lines.append(f"| {label} | refused: {exc} |")
            continue
        assert hw.arch is not None
        row = [label]
        energy = None
        for b in BATCHES:
            doc = evaluate_design(hw, model, b, INPUT_LEN, OUTPUT_LEN, hw.arch.tp)
            if not doc.get("feasible"):
                row += ["infeasible", "infeasible"]
                continue
            row += [_fmt(doc["ttft_ms"]), _fmt(doc["tbt_ms"])]
            if b == 16 and doc.get("energy_per_token_j") is not None:
                energy = 1e3 * float(doc["energy_per_token_j"])
        row += [_fmt(die_area_mm2(hw.arch), 1), _fmt(_tdp_w(hw), 0), _fmt(energy, 2)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knob", choices=sorted([*KNOBS, *COMBOS]), action="append")
    args = parser.parse_args(argv)
    for knob in args.knob or [*KNOBS, *COMBOS]:
        try:
            sys.stdout.write(knob_table(knob) + "\n")
        except Exception as exc:  # a knob the template does not have (yet)
            sys.stdout.write(f"### `{knob}`\n\nnot measured: {exc}\n\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
