"""Constraint names, the pruning stage each belongs to, and their normalised values.

Stages run cheapest first (DESIGN §7): parameter sanity → area/$/power budget and die-edge
(shoreline) fit → SRAM holds one token →
weights + KV fit → roofline bound already violates the SLO → full evaluation (serving simulation
or static batch). Stages 1–5 cost microseconds and are all evaluated for every valid
configuration (so the samplers learn every violation); the full evaluation runs only when they
all pass. A trial's `rejected_by` is the first stage with a violated constraint. Constraints that
were not evaluated (everything after a sanity failure, the full-evaluation ones after an earlier
rejection) are recorded as 0.0 ("not violated as far as known").

Every value follows Optuna's convention (≤ 0 feasible) and is *relative* — `need / limit − 1` —
so that constraints of different units (mm², $, bytes, ms) add up meaningfully in the samplers'
"sum of violations" ranking of infeasible trials.
"""

from __future__ import annotations

from dataclasses import dataclass

STAGES = ("sanity", "budget", "sram", "memory", "roofline_slo", "serving_slo")


@dataclass(frozen=True, slots=True)
class ConstraintDef:
    name: str
    stage: str
    description: str


CONSTRAINTS: dict[str, ConstraintDef] = {
    c.name: c
    for c in (
        ConstraintDef("sanity", "sanity", "parameters form a valid ArchConfig"),
        ConstraintDef("area", "budget", "die area ≤ budget.area_mm2"),
        ConstraintDef("cost", "budget", "device cost ≤ budget.cost_usd"),
        ConstraintDef("power", "budget", "full-load power (TDP) ≤ budget.power_w"),
        ConstraintDef("shoreline", "budget", "memory + link PHYs fit along the die edge"),
        ConstraintDef("sram", "sram", "local SRAM holds one token's activations"),
        ConstraintDef("memory", "memory", "weights + KV of the scenario fit DRAM"),
        ConstraintDef("roofline_ttft", "roofline_slo", "TTFT lower bound ≤ TTFT SLO"),
        ConstraintDef("roofline_tbt", "roofline_slo", "TBT lower bound ≤ TBT SLO"),
        ConstraintDef("slo_ttft", "serving_slo", "static-batch TTFT ≤ slo.ttft_ms"),
        ConstraintDef("slo_tbt", "serving_slo", "static-batch TBT ≤ slo.tbt_ms"),
        ConstraintDef("slo_capacity", "serving_slo", "some arrival rate meets the serving SLOs"),
    )
}


def relative_violation(need: float, limit: float) -> float:
    """`need / limit − 1`: ≤ 0 when `need ≤ limit`."""
    return need / limit - 1.0


def first_violated_stage(values: dict[str, float]) -> str:
    """The earliest stage (in `STAGES` order) with a positive constraint value, or ""."""
    for stage in STAGES:
        for name, value in values.items():
            if CONSTRAINTS[name].stage == stage and value > 0:
                return stage
    return ""
