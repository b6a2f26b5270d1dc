"""Validation: golden error on the shipped case table, schema errors, unsupported rows."""

from __future__ import annotations

import csv
import dataclasses
import io
import types
from pathlib import Path
from typing import Any

import pytest

from ador_opt.errors import InputError
from ador_opt.validate import COLUMNS, Scenario, load_cases, run_cases, summarise
from ador_opt.validate import runner as runner_mod
from ador_opt.validate.consistency import contradicted_allreduce_rows

from .conftest import CASES_CSV

STEP_LEVEL = {"gemm", "allreduce", "prefill", "decode_step", "static_batch"}


def _write(
    tmp_path: Path,
    rows: list[dict[str, str]],
    columns: tuple[str, ...] = COLUMNS,
    name: str = "cases.csv",
) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns))
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    path = tmp_path / name
    path.write_text(buf.getvalue())
    return path


def _row(**fields: str) -> dict[str, str]:
    base = {
        "case_id": "T1",
        "scenario": "decode_step",
        "hardware": "a100-sxm-80gb",
        "tp": "1",
        "model": "llama-2-7b",
        "precision": "fp16",
        "batch": "8",
        "input_len": "512",
        "metric": "latency_ms",
        "value": "12.5",
        "source": "test",
    }
    base.update(fields)
    return base


OPERATOR_CSV = CASES_CSV.with_name("operator_cases.csv")
# Rows the fit (benchmarks/fit_gpu.py) never sees: they also run the serving simulator.
NOT_FITTED = {"offline", "closed_loop"}


@pytest.fixture(scope="module")
def shipped_report() -> dict[str, Any]:
    """The shipped case table through the product code (serving rows included when the
    serving simulator is importable; about 10 s with it)."""
    return summarise(run_cases(load_cases(CASES_CSV)))


@pytest.fixture(scope="module")
def operator_report() -> dict[str, Any]:
    return summarise(run_cases(load_cases(OPERATOR_CSV)))


def test_every_shipped_row_is_supported(
    shipped_report: dict[str, Any], operator_report: dict[str, Any]
) -> None:
    for report, rows in ((shipped_report, 50), (operator_report, 166)):
        assert report["unsupported_count"] == 0
        assert report["supported_count"] == len(report["cases"]) == rows
        assert all(c["predicted"] is not None and c["predicted"] > 0 for c in report["cases"])
    assert {c["scenario"] for c in shipped_report["cases"]} >= STEP_LEVEL | NOT_FITTED


def test_rows_not_fitted(shipped_report: dict[str, Any]) -> None:
    """Out-of-fit rows (no constant was fitted on them), asserted on their own: offline
    throughput of TensorRT-LLM's perf-overview at 11.3 % MAPE (max 28.7 %), closed-loop NIM rows
    at 14.9 % (max 15.1 %). (The 20k-token offline case is in the validate-vs-simulate test.)"""
    offline = shipped_report["by_scenario"]["offline"]
    assert offline["supported"] == 22
    assert offline["mape_pct"] <= 12.0, offline
    assert offline["max_ape_pct"] <= 30.0, offline
    closed = shipped_report["by_scenario"]["closed_loop"]
    assert closed["supported"] == 2, closed
    assert closed["mape_pct"] <= 15.0 and closed["max_ape_pct"] <= 16.0, closed


def test_fitted_rows_in_sample(
    shipped_report: dict[str, Any], operator_report: dict[str, Any]
) -> None:
    """In-sample error of the fitted rows (cross-validated errors are in docs/perf-gpu.md):
    GEMMs 6.4 % (≤ 10 %), NCCL all-reduces 25.1 % (10.4 % without the six rows that contradict
    every NCCL algorithm, `validate/consistency.py`), whole-step rows 6.0 %, all shipped 8.6 %."""
    gemm = operator_report["by_scenario"]["gemm"]
    assert gemm["mape_pct"] <= 10.0, gemm
    allreduce = operator_report["by_scenario"]["allreduce"]
    assert allreduce["mape_pct"] <= 26.0, allreduce
    bad = contradicted_allreduce_rows(load_cases(OPERATOR_CSV))
    assert len(bad) == 6, bad
    consistent = [
        abs(c["error_pct"])
        for c in operator_report["cases"]
        if c["scenario"] == "allreduce" and c["case_id"] not in bad
    ]
    assert len(consistent) == 16 and sum(consistent) / len(consistent) <= 11.0, consistent
    step_rows = [
        c
        for c in shipped_report["cases"]
        if c["scenario"] in ("prefill", "decode_step", "static_batch")
    ]
    step_mape = sum(abs(c["error_pct"]) for c in step_rows) / len(step_rows)
    assert step_mape <= 7.0, step_mape
    assert shipped_report["mape_pct"] <= 9.5, shipped_report["mape_pct"]


