"""HDA template performance model: evaluator contract, monotonicity, units, TP, backends."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ador_opt.errors import InputError
from ador_opt.hardware.arch import ArchConfig, TpSync
from ador_opt.hardware.presets import HARDWARE_PRESETS
from ador_opt.models import load_model
from ador_opt.models.ops import BatchComposition, PrefillChunk, step_ops
from ador_opt.models.spec import ModelSpec
from ador_opt.perf import hda, schedule
from ador_opt.perf.hda import hda_step_time
from ador_opt.perf.mactree import U_MAX, dram_utilisation
from ador_opt.perf.result import UNITS
from ador_opt.perf.tp import HIDE_TOLERANCE, min_p2p_gbps_to_hide

ADOR = HARDWARE_PRESETS["ador-paper"].arch
HDA_PRESETS = [HARDWARE_PRESETS[n].arch for n in ("ador-paper", "llmcompass-l", "llmcompass-t")]
L8 = load_model("llama-3-8b")
L70 = load_model("llama-3-70b")

batches = st.integers(1, 256)
contexts = st.integers(1, 8192)


def _decode(b: int, ctx: int) -> BatchComposition:
    return BatchComposition.decode_only(b, ctx)


def _clear_caches() -> None:
    for fn in (hda._step, hda._gemm_block, schedule.gemm_time):
        fn.cache_clear()


# --- contract ---------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", HDA_PRESETS, ids=lambda a: a.name)
@pytest.mark.parametrize(
    "batch",
    [
        _decode(1, 128),
        _decode(150, 2048),
        BatchComposition.prefill_only(4, 512),
        BatchComposition((PrefillChunk(256, 512, False),), 32, 32 * 1500),
    ],
    ids=["decode1", "decode150", "prefill", "mixed"],
)
def test_contract(arch: ArchConfig, batch: BatchComposition) -> None:
    st_ = hda_step_time(arch, L8, batch, 1)
    assert st_.seconds > 0 and math.isfinite(st_.seconds)
    assert set(st_.busy_s) == set(UNITS)
    assert st_.bound in UNITS
    assert all(v >= 0 for v in st_.busy_s.values())
    # No unit is busier than the step lasts (vector and all matrix units overlap at most).
    for unit in ("systolic", "mac_tree", "vector", "dram", "noc"):
        assert st_.busy_s[unit] <= st_.seconds * (1 + 1e-9), unit
    assert st_.flops == pytest.approx(sum(op.total_flops for op in step_ops(L8, batch, 1)))


def test_deterministic_and_pure() -> None:
    batch = BatchComposition((PrefillChunk(300, 100),), 20, 20 * 900)
    arch_before = ADOR.to_dict()
    first = hda_step_time(ADOR, L8, batch, 1)
    _clear_caches()
    second = hda_step_time(ADOR, L8, batch, 1)
    assert first == second
    assert ADOR.to_dict() == arch_before


def test_bound_names() -> None:
    assert hda_step_time(ADOR, L8, _decode(1, 512), 1).bound == "dram"
    assert hda_step_time(ADOR, L8, BatchComposition.prefill_only(8, 1024), 1).bound == "systolic"


# --- monotonicity and units ------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(batches, contexts, st.floats(200, 8000), st.floats(1.01, 4.0))
def test_more_dram_bandwidth_never_slows_decode(b: int, ctx: int, bw: float, f: float) -> None:
    slow = hda_step_time(ADOR.replace(dram_gbps=bw), L8, _decode(b, ctx), 1)
    fast = hda_step_time(ADOR.replace(dram_gbps=bw * f), L8, _decode(b, ctx), 1)
    assert fast.seconds <= slow.seconds * (1 + 1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 32),
    st.sampled_from([256, 512, 1024, 2048]),
    st.sampled_from([32, 64, 96, 128]),
    st.sampled_from([32, 64, 128]),
    st.sampled_from([32, 64, 128]),
)
def test_larger_array_never_slows_compute_bound_prefill(
    b: int, length: int, size: int, grow_r: int, grow_c: int
) -> None:
    batch = BatchComposition.prefill_only(b, length)
    small = ADOR.replace(sa_rows=size, sa_cols=size)
    big = ADOR.replace(sa_rows=size + grow_r, sa_cols=size + grow_c)
    t_small = hda_step_time(small, L8, batch, 1)
    t_big = hda_step_time(big, L8, batch, 1)
    if t_small.bound == "systolic":
        assert t_big.seconds <= t_small.seconds * (1 + 1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(HDA_PRESETS),
    batches,
    contexts,
    st.integers(0, 4),
    st.integers(1, 2048),
    st.integers(0, 2048),
)
def test_time_times_bandwidth_covers_bytes(
    arch: ArchConfig, b: int, ctx: int, chunks: int, tokens: int, context: int
) -> None:
    """Units: no step moves its DRAM bytes faster than the DRAM's peak bandwidth."""
    batch = BatchComposition((PrefillChunk(tokens, context),) * chunks, b, b * ctx)
    st_ = hda_step_time(arch, L8, batch, 1)
    assert st_.seconds * arch.dram_gbps * 1e9 >= st_.dram_bytes * (1 - 1e-12)
    assert st_.busy_s["dram"] == pytest.approx(st_.dram_bytes / (arch.dram_gbps * 1e9))


