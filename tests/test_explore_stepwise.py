"""The paper's stepwise search (§V) as a sampler: its allocation rules and its moves."""

from __future__ import annotations

import math
from pathlib import Path

from optuna.trial import TrialState

from ador_opt.explore import create_or_open, realise, resolve_store, run_trials, validate_spec
from ador_opt.explore.stepwise import StepwisePlanner
from ador_opt.hardware import area_breakdown
from ador_opt.perf.memory import local_sram_need_kib
from tests.explore_fixtures import spec_dict


def _spec(**space: object):
    data = spec_dict(sampler="stepwise")
    data["space"]["noc_gbps"] = {"choices": [1024, 2048, 4096]}
    data["space"].update(space)
    return validate_spec(data)


def test_initial_design_follows_the_paper_steps() -> None:
    spec = _spec()
    planner = StepwisePlanner(spec)
    p = planner.initial()
    arch = realise(spec.space, p).arch
    assert arch is not None
    model = spec.models[0]
    # Step 1: MAC tree sized to a cycle of DRAM weights × GQA reuse (rounded up to a step).
    need_macs = (
        arch.dram_gbps
        * 1e9
        / arch.freq_hz
        / model.bytes_per_weight
        * (model.num_heads / model.num_kv_heads)
    )
    lanes = spec.space.param("mt_lanes").values
    want = next((v for v in lanes if arch.core_count * 16 * v >= need_macs), lanes[-1])
    assert p["mt_lanes"] == want
    # The rest to systolic arrays, inside the area budget, as many SA MACs as fit.
    assert area_breakdown(arch).total_mm2 <= 700.0
    bigger = [
        {**p, "sa_dim": d, "core_count": c}
        for d in spec.space.param("sa_dim").values
        for c in spec.space.param("core_count").values
        if d * d * c > p["sa_dim"] ** 2 * p["core_count"]
    ]
    assert not any(planner.fits_budget(q) for q in bigger)
    # Step 1c: the smallest local SRAM holding one token; step 2: NoC ≥ DRAM bandwidth.
    need_kib = local_sram_need_kib(arch, model, 1)
    allowed = [v for v in spec.space.param("local_sram_kib").values if v >= need_kib]
    assert p["local_sram_kib"] == min(allowed)
    assert p["noc_gbps"] == min(v for v in (1024, 2048, 4096) if v >= arch.dram_gbps)


def test_slo_violation_moves_resources_to_the_mac_tree() -> None:
    spec = _spec()
    planner = StepwisePlanner(spec)
    p = {**planner.initial(), "mt_lanes": 0}
    (towards_mt,) = planner.trades(p, towards_mt=True)
    assert towards_mt["mt_lanes"] == 8
    assert planner.fits_budget(towards_mt)
    assert planner.trades({**p, "mt_lanes": 16}, towards_mt=True) == []  # already the maximum
    (back,) = planner.trades({**p, "mt_lanes": 16}, towards_mt=False)
    assert back["mt_lanes"] == 8


def test_stepwise_study_explores_without_repeats(tmp_path: Path) -> None:
    spec = _spec()
    ref = resolve_store(str(tmp_path / "s.db"))
    study, _ = create_or_open(ref, spec)
    run_trials(study, ref, 12, seed=0)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 12
    assert trials[0].params == StepwisePlanner(spec).initial()
    keys = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(keys)) == len(keys)  # the planner never proposes a known point
    assert all(math.isfinite(v) for t in trials for v in t.values)
