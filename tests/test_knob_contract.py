"""Knob contract (issue 11): over the shipped study ranges every searchable field costs
something and changes something — no dead knob, no free lunch (`ador_opt.explore.knobs`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ador_opt.explore.evaluate import EvalContext, PointResult
from ador_opt.explore.knobs import check_param, dominates, knob_findings
from ador_opt.explore.space import Param
from ador_opt.explore.spec import load_spec

STUDIES = sorted((Path(__file__).resolve().parents[1] / "studies").glob("**/*.toml"))
# The paper-reproduction studies (2,000 requests per capacity probe) take 60–90 s each: run
# with `pytest -m slow`, like the other long checks.
CASES = [
    pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.parent.name == "paper" else [])
    for p in STUDIES
]


@pytest.mark.parametrize("path", CASES)
def test_every_knob_costs_and_changes_something(path: Path) -> None:
    ctx = EvalContext(load_spec(path))
    findings, sweeps = knob_findings(ctx)
    assert sweeps, "the study samples no parameter"
    assert not findings, "\n".join(f"{f.param}: {f.kind} ({f.detail})" for f in findings)


def _result(metrics: dict[str, float], area: float = 100.0) -> PointResult:
    return PointResult(
        params={},
        config={},
        area_mm2=area,
        cost_usd=10.0,
        peak_tflops=1.0,
        area_breakdown={},
        metrics={"area_mm2": area, "cost_usd": 10.0, **metrics},
        constraints={"area": -0.5},
        rejected_by="",
        reason="",
        values=(),
        cache_key="",
    )


def test_the_checker_flags_dead_and_free_knobs() -> None:
    """The contract itself can fail: a knob that changes nothing is dead, one that only
    improves TBT at no area is free, one that trades TBT for area is neither."""
    ctx = EvalContext(load_spec(STUDIES[0]))
    knob = Param("noc_gbps", "float", (1.0, 2.0, 3.0), False)
    tbt = next(o.name for o in ctx.spec.objectives if o.name == "tbt_ms")
    same = [_result({tbt: 10.0}) for _ in range(3)]
    assert {f.kind for f in check_param(ctx, knob, same)} == {"dead"}
    free = [_result({tbt: t}) for t in (12.0, 11.0, 10.0)]
    assert [f.kind for f in check_param(ctx, knob, free)] == ["free"]
    assert dominates(ctx, free[2], free[0]) and not dominates(ctx, free[0], free[2])
    traded = [_result({tbt: t}, area=a) for t, a in ((12.0, 90.0), (11.0, 95.0), (10.0, 99.0))]
    assert check_param(ctx, knob, traded) == []


@pytest.mark.parametrize(
    ("space", "key"),
    [
        ({"tp_sync": {"choices": ["all-gather", "megatron"]}, "sa_dim": 64}, "space.tp_sync"),
        ({"p2p_gbps": {"choices": [32, 64]}}, "space.p2p_gbps"),
        ({"p2p_type": {"choices": ["pcie5", "nvlink3"]}}, "space.p2p_type"),
        ({"devices": 4, "p2p_gbps": {"choices": [32, 64]}}, "space.p2p_gbps"),
        ({"mt_lanes": 0, "mt_width": {"choices": [8, 16]}}, "space.mt_width"),
    ],
)
def test_spec_refuses_redundant_parameters(space: dict[str, object], key: str) -> None:
    from ador_opt.errors import InputError
    from ador_opt.explore.space import parse_space

    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        parse_space({"base": "ador-paper", **space})


def test_redundancy_rules_allow_the_useful_cases() -> None:
    from ador_opt.explore.space import parse_space

    parse_space(
        {
            "base": "ador-paper",
            "devices": 2,
            "tp": 2,
            "tp_sync": {"choices": ["all-gather", "megatron"]},
        }
    )
    parse_space(
        {
            "base": "ador-paper",
            "devices": 4,
            "tp": {"choices": [1, 2]},
            "p2p_gbps": {"choices": [32, 64]},
        }
    )
    parse_space({"base": "ador-paper", "mt_width": {"choices": [8, 16]}})
