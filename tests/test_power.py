"""Power, energy and the physical costs of every knob (hardware/power.py, perf/energy.py,
docs/model.md "Power and energy")."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ador_opt.errors import InputError
from ador_opt.hardware import HARDWARE_PRESETS, area_breakdown, cost_breakdown
from ador_opt.hardware import constants as c
from ador_opt.hardware.area import dram_units, router_area_mm2
from ador_opt.hardware.power import core_voltage, energy_table, power_breakdown, tdp_w
from ador_opt.hardware.presets import Hardware
from ador_opt.models import load_model
from ador_opt.models.ops import BatchComposition
from ador_opt.perf import evaluate_static_batch, step_time
from ador_opt.perf.energy import hda_step_energy_j, step_energy_breakdown
from ador_opt.perf.evaluate import evaluate_design
from ador_opt.perf.result import StepTime
from tests.conftest import assert_input_error, run_cli

ADOR = HARDWARE_PRESETS["ador-paper"].arch
assert ADOR is not None
LLAMA = load_model("llama-3-8b")


def _arch(name: str):  # type: ignore[no-untyped-def]
    arch = HARDWARE_PRESETS[name].arch
    assert arch is not None
    return arch


# --- area: the new terms keep the LLMCompass-published totals -------------------------------
@pytest.mark.parametrize(("name", "published"), [("a100", 826.8), ("llmcompass-l", 477.9),
                                                 ("llmcompass-t", 786.6)])  # fmt: skip
def test_llmcompass_totals_unchanged_by_noc_and_control_terms(name: str, published: float) -> None:
    # The NoC router is LLMCompass's crossbar at its reference port width (40 B/clk), and the
    # control split reproduces 1.324 mm² at 128 lanes, so these stay within 0.1 % (DESIGN §4).
    assert area_breakdown(_arch(name)).total_mm2 == pytest.approx(published, rel=1e-3)
    assert area_breakdown(_arch(name)).core_crossbar_mm2 == pytest.approx(0.460, abs=1e-6)


def test_router_area_scales_linearly_plus_quadratically_with_port_width() -> None:
    ref = c.NOC_REF_PORT_BYTES_PER_CYCLE
    assert router_area_mm2(ref) == pytest.approx(0.460)
    assert router_area_mm2(2 * ref) == pytest.approx(0.460 * (0.5 * 2 + 0.5 * 4))
    assert router_area_mm2(ref / 2) == pytest.approx(0.460 * (0.25 + 0.125))


def test_noc_bandwidth_costs_area_and_power() -> None:
    areas, tdps = [], []
    for gbps in (1024.0, 2048.0, 4096.0, 8192.0):
        arch = ADOR.replace(noc_gbps=gbps)
        areas.append(area_breakdown(arch).total_mm2)
        tdps.append(tdp_w(arch))
    assert areas == sorted(areas) and len(set(areas)) == 4
    assert tdps == sorted(tdps) and len(set(tdps)) == 4


def test_control_has_a_fixed_part_per_core() -> None:
    narrow = area_breakdown(ADOR.replace(vector_width=8))
    wide = area_breakdown(ADOR)
    assert wide.core_control_mm2 == pytest.approx(1.324)
    assert narrow.core_control_mm2 == pytest.approx(1.324 / 4 + 8 * (1.324 * 3 / 4) / 128)
    # The fixed sequencer stays: an 8-lane core keeps > 25 % of the 128-lane control area.
    assert narrow.core_control_mm2 > 0.25 * wide.core_control_mm2


# --- DRAM stacks, types and the shoreline ---------------------------------------------------
def test_stack_count_is_set_by_bandwidth_or_capacity() -> None:
    base = ADOR.replace(dram_phy_count=0)
    assert dram_units(base) == 5  # 2000 GB/s / 409.6 → 5; 80 GiB / 16 → 5
    assert dram_units(base.replace(dram_gbps=4000.0)) == 10  # bandwidth-bound
    assert dram_units(base.replace(dram_gib=160.0)) == 10  # capacity-bound
    assert dram_units(base.replace(dram_type="hbm3", dram_gbps=3200.0)) == 5  # capacity-bound
    assert dram_units(base.replace(dram_type="hbm3e", dram_gbps=3200.0)) == 4  # 24 GiB stacks
    assert dram_units(ADOR.replace(dram_gbps=3200.0)) == 8  # above the template's 6 PHY sites
    more = area_breakdown(ADOR.replace(dram_gbps=3200.0))
    assert more.dram_phy_mm2 == pytest.approx(8 * 10.45)


def test_hbm_generations_trade_price_against_energy() -> None:
    hbm2e, hbm3 = ADOR, ADOR.replace(dram_type="hbm3")
    # Same stacks at 80 GiB (capacity-bound) and so the same area; HBM3 costs more per GB but
    # spends less energy per bit: neither dominates the other.
    assert area_breakdown(hbm3).total_mm2 == area_breakdown(hbm2e).total_mm2
    assert cost_breakdown(hbm3).total_usd > cost_breakdown(hbm2e).total_usd
    assert power_breakdown(hbm3).dram_w < power_breakdown(hbm2e).dram_w
    e2, e3 = (
        evaluate_design(Hardware("x", a, None), LLAMA, 16, 256, 32)["energy_per_token_j"]
        for a in (hbm2e, hbm3)
    )
    assert e3 < e2


def test_shoreline_limits_stacks_on_a_small_die() -> None:
    small = ADOR.replace(core_count=8, dram_gbps=4000.0, global_sram_mib=4.0)
    bd = area_breakdown(small)
    assert bd.shoreline_used_mm == pytest.approx(10 * 7.75 + 12 * 4 * 0.25)
    assert bd.shoreline_available_mm == pytest.approx(4 * math.sqrt(bd.total_mm2))
    assert not bd.shoreline_ok
    assert area_breakdown(ADOR).shoreline_ok
    assert all(area_breakdown(_arch(n)).shoreline_ok for n in ("a100", "llmcompass-t"))


# --- clock and links --------------------------------------------------------------------------
def test_clock_ceiling_and_link_limits_are_input_errors() -> None:
    ADOR.replace(freq_mhz=c.FREQ_CEILING_MHZ_7NM)  # at the ceiling: allowed
    with pytest.raises(InputError, match="clock ceiling"):
        ADOR.replace(freq_mhz=3000.0)
    with pytest.raises(InputError, match="at most 12"):
        ADOR.replace(p2p_link_count=13)
    with pytest.raises(InputError, match="at most 64"):
        ADOR.replace(p2p_type="pcie5", p2p_link_count=0, p2p_gbps=1024.0)


def test_cli_refuses_a_design_above_the_clock_ceiling(tmp_path: Path) -> None:
    design = tmp_path / "fast.toml"
    design.write_text('base = "ador-paper"\nfreq_mhz = 3000\n')
    assert_input_error(run_cli("hardware", "show", str(design), "--json"), "freq_mhz", "ceiling")


def test_energy_per_op_rises_with_clock_above_nominal() -> None:
    assert core_voltage(1000.0) == core_voltage(c.F_NOMINAL_MHZ) == c.V_NOMINAL
    assert core_voltage(c.F_HIGH_MHZ) == pytest.approx(c.V_HIGH)
    e = {f: energy_table(ADOR.replace(freq_mhz=f)).mac_j["fp16"] for f in (1000.0, 1410.0, 2000.0)}
    assert e[1000.0] == e[1410.0] == pytest.approx(c.MAC_J["fp16"])
    assert e[2000.0] == pytest.approx(c.MAC_J["fp16"] * (core_voltage(2000.0) / 0.75) ** 2)
    # Dynamic power ∝ V²·f: superlinear in f above nominal.
    dyn = {f: power_breakdown(ADOR.replace(freq_mhz=f)).systolic_w for f in (1500.0, 2500.0)}
    assert dyn[2500.0] / dyn[1500.0] > 2500 / 1500 * 1.5


def test_fp8_macs_cost_less_energy() -> None:
    assert c.MAC_J["int8"] < c.MAC_J["fp8"] < c.MAC_J["fp16"]
    assert tdp_w(ADOR, "fp8") < tdp_w(ADOR, "fp16")


# --- TDP ------------------------------------------------------------------------------------
def test_a100_template_full_load_power_is_near_the_datasheet_tdp() -> None:
    # Sanity check, not a fit (docs/model.md): the A100 SXM's TDP is 400 W.
    p = power_breakdown(_arch("a100"))
    assert abs(p.total_w - 400.0) / 400.0 <= 0.30
    parts = p.to_dict()
    total = parts.pop("total_w")
    assert total == pytest.approx(sum(parts.values()))
    assert all(v >= 0 for v in parts.values())
    # 108 enabled SMs switch; all 128 physical ones leak.
    assert p.leakage_w == pytest.approx(area_breakdown(_arch("a100")).total_mm2 * 0.05)


def test_hardware_show_reports_tdp_and_breakdown() -> None:
    doc = run_cli("hardware", "show", "ador-paper", "--json").json()
    assert isinstance(doc, dict)
    assert doc["tdp_w"] == pytest.approx(tdp_w(ADOR))
    assert set(doc["power_breakdown_w"]) >= {"systolic_w", "dram_w", "noc_w", "leakage_w"}
    assert doc["power_breakdown_w"]["total_w"] == doc["tdp_w"]
    gpu = run_cli("hardware", "show", "h100-sxm-80gb", "--json").json()
    assert gpu["tdp_w"] == 700.0  # type: ignore[index]


# --- step energy ------------------------------------------------------------------------------
def _step(**kw: float) -> StepTime:
    base = dict(seconds=0.01, bound="dram", dram_bytes=1e9, flops=1e12)
    return StepTime(**{**base, **kw})  # type: ignore[arg-type]


counter = st.floats(min_value=0.0, max_value=1e12, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(sram=counter, noc=counter, p2p=counter, dram=counter)
def test_step_energy_is_linear_in_each_counter(
    sram: float, noc: float, p2p: float, dram: float
) -> None:
    e = energy_table(ADOR)
    zero = hda_step_energy_j(ADOR, _step(dram_bytes=0.0), "fp16")
    got = hda_step_energy_j(
        ADOR, _step(sram_bytes=sram, noc_bytes=noc, p2p_bytes=p2p, dram_bytes=dram), "fp16"
    )
    want = zero + (
        sram * e.local_sram_j_per_byte
        + noc * (e.noc_j_per_byte + e.global_sram_j_per_byte)
        + p2p * e.p2p_j_per_byte
        + dram * e.dram_j_per_byte
    )
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_counters_take_precedence_over_the_busy_time_fallbacks() -> None:
    busy = {"systolic": 0.005, "noc": 0.002, "p2p": 0.001}
    fallback = step_energy_breakdown(ADOR, _step(busy_s=busy), "fp16")
    assert fallback["local_sram_j"] > 0 and fallback["noc_j"] > 0 and fallback["p2p_j"] > 0
    e = energy_table(ADOR)
    assert fallback["noc_j"] == pytest.approx(0.002 * ADOR.noc_gbps * 1e9 * e.noc_j_per_byte)
    given_ = step_energy_breakdown(
        ADOR, _step(busy_s=busy, sram_bytes=1e6, noc_bytes=2e6, p2p_bytes=3e6), "fp16"
    )
    assert given_["local_sram_j"] == pytest.approx(1e6 * e.local_sram_j_per_byte)
    assert given_["noc_j"] == pytest.approx(2e6 * e.noc_j_per_byte)
    assert given_["p2p_j"] == pytest.approx(3e6 * e.p2p_j_per_byte)


@pytest.mark.parametrize("name", ["ador-paper", "llmcompass-l", "a100", "h100-sxm-80gb"])
def test_step_time_attaches_energy(name: str) -> None:
    hw = HARDWARE_PRESETS[name]
    st_ = step_time(hw, LLAMA, BatchComposition.decode_only(16, 1024))
    assert st_.energy_j > 0
    assert st_.energy_j / st_.seconds <= (hw.gpu.tdp_w if hw.gpu else tdp_w(hw.arch)) * 1.0001  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["ador-paper", "llmcompass-l", "llmcompass-t"])
@pytest.mark.parametrize("batch", [1, 16, 150])
def test_mean_power_never_exceeds_full_load_power(name: str, batch: int) -> None:
    doc = evaluate_design(HARDWARE_PRESETS[name], LLAMA, batch, 512, 64)
    assert 0 < doc["power_w"] <= doc["tdp_w"]
    tokens = batch * 64
    assert doc["energy_per_token_j"] * tokens == pytest.approx(doc["energy_j"])
    assert doc["tokens_per_joule"] == pytest.approx(1 / doc["energy_per_token_j"])


def test_static_batch_energy_sums_prefill_and_decode() -> None:
    r = evaluate_static_batch(HARDWARE_PRESETS["ador-paper"], LLAMA, 4, 128, 8)
    decode = sum(
        step_time(
            HARDWARE_PRESETS["ador-paper"], LLAMA, BatchComposition.decode_only(4, ctx)
        ).energy_j
        for ctx in range(129, 136)
    )
    assert r.energy_j == pytest.approx(r.prefill.energy_j + decode, rel=1e-9)


def test_evaluate_json_and_designs_lines_carry_power(tmp_path: Path) -> None:
    args = ("--model", "llama-3-8b", "--batch", "16", "--input-len", "256", "--output-len", "16")
    doc = run_cli("evaluate", "--hardware", "ador-paper", *args, "--json").json()
    assert isinstance(doc, dict) and doc["power_w"] > 0 and doc["energy_per_token_j"] > 0
    lines = tmp_path / "d.jsonl"
    lines.write_text('"ador-paper"\n{"base": "ador-paper", "noc_gbps": 8192}\n"a100"\n')
    result = run_cli("evaluate", "--designs", str(lines), *args, "--json")
    assert result.code == 0, result.stderr
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    assert [r["feasible"] for r in rows] == [True, True, True]
    assert all(r["power_w"] > 0 and r["energy_per_token_j"] > 0 for r in rows)
    assert rows[1]["tdp_w"] > rows[0]["tdp_w"]  # a wider NoC costs power
    assert rows[2]["power_model"] == "datasheet-tdp"


# --- studies: a power budget and energy objectives ------------------------------------------
POWER_SPEC = """
[study]
name = "watts"
n_trials = 9
sampler = "grid"
seed = 3

