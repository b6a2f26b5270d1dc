"""Plot data shared by the PNG (matplotlib) and HTML (plotly) renderers.

Infeasible trials carry placeholder objective values (schema), so they are drawn at their real
value where the stages that ran produced it (e.g. die area is known for a design rejected by the
budget) and otherwise in a band just beyond the worse end of the axis, marked "not evaluated".
This keeps the axes on the real data and still shows every trial.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ador_opt.explore.pareto import front_2d, pareto_trials
from ador_opt.report.load import StudyData
from ador_opt.report.tables import DesignEntry

# At most this many objective pairs get a scatter (all pairs of up to 4 objectives).
MAX_PAIRS = 6
# Width of the "not evaluated" band beyond the worse end of an axis, as a fraction of its span.
EDGE_BAND = 0.08
# Use a log axis when all values are positive and span more than this ratio.
LOG_RATIO = 20.0

COLOR_FEASIBLE = "#4c72b0"
COLOR_FRONT = "#c44e52"
COLOR_INFEASIBLE = "#8c8c8c"
COLOR_BASELINE = "#55a868"


@dataclass(frozen=True, slots=True)
class Axis:
    index: int
    label: str
    maximise: bool
    log: bool
    edge: float  # where unknown values are drawn (inner side of the band)
    band: float  # signed band width (linear units, or decades on a log axis)

    def band_positions(self, n: int, seed: int) -> np.ndarray:
        """`n` deterministic positions spread over the band (so unevaluated trials do not
        all sit on one spot)."""
        u = np.random.default_rng(seed).random(n)
        if self.log:
            return np.asarray(10 ** (np.log10(self.edge) + u * self.band))
        return self.edge + u * self.band


@dataclass(frozen=True, slots=True)
class PairData:
    """Everything one 2-D Pareto scatter shows."""

    x: Axis
    y: Axis
    feasible_xy: np.ndarray  # n×2
    feasible_numbers: tuple[int, ...]
    front_xy: np.ndarray  # N-D Pareto-optimal feasible trials
    front_numbers: tuple[int, ...]
    staircase: np.ndarray  # 2-D non-dominated line of the feasible points
    infeasible_xy: np.ndarray
    infeasible_numbers: tuple[int, ...]
    infeasible_reason: tuple[str, ...]
    infeasible_estimated: np.ndarray  # n×2 bool: True where the value is the edge band
    chosen: tuple[tuple[str, float, float], ...]  # (label, x, y)
    baselines: tuple[tuple[str, float, float], ...]


def objective_pairs(n: int) -> list[tuple[int, int]]:
    return list(itertools.combinations(range(n), 2))[:MAX_PAIRS]


def edge_band(
    values: Sequence[float], maximise: bool, log: bool | None = None
) -> tuple[bool, float, float]:
    """`(log, edge, band)` of an axis over the known `values`: the "not evaluated" band starts
    at `edge`, just beyond the worse end, and is `band` wide (signed; decades on a log axis).
    `log=None` picks a log axis when the positive values span more than `LOG_RATIO`."""
    arr = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if len(arr) == 0:
        return False, 0.0, -1.0 if maximise else 1.0
    lo, hi = float(arr.min()), float(arr.max())
    if log is None:
        log = lo > 0 and hi / lo > LOG_RATIO
    sign = -1.0 if maximise else 1.0  # the band lies beyond the worse end
    if log:
        llo, lhi = np.log10(lo), np.log10(hi)
        span = max(lhi - llo, 0.1)
        edge = 10 ** ((llo if maximise else lhi) + sign * EDGE_BAND * span)
    else:
        span = hi - lo if hi > lo else max(abs(hi), 1.0)
        edge = (lo if maximise else hi) + sign * EDGE_BAND * span
    return bool(log), float(edge), sign * EDGE_BAND * span


def _axis(study: StudyData, k: int, values: list[float]) -> Axis:
    log, edge, band = edge_band(values, study.maximise[k])
    return Axis(k, study.label(k), study.maximise[k], log, edge, band)


def pair_data(
    study: StudyData,
    i: int,
    j: int,
    front_numbers: set[int],
    chosen: Sequence[DesignEntry] = (),
    baselines: Sequence[DesignEntry] = (),
) -> PairData:
    feas = study.feasible
    infeas = [t for t in study.trials if not t.feasible]
    names = study.objectives

    def known(k: int) -> list[float]:
        vals = [t.values[k] for t in feas]
        vals += [t.known[k] for t in infeas if t.known[k] is not None]  # type: ignore[misc]
        vals += [b.metrics[names[k]] for b in baselines if names[k] in b.metrics]
        return vals

    ax, ay = _axis(study, i, known(i)), _axis(study, j, known(j))
    fxy = np.array([[t.values[i], t.values[j]] for t in feas], dtype=float).reshape(-1, 2)
    on_front = np.array([t.number in front_numbers for t in feas], dtype=bool)
    est = np.array([[t.known[i] is None, t.known[j] is None] for t in infeas], dtype=bool).reshape(
        -1, 2
    )
    ixy = np.array([[t.known[i] or 0.0, t.known[j] or 0.0] for t in infeas], dtype=float).reshape(
        -1, 2
    )
    for col, axis in ((0, ax), (1, ay)):
        ixy[est[:, col], col] = axis.band_positions(int(est[:, col].sum()), seed=col)
    stair = front_2d(fxy, (ax.maximise, ay.maximise)) if len(fxy) else fxy
    chosen_pts = tuple(
        (e.label, float(e.metrics[names[i]]), float(e.metrics[names[j]]))
        for e in chosen
        if names[i] in e.metrics and names[j] in e.metrics
    )
    base_pts = tuple(
        (e.label, float(e.metrics[names[i]]), float(e.metrics[names[j]]))
        for e in baselines
        if names[i] in e.metrics and names[j] in e.metrics
    )
    return PairData(
        x=ax,
        y=ay,
        feasible_xy=fxy,
        feasible_numbers=tuple(t.number for t in feas),
        front_xy=fxy[on_front] if len(fxy) else fxy,
        front_numbers=tuple(t.number for t, m in zip(feas, on_front, strict=True) if m),
        staircase=stair,
        infeasible_xy=ixy,
        infeasible_numbers=tuple(t.number for t in infeas),
        infeasible_reason=tuple(t.rejected_by or "constraint" for t in infeas),
        infeasible_estimated=est,
        chosen=chosen_pts,
        baselines=base_pts,
    )


def front_numbers(study: StudyData) -> set[int]:
    return {t.number for t in pareto_trials(study)}


# Area components of the stacked bar: (label, function of an AreaBreakdown dict → mm² per die).
AreaFn = Callable[[Mapping[str, float]], float]


def _per_core(key: str) -> AreaFn:
    return lambda b: b.get(key, 0.0) * b.get("physical_cores", 0.0)


AREA_COMPONENTS: tuple[tuple[str, AreaFn], ...] = (
    ("systolic arrays", _per_core("core_systolic_mm2")),
    ("MAC trees", _per_core("core_mac_tree_mm2")),
    (
        "vector, control, registers",
        lambda b: (
            (
                b.get("core_control_mm2", 0.0)
                + b.get("core_vector_alu_mm2", 0.0)
                + b.get("core_register_file_mm2", 0.0)
            )
            * b.get("physical_cores", 0.0)
        ),
    ),
    ("local SRAM", _per_core("core_local_sram_mm2")),
    ("core crossbars", _per_core("core_crossbar_mm2")),
    ("global SRAM", lambda b: b.get("global_sram_mm2", 0.0)),
    ("DRAM PHY + controllers", lambda b: b.get("dram_phy_mm2", 0.0) + b.get("dram_ctrl_mm2", 0.0)),
    ("P2P PHY + controllers", lambda b: b.get("p2p_phy_mm2", 0.0) + b.get("p2p_ctrl_mm2", 0.0)),
)


def area_stack(entries: Sequence[DesignEntry]) -> tuple[list[str], dict[str, list[float]]]:
    """Design labels and, per component, its mm² in each design (designs without a breakdown
    are left out)."""
    shown = [e for e in entries if e.area_breakdown]
    labels = [e.label for e in shown]
    stack = {name: [float(fn(e.area_breakdown)) for e in shown] for name, fn in AREA_COMPONENTS}
    return labels, stack
