"""Interactive figures (plotly) for the HTML page and the dashboard."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from ador_opt.explore.pareto import HypervolumeHistory
from ador_opt.report import figures as fg
from ador_opt.report.tables import DesignEntry

LAYOUT = {
    "template": "plotly_white",
    "height": 520,
    "margin": {"l": 70, "r": 20, "t": 60, "b": 60},
}


def _points(
    xy: np.ndarray, name: str, text: list[str], marker: dict[str, Any], gl: bool = True
) -> go.Scatter | go.Scattergl:
    """One marker trace of an n×2 array, hover text and both coordinates on hover (WebGL for
    the many-point traces)."""
    trace = go.Scattergl if gl else go.Scatter
    return trace(
        x=xy[:, 0], y=xy[:, 1], mode="markers", name=name, text=text,
        hoverinfo="text+x+y", marker=marker,
    )  # fmt: skip


def _centre_note(fig: go.Figure, text: str, **style: Any) -> None:
    """A message in the middle of an empty figure."""
    fig.add_annotation(
        text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, **style
    )


def pareto_figure(pair: fg.PairData, title: str) -> go.Figure:
    fig = go.Figure()
    if len(pair.infeasible_xy):
        est = [bool(row.any()) for row in pair.infeasible_estimated]
        text = [
            f"trial #{n}<br>rejected by: {r}"
            + ("<br>(unevaluated value at axis edge)" if e else "")
            for n, r, e in zip(pair.infeasible_numbers, pair.infeasible_reason, est, strict=True)
        ]
        marker = {"symbol": "x", "size": 6, "color": fg.COLOR_INFEASIBLE, "opacity": 0.5}
        fig.add_trace(
            _points(pair.infeasible_xy, f"infeasible ({len(pair.infeasible_xy)})", text, marker)
        )
    if len(pair.feasible_xy):
        fig.add_trace(
            _points(
                pair.feasible_xy,
                f"feasible ({len(pair.feasible_xy)})",
                [f"trial #{n}" for n in pair.feasible_numbers],
                {"size": 6, "color": fg.COLOR_FEASIBLE, "opacity": 0.6},
            )
        )
        if len(pair.staircase) > 1:
            fig.add_trace(
                go.Scatter(
                    x=pair.staircase[:, 0],
                    y=pair.staircase[:, 1],
                    mode="lines",
                    name="2-D front",
                    line={
                        "color": fg.COLOR_FRONT,
                        "width": 1,
                        "shape": "vh" if pair.x.maximise else "hv",
                    },
                    hoverinfo="skip",
                )
            )
        fig.add_trace(
            _points(
                pair.front_xy,
                f"Pareto-optimal ({len(pair.front_xy)})",
                [f"trial #{n} (Pareto-optimal)" for n in pair.front_numbers],
                {"size": 10, "color": fg.COLOR_FRONT, "line": {"width": 1, "color": "black"}},
                gl=False,
            )
        )
    else:
        _centre_note(fig, "no feasible trial", font={"size": 18, "color": fg.COLOR_FRONT})
    if pair.baselines:
        fig.add_trace(
            go.Scatter(
                x=[b[1] for b in pair.baselines],
                y=[b[2] for b in pair.baselines],
                mode="markers+text",
                name="preset baselines",
                text=[b[0] for b in pair.baselines],
                textposition="bottom right",
                marker={"symbol": "diamond", "size": 10, "color": fg.COLOR_BASELINE},
            )
        )
    for k, (label, x, y) in enumerate(pair.chosen):
        # Plotly places annotations on a log axis in log10 units.
        fig.add_annotation(
            x=math.log10(x) if pair.x.log else x,
            y=math.log10(y) if pair.y.log else y,
            text=label,
            showarrow=True,
            arrowhead=0,
            ax=18,
            ay=-18 - 14 * (k % 4),
            font={"size": 11},
        )
    hint_x = " (higher is better →)" if pair.x.maximise else " (← lower is better)"
    hint_y = " (higher is better)" if pair.y.maximise else " (lower is better)"
    fig.update_layout(title=title, legend={"orientation": "h", "y": -0.22}, **LAYOUT)
    fig.update_xaxes(title=pair.x.label + hint_x, type="log" if pair.x.log else "linear")
    fig.update_yaxes(title=pair.y.label + hint_y, type="log" if pair.y.log else "linear")
    return fig


def hypervolume_figure(history: HypervolumeHistory | None, title: str) -> go.Figure:
    fig = go.Figure()
    if history is not None and history.trial_numbers:
        fig.add_trace(
            go.Scatter(
                x=list(history.trial_numbers),
                y=list(history.hypervolume),
                mode="lines",
                line={"shape": "hv", "color": fg.COLOR_FRONT},
                fill="tozeroy",
                name="hypervolume",
            )
        )
        ref = ", ".join(f"{v:g}" for v in history.reference_point)
        title = f"{title}<br><sup>reference point ({ref})</sup>"
    else:
        _centre_note(fig, "hypervolume undefined (no reference point or no trial)")
    fig.update_layout(title=title, **LAYOUT)
    fig.update_xaxes(title="trial number")
    fig.update_yaxes(title="hypervolume of the feasible front")
    return fig


def area_figure(entries: Sequence[DesignEntry], title: str) -> go.Figure:
    labels, stack = fg.area_stack(entries)
    fig = go.Figure()
    for name, heights in stack.items():
        if any(heights):
            fig.add_trace(
                go.Bar(
                    x=labels,
                    y=heights,
                    name=name,
                    hovertemplate="%{x}: %{y:.1f} mm²<extra>" + name + "</extra>",
                )
            )
    fig.update_layout(title=title, barmode="stack", **LAYOUT)
    fig.update_yaxes(title="die area (mm², 7 nm)")
    return fig
