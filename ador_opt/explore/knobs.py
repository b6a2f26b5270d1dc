"""The knob contract: every searchable field must cost something and change something.

An optimiser finds every free lunch in its model. For each sampled parameter of a study's
space this module sweeps the parameter over all its values with every other parameter held at
a reference point, evaluates each design through the study's own pruning stages
(`evaluate_point`, no Optuna), and reports two kinds of defect:

* **dead** — two designs that differ only in this parameter (adjacent values) have identical
  objectives, constraint values and costs: the knob does nothing there;
* **free** — stepping the parameter in one direction is, at *every* step of its whole range,
  no worse in any objective or cost and strictly better in at least one (for a categorical
  parameter: one choice weakly dominates every other): the optimiser would always take it.

Costs are the design's area, manufacturing cost and full-load power (`COST_METRICS`) whether
or not the study optimises them. Values are compared with a relative tolerance `REL_TOL`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ador_opt.explore.evaluate import EvalContext, PointResult, evaluate_point
from ador_opt.explore.objectives import METRICS
from ador_opt.explore.space import Param, base_config

# Metrics that price a design (lower is cheaper); absent ones are skipped.
COST_METRICS = ("area_mm2", "cost_usd", "tdp_w", "power_w")
REL_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class Finding:
    """One contract violation: `kind` is "dead" or "free"; `detail` says where."""

    param: str
    kind: str
    detail: str


class _Memo:
    """`evaluate_point` once per distinct point: the reference point recurs in the sweep of
    every parameter, and the feasibility search revisits sweep points."""

    def __init__(self, ctx: EvalContext) -> None:
        self.ctx = ctx
        self._done: dict[tuple[tuple[str, Any], ...], PointResult] = {}

    def __call__(self, point: Mapping[str, Any]) -> PointResult:
        key = tuple(sorted(point.items()))
        if key not in self._done:
            self._done[key] = evaluate_point(self.ctx, point)
        return self._done[key]


def _evaluator(ctx: EvalContext, memo: _Memo | None) -> _Memo:
    return memo if memo is not None and memo.ctx is ctx else _Memo(ctx)


def _feasible_near(
    ctx: EvalContext, point: dict[str, Any], memo: _Memo | None = None
) -> dict[str, Any] | None:
    """`point`, or the nearest feasible point reached by moving one parameter at a time to
    its nearest value that makes the design feasible (None when none does)."""
    ev = _evaluator(ctx, memo)
    if ev(point).feasible:
        return point
    for p in ctx.space.sampled:
        here = p.values.index(point[p.name])
        for v in sorted(p.values, key=lambda x: abs(p.values.index(x) - here)):
            if ev({**point, p.name: v}).feasible:
                return {**point, p.name: v}
    return None


def reference_point(ctx: EvalContext, memo: _Memo | None = None) -> dict[str, Any]:
    """Sampled values of the reference design: the base preset's value where the parameter
    allows it, else the middle of the parameter's values; when that design is infeasible, the
    nearest feasible one (a sweep around an infeasible point compares placeholders)."""
    base = base_config(ctx.space.base).to_dict()
    point: dict[str, Any] = {}
    for p in ctx.space.sampled:
        own = base.get("sa_rows") if p.name == "sa_dim" else base.get(p.name)
        point[p.name] = own if own in p.values else p.values[len(p.values) // 2]
    return _feasible_near(ctx, point, memo) or point


def reference_points(ctx: EvalContext, memo: _Memo | None = None) -> list[dict[str, Any]]:
    """The reference design plus the space's low and high corners (every parameter at its
    first or last value), each moved to feasibility; corners that cannot be are dropped."""
    points = [reference_point(ctx, memo)]
    for pick in (0, -1):
        corner = _feasible_near(ctx, {p.name: p.values[pick] for p in ctx.space.sampled}, memo)
        if corner is not None and corner not in points:
            points.append(corner)
    return points


def sweep(
    ctx: EvalContext, param: Param, point: Mapping[str, Any], memo: _Memo | None = None
) -> list[PointResult]:
    """Evaluate the reference point with `param` set to each of its values, in order."""
    ev = _evaluator(ctx, memo)
    return [ev({**point, param.name: v}) for v in param.values]


def _goals(ctx: EvalContext, r: PointResult) -> dict[str, tuple[float, str]]:
    """Each compared quantity of a result: value and direction."""
    out: dict[str, tuple[float, str]] = {}
    for o in ctx.spec.objectives:
        if o.name in r.metrics:
            out[o.name] = (float(r.metrics[o.name]), o.direction)
    for name in COST_METRICS:
        if name in r.metrics:
            out[name] = (float(r.metrics[name]), METRICS[name].direction)
    out.setdefault("area_mm2", (r.area_mm2, "minimize"))
    out.setdefault("cost_usd", (r.cost_usd, "minimize"))
    for name, v in r.constraints.items():
        out[f"constraint:{name}"] = (max(float(v), 0.0), "minimize")  # only violations count
    return out


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= REL_TOL * max(1.0, abs(a), abs(b))


def _identical(ctx: EvalContext, a: PointResult, b: PointResult) -> bool:
    ga, gb = _goals(ctx, a), _goals(ctx, b)
    if set(ga) != set(gb):
        return False
    raw_a = {**a.metrics, **{f"c:{k}": v for k, v in a.constraints.items()}}
    raw_b = {**b.metrics, **{f"c:{k}": v for k, v in b.constraints.items()}}
    if set(raw_a) != set(raw_b):
        return False
    return all(_close(float(raw_a[k]), float(raw_b[k])) for k in raw_a)


def dominates(ctx: EvalContext, new: PointResult, old: PointResult) -> bool:
    """`new` is no worse than `old` in every objective, cost and constraint violation, and
    strictly better in at least one (quantities missing from either side make it False)."""
    gn, go = _goals(ctx, new), _goals(ctx, old)
    if set(gn) != set(go):
        return False
    better = False
    for name, (vn, direction) in gn.items():
        vo = go[name][0]
        if _close(vn, vo):
            continue
        if (vn < vo) == (direction == "minimize"):
            better = True
        else:
            return False
    return better


def check_param(ctx: EvalContext, param: Param, results: Sequence[PointResult]) -> list[Finding]:
    """Dead and free findings of one parameter from its sweep `results`."""
    found: list[Finding] = []
    values = param.values
    for i in range(len(values) - 1):
        if _identical(ctx, results[i], results[i + 1]):
            found.append(
                Finding(param.name, "dead", f"{values[i]!r} and {values[i + 1]!r} are identical")
            )
    if len(values) < 2:
        return found
    if param.kind == "cat":
        for i, r in enumerate(results):
            if all(dominates(ctx, r, o) for j, o in enumerate(results) if j != i):
                found.append(Finding(param.name, "free", f"{values[i]!r} dominates every choice"))
        return found
    steps = range(len(values) - 1)
    if all(dominates(ctx, results[i + 1], results[i]) for i in steps):
        found.append(Finding(param.name, "free", f"raising it is free up to {values[-1]!r}"))
    if all(dominates(ctx, results[i], results[i + 1]) for i in steps):
        found.append(Finding(param.name, "free", f"lowering it is free down to {values[0]!r}"))
    return found


def knob_findings(
    ctx: EvalContext, points: Sequence[Mapping[str, Any]] | None = None
) -> tuple[list[Finding], dict[str, list[list[PointResult]]]]:
    """Findings over every sampled parameter of the study's space, swept around each of
    `points` (default `reference_points`). A knob is dead where any sweep has two identical
    neighbours, and free only when it is free in the sweep around every point."""
    memo = _Memo(ctx)
    refs = [dict(p) for p in points] if points is not None else reference_points(ctx, memo)
    findings: list[Finding] = []
    sweeps: dict[str, list[list[PointResult]]] = {}
    for param in ctx.space.sampled:
        runs = [sweep(ctx, param, ref, memo) for ref in refs]
        sweeps[param.name] = runs
        per_point = [check_param(ctx, param, results) for results in runs]
        dead = {f.detail: f for found in per_point for f in found if f.kind == "dead"}
        findings.extend(dead.values())
        free_sets = [{f.detail for f in found if f.kind == "free"} for found in per_point]
        for detail in sorted(set.intersection(*free_sets)):
            findings.append(Finding(param.name, "free", f"{detail} around every reference"))
    return findings, sweeps