def test_every_shipped_source_has_a_known_engine() -> None:
    """The engine is read from the row's source; no shipped step row falls back silently."""
    from ador_opt.validate.engines import SOURCE_ENGINES

    for case in load_cases(CASES_CSV):
        if case.scenario.value in ("gemm", "allreduce"):
            continue
        assert any(key in case.source.lower() for key, _ in SOURCE_ENGINES), case.source


def test_eager_engine_rows(shipped_report: dict[str, Any]) -> None:
    """SplitwiseSim's profiles (Python-eager engine): the TP8 decode steps, 40–56 % too fast as
    pure GPU time, are within 20 % once the host launch bound applies; the same rows on the
    compiled engine stay > 35 % too fast (the engine term is what moves them)."""
    from ador_opt.hardware.presets import HARDWARE_PRESETS
    from ador_opt.models.ops import BatchComposition
    from ador_opt.models.presets import MODEL_PRESETS
    from ador_opt.perf.gpu import COMPILED_ENGINE, DEFAULT_PARAMS, gpu_step_time_with

    rows = {c["case_id"]: c for c in shipped_report["cases"]}
    for case_id in ("V072", "V073", "V074", "V076", "V078"):
        assert abs(rows[case_id]["error_pct"]) <= 20.0, rows[case_id]
    gpu = HARDWARE_PRESETS["a100-sxm-80gb"].gpu
    assert gpu is not None
    model = MODEL_PRESETS["llama-2-70b"]
    for case_id, b in (("V072", 1), ("V073", 16)):
        batch = BatchComposition.decode_only(b, 512)
        compiled = gpu_step_time_with(DEFAULT_PARAMS, gpu, model, batch, 8, COMPILED_ENGINE)
        assert compiled.seconds * 1e3 < 0.65 * rows[case_id]["measured"]


def test_validate_and_simulate_agree_on_the_same_workload() -> None:
    """Issue 13: validate's offline scenario and `ador-opt simulate` with the same engine
    configuration give the same throughput (20k-token prompts: chunked context)."""
    from ador_opt.serving.scenarios import engine_scheduler, offline_request_count

    from .conftest import run_cli

    case = next(c for c in load_cases(CASES_CSV) if c.case_id == "V001")
    case = dataclasses.replace(
        case, precision="fp16", input_len=20000, output_len=2000, case_id="L1"
    )
    predicted = runner_mod.predict_case(case, serving=runner_mod.serving_scenarios()).predicted
    cfg = engine_scheduler(20000)
    result = run_cli(
        "simulate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb",
        "--workload", "fixed:20000:2000", "--rate", "1e9",
        "--num-requests", str(offline_request_count(20000, 2000)),
        "--scheduler", cfg.policy.value, "--chunk-size", str(cfg.chunk_size),
        "--max-batch", str(cfg.max_batch), "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    simulated = result.json()["output_tokens_per_s"]  # type: ignore[index]
    assert predicted == pytest.approx(simulated, rel=1e-3)
    # TensorRT-LLM perf-overview, H100 fp16, 20000/2000: 563 output tok/s.
    assert predicted == pytest.approx(563, rel=0.15)


def test_unsupported_rows_are_listed_not_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_mod, "serving_scenarios", lambda: None)
    cases = load_cases(CASES_CSV)
    report = summarise(run_cases(cases))
    serving = [c for c in report["cases"] if c["scenario"] in ("offline", "closed_loop")]
    assert len(serving) == 24
    assert all(c["supported"] is False and c["predicted"] is None for c in serving)
    assert all("not available" in c["reason"] for c in serving)
    assert report["unsupported_count"] == 24
    assert report["by_scenario"]["offline"]["mape_pct"] is None


def test_serving_rows_use_the_serving_module(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[object, ...]] = []

    def offline_throughput(hw, model, tp, input_len, output_len, seed=0):  # type: ignore[no-untyped-def]
        calls.append(("offline", hw.name, model.bytes_per_weight, tp, input_len, output_len, seed))
        return 4000.0

    def closed_loop(hw, model, tp, concurrency, input_len, output_len, seed=0):  # type: ignore[no-untyped-def]
        calls.append(("closed", concurrency, seed))
        return {"ttft_ms": 100.0, "itl_ms": 10.0, "output_tokens_per_s": 900.0}

    fake = types.SimpleNamespace(offline_throughput=offline_throughput, closed_loop=closed_loop)
    monkeypatch.setattr(runner_mod, "serving_scenarios", lambda: fake)
    path = _write(
        tmp_path,
        [
            _row(
                case_id="O1",
                scenario="offline",
                tp="2",
                model="llama-3-8b",
                precision="fp8",
                batch="",
                input_len="128",
                output_len="128",
                metric="output_tokens_per_s_per_device",
                value="1000",
            ),
            _row(
                case_id="C1",
                scenario="closed_loop",
                batch="4",
                input_len="100",
                output_len="50",
                metric="itl_ms",
                value="8",
            ),
        ],
    )
    results = run_cases(load_cases(path))
    assert results[0].predicted == pytest.approx(2000.0)  # per device = total / tp
    assert results[0].error_pct == pytest.approx(100.0)
    assert results[1].predicted == pytest.approx(10.0)
    assert calls[0] == ("offline", "a100-sxm-80gb", 1, 2, 128, 128, 0)
    assert calls[1] == ("closed", 4, 0)