def test_memory_bound_decode_near_bandwidth() -> None:
    """Batch-1 decode on ADOR is DRAM-bound at the MAC tree's streaming efficiency."""
    st_ = hda_step_time(ADOR, L8, _decode(1, 1024), 1)
    achieved = st_.dram_bytes / st_.seconds / (ADOR.dram_gbps * 1e9)
    assert 0.75 <= achieved <= U_MAX


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 2048), st.integers(0, 4096), batches, contexts)
def test_mixed_step_at_least_its_parts(tokens: int, context: int, b: int, ctx: int) -> None:
    chunk = (PrefillChunk(tokens, context),)
    mixed = hda_step_time(ADOR, L8, BatchComposition(chunk, b, b * ctx), 1).seconds
    prefill = hda_step_time(ADOR, L8, BatchComposition(chunk), 1).seconds
    decode = hda_step_time(ADOR, L8, _decode(b, ctx), 1).seconds
    assert mixed >= max(prefill, decode) * (1 - 1e-12)
    assert mixed <= (prefill + decode) * (1 + 1e-9)


@settings(max_examples=40, deadline=None)
@given(batches, contexts, st.integers(1, 20))
def test_longer_context_and_bigger_batch_never_faster(b: int, ctx: int, d: int) -> None:
    base = hda_step_time(ADOR, L8, _decode(b, ctx), 1).seconds
    assert hda_step_time(ADOR, L8, _decode(b, ctx + d), 1).seconds >= base
    assert hda_step_time(ADOR, L8, _decode(b + d, ctx), 1).seconds >= base


@pytest.mark.parametrize("model", [L8, L70], ids=lambda m: m.name)
def test_more_tp_never_raises_per_device_bytes(model: ModelSpec) -> None:
    batch = _decode(16, 2048)
    prev_w = prev_bytes = math.inf
    for tp in (1, 2, 4, 8):
        weights = sum(op.weight_bytes * op.repeat for op in step_ops(model, batch, tp))
        st_ = hda_step_time(ADOR, model, batch, tp)
        assert weights <= prev_w
        assert st_.dram_bytes <= prev_bytes
        prev_w, prev_bytes = weights, st_.dram_bytes


def test_mac_tree_helps_decode_and_ratio_split() -> None:
    no_mt = ADOR.replace(mt_width=0, mt_lanes=0)
    batch = _decode(1, 1024)
    assert hda_step_time(ADOR, L8, batch, 1).seconds < hda_step_time(no_mt, L8, batch, 1).seconds
    assert schedule.mt_share(ADOR) == pytest.approx(256 / (4096 + 256))
    assert schedule.mt_share(no_mt) == 0.0


def test_prefill_kv_in_global_sram() -> None:
    """A prefill chunk whose K/V does not fit in global SRAM reads it back from DRAM."""
    batch = BatchComposition.prefill_only(1, 4096)
    big = hda_step_time(ADOR, L8, batch, 1)
    tiny = hda_step_time(ADOR.replace(global_sram_mib=1.0), L8, batch, 1)
    assert tiny.dram_bytes > big.dram_bytes


def test_dram_utilisation_curve() -> None:
    assert dram_utilisation(1e12) == U_MAX
    assert dram_utilisation(64 * 2**20) == pytest.approx(U_MAX)
    assert dram_utilisation(6.4 * 2**20) == pytest.approx(U_MAX - 0.10)
    assert dram_utilisation(1.0) == pytest.approx(0.30)


# --- tensor parallelism -----------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(list(TpSync)),
    st.sampled_from([2, 4, 8]),
    st.integers(1, 64),
    st.floats(1, 1000),
    st.floats(1.01, 10),
)
def test_more_p2p_bandwidth_never_slows(
    sync: TpSync, tp: int, b: int, bw: float, f: float
) -> None:
    arch = ADOR.replace(tp_sync=sync, devices=8, tp=tp)
    batch = _decode(b, 1024)
    slow = hda_step_time(arch.replace(p2p_gbps=bw), L70, batch, tp).seconds
    fast = hda_step_time(arch.replace(p2p_gbps=bw * f), L70, batch, tp).seconds
    assert fast <= slow * (1 + 1e-12)


def test_tp_adds_p2p_and_single_device_has_none() -> None:
    batch = _decode(16, 1024)
    assert hda_step_time(ADOR, L70, batch, 1).busy_s["p2p"] == 0.0
    assert hda_step_time(ADOR.replace(devices=8, tp=8), L70, batch, 8).busy_s["p2p"] > 0.0


