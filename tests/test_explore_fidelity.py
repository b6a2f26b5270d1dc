"""Multi-fidelity: the capacity search stops once its bracket shows the design cannot reach
the study's front, and the bracketing takes fewer probes than the plain ×2 search."""

from __future__ import annotations

import tomllib

from ador_opt.explore.evaluate import EvalContext, evaluate_point
from ador_opt.explore.spec import validate_spec
from ador_opt.hardware import load_hardware
from ador_opt.models import load_model
from ador_opt.serving import Slo, workload_preset
from ador_opt.serving.capacity import find_capacity

SPEC = tomllib.loads(
    """
[study]
name = "fid"
n_trials = 2

[model]
names = ["llama-3-8b"]

[[scenarios]]
kind = "serving"
workload = "chat"
num_requests = 80
seed = 0

[slo]
ttft_p90_ms = 2000.0
tbt_p99_ms = 200.0

[budget]
area_mm2 = 900.0

[space]
base = "ador-paper"
core_count = { choices = [32, 48] }

[[objectives]]
name = "capacity_per_mm2"

[[objectives]]
name = "tbt_p99_ms"

[[objectives]]
name = "area_mm2"
"""
)
POINT = {"core_count": 32}


def test_stop_ends_the_bisection_with_a_bracket() -> None:
    hw, model, wl = load_hardware("ador-paper"), load_model("llama-3-8b"), workload_preset("chat")
    slo = Slo(2000.0, 200.0)
    full = find_capacity(hw, model, wl, slo, 80, seed=0)
    calls = []

    def stop(lo: float, hi: float, report: object) -> bool:
        calls.append((lo, hi))
        return True

    early = find_capacity(hw, model, wl, slo, 80, seed=0, stop=stop)
    assert early.stopped_early and calls
    assert len(early.probes) < len(full.probes)
    # The bracket holds the precise answer: lo ≤ capacity < hi.
    assert early.max_rate_per_s <= full.max_rate_per_s < early.upper_rate_per_s
    assert not full.stopped_early and full.upper_rate_per_s / full.max_rate_per_s <= 1.02 + 1e-9


def test_a_design_dominated_by_the_front_is_not_refined() -> None:
    spec = validate_spec(SPEC)
    alone = evaluate_point(EvalContext(spec), POINT)
    assert alone.feasible and "capacity_upper_rps" not in alone.metrics
    # A front design better in every objective than anything this design can reach.
    best = (alone.metrics["capacity_per_mm2"] * 10, 1e-3, 1.0)
    dominated = evaluate_point(EvalContext(spec, front=(best,)), POINT)
    assert dominated.feasible
    assert dominated.metrics["capacity_probes"] < alone.metrics["capacity_probes"]
    assert dominated.metrics["capacity_rps"] <= alone.metrics["capacity_rps"]
    assert dominated.metrics["capacity_upper_rps"] > alone.metrics["capacity_rps"]
    # A front that does not dominate it (worse area) changes nothing.
    other = (alone.metrics["capacity_per_mm2"] * 10, 1e-3, alone.area_mm2 * 2)
    same = evaluate_point(EvalContext(spec, front=(other,)), POINT)
    assert same.metrics == alone.metrics
