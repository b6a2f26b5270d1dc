"""CLI contracts of `simulate` and `capacity` (DESIGN §9) and their bad-input handling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ador_opt.cli import main
from tests.conftest import CliResult, assert_input_error, run_cli

SUMMARY_KEYS = {"mean", "p50", "p90", "p99"}
BASE = ["--model", "llama-3-8b", "--hardware", "ador-paper"]


def run_inprocess(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    """Run the CLI entry point in this process (fast); same exit-code mapping as the script."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out = capsys.readouterr()
    return CliResult(int(exc.value.code or 0), out.out, out.err)


def test_simulate_json_contract_subprocess() -> None:
    result = run_cli(
        "simulate",
        *BASE,
        "--workload",
        "chat",
        "--rate",
        "5",
        "--num-requests",
        "200",
        "--seed",
        "3",
        "--json",
    )
    assert result.code == 0, result.stderr
    assert result.stdout.count("\n") == 1  # exactly one JSON document
    doc = result.json()
    assert isinstance(doc, dict)
    for key in ("ttft_ms", "tbt_ms", "e2e_ms"):
        assert set(doc[key]) == SUMMARY_KEYS
        assert all(isinstance(doc[key][k], float) for k in SUMMARY_KEYS)
    assert doc["throughput"]["requests_per_s"] > 0
    assert doc["throughput"]["output_tokens_per_s"] > 0
    assert set(doc["utilisation"]) >= {"systolic", "mac_tree", "dram"}
    assert doc["completed"] == doc["num_requests"] == 200
    assert doc["model"] == "llama-3-8b" and doc["hardware"] == "ador-paper"


def test_capacity_json_contract_subprocess() -> None:
    result = run_cli(
        "capacity",
        *BASE,
        "--workload",
        "chat",
        "--num-requests",
        "100",
        "--slo-ttft-p90-ms",
        "3000",
        "--slo-tbt-p99-ms",
        "200",
        "--tolerance",
        "0.1",
        "--json",
    )
    assert result.code == 0, result.stderr
    doc = result.json()
    assert isinstance(doc, dict)
    assert doc["max_rate"] > 0 and doc["max_rate"] == doc["max_rate_per_s"]
    assert doc["slo"] == {"ttft_p90_ms": 3000.0, "tbt_p99_ms": 200.0, "queue_p50_ms": 2000.0}
    assert doc["report"]["ttft_ms"]["p90"] <= 3000.0
    assert doc["report"]["tbt_ms"]["p99"] <= 200.0
    assert all(set(p) >= {"rate_per_s", "feasible"} for p in doc["probes"])


def test_simulate_human_output_goes_to_stdout() -> None:
    result = run_cli("simulate", *BASE, "--rate", "2", "--num-requests", "50")
    assert result.code == 0
    assert result.stderr == ""
    assert "ttft_ms" in result.stdout and "throughput" in result.stdout


def test_simulate_trace_uses_its_timestamps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("input_len,output_len,arrival_s\n100,10,0\n200,20,0.5\n300,5,9\n")
    result = run_inprocess(capsys, "simulate", *BASE, "--trace", str(trace), "--json")
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["num_requests"] == 3 and doc["output_tokens"] == 35
    assert doc["duration_s"] >= 9.0  # the last request arrives at 9 s


def test_simulate_options(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_inprocess(
        capsys,
        "simulate",
        *BASE,
        "--rate",
        "20",
        "--num-requests",
        "100",
        "--scheduler",
        "vllm",
        "--max-batch",
        "16",
        "--replicas",
        "2",
        "--router",
        "least-loaded",
        "--burstiness",
        "2",
        "--precision",
        "fp8",
        "--json",
    )
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["scheduler"]["policy"] == "vllm" and doc["scheduler"]["max_batch"] == 16
    assert doc["replicas"] == 2 and doc["precision"] == "fp8"
    assert doc["arrivals"] == {"kind": "gamma", "rate_per_s": 20.0, "cv": 2.0}


@pytest.mark.parametrize(
    "extra, needles",
    [
        (["--rate", "0"], ["rate"]),
        (["--rate", "-2"], ["rate"]),
        ([], ["--rate is required"]),
        (["--rate", "1", "--workload", "nope"], ["unknown workload", "chat"]),
        (["--rate", "1", "--scheduler", "fifo"], ["unknown scheduler"]),
        (["--rate", "1", "--slo-tbt-p99-ms", "0"], ["SLO", "tbt_p99_ms"]),
        (["--rate", "1", "--slo-ttft-p90-ms", "-5"], ["SLO", "ttft_p90_ms"]),
        (["--rate", "1", "--num-requests", "0"], ["num_requests"]),
        (["--rate", "1", "--precision", "int3"], ["precision"]),
        (["--rate", "1", "--tp", "3"], ["tp=3"]),
        (["--rate", "1", "--burstiness", "0"], ["burstiness"]),
        (["--rate", "1", "--router", "random"], ["router"]),
        (["--rate", "1", "--chunk-size", "0"], ["chunk_size"]),
    ],
)
def test_simulate_bad_input(
    capsys: pytest.CaptureFixture[str], extra: list[str], needles: list[str]
) -> None:
    assert_input_error(run_inprocess(capsys, "simulate", *BASE, *extra), *needles)


@pytest.mark.parametrize(
    "content, needle",
    [
        ("", "missing column"),
        ("input_len,output_len\n", "no requests"),
        ("input_len,output_len\n5,abc\n", "output_len must be an integer"),
        ("foo,bar\n1,2\n", "missing column"),
    ],
)
def test_bad_traces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, needle: str
) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text(content)
    result = run_inprocess(capsys, "simulate", *BASE, "--trace", str(trace), "--rate", "1")
    assert_input_error(result, needle)