@pytest.mark.parametrize("sync", list(TpSync))
def test_min_p2p_to_hide(sync: TpSync) -> None:
    arch = ADOR.replace(tp_sync=sync, devices=8, tp=8)
    batch = _decode(16, 1024)
    need = min_p2p_gbps_to_hide(arch, L70, batch, 8)
    ideal = hda_step_time(arch.replace(p2p_gbps=1e12), L70, batch, 8).seconds
    at_need = hda_step_time(arch.replace(p2p_gbps=need), L70, batch, 8).seconds
    assert at_need <= ideal * (1 + HIDE_TOLERANCE) * (1 + 1e-9)
    below = hda_step_time(arch.replace(p2p_gbps=need * 0.9), L70, batch, 8).seconds
    assert below > ideal * (1 + HIDE_TOLERANCE)


def test_all_gather_needs_least_bandwidth_at_eight_devices() -> None:
    batch = _decode(16, 1024)
    need = {
        s: min_p2p_gbps_to_hide(ADOR.replace(tp_sync=s, devices=8, tp=8), L70, batch, 8)
        for s in TpSync
    }
    assert need[TpSync.ALL_GATHER] < need[TpSync.MEGATRON] < need[TpSync.ALL_REDUCE]


# --- backends and bad input -------------------------------------------------------------------

TINY = ModelSpec(
    name="tiny",
    num_layers=2,
    hidden_size=64,
    num_heads=4,
    num_kv_heads=2,
    head_dim=16,
    ffn_size=128,
    vocab_size=256,
)
TINY_ARCH = ArchConfig(
    name="tiny",
    core_count=2,
    sa_rows=32,
    sa_cols=32,
    mt_width=16,
    mt_lanes=2,
    local_sram_kib=64.0,
    global_sram_mib=1.0,
)


@pytest.mark.parametrize(
    "batch",
    [
        BatchComposition.prefill_only(2, 48),
        _decode(3, 40),
        BatchComposition((PrefillChunk(20, 10),), 2, 60),
    ],
)
def test_scalesim_backend_equals_closed_form(tmp_path, monkeypatch, batch) -> None:
    monkeypatch.setenv("ADOR_OPT_CACHE_DIR", str(tmp_path))
    via_sim = hda_step_time(TINY_ARCH, TINY, batch, 1, sa_backend="scalesim")
    closed = hda_step_time(TINY_ARCH, TINY, batch, 1)
    assert via_sim == closed
    overlapped = hda_step_time(TINY_ARCH, TINY, batch, 1, sa_backend="double-buffered")
    assert overlapped.seconds <= closed.seconds


def test_bad_input() -> None:
    with pytest.raises(InputError, match="backend"):
        hda_step_time(ADOR, L8, _decode(1, 10), 1, sa_backend="verilog")
    with pytest.raises(InputError):
        hda_step_time(ADOR, L8, _decode(1, 10), 3)  # 3 does not divide 32 heads


arch_fields = st.fixed_dictionaries(
    {
        "core_count": st.integers(1, 128),
        "sa_rows": st.sampled_from([16, 32, 64, 128, 256]),
        "sa_cols": st.sampled_from([16, 32, 64, 128, 256]),
        "sa_per_core": st.integers(1, 4),
        "mt_width": st.sampled_from([0, 8, 16, 64]),
        "mt_lanes": st.integers(1, 64),
        "vector_width": st.sampled_from([16, 64, 128, 512]),
        "local_sram_kib": st.floats(64, 8192),
        "global_sram_mib": st.floats(1, 256),
        "noc_gbps": st.floats(100, 20000),
        "dram_gbps": st.floats(100, 8000),
        "freq_mhz": st.floats(500, 2500),
    }
)


@settings(max_examples=60, deadline=None)
@given(arch_fields, batches, contexts, st.integers(0, 3), st.integers(1, 4096))
def test_random_designs_give_sane_steps(
    fields, b: int, ctx: int, chunks: int, tokens: int
) -> None:
    if fields["mt_width"] == 0:
        fields["mt_lanes"] = 0
    arch = ADOR.replace(**fields)
    batch = BatchComposition((PrefillChunk(tokens, 0),) * chunks, b, b * ctx)
    st_ = hda_step_time(arch, L8, batch, 1)
    assert math.isfinite(st_.seconds) and st_.seconds > 0
    assert st_.seconds * arch.dram_gbps * 1e9 >= st_.dram_bytes * (1 - 1e-12)
    for unit in ("systolic", "mac_tree", "vector", "dram", "noc"):
        assert st_.busy_s[unit] <= st_.seconds * (1 + 1e-9), unit
    # Never faster than the device's peak matrix FLOP rate allows.
    from ador_opt.models.ops import OpKind

    matrix = sum(op.total_flops for op in step_ops(L8, batch, 1) if op.kind is not OpKind.VECTOR)
    assert st_.seconds >= matrix / (arch.peak_tflops * 1e12) * (1 - 1e-9)
