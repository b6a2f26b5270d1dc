"""Static PNG figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, never a window

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ador_opt.explore.pareto import HypervolumeHistory
from ador_opt.report import figures as fg
from ador_opt.report.tables import DesignEntry

DPI = 110


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _direction_hint(axis: fg.Axis) -> str:
    return "  (higher is better →)" if axis.maximise else "  (← lower is better)"


def pareto_png(pair: fg.PairData, title: str, path: Path) -> Path:
    # Fixed margins instead of constrained layout (which costs ≈ 0.5 s per figure).
    fig, ax = plt.subplots(figsize=(7.0, 5.6))
    fig.subplots_adjust(left=0.13, right=0.97, top=0.93, bottom=0.21)
    n_inf = len(pair.infeasible_xy)
    if n_inf:
        est = pair.infeasible_estimated.any(axis=1)
        # Evaluated infeasible trials at their real values; the others in a band at the edge.
        for mask, size, alpha, width, label in (
            (~est, 16, 0.6, 0.8, "infeasible"),
            (est, 12, 0.3, 0.6, "infeasible, not evaluated: at axis edge"),
        ):
            if mask.any():
                ax.scatter(
                    pair.infeasible_xy[mask][:, 0],
                    pair.infeasible_xy[mask][:, 1],
                    marker="x",
                    s=size,
                    c=fg.COLOR_INFEASIBLE,
                    alpha=alpha,
                    linewidths=width,
                    label=f"{label} ({int(mask.sum())})",
                )
    if len(pair.feasible_xy):
        ax.scatter(
            pair.feasible_xy[:, 0],
            pair.feasible_xy[:, 1],
            s=14,
            c=fg.COLOR_FEASIBLE,
            alpha=0.55,
            label=f"feasible ({len(pair.feasible_xy)})",
        )
        if len(pair.staircase) > 1:
            # Attainment line: "pre" when x is maximised, "post" when minimised.
            ax.step(
                pair.staircase[:, 0],
                pair.staircase[:, 1],
                where="pre" if pair.x.maximise else "post",
                c=fg.COLOR_FRONT,
                lw=1.0,
                alpha=0.7,
                label="2-D front",
            )
        ax.scatter(
            pair.front_xy[:, 0],
            pair.front_xy[:, 1],
            s=36,
            c=fg.COLOR_FRONT,
            edgecolors="black",
            linewidths=0.5,
            zorder=3,
            label=f"Pareto-optimal ({len(pair.front_xy)})",
        )
    else:
        ax.text(
            0.5,
            0.5,
            "no feasible trial",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=14,
            color=fg.COLOR_FRONT,
        )
    for label, x, y in pair.baselines:
        ax.scatter(
            [x],
            [y],
            marker="D",
            s=40,
            c=fg.COLOR_BASELINE,
            edgecolors="black",
            linewidths=0.5,
            zorder=4,
        )
        ax.annotate(
            label, (x, y), textcoords="offset points", xytext=(5, -10), fontsize=8, color="#2d6a3e"
        )
    for k, (label, x, y) in enumerate(pair.chosen):  # staggered so close labels stay legible
        ax.annotate(
            label,
            (x, y),
            textcoords="offset points",
            xytext=(4, 6 + 10 * (k % 4)),
            fontsize=8,
            fontweight="bold",
            arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "black"},
        )
    if pair.x.log:
        ax.set_xscale("log")
    if pair.y.log:
        ax.set_yscale("log")
    ax.set_xlabel(pair.x.label + _direction_hint(pair.x))
    ax.set_ylabel(
        pair.y.label + ("  (higher is better ↑)" if pair.y.maximise else "  (lower is better ↓)")
    )
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    if pair.baselines:
        ax.scatter([], [], marker="D", c=fg.COLOR_BASELINE, label="preset baselines")
    # Below the axes: never hides points, and no costly "best" placement over many points.
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=3, frameon=False)
    return _save(fig, path)


def hypervolume_png(history: HypervolumeHistory | None, title: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    fig.subplots_adjust(left=0.12, right=0.97, top=0.86, bottom=0.13)
    if history is None or not history.trial_numbers:
        ax.text(
            0.5,
            0.5,
            "no reference point or no trial: hypervolume undefined",
            transform=ax.transAxes,
            ha="center",
            va="center",
        )
    else:
        ax.step(history.trial_numbers, history.hypervolume, where="post", c=fg.COLOR_FRONT)
        ax.fill_between(
            history.trial_numbers,
            history.hypervolume,
            step="post",
            color=fg.COLOR_FRONT,
            alpha=0.15,
        )
        if history.final == 0.0:
            ax.text(
                0.5,
                0.5,
                "no feasible trial beats the reference point: hypervolume 0",
                transform=ax.transAxes,
                ha="center",
                va="center",
            )
        ref = ", ".join(f"{v:g}" for v in history.reference_point)
        ax.set_title(f"{title}\nreference point ({ref})", fontsize=10)
    ax.set_xlabel("trial number")
    ax.set_ylabel("hypervolume of the feasible front")
    ax.grid(True, alpha=0.3)
    return _save(fig, path)


def area_png(entries: Sequence[DesignEntry], title: str, path: Path) -> Path:
    labels, stack = fg.area_stack(entries)
    width = max(6.0, 1.1 * len(labels) + 3)
    fig, ax = plt.subplots(figsize=(width, 4.8))
    fig.subplots_adjust(left=0.8 / width, right=1 - 2.3 / width, top=0.92, bottom=0.2)
    if not labels:
        ax.text(0.5, 0.5, "no area breakdown stored", transform=ax.transAxes, ha="center")
    else:
        x = np.arange(len(labels))
        bottom = np.zeros(len(labels))
        cmap = plt.get_cmap("tab10")
        for k, (name, heights) in enumerate(stack.items()):
            h = np.asarray(heights)
            if not h.any():
                continue
            ax.bar(x, h, bottom=bottom, label=name, color=cmap(k), width=0.65)
            bottom += h
        for xi, total in zip(x, bottom, strict=True):
            ax.text(float(xi), float(total), f"{total:.0f}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(x, labels, rotation=20, ha="right")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_ylabel("die area (mm², 7 nm)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)