def test_extra_columns_and_bf16_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row(precision="bf16", notes="hello")], columns=(*COLUMNS, "notes"))
    (case,) = load_cases(path)
    assert case.precision == "fp16"
    assert case.scenario is Scenario.DECODE_STEP
    assert case.output_len is None


def test_source_column_optional(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row()], columns=tuple(c for c in COLUMNS if c != "source"))
    assert load_cases(path)[0].source == ""


@pytest.mark.parametrize(
    ("fields", "needles"),
    [
        ({"scenario": "training"}, ["line 2", "T1", "scenario", "training"]),
        ({"model": "gpt-5"}, ["line 2", "model", "gpt-5"]),
        ({"hardware": "tpu-v9"}, ["line 2", "hardware", "tpu-v9"]),
        ({"value": "fast"}, ["line 2", "value", "fast"]),
        ({"value": "-3"}, ["value", "positive"]),
        ({"batch": "0"}, ["batch", "positive integer"]),
        ({"batch": "2.5"}, ["batch", "positive integer"]),
        ({"input_len": ""}, ["input_len", "empty"]),
        ({"metric": "joules"}, ["metric", "joules"]),
        ({"precision": "int4"}, ["precision", "int4"]),
        ({"tp": "zero"}, ["tp", "not a number"]),
        ({"scenario": "gemm", "gemm_m": "4", "gemm_k": "", "gemm_n": "4"}, ["gemm_k"]),
        ({"case_id": ""}, ["case_id"]),
    ],
)
def test_bad_rows_name_row_and_column(
    tmp_path: Path, fields: dict[str, str], needles: list[str]
) -> None:
    path = _write(tmp_path, [_row(**fields)])
    with pytest.raises(InputError) as info:
        load_cases(path)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))


def test_missing_column(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row()], columns=tuple(c for c in COLUMNS if c != "metric"))
    with pytest.raises(InputError, match=r"missing column.*metric"):
        load_cases(path)


def test_duplicate_ids_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="duplicate"):
        load_cases(_write(tmp_path, [_row(), _row()]))
    with pytest.raises(InputError, match="no cases"):
        load_cases(_write(tmp_path, [], name="empty.csv"))
    with pytest.raises(InputError, match="not found"):
        load_cases(tmp_path / "nope.csv")


def test_tp_not_dividing_heads_names_the_case(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row(case_id="BAD", tp="3")])
    with pytest.raises(InputError, match="BAD"):
        run_cases(load_cases(path))


def test_gemm_on_template_is_unsupported(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            _row(
                case_id="G",
                scenario="gemm",
                hardware="ador-paper",
                model="",
                batch="",
                input_len="",
                gemm_m="4",
                gemm_k="64",
                gemm_n="64",
            )
        ],
    )
    (result,) = run_cases(load_cases(path))
    assert not result.supported and "GPU" in result.reason


def test_engine_for_source() -> None:
    from ador_opt.perf.gpu import DEFAULT_ENGINE, PYTHON_EAGER_ENGINE
    from ador_opt.validate.engines import engine_for_source

    assert engine_for_source("SplitwiseSim performance-model profiling data") is (
        PYTHON_EAGER_ENGINE
    )
    assert engine_for_source("NVIDIA TensorRT-LLM perf-overview") is DEFAULT_ENGINE
    assert engine_for_source("") is DEFAULT_ENGINE
    assert engine_for_source("some lab's \udcff notes") is DEFAULT_ENGINE


def test_contradicted_allreduce_rows(tmp_path: Path) -> None:
    """A row slower than one with ≥ payload and ≥ devices on the same GPU is flagged; rows that
    grow with payload and devices, or differ by less than the noise ratio, are not."""

    def ar(case_id: str, tp: int, nbytes: int, ms: float, hw: str = "a100-sxm-80gb") -> dict:
        return _row(case_id=case_id, scenario="allreduce", hardware=hw, tp=str(tp), model="",
                    batch="", input_len="", message_bytes=str(nbytes), value=str(ms))  # fmt: skip

    rows = [
        ar("A", 2, 10240, 0.046),  # slower than C (more devices, same payload): flagged
        ar("B", 2, 2097152, 0.020),
        ar("C", 4, 10240, 0.016),
        ar("D", 4, 2097152, 0.018),  # 10 % faster than B (≥ devices): within noise
        ar("E", 2, 10240, 0.030, "h100-sxm-80gb"),  # other GPU: not compared with C
    ]
    bad = contradicted_allreduce_rows(load_cases(_write(tmp_path, rows)))
    assert set(bad) == {"A"}, bad
    assert bad["A"].startswith("A a100-sxm-80gb tp2 10240 B 46 µs > ")