[model]
names = ["llama-3-8b"]

[[scenarios]]
kind = "static"
batch = 4
input_len = 128
output_len = 8

[budget]
power_w = 300.0

[space]
base = "ador-paper"
core_count = { choices = [16, 32, 64] }
freq_mhz = { choices = [1000, 1500, 2000] }

[[objectives]]
name = "tokens_per_joule"

[[objectives]]
name = "tbt_ms"
reference = 1000.0
"""


def test_study_with_a_binding_power_budget(tmp_path: Path) -> None:
    spec = tmp_path / "watts.toml"
    spec.write_text(POWER_SPEC)
    result = run_cli("optimize", str(spec), "--json", cwd=tmp_path)
    assert result.code == 0, result.stderr
    import optuna

    study = optuna.load_study(study_name="watts", storage=f"sqlite:///{tmp_path}/runs/watts.db")
    trials = study.get_trials()
    assert len(trials) == 9
    assert "power" in study.user_attrs["ador_spec"]["constraints"]
    over = [t for t in trials if t.user_attrs["rejected_by"] == "budget"]
    fine = [t for t in trials if t.user_attrs["rejected_by"] == ""]
    assert over and fine  # the budget binds: some designs exceed 300 W, some do not
    for t in over:
        assert t.user_attrs["constraints"]["power"] > 0
        assert t.user_attrs["metrics"]["tdp_w"] > 300.0
    for t in fine:
        assert t.user_attrs["metrics"]["tdp_w"] <= 300.0
        assert t.user_attrs["metrics"]["tokens_per_joule"] > 0
        assert t.values[0] == pytest.approx(t.user_attrs["metrics"]["tokens_per_joule"])
    front = run_cli("pareto", f"{tmp_path}/runs/watts.db", "--json").json()
    assert isinstance(front, dict)
    assert front["objectives"] == ["tokens_per_joule", "tbt_ms"]
    assert front["designs"]
    assert all(d["metrics"]["tdp_w"] <= 300.0 for d in front["designs"])


def test_spec_refuses_a_bad_power_budget(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(POWER_SPEC.replace("power_w = 300.0", "power_w = -5"))
    assert_input_error(run_cli("optimize", str(spec), cwd=tmp_path), "budget.power_w")
    assert not (tmp_path / "runs").exists()


def test_power_objectives_default_to_the_power_budget() -> None:
    import tomllib

    from ador_opt.explore.spec import validate_spec

    text = POWER_SPEC.replace('name = "tbt_ms"\nreference = 1000.0', 'name = "power_w"')
    spec = validate_spec(tomllib.loads(text + '\n[[objectives]]\nname = "tdp_w"\n'))
    assert [(o.name, o.direction, o.reference) for o in spec.objectives] == [
        ("tokens_per_joule", "maximize", 0.0),
        ("power_w", "minimize", 300.0),
        ("tdp_w", "minimize", 300.0),
    ]
    assert spec.constraints[:3] == ("sanity", "power", "shoreline")
    no_budget = text.replace("[budget]\npower_w = 300.0\n", "")
    with pytest.raises(InputError, match="reference"):  # no budget: power_w needs a reference
        validate_spec(tomllib.loads(no_budget))
    bare = validate_spec(tomllib.loads(POWER_SPEC.replace("[budget]\npower_w = 300.0\n", "")))
    assert "power" not in bare.constraints and "shoreline" in bare.constraints


def test_scale_out_nic_is_priced_only_when_a_replica_crosses_domains() -> None:
    """`scale_out_gbps` buys cross-domain bandwidth; it must cost power and dollars exactly
    when it is used (a replica spanning several scale-up domains), else it is a free knob."""
    base = ADOR
    one_domain = base.replace(devices=8, tp=8, scale_up_devices=0)
    crossing = base.replace(devices=8, tp=8, scale_up_devices=4)
    assert not one_domain.uses_scale_out and crossing.uses_scale_out
    fat = crossing.replace(scale_out_gbps=4 * crossing.scale_out_gbps)
    p_one, p_cross, p_fat = (power_breakdown(a) for a in (one_domain, crossing, fat))
    assert p_one.scale_out_w == 0.0
    assert p_cross.scale_out_w == pytest.approx(crossing.scale_out_gbps * c.NIC_W_PER_GBPS)
    assert p_fat.total_w > p_cross.total_w > p_one.total_w
    k_one, k_cross, k_fat = (cost_breakdown(a) for a in (one_domain, crossing, fat))
    assert k_one.nic_usd == 0.0 < k_cross.nic_usd < k_fat.nic_usd
    assert k_fat.total_usd - k_cross.total_usd == pytest.approx(k_fat.nic_usd - k_cross.nic_usd)
    # The NIC is an adapter card: no die area.
    assert area_breakdown(fat).total_mm2 == area_breakdown(crossing).total_mm2
