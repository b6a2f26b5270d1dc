"""Search space → ArchConfig mapping and the staged evaluation of one point."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from ador_opt.explore.constraints import STAGES, first_violated_stage
from ador_opt.explore.evaluate import EvalContext, evaluate_point
from ador_opt.explore.space import MIN_GLOBAL_SRAM_MIB, realise
from ador_opt.explore.spec import validate_spec
from tests.explore_fixtures import spec_dict

SPEC = validate_spec(spec_dict())
CTX = EvalContext(SPEC)
GOOD = {"sa_dim": 64, "core_count": 32, "mt_lanes": 8, "local_sram_kib": 1024, "dram_gbps": 3200}


def test_derived_global_sram_and_square_arrays() -> None:
    real = realise(SPEC.space, GOOD)
    assert real.arch is not None and real.violation <= 0
    assert real.arch.sa_rows == real.arch.sa_cols == 64
    # 64 MiB budget − 32 cores × 1 MiB local = 32 MiB global (derived, not sampled).
    assert math.isclose(real.arch.global_sram_mib, 32.0)
    # Area-only overrides of the preset stay part of its die unless a field they describe
    # changes: dram_gbps 3200 ≠ 2000 re-derives the HBM PHYs; P2P is the preset's (12 links).
    assert real.arch.dram_phy_count == 0 and real.arch.p2p_link_count == 12
    same = realise(SPEC.space, {**GOOD, "dram_gbps": 2000})
    assert same.arch is not None and same.arch.dram_phy_count == 6


def test_no_mac_tree_and_sram_overflow() -> None:
    real = realise(SPEC.space, {**GOOD, "mt_lanes": 0})
    assert real.arch is not None and real.arch.mt_width == 0
    over = realise(SPEC.space, {**GOOD, "core_count": 64, "local_sram_kib": 2048})
    assert over.arch is None
    # 64 × 2 MiB = 128 MiB local (+1 MiB global minimum) over a 64 MiB budget.
    assert math.isclose(over.violation, (128 + MIN_GLOBAL_SRAM_MIB) / 64 - 1)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_every_grid_point_is_sane_or_flagged(data: st.DataObject) -> None:
    params = {p.name: data.draw(st.sampled_from(p.values)) for p in SPEC.space.sampled}
    real = realise(SPEC.space, params)
    assert (real.arch is None) == (real.violation > 0)
    if real.arch is not None:
        assert real.arch.sa_rows % 32 == 0
        assert real.arch.global_sram_mib >= MIN_GLOBAL_SRAM_MIB
    result = evaluate_point(CTX, params)
    assert all(math.isfinite(v) for v in result.values)
    assert set(result.constraints) == set(SPEC.constraints)
    assert result.rejected_by in ("", *STAGES)
    assert result.rejected_by == first_violated_stage(result.constraints)
    if result.rejected_by:
        # Placeholders = the reference point; no full evaluation ran.
        assert result.values == (0.0, 700.0)
        assert "tbt_ms" not in result.metrics or result.rejected_by == "serving_slo"
    if "tbt_ms" in result.metrics:
        # The roofline bound never exceeds what the full model computes.
        assert result.constraints["roofline_tbt"] <= result.constraints["slo_tbt"] + 1e-12
    if not result.rejected_by:
        assert all(v <= 0 for v in result.constraints.values())
        assert result.values[0] == result.metrics["throughput_per_mm2"]
        assert result.values[1] == result.area_mm2


def test_feasible_point_stores_the_schema_fields() -> None:
    r = evaluate_point(CTX, GOOD)
    assert r.rejected_by == "" and r.reason == ""
    assert r.config["sa_rows"] == 64 and r.config["global_sram_mib"] == 32.0
    assert math.isclose(r.area_breakdown["total_mm2"], r.area_mm2)
    for key in ("ttft_ms", "tbt_ms", "e2e_ms", "throughput_tokens_per_s", "area_mm2"):
        assert r.metrics[key] > 0
    assert r.metrics["throughput_per_mm2"] * r.area_mm2 == r.metrics["throughput_tokens_per_s"]


def test_budget_rejection_skips_the_simulation() -> None:
    big = {**GOOD, "sa_dim": 128, "core_count": 64, "local_sram_kib": 256, "mt_lanes": 16}
    r = evaluate_point(CTX, big)
    assert r.area_mm2 > 700
    assert r.rejected_by == "budget"
    assert math.isclose(r.constraints["area"], r.area_mm2 / 700 - 1)
    assert r.constraints["slo_tbt"] == 0.0  # not evaluated
    assert "tbt_ms" not in r.metrics
    assert r.values == (0.0, 700.0)


def test_slo_rejection_by_roofline_bound() -> None:
    data = spec_dict()
    data["slo"]["tbt_ms"] = 1.0  # below the weight-streaming time of an 8B model at 3.2 TB/s
    ctx = EvalContext(validate_spec(data))
    r = evaluate_point(ctx, GOOD)
    assert r.rejected_by == "roofline_slo"
    # 7.50 G linear weights × 2 B / 3.2 TB/s ≈ 4.7 ms ≫ 1 ms.
    assert 3.5 < r.constraints["roofline_tbt"] < 4.5
    assert "tbt_ms" not in r.metrics


def test_sanity_rejection_keeps_a_config_and_lower_bound_area() -> None:
    r = evaluate_point(CTX, {**GOOD, "core_count": 64, "local_sram_kib": 2048})
    assert r.rejected_by == "sanity" and r.constraints["sanity"] > 0
    assert r.config["core_count"] == 64 and r.config["global_sram_mib"] < 0
    assert r.area_mm2 > 0 and all(v == 0 for k, v in r.constraints.items() if k != "sanity")


def test_evaluation_is_deterministic() -> None:
    assert evaluate_point(CTX, GOOD).values == evaluate_point(CTX, dict(GOOD)).values


def test_serving_scenario_metrics_and_swappable_capacity_stage() -> None:
    data = spec_dict()
    data["scenarios"] = [{"kind": "serving", "workload": "chat", "num_requests": 60}]
    data["slo"] = {"ttft_p90_ms": 2000.0, "tbt_p99_ms": 200.0}
    data["objectives"] = [{"name": "capacity_per_mm2"}, {"name": "tbt_p99_ms"}]
    spec = validate_spec(data)
    assert spec.constraints[-1] == "slo_capacity"
    calls = []

    def fake(hw, model, sc, ttft_ms, tbt_ms, tp):
        calls.append((ttft_ms, tbt_ms, tp, sc.num_requests))
        return {"capacity_rps": 12.0, "ttft_p90_ms": 900.0, "tbt_p99_ms": 30.0}

    r = evaluate_point(EvalContext(spec, capacity_fn=fake), GOOD)
    assert calls == [(2000.0, 200.0, 1, 60)]
    assert r.rejected_by == ""
    assert math.isclose(r.metrics["capacity_per_mm2"], 12.0 / r.area_mm2)
    assert r.values == (r.metrics["capacity_per_mm2"], 30.0)
    zero = evaluate_point(EvalContext(spec, capacity_fn=lambda *a: {"capacity_rps": 0.0}), GOOD)
    assert zero.rejected_by == "serving_slo" and zero.constraints["slo_capacity"] > 0
    # The real simulator (small run): a positive capacity and the percentiles at that rate.
    real = evaluate_point(EvalContext(spec), GOOD)
    assert real.metrics["capacity_rps"] > 0
    assert 0 < real.metrics["tbt_p99_ms"] <= 200.0
    assert 0 < real.metrics["ttft_p90_ms"] <= 2000.0


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(*(st.integers(0, 6) for _ in range(3))), min_size=1, max_size=30),
    st.lists(st.sampled_from(["minimize", "maximize"]), min_size=3, max_size=3),
)
def test_pareto_mask_matches_moocore(rows: list[tuple[int, ...]], directions: list[str]) -> None:
    import moocore
    import numpy as np

    from ador_opt.explore.pareto import nondominated_mask

    values = np.array(rows, dtype=float)
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    expected = moocore.is_nondominated(values * signs, keep_weakly=True)
    assert (nondominated_mask(values, directions) == expected).all()


def test_tp_that_does_not_divide_the_heads_is_insane() -> None:
    data = spec_dict()
    data["model"]["names"] = ["llama-3-8b"]  # 32 heads
    data["space"].update(devices=3, tp=3)
    r = evaluate_point(EvalContext(validate_spec(data)), GOOD)
    assert r.rejected_by == "sanity" and "tp=3" in r.reason
    assert r.area_mm2 > 0 and r.config["tp"] == 3
