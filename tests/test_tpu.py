"""TPU v5e as an instance of the HDA template (issue 12): the preset's published figures, the
ICI ring, int8, the ShareGPT-1024 workload, the JetStream engine model and the TPU case file."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ador_opt.errors import InputError
from ador_opt.hardware.presets import GPU_SPECS, HARDWARE_PRESETS
from ador_opt.hardware.topology import TPU_V5E_8, IciSlice, ring_p2p_gbps
from ador_opt.models import MODEL_PRESETS
from ador_opt.models.ops import BatchComposition
from ador_opt.perf.gpu import gemm_kernel
from ador_opt.perf.hda import hda_step_time, int8_packed_cycles
from ador_opt.perf.memory import GIB
from ador_opt.perf.result import UNITS
from ador_opt.perf.systolic import ws_cycles
from ador_opt.serving.lengths import fit_lognormal_quantiles, lognormal_quantile, lognormal_stats
from ador_opt.serving.workload import SHAREGPT_V3_STATS, workload_preset
from ador_opt.validate.tpu import (
    JetStreamParams,
    Parallelism,
    cache_tokens_per_slot,
    is_tpu_case_file,
    load_tpu_cases,
    prefill_bucket,
    simulate_offline,
    validate_tpu_file,
)

from .conftest import ROOT, assert_input_error, run_cli

TPU_CSV = ROOT / "ador_opt" / "data" / "tpu_cases.csv"
TPU = HARDWARE_PRESETS["tpu-v5e"]


# --- the preset ----------------------------------------------------------------------------
def test_tpu_v5e_preset_has_the_published_figures() -> None:
    arch = TPU.arch
    assert arch is not None and TPU.gpu is None  # timed by the template, not a GPU model
    # Google Cloud v5e page: 197 TFLOPS bf16, 394 TOPS int8, 16 GB HBM at 819 GB/s.
    assert arch.peak_tflops == pytest.approx(197.0, rel=1e-6)
    assert arch.peak_tops_int8 == pytest.approx(394.0, rel=1e-6)
    assert arch.freq_mhz == pytest.approx(1503.0, abs=0.5)  # "about 1.5 GHz"
    assert (arch.core_count, arch.sa_per_core, arch.sa_rows, arch.sa_cols) == (1, 4, 128, 128)
    assert (arch.mt_width, arch.mt_lanes) == (0, 0)  # no MAC tree
    assert (arch.dram_gbps, arch.dram_gib) == (819.0, 16.0)
    assert (arch.p2p_type.value, arch.p2p_link_count) == ("ici", 4)
    # A TP ring over the 2×4 host drives 2 links per chip, both ways, 45 GB/s each way.
    assert arch.p2p_gbps == pytest.approx(2 * 2 * 45.0)


def test_ici_ring_bandwidth_follows_the_topology() -> None:
    assert ring_p2p_gbps(TPU_V5E_8, 1) == 0.0
    assert ring_p2p_gbps(TPU_V5E_8, 2) == pytest.approx(90.0)  # one neighbour link
    assert ring_p2p_gbps(TPU_V5E_8, 4) == pytest.approx(180.0)
    assert ring_p2p_gbps(TPU_V5E_8, 8) == pytest.approx(180.0)
    with pytest.raises(InputError, match="does not fit"):
        ring_p2p_gbps(TPU_V5E_8, 16)
    with pytest.raises(InputError):
        IciSlice("bad", (0, 4), 4, 45.0, torus=False)


def test_tpu_tp8_step_uses_ici_and_only_template_units() -> None:
    model = MODEL_PRESETS["llama-3-8b"]
    st = hda_step_time(TPU.arch, model, BatchComposition.decode_only(64, 1024), 8)  # type: ignore[arg-type]
    assert set(st.busy_s) == set(UNITS)
    assert st.busy_s["mac_tree"] == 0.0  # no MAC tree: decode runs on the arrays
    assert st.busy_s["systolic"] > 0 and st.busy_s["p2p"] > 0
    slower = TPU.arch.replace(p2p_gbps=TPU.arch.p2p_gbps / 10)  # type: ignore[union-attr]
    assert hda_step_time(slower, model, BatchComposition.decode_only(64, 1024), 8).seconds > (
        st.seconds
    )


def test_tpu_path_runs_without_any_gpu_code(tmp_path: Path) -> None:
    # Block the GPU model's import outright: evaluating the preset and validating the TPU case
    # file must not need it (no GPU-only assumption leaks into the TPU path). The link table
    # module still imports the fitted NVLink constants, but the ICI row uses none of them.
    script = textwrap.dedent(
        """
        import sys
        sys.modules["ador_opt.perf.gpu"] = None  # any import of it raises ImportError
        # The validate package's __init__ also loads the GPU case runner; load only its TPU
        # module (a bare package object with the right __path__ skips the __init__).
        import types, ador_opt
        pkg = types.ModuleType("ador_opt.validate")
        pkg.__path__ = [ador_opt.__path__[0] + "/validate"]
        sys.modules["ador_opt.validate"] = pkg
        from ador_opt.hardware.presets import HARDWARE_PRESETS
        from ador_opt.models import MODEL_PRESETS
        from ador_opt.perf.evaluate import evaluate_design
        from ador_opt.perf.result import UNITS
        from ador_opt.validate.tpu import validate_tpu_file
        hw = HARDWARE_PRESETS["tpu-v5e"]
        model = MODEL_PRESETS["gemma-7b"].with_precision("int8")
        doc = evaluate_design(hw, model, 16, 256, 32, tp=8)
        assert doc["feasible"] and doc["performance_model"] == "hda", doc
        assert set(doc["utilisation"]) == set(UNITS), doc["utilisation"]
        report = validate_tpu_file(TPU_CSV)
        assert report["supported_count"] == 5
        assert "ador_opt.perf.gpu" not in [m for m, v in sys.modules.items() if v is not None]
        from ador_opt.hardware.arch import LinkType
        from ador_opt.perf import collectives as c
        from ador_opt.perf import gpu_params as g
        ici = c.LINK_PARAMS[LinkType.ICI]
        assert (ici.bw_eff, ici.hop_latency_s, ici.base_latency_s, ici.nvls) == (
            c.ICI_BW_EFF, c.ICI_HOP_LATENCY_S, c.ICI_BASE_LATENCY_S, False)
        fitted = {v for k, v in vars(g).items() if k.isupper() and isinstance(v, float)}
        assert not {ici.bw_eff, ici.hop_latency_s} & (fitted - {1.0, 0.0})
        print("ok")
        """
    ).replace("TPU_CSV", repr(str(TPU_CSV)))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# --- int8 ------------------------------------------------------------------------------------
def test_int8_packs_k_on_arrays_with_a_double_int8_rate() -> None:
    packed = int8_packed_cycles(ws_cycles, 2)
    for m, k, n in ((1, 4096, 4096), (256, 4096, 14336), (7, 100, 300)):
        assert packed(m, k, n, 128, 128) == ws_cycles(m, math.ceil(k / 2), n, 128, 128)
    assert int8_packed_cycles(ws_cycles, 1) is ws_cycles
    assert int8_packed_cycles(ws_cycles, 2) is packed  # one object: step caches keep hitting


def test_int8_prefill_on_tpu_is_faster_than_fp8_only_through_the_int8_rate() -> None:
    model = MODEL_PRESETS["llama-3-8b"]
    batch = BatchComposition.prefill_only(4, 1024)  # compute-bound: arrays set the time
    arch = TPU.arch
    assert arch is not None
    int8 = hda_step_time(arch, model.with_precision("int8"), batch, 1)
    fp8 = hda_step_time(arch, model.with_precision("fp8"), batch, 1)
    single_rate = hda_step_time(
        arch.replace(int8_macs_per_fp16_mac=1), model.with_precision("int8"), batch, 1
    )
    assert single_rate.seconds == pytest.approx(fp8.seconds, rel=1e-12)  # same bytes, same rate
    # Weight GEMMs at twice the rate; attention (activations × activations) stays bf16.
    ratio = int8.busy_s["systolic"] / fp8.busy_s["systolic"]
    assert 0.5 < ratio < 0.7, ratio


def test_gpu_int8_uses_the_datasheet_int8_peak() -> None:
    a100 = GPU_SPECS["a100-sxm-80gb"]
    assert a100.peak_tflops_for("int8") == 624.0 and a100.peak_tflops_for("fp8") == 312.0
    assert GPU_SPECS["h100-sxm-80gb"].peak_tflops_for("int8") == 1979.0
    big = (8192, 8192, 8192)  # compute-bound
    fp16 = gemm_kernel(a100, *big, 2)
    int8 = gemm_kernel(a100, *big, 1, precision="int8")
    fp8 = gemm_kernel(a100, *big, 1)  # A100 has no FP8: 8-bit weights at the fp16 rate
    assert fp8.compute_s == pytest.approx(fp16.compute_s, rel=1e-12)
    assert int8.compute_s < 0.6 * fp16.compute_s  # twice the MAC rate (+ fixed tile overhead)
    h100 = GPU_SPECS["h100-sxm-80gb"]  # FP8 and INT8 peaks are equal on H100
    assert gemm_kernel(h100, *big, 1, precision="int8").seconds == pytest.approx(
        gemm_kernel(h100, *big, 1).seconds, rel=1e-12
    )


def test_precision_int8_is_accepted_by_the_commands() -> None:
    r = run_cli(
        "evaluate",
        "--model",
        "gemma-2b",
        "--hardware",
        "a100",
        "--batch",
        "4",
        "--input-len",
        "128",
        "--output-len",
        "8",
        "--precision",
        "int8",
        "--json",
    )
    assert r.code == 0, r.stderr
    doc = r.json()
    assert isinstance(doc, dict) and doc["precision"] == "int8" and doc["peak_tflops"] == 624.0
    assert_input_error(
        run_cli(
            "evaluate",
            *("--model", "gemma-2b", "--hardware", "a100", "--batch", "1"),
            *("--input-len", "8", "--output-len", "2", "--precision", "int3"),
        ),
        "precision",
    )


# --- ShareGPT-1024 ---------------------------------------------------------------------------
@pytest.mark.parametrize("side", ["input", "output"])
def test_sharegpt_preset_is_the_fit_of_the_published_statistics(side: str) -> None:
    mean, quantiles = SHAREGPT_V3_STATS[side]
    dist = getattr(workload_preset("sharegpt-1024"), f"{side}_len")
    if side == "output":  # clipped at the server's maximum output length
        assert dist.clip == 1024
        dist = dist.base
    else:  # prompts longer than 1024 are dropped by the benchmark
        assert dist.cap == 1024
    mu, sigma = fit_lognormal_quantiles(mean, quantiles)
    assert (dist.mu, dist.sigma) == pytest.approx((mu, sigma), abs=1e-3)
    # The uncapped fit against the published statistics: medians within 5 %, mean and the
    # p80/p95 tails within 15 % (two parameters for four statistics; docs/serving.md).
    got_mean = lognormal_stats(dist.mu, dist.sigma, None)[0]
    assert got_mean == pytest.approx(mean, rel=0.15)
    for p, value in quantiles.items():
        tol = 0.05 if p == 0.5 else 0.15
        assert lognormal_quantile(dist.mu, dist.sigma, None, p) == pytest.approx(value, rel=tol)


def test_sharegpt_1024_samples_match_the_capped_statistics() -> None:
    wl = workload_preset("sharegpt-1024")
    inputs, outputs = wl.sample(100_000, np.random.default_rng(11), 8192)
    assert inputs.max() <= 1024 and outputs.max() <= 1024 and inputs.min() >= 1
    assert 0.03 < np.mean(outputs == 1024) < 0.07  # ≈ 4.9 % of answers reach the maximum
    for x, dist, (mean, median) in (
        (inputs, wl.input_len, (150.0, 66.0)),
        (outputs, wl.output_len, (526.0, 485.0)),
    ):
        a_mean, a_median, _ = dist.stats()
        assert (a_mean, a_median) == pytest.approx((mean, median), rel=0.01)  # as documented
        assert np.mean(x) == pytest.approx(a_mean, rel=0.02)
        assert np.median(x) == pytest.approx(a_median, rel=0.03)


# --- the engine model ------------------------------------------------------------------------
def test_prefill_buckets_are_powers_of_two_from_16() -> None:
    assert [prefill_bucket(t, 1024) for t in (1, 16, 17, 100, 129, 1000)] == [
        16,
        16,
        32,
        128,
        256,
        1024,
    ]
    assert prefill_bucket(700, 700) == 700  # never beyond the longest prompt


def test_one_slot_engine_is_prefill_plus_decode_steps_in_sequence() -> None:
    model = MODEL_PRESETS["gemma-2b"]
    inputs = np.array([100, 20, 300])
    outputs = np.array([5, 1, 9])
    params = JetStreamParams(program_overhead_s=1e-3)
    run = simulate_offline(TPU, model, 1, Parallelism.TP, 1, inputs, outputs, 2048, params)
    assert run.decode_steps == (5 - 1) + (1 - 1) + (9 - 1)  # prefill makes the first token
    expected = run.prefill_s + run.decode_steps * run.decode_step_s + (3 + 12) * 1e-3
    assert run.makespan_s == pytest.approx(expected, rel=1e-12)
    assert run.output_tokens == 15


def test_static_shapes_make_a_lone_request_pay_for_all_slots() -> None:
    model = MODEL_PRESETS["llama-3-8b"]
    lone = (np.array([64]), np.array([200]))
    small = simulate_offline(TPU, model, 8, Parallelism.TP, 8, *lone)
    large = simulate_offline(TPU, model, 8, Parallelism.TP, 256, *lone)
    assert small.decode_steps == large.decode_steps == 199
    assert large.makespan_s > small.makespan_s  # empty slots are computed all the same


def test_kv_cache_shrinks_to_what_fits_like_the_published_gemma_2b_run() -> None:
    model = MODEL_PRESETS["gemma-2b"]
    got = cache_tokens_per_slot(TPU, model, 1, 1024, 2048)
    free = 16 * GIB - model.weight_bytes
    assert got == int(free // (1024 * model.kv_bytes_per_token)) < 2048
    assert cache_tokens_per_slot(TPU, MODEL_PRESETS["llama-3-8b"], 8, 128, 2048) == 2048


def test_dp_splits_slots_and_replicates_the_model() -> None:
    model = MODEL_PRESETS["gemma-2b"]
    reqs = (np.full(64, 128), np.full(64, 64))
    dp = simulate_offline(TPU, model, 8, Parallelism.DP, 64, *reqs)
    one = simulate_offline(TPU, model, 1, Parallelism.TP, 8, *reqs)
    # 8 chips × 8 slots in lock step decode like one chip with 8 slots, 8× the requests/step.
    assert dp.decode_step_s == pytest.approx(one.decode_step_s, rel=1e-12)
    assert dp.decode_steps * 8 == pytest.approx(one.decode_steps, rel=0.01)


# --- the case file -------------------------------------------------------------------------
def test_shipped_tpu_file_is_predicted_in_full() -> None:
    assert is_tpu_case_file(TPU_CSV)
    report = validate_tpu_file(TPU_CSV)
    assert report["supported_count"] == len(load_tpu_cases(TPU_CSV)) == 5
    assert report["unsupported_count"] == 0
    for row in report["cases"]:
        assert row["predicted"] > 0 and math.isfinite(row["error_pct"])
        assert row["breakdown"]["decode_steps"] > 0
    assert report["mape_pct"] == pytest.approx(
        sum(abs(r["error_pct"]) for r in report["cases"]) / 5
    )


def test_shipped_tpu_rows_golden() -> None:
    # Regression guard on the shipped fit (docs/validation-tpu.md §4): the three Llama rows
    # within 5 %, Gemma-7B +23 % and Gemma-2B (+37 %, not fitted) within 45 %, MAPE ≤ 15 %.
    rows = {r["case_id"]: r["error_pct"] for r in validate_tpu_file(TPU_CSV)["cases"]}
    assert all(abs(rows[c]) < 5 for c in ("T011", "T019", "T021")), rows
    assert abs(rows["T014"]) < 30 and abs(rows["T018"]) < 45, rows
    assert sum(abs(v) for v in rows.values()) / len(rows) < 15


def test_validate_cli_reads_the_tpu_format() -> None:
    r = run_cli("validate", str(TPU_CSV), "--json")
    assert r.code == 0, r.stderr
    doc = r.json()
    assert isinstance(doc, dict)
    assert {c["case_id"] for c in doc["cases"]} == {"T011", "T014", "T019", "T021", "T018"}
    assert set(doc["by_scenario"]) == {"offline"}


@pytest.mark.parametrize(
    "column,value,needle",
    [
        ("model", "gemma-3b", "unknown model"),
        ("hardware", "tpu-v9", "unknown hardware"),
        ("parallelism", "pp", "parallelism"),
        ("precision", "int4", "precision"),
        ("workload", "sharegpt-9", "workload"),
        ("chips", "0", "chips"),
        ("scenario", "closed_loop", "scenario"),
    ],
)
def test_bad_tpu_rows_exit_2_naming_the_column(
    tmp_path: Path, column: str, value: str, needle: str
) -> None:
    lines = TPU_CSV.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",", len(header) - 1)
    cells[header.index(column)] = value
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([lines[0], ",".join(cells)]) + "\n")
    with pytest.raises(InputError, match=needle):
        load_tpu_cases(path)
    assert_input_error(run_cli("validate", str(path), "--json"), needle)


def test_engine_int8_is_weight_only_and_halves_the_bytes() -> None:
    from ador_opt.hardware.presets import Hardware
    from ador_opt.validate.tpu import effective_hardware

    assert effective_hardware(TPU, JetStreamParams()).arch.int8_macs_per_fp16_mac == 1  # type: ignore[union-attr]
    model = MODEL_PRESETS["llama-2-7b"]
    reqs = (np.full(32, 200), np.full(32, 100))
    bf16 = simulate_offline(TPU, model, 8, Parallelism.TP, 32, *reqs)
    int8 = simulate_offline(TPU, model.with_precision("int8"), 8, Parallelism.TP, 32, *reqs)
    single = Hardware("x", TPU.arch.replace(int8_macs_per_fp16_mac=1), None)  # type: ignore[union-attr]
    same = simulate_offline(single, model.with_precision("int8"), 8, Parallelism.TP, 32, *reqs)
    assert int8.makespan_s == pytest.approx(same.makespan_s, rel=1e-12)
    assert int8.makespan_s < bf16.makespan_s  # half the weight and KV bytes


def test_int8_and_dp_rows_are_read(tmp_path: Path) -> None:
    lines = TPU_CSV.read_text().splitlines()
    row = (
        "X1,offline,tpu-v5e,8,dp,gemma-2b,int8,512,sharegpt-1024,2000,throughput_tokens_per_s,1,t"
    )
    path = tmp_path / "more.csv"
    path.write_text("\n".join([lines[0], row]) + "\n")
    (case,) = load_tpu_cases(path)
    assert (case.parallelism, case.precision.value, case.max_batch) == (
        Parallelism.DP,
        "int8",
        512,
    )
    report = validate_tpu_file(path)
    assert report["supported_count"] == 1 and report["cases"][0]["predicted"] > 0
