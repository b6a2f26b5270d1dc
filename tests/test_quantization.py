"""Numeric formats per tensor kind (weights, activations, KV) and per-format compute rates.

Property tests: int4 weights never slow a memory-bound decode step (GPU and HDA); more bytes
per element never speeds a memory-bound step; higher-precision MACs cost more area.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ador_opt.errors import InputError
from ador_opt.hardware.area import area_breakdown
from ador_opt.hardware.constants import MAC_AREA_VS_FP16
from ador_opt.hardware.presets import GPU_SPECS, HARDWARE_PRESETS
from ador_opt.models import MODEL_PRESETS
from ador_opt.models.ops import BatchComposition
from ador_opt.models.spec import Precision
from ador_opt.perf.evaluate import evaluate_design, model_with_formats
from ador_opt.perf.step import step_time
from tests.conftest import assert_input_error, run_cli

LLAMA = MODEL_PRESETS["llama-3-8b"]
HW_NAMES = ("a100-sxm-80gb", "h100-sxm-80gb", "ador-paper", "llmcompass-l", "llmcompass-t")
MEMORY_BOUNDS = ("memory", "dram")  # GPU model / HDA model names of the DRAM bound
A100 = GPU_SPECS["a100-sxm-80gb"]
H100 = GPU_SPECS["h100-sxm-80gb"]


# --- formats ---------------------------------------------------------------------------------
def test_mxfp4_is_4_25_bits_and_int4_g128_is_4_125_bits() -> None:
    # OCP MX v1.0: 32 E2M1 elements share one 8-bit scale; GPTQ/AWQ g128: one fp16 scale.
    assert Precision.FP4.bits_per_element == 4.25
    assert Precision.INT4.bits_per_element == 4.125
    m = LLAMA.with_precision("fp4")
    assert m.bytes_per_weight == 0.53125
    assert m.weight_bytes == pytest.approx(LLAMA.param_count * 4.25 / 8, abs=1)


def test_schemes_set_each_tensor_kind() -> None:
    w4 = LLAMA.with_precision("w4a16")
    assert (w4.precision, w4.activation_precision, w4.kv_format) == (
        Precision.INT4,
        Precision.FP16,
        Precision.FP16,
    )
    assert w4.gemm_precision is Precision.FP16 and w4.dequantises_weights
    assert w4.kv_bytes_per_token == LLAMA.kv_bytes_per_token
    fp8 = LLAMA.with_precision("fp8")  # legacy meaning: W8A8 fp8 with an fp8 KV cache
    assert fp8.gemm_precision is Precision.FP8 and not fp8.dequantises_weights
    assert fp8.kv_bytes_per_token * 2 == LLAMA.kv_bytes_per_token
    assert fp8.bytes_per_activation == 2
    kv8 = model_with_formats(LLAMA, "fp16", kv="fp8")
    assert kv8.weight_bytes == LLAMA.weight_bytes
    assert kv8.kv_bytes_per_token * 2 == LLAMA.kv_bytes_per_token
    assert kv8.precision_label == "wfp16-afp16-kvfp8"
    assert LLAMA.with_precision("bf16") == LLAMA  # caches keyed by the spec stay shared


def test_inconsistent_bytes_are_refused() -> None:
    import dataclasses

    with pytest.raises(InputError, match="does not match"):
        dataclasses.replace(LLAMA, precision=Precision.INT4)
    with pytest.raises(InputError, match="unknown weight precision"):
        LLAMA.with_formats(weights="int3")


# --- GPU tensor peaks per format ---------------------------------------------------------------
def test_gpu_peaks_per_format_fall_back_to_the_next_wider_path() -> None:
    assert A100.peak_tflops_for("fp8") == 312.0  # no FP8 tensor cores on Ampere
    assert A100.peak_tflops_for("int4") == 1248.0  # A100 datasheet dense INT4
    assert H100.peak_tflops_for("fp8") == 1979.0  # H100 SXM: FP8 at 2× the FP16 peak
    assert H100.peak_tflops_for("fp8") / H100.peak_tflops_for("fp16") == pytest.approx(2, 0.01)
    assert H100.peak_tflops_for("int4") == 1979.0  # Hopper has no INT4 path: int8
    assert H100.peak_tflops_for("fp4") == 1979.0  # no FP4 before Blackwell: fp8


def _prefill_s(hw_name: str, precision: str) -> float:
    model = LLAMA.with_precision(precision)
    return step_time(
        HARDWARE_PRESETS[hw_name], model, BatchComposition.prefill_only(8, 1024)
    ).seconds


def test_fp8_prefill_is_faster_on_h100_but_not_on_a100() -> None:
    # compute-bound prefill: H100 doubles its GEMM rate in FP8; A100 dequantises to FP16.
    assert _prefill_s("h100-sxm-80gb", "fp8") < 0.75 * _prefill_s("h100-sxm-80gb", "fp16")
    assert _prefill_s("a100-sxm-80gb", "fp8") == pytest.approx(
        _prefill_s("a100-sxm-80gb", "fp16"), rel=0.05
    )


def test_weight_only_int4_prefill_computes_at_fp16() -> None:
    # w4a16 moves fewer bytes but multiplies at fp16: a compute-bound prefill gains nothing.
    for hw in ("h100-sxm-80gb", "ador-paper"):
        assert _prefill_s(hw, "w4a16") >= 0.97 * _prefill_s(hw, "fp16")


# --- HDA MACs per format, with area ------------------------------------------------------------
def test_hda_packed_fp8_macs_speed_up_prefill_and_cost_area() -> None:
    base = HARDWARE_PRESETS["ador-paper"]
    assert base.arch is not None
    packed = base.arch.replace(fp8_macs_per_fp16_mac=2)
    model = LLAMA.with_precision("fp8")
    batch = BatchComposition.prefill_only(8, 1024)
    from ador_opt.hardware.presets import Hardware

    t1 = step_time(base, model, batch).seconds
    t2 = step_time(Hardware("packed", packed, None), model, batch).seconds
    assert t2 < 0.8 * t1
    assert packed.peak_tflops_for("fp8") == pytest.approx(2 * base.arch.peak_tflops)
    extra = area_breakdown(packed).total_mm2 - area_breakdown(base.arch).total_mm2
    pes = packed.core_count * (packed.sa_macs_per_core + packed.mt_macs_per_core)
    from ador_opt.hardware.constants import FP16_MAC_MM2

    assert extra == pytest.approx(pes * 2 * MAC_AREA_VS_FP16["fp8"] * FP16_MAC_MM2, rel=1e-6)


def test_packed_mac_tree_inputs_speed_up_compute_bound_gemv() -> None:
    # a MAC tree with 1 lane is compute-bound on a decode GEMV; 4 int8 MACs per input cut it
    from ador_opt.perf.hda import int8_packed_cycles
    from ador_opt.perf.systolic import ws_cycles
    from ador_opt.perf.units.base import Work, WorkKind
    from ador_opt.perf.units.mac_tree import MAC_TREE

    arch = HARDWARE_PRESETS["ador-paper"].arch
    assert arch is not None
    work = Work(WorkKind.GEMM, 8, 4096, 4096, 1, 2)
    plain = MAC_TREE.run(arch, work, ws_cycles)
    packed = MAC_TREE.run(arch, work, int8_packed_cycles(ws_cycles, 4))
    assert plain is not None and packed is not None
    assert packed.compute_s == pytest.approx(plain.compute_s / 4, rel=0.01)
    assert packed.dram_bytes == plain.dram_bytes


def test_weight_only_dequantises_on_the_vector_unit() -> None:
    hw = HARDWARE_PRESETS["ador-paper"]
    batch = BatchComposition.decode_only(4, 512)
    fp16 = step_time(hw, LLAMA, batch)
    w4 = step_time(hw, LLAMA.with_precision("w4a16"), batch)
    w8a8 = step_time(hw, LLAMA.with_precision("int8"), batch)
    # the vector unit converts every weight element of w4a16; W8A8 multiplies int8 directly
    assert w4.busy_s["vector"] > fp16.busy_s["vector"]
    assert w8a8.busy_s["vector"] == pytest.approx(fp16.busy_s["vector"])


FORMAT_ORDER = ("int8", "fp8", "int4", "fp4")


@settings(max_examples=40, deadline=None)
@given(fmt=st.sampled_from(FORMAT_ORDER), rates=st.sampled_from([(1, 2), (1, 4), (2, 4)]))
def test_more_packed_macs_never_cost_less_area(fmt: str, rates: tuple[int, int]) -> None:
    r1, r2 = rates
    arch = HARDWARE_PRESETS["ador-paper"].arch
    assert arch is not None
    a1 = area_breakdown(arch.replace(**{f"{fmt}_macs_per_fp16_mac": r1})).total_mm2
    a2 = area_breakdown(arch.replace(**{f"{fmt}_macs_per_fp16_mac": r2})).total_mm2
    assert a2 > a1


@pytest.mark.parametrize(
    ("wide", "narrow"),
    [
        ("fp16", "fp8"),
        ("fp16", "int8"),
        ("fp8", "int8"),
        ("int8", "int4"),
        ("fp8", "fp4"),
        ("fp4", "int4"),
    ],
)
def test_higher_precision_macs_cost_more_area(wide: str, narrow: str) -> None:
    assert MAC_AREA_VS_FP16[wide] > MAC_AREA_VS_FP16[narrow]
    if wide == "fp16":
        return
    arch = HARDWARE_PRESETS["ador-paper"].arch
    assert arch is not None
    a_wide = area_breakdown(arch.replace(**{f"{wide}_macs_per_fp16_mac": 2})).total_mm2
    a_narrow = area_breakdown(arch.replace(**{f"{narrow}_macs_per_fp16_mac": 2})).total_mm2
    assert a_wide > a_narrow


def test_bad_packed_rate_is_an_input_error() -> None:
    arch = HARDWARE_PRESETS["ador-paper"].arch
    assert arch is not None
    with pytest.raises(InputError, match="fp4_macs_per_fp16_mac"):
        arch.replace(fp4_macs_per_fp16_mac=3)


# --- properties on memory-bound steps ----------------------------------------------------------
decode_batches = st.integers(1, 128)
contexts = st.integers(16, 4096)


@settings(max_examples=60, deadline=None)
@given(hw_name=st.sampled_from(HW_NAMES), batch=decode_batches, context=contexts)
def test_int4_weights_never_slow_a_memory_bound_decode_step(
    hw_name: str, batch: int, context: int
) -> None:
    hw = HARDWARE_PRESETS[hw_name]
    comp = BatchComposition.decode_only(batch, context)
    fp16 = step_time(hw, LLAMA, comp)
    assume(fp16.bound in MEMORY_BOUNDS)
    for scheme in ("w4a16", "fp4"):
        assert step_time(hw, LLAMA.with_precision(scheme), comp).seconds <= fp16.seconds


# Formats of the same MAC format (fp16 GEMMs) ordered by bytes per weight.
WEIGHT_LADDER = ("int4", "fp4", "int8", "fp16")  # 0.516, 0.531, 1, 2 bytes
KV_LADDER = ("int4", "fp4", "fp8", "fp16")


@settings(max_examples=60, deadline=None)
@given(
    hw_name=st.sampled_from(HW_NAMES),
    batch=decode_batches,
    context=contexts,
    i=st.integers(0, 2),
    kind=st.sampled_from(["weights", "kv"]),
)
def test_more_bytes_per_element_never_speed_a_memory_bound_step(
    hw_name: str, batch: int, context: int, i: int, kind: str
) -> None:
    hw = HARDWARE_PRESETS[hw_name]
    comp = BatchComposition.decode_only(batch, context)
    ladder = WEIGHT_LADDER if kind == "weights" else KV_LADDER
    key = "weights" if kind == "weights" else "kv"
    small = LLAMA.with_formats(**{key: ladder[i]})
    big = LLAMA.with_formats(**{key: ladder[i + 1]})
    assert small.bytes_per_weight <= big.bytes_per_weight
    assert small.bytes_per_kv <= big.bytes_per_kv
    t_big = step_time(hw, big, comp)
    assume(t_big.bound in MEMORY_BOUNDS)
    assert step_time(hw, small, comp).seconds <= t_big.seconds * (1 + 1e-9)


# --- JSON and CLI ------------------------------------------------------------------------------
def test_evaluate_reports_formats_and_gemm_peak() -> None:
    doc = evaluate_design(
        HARDWARE_PRESETS["h100-sxm-80gb"], LLAMA.with_precision("fp8"), 4, 128, 8
    )
    assert doc["precision"] == "fp8" and doc["peak_tflops"] == 1979.0
    assert doc["formats"] == {
        "weights": "fp8",
        "activations": "fp8",
        "kv_cache": "fp8",
        "gemm": "fp8",
    }
    w4 = evaluate_design(
        HARDWARE_PRESETS["h100-sxm-80gb"], LLAMA.with_precision("w4a16"), 4, 128, 8
    )
    assert w4["precision"] == "w4a16" and w4["peak_tflops"] == 989.0


def test_cli_per_kind_precision_flags() -> None:
    args = ("evaluate", "--model", "gemma-2b", "--hardware", "a100", "--batch", "2")
    r = run_cli(*args, "--input-len", "64", "--output-len", "4", "--precision", "w4a16",
                "--kv-precision", "fp8", "--json")  # fmt: skip
    assert r.code == 0, r.stderr
    doc = r.json()
    assert isinstance(doc, dict)
    assert doc["formats"]["weights"] == "int4" and doc["formats"]["kv_cache"] == "fp8"
    bad = run_cli(*args, "--input-len", "64", "--output-len", "4", "--weight-precision", "int2")
    assert_input_error(bad, "weight precision")
