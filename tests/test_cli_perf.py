"""Contracts of `evaluate`, `compare` and `validate` (DESIGN §9), end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import CASES_CSV, assert_input_error, run_cli

EVALUATE_FIELDS = {
    "ttft_ms",
    "tbt_ms",
    "e2e_ms",
    "throughput_tokens_per_s",
    "area_mm2",
    "peak_tflops",
    "cost_usd",
    "utilisation",
    "dram_bandwidth_utilisation",
    "bound",
    "phases",
    "feasible",
}
COMMON = ("--model", "llama-3-8b", "--input-len", "256", "--output-len", "64")


@pytest.mark.parametrize("hardware", ["a100", "ador-paper", "h100-sxm-80gb"])
def test_evaluate_json_contract(hardware: str) -> None:
    result = run_cli("evaluate", *COMMON, "--hardware", hardware, "--batch", "8", "--json")
    assert result.code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert set(doc) >= EVALUATE_FIELDS
    assert doc["feasible"] is True
    assert doc["e2e_ms"] == pytest.approx(doc["ttft_ms"] + 63 * doc["tbt_ms"], rel=1e-9)
    assert doc["throughput_tokens_per_s"] == pytest.approx(8 * 64 / doc["e2e_ms"] * 1e3)
    assert set(doc["bound"]) == {"prefill", "decode"}
    assert "dram" in doc["utilisation"]
    assert 0 < doc["dram_bandwidth_utilisation"] <= 1
    assert all(0 <= v <= 1 for v in doc["utilisation"].values())
    assert doc["area_mm2"] > 0 and doc["peak_tflops"] > 0
    if hardware == "h100-sxm-80gb":
        assert doc["cost_usd"] is None and "cost_note" in doc
    else:
        assert doc["cost_usd"] > 0


def test_evaluate_human_output_on_stdout() -> None:
    """DESIGN §9: results (the table) on stdout, nothing on stderr for a quick command."""
    result = run_cli("evaluate", *COMMON, "--hardware", "a100", "--batch", "4")
    assert result.code == 0
    assert result.stderr == ""
    assert "TTFT" in result.stdout and "DRAM BW" in result.stdout


def test_evaluate_fp8_and_tp() -> None:
    fp16 = run_cli("evaluate", *COMMON, "--hardware", "h100-sxm-80gb", "--batch", "8", "--json")
    fp8 = run_cli(
        "evaluate",
        *COMMON,
        "--hardware",
        "h100-sxm-80gb",
        "--batch",
        "8",
        "--precision",
        "fp8",
        "--json",
    )
    d16, d8 = json.loads(fp16.stdout), json.loads(fp8.stdout)
    assert d8["precision"] == "fp8" and d8["peak_tflops"] == 1979.0
    assert d8["tbt_ms"] < d16["tbt_ms"]
    tp = run_cli(
        "evaluate",
        "--model",
        "llama-3-70b",
        "--hardware",
        "a100",
        "--batch",
        "16",
        "--input-len",
        "512",
        "--output-len",
        "32",
        "--tp",
        "8",
        "--json",
    )
    doc = json.loads(tp.stdout)
    assert doc["tp"] == 8 and doc["area_total_mm2"] == pytest.approx(8 * doc["area_mm2"])
    assert doc["utilisation"]["p2p"] > 0


def test_evaluate_designs_one_line_per_design(tmp_path: Path) -> None:
    lines = [
        '"ador-paper"',
        '{"base": "ador-paper", "dram_gbps": 4000}',
        "",
        '{"base": "ador-paper", "warp_drive": 1}',
        "{not json",
        '{"base": "ador-paper", "dram_gib": 8}',
        '"a100"',
        '{"name": "custom-a", "core_count": 16, "dram_gbps": 3000}',
    ]
    designs = tmp_path / "designs.jsonl"
    designs.write_text("\n".join(lines) + "\n")
    result = run_cli("evaluate", *COMMON, "--batch", "8", "--designs", str(designs), "--json")
    assert result.code == 0, result.stderr
    docs = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [d["line"] for d in docs] == [1, 2, 4, 5, 6, 7, 8]
    assert [d["feasible"] for d in docs] == [True, True, False, False, False, True, True]
    assert docs[6]["hardware"] == "custom-a" and docs[6]["performance_model"] == "hda"
    assert "warp_drive" in docs[2]["reason"]
    assert "malformed JSON" in docs[3]["reason"]
    assert "GiB" in docs[4]["reason"]
    assert docs[1]["tbt_ms"] < docs[0]["tbt_ms"]  # twice the DRAM bandwidth
    assert set(docs[0]) >= EVALUATE_FIELDS


def test_compare_json_contract() -> None:
    result = run_cli(
        "compare",
        "--model",
        "llama-3-8b",
        "--hardware",
        "a100,llmcompass-l,llmcompass-t,ador-paper",
        "--batch",
        "16,150",
        "--input-len",
        "256",
        "--output-len",
        "64",
        "--json",
    )
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["baseline"] == "a100"
    rows = doc["rows"]
    assert [(r["batch"], r["hardware"]) for r in rows] == [
        (b, h) for b in (16, 150) for h in ("a100", "llmcompass-l", "llmcompass-t", "ador-paper")
    ]
    for row in rows:
        assert {
            "ttft_ms",
            "tbt_ms",
            "throughput_tokens_per_s",
            "throughput_per_mm2",
            "ttft_area_eff_per_s_mm2",
            "tbt_area_eff_per_s_mm2",
            "vs_baseline",
        } <= set(row)
        if row["hardware"] == "a100":
            assert all(v == pytest.approx(1.0) for v in row["vs_baseline"].values())
        ratio = rows[0 if row["batch"] == 16 else 4]["tbt_ms"] / row["tbt_ms"]
        assert row["vs_baseline"]["tbt_speedup"] == pytest.approx(ratio)


@pytest.fixture(scope="module")
def step_cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped step-level cases (fast: no serving simulation); the full file's golden
    error is tested in-process in test_validate.py."""
    lines = CASES_CSV.read_text().splitlines()
    keep = [ln for ln in lines[1:] if ",offline," not in ln and ",closed_loop," not in ln]
    path = tmp_path_factory.mktemp("cases") / "step_cases.csv"
    path.write_text("\n".join([lines[0], *keep]) + "\n")
    return path


