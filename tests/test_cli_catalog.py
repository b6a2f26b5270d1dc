"""Contract tests for `ador-opt models` and `ador-opt hardware`."""

from __future__ import annotations

import json

from tests.conftest import assert_input_error, run_cli


def test_hardware_show_json_contract() -> None:
    result = run_cli("hardware", "show", "ador-paper", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert isinstance(doc, dict)
    assert abs(doc["peak_tflops"] - 417) / 417 < 0.02
    assert abs(doc["area_mm2"] - 516) / 516 < 0.10
    breakdown = doc["area_breakdown"]
    assert breakdown["total_mm2"] == doc["area_mm2"]
    for key in ("core_systolic_mm2", "core_mac_tree_mm2", "global_sram_mm2", "dram_phy_mm2"):
        assert breakdown[key] > 0
    for field in (
        "freq_mhz",
        "core_count",
        "sa_rows",
        "sa_cols",
        "mt_width",
        "mt_lanes",
        "vector_width",
        "local_sram_kib",
        "global_sram_mib",
        "noc_gbps",
        "dram_type",
        "dram_gib",
        "dram_gbps",
        "p2p_type",
        "p2p_gbps",
        "devices",
        "tp",
        "tp_sync",
        "process_nm",
    ):
        assert field in doc["config"], field


def test_hardware_list_and_gpu_show() -> None:
    result = run_cli("hardware", "list", "--json")
    names = {row["name"] for row in result.json()["hardware"]}  # type: ignore[index]
    assert {"a100", "llmcompass-l", "llmcompass-t", "ador-paper", "h100-sxm-80gb"} <= names
    gpu = run_cli("hardware", "show", "h100-sxm-80gb", "--json").json()
    assert gpu["peak_tflops"] == 989.0  # type: ignore[index]


def test_models_show_json() -> None:
    doc = run_cli("models", "show", "llama-3-70b", "--json").json()
    assert abs(doc["param_count"] / 1e9 - 70.6) < 0.7  # type: ignore[index]


def test_hardware_file_toml_and_json(tmp_path) -> None:
    toml = tmp_path / "mine.toml"
    toml.write_text('base = "ador-paper"\ncore_count = 16\n')
    doc = run_cli("hardware", "show", str(toml), "--json").json()
    assert doc["config"]["core_count"] == 16  # type: ignore[index]
    js = tmp_path / "mine.json"
    js.write_text(json.dumps({"base": "llmcompass-l", "global_sram_mib": 32}))
    assert run_cli("hardware", "show", str(js), "--json").code == 0


def test_bad_inputs_exit_2_with_one_line(tmp_path) -> None:
    bad_sa = tmp_path / "sa48.toml"
    bad_sa.write_text('base = "ador-paper"\nsa_rows = 48\nsa_cols = 48\n')
    assert_input_error(run_cli("hardware", "show", str(bad_sa)), "multiples of 32")
    neg = tmp_path / "neg.json"
    neg.write_text(json.dumps({"base": "ador-paper", "dram_gbps": -1}))
    assert_input_error(run_cli("hardware", "show", str(neg)), "dram_gbps")
    assert_input_error(run_cli("hardware", "show", "tpu-v9"), "unknown hardware")
    assert_input_error(run_cli("models", "show", "gpt-17"), "unknown model")
    broken = tmp_path / "broken.toml"
    broken.write_text("base = [unclosed\n")
    assert_input_error(run_cli("hardware", "show", str(broken)), "malformed TOML")
    broken_json = tmp_path / "broken.json"
    broken_json.write_text("{")
    assert_input_error(run_cli("hardware", "show", str(broken_json)), "malformed JSON")
    assert_input_error(run_cli("hardware", "show", "ador-paper", "--bogus"), "--bogus")