def test_missing_trace_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = run_inprocess(capsys, "simulate", *BASE, "--trace", str(tmp_path / "x.csv"))
    assert_input_error(result, "not found")


@pytest.mark.parametrize(
    "extra, needles",
    [
        (["--slo-tbt-p99-ms", "0"], ["SLO"]),
        (["--slo-queue-p50-ms", "0"], ["SLO"]),
        (["--workload", "bogus"], ["unknown workload"]),
        (["--tolerance", "0"], ["rel_tol"]),
        (["--slo-level", "lenient"], ["strictness"]),
    ],
)
def test_capacity_bad_input(
    capsys: pytest.CaptureFixture[str], extra: list[str], needles: list[str]
) -> None:
    result = run_inprocess(capsys, "capacity", *BASE, "--num-requests", "20", *extra)
    assert_input_error(result, *needles)


def test_bad_input_subprocess_has_no_traceback() -> None:
    assert_input_error(run_cli("simulate", *BASE, "--rate", "-1"), "rate")


def test_dataset_option_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "conv.jsonl"
    data.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "hi there"},
                    {"role": "assistant", "content": "hello"},
                ]
            }
        )
        + "\n"
    )
    result = run_inprocess(capsys, "simulate", *BASE, "--rate", "1", "--dataset", str(data))
    assert_input_error(result, "--tokenizer")
    result = run_inprocess(
        capsys,
        "simulate",
        *BASE,
        "--rate",
        "1",
        "--dataset",
        str(data),
        "--tokenizer",
        str(tmp_path / "no-such-tokenizer"),
    )
    assert_input_error(result, "tokenizer")
    result = run_inprocess(capsys, "simulate", *BASE, "--rate", "1", "--tokenizer", "x")
    assert_input_error(result, "--dataset")


# --- expert / pipeline / data parallelism options (issue 17) -------------------------------
MIXTRAL_HDA = ["--model", "mixtral-8x7b", "--hardware", "ador-paper"]


def test_simulate_ep_option_sets_the_designs_expert_parallelism(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One ador-paper device cannot hold Mixtral (no KV room); `--ep 2` splits the experts over
    two devices, as the design field `ep = 2` would, and the run reports the layout."""
    from ador_opt.hardware import load_hardware
    from ador_opt.models import load_model
    from ador_opt.perf.memory import max_kv_tokens

    args = ["--rate", "1", "--num-requests", "20", "--json"]
    assert_input_error(run_inprocess(capsys, "simulate", *MIXTRAL_HDA, *args), "do not fit")
    result = run_inprocess(capsys, "simulate", *MIXTRAL_HDA, "--ep", "2", *args)
    assert result.code == 0, result.stderr
    doc = result.json()
    assert isinstance(doc, dict)
    assert (doc["tp"], doc["ep"], doc["pp"], doc["dp"]) == (1, 2, 1, 1)
    hw = load_hardware("ador-paper")
    ep2 = hw.__class__("ador-paper", hw.arch.replace(devices=2, ep=2), None)  # type: ignore[union-attr]
    assert doc["kv_capacity_tokens"] == max_kv_tokens(ep2, load_model("mixtral-8x7b"), 1)
    assert doc["completed"] == 20


def test_simulate_pp_and_dp_options(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--rate", "2", "--num-requests", "40", "--json"]
    one = run_inprocess(capsys, "simulate", *BASE, *args).json()
    staged = run_inprocess(capsys, "simulate", *BASE, "--pp", "2", *args).json()
    dp = run_inprocess(capsys, "simulate", *BASE, "--dp", "2", *args).json()
    assert isinstance(one, dict) and isinstance(staged, dict) and isinstance(dp, dict)
    assert (staged["pp"], one["pp"]) == (2, 1)
    # Half the layers per device: more KV tokens fit, and each step crosses a stage boundary.
    assert staged["kv_capacity_tokens"] > one["kv_capacity_tokens"]
    assert staged["tbt_ms"]["mean"] != one["tbt_ms"]["mean"]
    # --dp is the router's replicas (--replicas), the same parameter.
    assert dp["dp"] == dp["scheduler"]["replicas"] == 2


def test_capacity_takes_the_same_parallelism_options(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_inprocess(
        capsys, "capacity", *MIXTRAL_HDA, "--ep", "2", "--num-requests", "30", "--json"
    )
    assert result.code == 0, result.stderr
    doc = result.json()
    assert isinstance(doc, dict)
    assert (doc["ep"], doc["pp"]) == (2, 1)
    assert doc["max_rate"] > 0


@pytest.mark.parametrize("command", ["simulate", "capacity"])
@pytest.mark.parametrize(
    "base, extra, needles",
    [
        (MIXTRAL_HDA, ["--ep", "3"], ["ep=3 does not divide", "8 routed experts"]),
        (MIXTRAL_HDA, ["--ep", "0"], ["ep must be a positive integer"]),
        (BASE, ["--ep", "2"], ["mixture-of-experts", "dense"]),
        (BASE, ["--pp", "5"], ["pp=5 does not divide", "32 layers"]),
        (["--model", "mixtral-8x7b", "--hardware", "h100-sxm-80gb"], ["--ep", "2"], ["HDA"]),
    ],
)
def test_parallelism_options_bad_input(
    capsys: pytest.CaptureFixture[str],
    command: str,
    base: list[str],
    extra: list[str],
    needles: list[str],
) -> None:
    rate = ["--rate", "1"] if command == "simulate" else []
    result = run_inprocess(capsys, command, *base, *rate, "--num-requests", "20", *extra)
    assert_input_error(result, *needles)
    assert result.stdout == ""