def test_validate_json_contract(step_cases: Path) -> None:
    result = run_cli("validate", str(step_cases), "--json")
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) >= {"cases", "mape_pct", "median_ape_pct", "by_scenario"}
    for case in doc["cases"]:
        assert set(case) >= {
            "case_id",
            "scenario",
            "metric",
            "measured",
            "predicted",
            "error_pct",
            "supported",
        }
    assert doc["mape_pct"] <= 20.0  # 14.4 % in-sample since issue 13 (docs/perf-gpu.md)
    assert doc["supported_count"] == 26 and doc["unsupported_count"] == 0
    assert set(doc["by_scenario"]) == {
        "gemm",
        "allreduce",
        "prefill",
        "decode_step",
        "static_batch",
    }


def test_validate_human_table(step_cases: Path) -> None:
    result = run_cli("validate", str(step_cases))
    assert result.code == 0
    assert "MAPE" in result.stdout and "V110" in result.stdout
    assert "MAPE" not in result.stderr and "cases" in result.stderr  # progress only


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("evaluate", *COMMON, "--hardware", "a100", "--batch", "0"), ["batch"]),
        (
            (
                "evaluate",
                "--model",
                "gpt-9",
                "--hardware",
                "a100",
                "--batch",
                "1",
                "--input-len",
                "8",
                "--output-len",
                "8",
            ),
            ["gpt-9"],
        ),
        (("evaluate", *COMMON, "--hardware", "warp-core", "--batch", "1"), ["warp-core"]),
        (
            ("evaluate", *COMMON, "--hardware", "a100", "--batch", "1", "--precision", "int3"),
            ["precision"],
        ),
        (("evaluate", *COMMON, "--batch", "1"), ["--hardware"]),
        (
            ("evaluate", *COMMON, "--batch", "1", "--designs", "/nonexistent/d.jsonl"),
            ["not found"],
        ),
        (
            (
                "evaluate",
                "--model",
                "llama-3-70b",
                "--hardware",
                "a100",
                "--batch",
                "1",
                "--input-len",
                "8",
                "--output-len",
                "8",
            ),
            ["GiB"],
        ),
        (("evaluate", *COMMON, "--hardware", "a100", "--batch", "1", "--tp", "3"), ["tp"]),
        (
            ("compare", "--model", "llama-3-8b", "--hardware", "a100", "--batch", "16,x"),
            ["--batch"],
        ),
        (("compare", "--model", "llama-3-8b", "--hardware", "a100", "--batch", "-4"), ["--batch"]),
        (("validate", "/nonexistent/cases.csv"), ["not found"]),
    ],
)
def test_bad_input_exit_2(args: tuple[str, ...], needles: list[str]) -> None:
    assert_input_error(run_cli(*args), *needles)


def test_validate_unknown_scenario_exit_2(tmp_path: Path) -> None:
    text = CASES_CSV.read_text().splitlines()
    header, row = text[0], text[-1].replace("allreduce", "broadcast")
    path = tmp_path / "cases.csv"
    path.write_text(f"{header}\n{row}\n")
    assert_input_error(run_cli("validate", str(path), "--json"), "broadcast", "scenario")


def test_unknown_sa_backend_exits_2() -> None:
    result = run_cli(
        "evaluate",
        "--model",
        "llama-3-8b",
        "--hardware",
        "ador-paper",
        "--batch",
        "1",
        "--input-len",
        "8",
        "--output-len",
        "2",
        "--sa-backend",
        "magic",
    )
    assert_input_error(result, "systolic-array backend")


def test_compare_takes_ep_pp_dp_like_evaluate() -> None:
    # The same layout options as `evaluate`, passed to every design of the comparison.
    result = run_cli(
        "compare", "--model", "mixtral-8x7b", "--hardware", "h100-sxm-80gb,ador-paper",
        "--batch", "4", "--input-len", "256", "--output-len", "16", "--tp", "2", "--ep", "2",
        "--pp", "2", "--dp", "2", "--micro-batches", "4", "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    doc = result.json()
    assert isinstance(doc, dict)
    for row in doc["rows"]:
        assert row["feasible"], row
        assert (row["tp"], row["ep"], row["pp"], row["dp"], row["devices"]) == (2, 2, 2, 2, 16)
        assert row["parallelism"]["prefill"]["micro_batches"] == 4


@pytest.mark.parametrize(
    "extra, needles",
    [
        (["--ep", "3"], ["ep=3 does not divide", "8 routed experts"]),
        (["--pp", "5"], ["pp=5 does not divide"]),
        (["--dp", "0"], ["--dp"]),
    ],
)
def test_compare_refuses_a_bad_layout(extra: list[str], needles: list[str]) -> None:
    result = run_cli(
        "compare", "--model", "mixtral-8x7b", "--hardware", "h100-sxm-80gb", "--batch", "4",
        "--input-len", "64", "--output-len", "4", *extra, "--json",
    )  # fmt: skip
    assert_input_error(result, *needles)
    assert result.stdout == ""
