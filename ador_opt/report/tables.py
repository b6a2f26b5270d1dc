"""The paper-style specification table and the metric comparison, as plain rows.

Both tables put the study's chosen designs beside the preset baselines. Rows are strings ready
for HTML, markdown (dashboard note) or a rich console table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ador_opt.explore.objectives import is_maximised, unit_of
from ador_opt.hardware.presets import HARDWARE_PRESETS
from ador_opt.report.baselines import DesignMetrics, area_efficiency
from ador_opt.report.load import TrialRecord


@dataclass(frozen=True, slots=True)
class DesignEntry:
    """One column of the tables: a chosen trial of the study or a preset baseline."""

    label: str  # column header, e.g. "#42" or "a100"
    role: str  # why it is shown, e.g. "best tbt_ms", "baseline"
    config: Mapping[str, Any]
    area_mm2: float | None
    cost_usd: float | None
    peak_tflops: float | None
    metrics: Mapping[str, float]
    area_breakdown: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    is_baseline: bool = False
    trial_number: int | None = None


def entry_from_trial(trial: TrialRecord, role: str, devices: int = 1) -> DesignEntry:
    metrics = dict(trial.metrics)
    if trial.area_mm2 is not None:
        devs = int(trial.config.get("devices", devices) or devices)
        for k, v in area_efficiency(metrics, trial.area_mm2, devs).items():
            metrics.setdefault(k, v)
    for key in ("area_mm2", "cost_usd", "peak_tflops"):
        value = getattr(trial, key)
        if value is not None:
            metrics.setdefault(key, value)
    return DesignEntry(
        label=f"#{trial.number}",
        role=role,
        config=trial.config or trial.params,
        area_mm2=trial.area_mm2,
        cost_usd=trial.cost_usd,
        peak_tflops=trial.peak_tflops,
        metrics=metrics,
        area_breakdown=trial.area_breakdown,
        trial_number=trial.number,
    )


def entry_from_baseline(result: DesignMetrics) -> DesignEntry:
    from ador_opt.hardware import area_breakdown

    hw = HARDWARE_PRESETS[result.name]
    assert hw.arch is not None
    return DesignEntry(
        label=result.name,
        role="baseline (computed)",
        config=hw.arch.to_dict(),
        area_mm2=result.area_mm2,
        cost_usd=result.cost_usd,
        peak_tflops=result.peak_tflops,
        metrics=result.metrics,
        area_breakdown=area_breakdown(hw.arch).to_dict(),
        notes=result.notes,
        is_baseline=True,
    )


def _num(value: Any, fmt: str = "{:g}") -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return str(value)


def _sa(c: Mapping[str, Any]) -> str:
    if "sa_rows" not in c:
        return "–"
    return f"{_num(c.get('sa_rows'))}×{_num(c.get('sa_cols', c.get('sa_rows')))}"


def _mt(c: Mapping[str, Any]) -> str:
    if not c.get("mt_lanes") or not c.get("mt_width"):
        return "–"
    return f"{_num(c['mt_width'])}×{_num(c['mt_lanes'])}"


def _dram(c: Mapping[str, Any]) -> str:
    if "dram_gib" not in c:
        return "–"
    return f"{_num(c['dram_gib'])} ({c.get('dram_type', '?')})"


def _tbps(c: Mapping[str, Any]) -> str:
    return _num(c["dram_gbps"] / 1000.0, "{:.3g}") if "dram_gbps" in c else "–"


def _p2p(c: Mapping[str, Any]) -> str:
    if "p2p_gbps" not in c:
        return "–"
    return f"{_num(c['p2p_gbps'])} ({c.get('p2p_type', '?')})"


def _tp(c: Mapping[str, Any]) -> str:
    return f"{_num(c.get('devices', 1))} / {_num(c.get('tp', 1))}"


# (row label, cell function). The paper's table (§VI) has the rows frequency … die area; its
# "Lane Count" is read as systolic arrays per core (see hardware/presets.py).
SpecRow = tuple[str, Callable[[DesignEntry], str]]
SPEC_ROWS: tuple[SpecRow, ...] = (
    ("Core frequency (MHz)", lambda e: _num(e.config.get("freq_mhz"))),
    ("Systolic array (PEs)", lambda e: _sa(e.config)),
    ("Systolic arrays per core (paper: lane count)", lambda e: _num(e.config.get("sa_per_core"))),
    ("MAC tree (inputs × lanes)", lambda e: _mt(e.config)),
    ("Vector unit (lanes)", lambda e: _num(e.config.get("vector_width"))),
    ("Core count", lambda e: _num(e.config.get("core_count"))),
    ("Local memory (KiB/core)", lambda e: _num(e.config.get("local_sram_kib"), "{:.4g}")),
    ("Global memory (MiB)", lambda e: _num(e.config.get("global_sram_mib"), "{:.4g}")),
    ("NoC bandwidth (GB/s)", lambda e: _num(e.config.get("noc_gbps"))),
    ("DRAM size (GiB)", lambda e: _dram(e.config)),
    ("DRAM bandwidth (TB/s)", lambda e: _tbps(e.config)),
    ("P2P bandwidth (GB/s)", lambda e: _p2p(e.config)),
    ("Devices / TP", lambda e: _tp(e.config)),
    ("Performance (TFLOPS, dense FP16)", lambda e: _num(e.peak_tflops, "{:.1f}")),
    ("Die area (7 nm, mm²)", lambda e: _num(e.area_mm2, "{:.1f}")),
    ("Cost ($ per device)", lambda e: _num(e.cost_usd, "{:,.0f}")),
)


def spec_table(entries: Sequence[DesignEntry]) -> tuple[list[str], list[list[str]]]:
    """Header (first cell "Specification") and one row per spec line."""
    header = ["Specification", *(e.label for e in entries)]
    rows = [[label, *(fn(e) for e in entries)] for label, fn in SPEC_ROWS]
    return header, rows


# Metric columns of the comparison, in display order (units and directions: the metrics
# registry, `ador_opt/explore/objectives.py`; `ttft_area_eff`/`tbt_area_eff` are the paper's
# area efficiency, 1/(latency · silicon area)).
COMPARISON_METRICS: tuple[str, ...] = (
    "ttft_ms",
    "tbt_ms",
    "throughput_tokens_per_s",
    "throughput_per_mm2",
    "ttft_area_eff",
    "tbt_area_eff",
    "capacity_rps",
    "capacity_per_mm2",
    "capacity_per_usd",
    "ttft_p90_ms",
    "tbt_p99_ms",
    "area_mm2",
    "peak_tflops",
)


def comparison_table(
    entries: Sequence[DesignEntry], objectives: Sequence[str] = ()
) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, one row per design, and the metric keys used (only those some design has).
    The best value of each column is marked with ★ (direction from the metric's definition)."""
    keys = [k for k in objectives if k not in COMPARISON_METRICS] + list(COMPARISON_METRICS)
    keys = [k for k in dict.fromkeys(keys) if any(k in e.metrics for e in entries)]
    header = ["Design", "Shown as"]
    for k in keys:
        unit = unit_of(k)
        header.append(f"{k} ({unit})" if unit else k)
    best: dict[str, float] = {}
    for k in keys:
        vals = [e.metrics[k] for e in entries if k in e.metrics]
        if vals:
            best[k] = max(vals) if is_maximised(k) else min(vals)
    rows = []
    for e in entries:
        row = [e.label, e.role]
        for k in keys:
            if k in e.metrics:
                v = e.metrics[k]
                mark = " ★" if len(entries) > 1 and v == best.get(k) else ""
                row.append(f"{v:.4g}{mark}")
            else:
                row.append("–")
        rows.append(row)
    return header, rows, keys


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """GitHub-flavoured markdown (the dashboard renders study notes as markdown)."""

    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
