"""Robust studies: objectives aggregated over models × scenarios (worst, weighted mean,
quantile); constraints always the worst pair."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ador_opt.errors import InputError
from ador_opt.explore.evaluate import EvalContext, evaluate_point
from ador_opt.explore.objectives import aggregate
from ador_opt.explore.spec import load_spec, validate_spec
from tests.explore_fixtures import spec_dict

ROOT = Path(__file__).resolve().parents[1]


def test_aggregates_on_known_values() -> None:
    up = [3.0, 1.0, 2.0]  # a maximised metric
    assert aggregate("throughput_per_mm2", up) == 1.0
    assert aggregate("throughput_per_mm2", up, "mean") == pytest.approx(2.0)
    assert aggregate("throughput_per_mm2", up, "mean", [2.0, 1.0, 1.0]) == pytest.approx(2.25)
    # reached or beaten on half the weight: the median; on all of it: the worst
    assert aggregate("throughput_per_mm2", up, "quantile", quantile=0.5) == 2.0
    assert aggregate("throughput_per_mm2", up, "quantile", quantile=1.0) == 1.0
    down = [10.0, 30.0, 20.0]  # a minimised metric: the upper tail is the bad one
    assert aggregate("tbt_ms", down) == 30.0
    assert aggregate("tbt_ms", down, "quantile", quantile=0.5) == 20.0
    assert aggregate("tbt_ms", down, "quantile", [1.0, 1.0, 8.0], quantile=0.5) == 20.0
    assert aggregate("tbt_ms", down, "quantile", [8.0, 1.0, 1.0], quantile=0.5) == 10.0
    with pytest.raises(ValueError):
        aggregate("tbt_ms", down, "median")


values_st = st.lists(st.floats(0.1, 1e4), min_size=1, max_size=6)


@given(values_st, st.floats(0.01, 1.0))
def test_quantile_lies_between_best_and_worst_and_one_is_worst(values, q) -> None:
    for name in ("capacity_per_mm2", "tbt_p99_ms"):
        v = aggregate(name, values, "quantile", quantile=q)
        assert min(values) <= v <= max(values)
        assert v in values
        assert aggregate(name, values, "quantile", quantile=1.0) == aggregate(name, values)
        m = aggregate(name, values, "mean")
        assert min(values) - 1e-9 <= m <= max(values) + 1e-9


def two_model_spec(robust: str = "") -> dict:
    import tomllib

    data = spec_dict("robust")
    data["model"]["names"] = ["llama-3-8b", "llama-2-7b"]
    data["scenarios"].append(
        {"kind": "static", "name": "long", "batch": 2, "input_len": 512, "output_len": 16}
    )
    data["scenarios"][0]["name"] = "short"
    if robust:
        data["robust"] = tomllib.loads(robust)["robust"]
    return data


POINT = {
    "sa_dim": 64,
    "core_count": 32,
    "mt_lanes": 8,
    "local_sram_kib": 1024,
    "dram_gbps": 3200,
}


def test_weighted_mean_study_aggregates_the_pairs_and_keeps_worst_constraints() -> None:
    robust = (
        '[robust]\naggregate = "mean"\nmodel_weights = [3.0, 1.0]\nscenario_weights = [1.0, 1.0]\n'
    )
    mean_spec = validate_spec(two_model_spec(robust))
    worst_spec = validate_spec(two_model_spec())
    r_mean = evaluate_point(EvalContext(mean_spec), POINT)
    r_worst = evaluate_point(EvalContext(worst_spec), POINT)
    assert r_mean.feasible and r_worst.feasible
    pairs = [
        r_mean.metrics[f"throughput_per_mm2@{m}/{s}"]
        for m in ("llama-3-8b", "llama-2-7b")
        for s in ("short", "long")
    ]
    weights = [3.0, 3.0, 1.0, 1.0]
    want = sum(p * w for p, w in zip(pairs, weights, strict=True)) / sum(weights)
    assert r_mean.metrics["throughput_per_mm2"] == pytest.approx(want)
    assert r_worst.metrics["throughput_per_mm2"] == pytest.approx(min(pairs))
    assert r_mean.values[0] > r_worst.values[0]
    # per-pair numbers and constraints do not depend on the aggregation
    assert r_mean.constraints == r_worst.constraints
    # the cache key does: the two studies must not share results
    assert r_mean.cache_key != r_worst.cache_key
    assert math.isclose(r_mean.area_mm2, r_worst.area_mm2)


def test_quantile_study_takes_the_share_of_pairs() -> None:
    spec = validate_spec(two_model_spec('[robust]\naggregate = "quantile"\nquantile = 0.5\n'))
    r = evaluate_point(EvalContext(spec), POINT)
    models, scenarios = ("llama-3-8b", "llama-2-7b"), ("short", "long")
    pairs = sorted(r.metrics[f"tbt_ms@{m}/{s}"] for m in models for s in scenarios)
    assert r.metrics["tbt_ms"] == pairs[1]  # two of four pairs are at least this fast


@pytest.mark.parametrize(
    ("robust", "needle"),
    [
        ('[robust]\naggregate = "mean"\nmodel_weights = [1.0]\n', "robust.model_weights"),
        ('[robust]\naggregate = "mean"\nscenario_weights = [1.0, -1.0]\n', "scenario_weights"),
        ('[robust]\naggregate = "quantile"\nquantile = 0\n', "robust.quantile"),
        ('[robust]\naggregate = "median"\n', "robust.aggregate"),
        ("[robust]\nmodel_weights = [1.0, 2.0]\n", "no effect"),
        ("[robust]\nweight = 1\n", "unknown key"),
    ],
)
def test_bad_robust_sections_name_the_key(robust: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        validate_spec(two_model_spec(robust))


def test_specs_without_robust_keep_their_hash() -> None:
    data = spec_dict("h")
    spec = validate_spec(data)
    assert "robust" not in spec.to_dict()
    assert validate_spec(spec.to_dict()).spec_hash() == spec.spec_hash()


def test_shipped_robust_example_loads() -> None:
    spec = load_spec(ROOT / "studies" / "robust-8b-chat-long.toml")
    assert spec.file.robust is not None
    assert len(spec.models) * len(spec.file.scenarios) >= 4
