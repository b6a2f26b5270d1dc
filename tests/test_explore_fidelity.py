"""Multi-fidelity: the capacity search stops once its bracket shows the design cannot reach
the study's front, and the bracketing takes fewer probes than the plain ×2 search."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ador_opt.explore.cache import ResultCache
from ador_opt.explore.evaluate import (
    EvalContext,
    capacity_start_scale,
    evaluate_point,
    serving_bound,
    serving_slo,
)
from ador_opt.explore.samplers import make_sampler
from ador_opt.explore.space import realise
from ador_opt.explore.spec import StudySpec, validate_spec
from ador_opt.explore.study import TrialObjective, count_trials
from ador_opt.hardware import load_hardware
from ador_opt.models import load_model
from ador_opt.serving import Slo, simulate, workload_preset
from ador_opt.serving.capacity import find_capacity, slo_violations

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
    # (bound skip off: this test is about the bracket's early stop)
    dominated = evaluate_point(EvalContext(spec, front=(best,), bound_skip=False), POINT)
    assert dominated.feasible
    assert dominated.metrics["capacity_probes"] < alone.metrics["capacity_probes"]
    assert dominated.metrics["capacity_rps"] <= alone.metrics["capacity_rps"]
    assert dominated.metrics["capacity_upper_rps"] > alone.metrics["capacity_rps"]
    # A front that does not dominate it (worse area) changes nothing.
    other = (alone.metrics["capacity_per_mm2"] * 10, 1e-3, alone.area_mm2 * 2)
    same = evaluate_point(EvalContext(spec, front=(other,)), POINT)
    assert same.metrics == alone.metrics


# --- the optimistic bound skip ---------------------------------------------------------------
def test_the_optimistic_bound_is_optimistic_on_several_designs() -> None:
    """The bound's capacity is above, and its latency floors below, what the full simulation
    measures (at the study's fidelity) — on designs from slow to fast; and it is finite (not
    vacuous) where the run is long enough to queue."""
    data = json.loads(json.dumps(SPEC))
    data["scenarios"][0]["num_requests"] = 300
    data["space"] = {"base": "ador-paper", "core_count": {"choices": [16, 32, 64]},
                     "dram_gbps": {"choices": [1600, 4000]}}  # fmt: skip
    spec = validate_spec(data)
    model, sc = spec.models[0], spec.file.scenarios[0]
    finite = 0
    for point in ({"core_count": 16, "dram_gbps": 1600}, {"core_count": 64, "dram_gbps": 4000},
                  {"core_count": 32, "dram_gbps": 1600}):  # fmt: skip
        arch = realise(spec.space, point).arch
        bound = serving_bound(arch, model, sc, serving_slo(spec, model))
        full = evaluate_point(EvalContext(spec), point)
        assert full.feasible
        assert full.metrics["capacity_rps"] < bound["capacity_rps"]
        assert bound["tbt_p99_ms"] < full.metrics["tbt_p99_ms"]
        assert bound["ttft_p90_ms"] < full.metrics["ttft_p90_ms"]
        finite += bound["capacity_rps"] < 10 * full.metrics["capacity_rps"]
    assert finite >= 2


def queueing_spec() -> StudySpec:
    """SPEC with a run long enough that the capacity bound is finite (no simulation runs in
    the tests that use it: `capacity_fn` stands in for it)."""
    data = json.loads(json.dumps(SPEC))
    data["scenarios"][0]["num_requests"] = 300
    return validate_spec(data)


def test_a_design_whose_bound_is_dominated_is_skipped_without_simulation() -> None:
    spec = queueing_spec()
    calls = []

    def capacity(*args: object) -> dict[str, float]:
        calls.append(args)
        return {"capacity_rps": 1.0, "tbt_p99_ms": 50.0, "ttft_p90_ms": 100.0}

    best = (1e9, 1e-6, 1.0)  # beats any bound
    skipped = evaluate_point(EvalContext(spec, capacity_fn=capacity, front=(best,)), POINT)
    assert skipped.skipped == "bound_dominated" and not skipped.feasible and not calls
    assert "bound_capacity_rps" in skipped.metrics and "capacity_rps" not in skipped.metrics
    assert "optimistic bound" in skipped.reason
    # A front that does not dominate the bound (a larger area) lets the simulation run.
    worse = (1e9, 1e-6, 1e6)
    ran = evaluate_point(EvalContext(spec, capacity_fn=capacity, front=(worse,)), POINT)
    assert ran.feasible and not ran.skipped and len(calls) == 1
    # Off by request.
    off = evaluate_point(
        EvalContext(spec, capacity_fn=capacity, front=(best,), bound_skip=False), POINT
    )
    assert off.feasible and len(calls) == 2


def test_a_skipped_trial_is_pruned_with_its_reason_and_never_an_observation() -> None:
    spec = queueing_spec()
    study = optuna.create_study(directions=spec.directions, sampler=make_sampler(spec, 0))
    cache = ResultCache()

    def capacity(*args: object) -> dict[str, float]:
        return {"capacity_rps": 1.0, "tbt_p99_ms": 50.0, "ttft_p90_ms": 100.0}

    # A cache whose one feasible design dominates every bound.
    cache.put("front", {"rejected_by": "", "values": [1e9, 1e-6, 1.0], "metrics": {}})
    objective = TrialObjective(EvalContext(spec, capacity_fn=capacity), cache)
    study.optimize(objective, n_trials=2)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.PRUNED] * 2
    for t in trials:
        assert t.values is None  # nothing a surrogate could read as an objective value
        assert t.user_attrs["skipped"] == "bound_dominated"
        assert "optimistic bound" in t.user_attrs["reason"]
        assert t.user_attrs["metrics"]["bound_capacity_rps"] > 0
        assert all(v <= 0 for v in t.constraints.values())
    counts = count_trials(study)
    assert counts.skipped == 2 and counts.complete == 2 and counts.feasible == 0


# --- warm-started capacity search -----------------------------------------------------------
def test_a_warm_start_is_confirmed_by_the_full_simulation() -> None:
    """With a predicted start the search takes fewer probes, and its answer is what the
    full-fidelity simulator confirms: the capacity meets the SLO, a rate one bracket width
    above does not."""
    hw, model, wl = load_hardware("ador-paper"), load_model("llama-3-8b"), workload_preset("chat")
    slo = Slo(2000.0, 200.0)
    cold = find_capacity(hw, model, wl, slo, 80, seed=0, rel_tol=0.05)
    ratio = cold.max_rate_per_s / cold.saturation_estimate_per_s
    warm = find_capacity(
        hw, model, wl, slo, 80, seed=0, rel_tol=0.05, start_scale=ratio * 1.01, first_step=1.0495
    )
    assert len(warm.probes) < len(cold.probes)
    assert warm.upper_rate_per_s / warm.max_rate_per_s <= 1.05 + 1e-9
    for rate, ok in ((warm.max_rate_per_s, True), (warm.upper_rate_per_s, False)):
        report = simulate(hw, model, wl, rate, 80, 0, slo=slo)
        assert (not slo_violations(report, slo)) is ok
    # cold and warm agree within the bracket width
    assert abs(warm.max_rate_per_s / cold.max_rate_per_s - 1) <= 0.05 + 1e-9


def test_neighbours_predict_the_start() -> None:
    spec = validate_spec(SPEC)
    arch = realise(spec.space, POINT).arch
    near = {**arch.to_dict(), "core_count": 40}
    far = {**arch.to_dict(), "core_count": 256, "dram_gbps": 100.0}
    ctx = EvalContext(spec, neighbours=((near, 1.2), (near, 1.2), (far, 0.5)))
    assert capacity_start_scale(ctx, arch) == pytest.approx(1.2)
    assert capacity_start_scale(EvalContext(spec, neighbours=((near, 1.2),)), arch) is None


def test_many_neighbours_predict_the_start_by_a_log_linear_fit() -> None:
    """From WARM_FIT_MIN_KNOWN simulated designs on, the ratio comes from a fit over all of
    them: designs whose ratio follows a power law of the core count and the DRAM bandwidth
    predict it at a core count none of them has (the 4 nearest all have more cores, so their
    median is ≥ 12 % off)."""
    from ador_opt.explore.evaluate import WARM_FIT_MIN_KNOWN

    spec = validate_spec(SPEC)
    arch = realise(spec.space, POINT).arch
    assert arch is not None
    base = arch.to_dict()

    def law(cores: float, dram: float) -> float:
        return 0.5 * (cores / arch.core_count) ** 0.5 * (dram / arch.dram_gbps) ** -0.3

    known = []
    for cores in (64, 96, 128, 192, 256):
        for dram in (0.5 * arch.dram_gbps, 2.0 * arch.dram_gbps):
            known.append(({**base, "core_count": cores, "dram_gbps": dram}, law(cores, dram)))
    assert len(known) >= WARM_FIT_MIN_KNOWN
    fitted = capacity_start_scale(EvalContext(spec, neighbours=tuple(known)), arch)
    assert fitted == pytest.approx(0.5, rel=0.05)  # the ridge penalty shrinks the slopes a little
    nearest = capacity_start_scale(EvalContext(spec, neighbours=tuple(known[:4])), arch)
    assert nearest is not None and abs(nearest / 0.5 - 1) > 0.12


def test_a_trial_exempts_the_memos_from_the_cycle_collector_until_the_run_ends(
    tmp_path: Path,
) -> None:
    """After an evaluation the objects alive (the perf and step-time memos) are frozen out of
    the cyclic collector's scans; `run_trials` unfreezes them when it returns."""
    import gc

    from ador_opt.explore import create_or_open, resolve_store, run_trials

    spec = validate_spec(SPEC)
    study = optuna.create_study(directions=spec.directions, sampler=make_sampler(spec, 0))

    def capacity(*args: object) -> dict[str, float]:
        return {"capacity_rps": 1.0, "tbt_p99_ms": 50.0, "ttft_p90_ms": 100.0}

    gc.unfreeze()
    try:
        study.optimize(TrialObjective(EvalContext(spec, capacity_fn=capacity), ResultCache()), 1)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    ref = resolve_store(str(tmp_path / "s.db"))
    stored, _ = create_or_open(ref, spec)
    run_trials(stored, ref, 1, seed=0, capacity_fn=capacity)
    assert gc.get_freeze_count() == 0
