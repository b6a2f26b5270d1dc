"""Compute units behind one interface (perf/units): the contract every unit kind must meet,
the staging rule, the best-mapping scheduler, and the in-array double-buffer area term."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ador_opt.hardware import constants as c
from ador_opt.hardware.area import area_breakdown
from ador_opt.hardware.presets import HARDWARE_PRESETS
from ador_opt.perf.schedule import MATRIX_UNITS, best_mapping
from ador_opt.perf.systolic import ws_cycles
from ador_opt.perf.units import (
    MAC_TREE,
    SYSTOLIC_ARRAY,
    VECTOR_UNIT,
    ComputeUnit,
    UnitWork,
    Work,
    WorkKind,
)
from ador_opt.perf.units.base import staged_core_s

ADOR = HARDWARE_PRESETS["ador-paper"].arch
UNITS: list[ComputeUnit] = [SYSTOLIC_ARRAY, MAC_TREE, VECTOR_UNIT]

works = st.one_of(
    st.builds(
        Work,
        kind=st.just(WorkKind.GEMM),
        m=st.integers(1, 4096),
        k=st.sampled_from([64, 128, 4096, 14336]),
        n=st.sampled_from([128, 1024, 6144]),
    ),
    st.builds(
        Work,
        kind=st.just(WorkKind.ATTENTION),
        k=st.sampled_from([64, 128]),
        parts=st.lists(
            st.tuples(st.integers(1, 512), st.integers(1, 2048), st.integers(1, 8192)),
            min_size=1,
            max_size=3,
        ).map(tuple),
        dram_bytes=st.floats(0, 1e9),
    ),
    st.builds(Work, kind=st.just(WorkKind.ELEMENTWISE), ops=st.floats(1, 1e9)),
)


@settings(max_examples=80, deadline=None)
@given(work=works)
@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_contract(unit: ComputeUnit, work: Work) -> None:
    """Every unit: deterministic, finite non-negative costs, its own name, and (matrix units)
    never faster than its peak MAC rate."""
    got = unit.run(ADOR, work, ws_cycles)
    assert got == unit.run(ADOR, work, ws_cycles)
    if got is None:
        return
    assert got.unit == unit.name
    for v in (got.compute_s, got.dram_bytes, got.sram_bytes, got.noc_bytes):
        assert math.isfinite(v) and v >= 0
    assert got.stages >= 0 and got.granules >= 0
    macs_per_s = (ADOR.sa_tflops if unit is SYSTOLIC_ARRAY else ADOR.mt_tflops) * 1e12 / 2
    if work.kind is WorkKind.GEMM:
        assert got.compute_s >= work.m * work.k * work.n / macs_per_s * (1 - 1e-9)
        assert got.dram_bytes >= work.k * work.n * work.wb
    if work.kind is WorkKind.ATTENTION:  # QKᵀ + AV: 2 · rows · keys · hd MACs per product
        macs = sum(2 * c * r * keys * work.k for c, r, keys in work.parts)
        assert got.compute_s >= macs / macs_per_s * (1 - 1e-9)
        assert got.dram_bytes == work.dram_bytes


def test_each_unit_answers_only_its_kinds() -> None:
    gemm = Work(WorkKind.GEMM, 16, 4096, 4096)
    vec = Work(WorkKind.ELEMENTWISE, ops=1e6)
    assert VECTOR_UNIT.run(ADOR, gemm, ws_cycles) is None
    assert MAC_TREE.run(ADOR, vec, ws_cycles) is None
    assert SYSTOLIC_ARRAY.run(ADOR, vec, ws_cycles) is None
    assert VECTOR_UNIT.run(ADOR, vec, ws_cycles) == UnitWork(
        "vector", 1e6 / (ADOR.vector_width * ADOR.core_count * ADOR.freq_hz), 0.0
    )
    assert [u.name for u in MATRIX_UNITS] == ["mac_tree", "systolic"]


@given(st.floats(0, 1), st.floats(0, 1), st.integers(0, 1000))
def test_staging_rule(compute: float, dram: float, stages: int) -> None:
    t = staged_core_s(compute, dram, stages)
    assert t >= max(compute, dram)
    assert t <= compute + dram + 1e-15
    if stages == 0:
        assert t == max(compute, dram)
    if stages == 1:
        assert t == compute + dram
    if stages >= 2:  # deeper pipelines expose less
        assert t >= staged_core_s(compute, dram, stages + 1)


def _w(unit: str, compute: float, dram: float = 0.0, granules: int = 0) -> UnitWork:
    return UnitWork(unit, compute, dram, 0.0, 0.0, 0, granules)


def test_best_mapping_splits_in_rate_ratio() -> None:
    # 1 ms and 3 ms alone → the split finishes in 0.75 ms (shares 3/4 and 1/4).
    t = best_mapping(ADOR, [_w("mac_tree", 3e-3), _w("systolic", 1e-3)])
    assert t.seconds == pytest.approx(0.75e-3)
    assert t.busy[0] == pytest.approx(0.75e-3) and t.busy[1] == pytest.approx(0.75e-3)
    assert t.bound == "systolic"  # split: the unit doing most of the work
    # With 2 rounds the arrays keep 2/2 of theirs: the tree cannot take a whole round.
    t2 = best_mapping(ADOR, [_w("mac_tree", 3e-3), _w("systolic", 1e-3, granules=2)])
    assert t2.seconds == pytest.approx(1e-3)
    # 8 rounds: the arrays keep 6/8 (≥ their 3/4 balanced share).
    t8 = best_mapping(ADOR, [_w("mac_tree", 3e-3), _w("systolic", 1e-3, granules=8)])
    assert t8.seconds == pytest.approx(0.75e-3)
    # Shared DRAM: a split cannot beat streaming all bytes once.
    big = 4e9
    td = best_mapping(ADOR, [_w("mac_tree", 1e-3, big), _w("systolic", 1e-3, big)])
    assert td.seconds >= big / (ADOR.dram_gbps * 1e9)


@settings(max_examples=100, deadline=None)
@given(st.floats(1e-6, 1e-2), st.floats(1e-6, 1e-2), st.floats(1.0, 8.0), st.integers(0, 64))
def test_best_mapping_never_slower_when_a_unit_speeds_up(
    t_mt: float, t_sa: float, speedup: float, granules: int
) -> None:
    slow = best_mapping(ADOR, [_w("mac_tree", t_mt), _w("systolic", t_sa, granules=granules)])
    fast = best_mapping(
        ADOR, [_w("mac_tree", t_mt / speedup), _w("systolic", t_sa, granules=granules)]
    )
    assert fast.seconds <= slow.seconds * (1 + 1e-12)
    assert slow.seconds <= min(t_mt, t_sa) * (1 + 1e-12)


def test_double_buffer_register_area() -> None:
    """One 16-bit weight register + 2:1 select per PE: 480 transistors, about 1.9 % of a PE."""
    assert pytest.approx(480 / 96.3e6) == c.SA_DOUBLE_BUFFER_MM2_PER_PE
    assert pytest.approx(480 / 25344) == c.SA_DOUBLE_BUFFER_MM2_PER_PE / c.FP16_MAC_MM2
    plain, db = area_breakdown(ADOR), area_breakdown(ADOR.replace(sa_weight_double_buffer=True))
    assert plain.core_sa_double_buffer_mm2 == 0.0
    per_core = ADOR.sa_macs_per_core * c.SA_DOUBLE_BUFFER_MM2_PER_PE
    assert db.core_sa_double_buffer_mm2 == pytest.approx(per_core)
    assert db.total_mm2 - plain.total_mm2 == pytest.approx(per_core * ADOR.core_count)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 512),
    st.sampled_from([128, 4096, 14336]),
    st.sampled_from([1024, 6144, 28672]),
    st.sampled_from([1, 4, 16, 64]),
    st.floats(200, 8000),
    st.floats(100, 8000),
)
def test_mac_tree_shortcut_is_exact(
    m: int, k: int, n: int, lanes: int, dram_gbps: float, noc_gbps: float
) -> None:
    """`_offer(prune=True)` skips the arrays only when the tree streams at the DRAM bound; the
    best mapping is the same as with every unit asked."""
    from ador_opt.perf.schedule import _offer

    arch = ADOR.replace(mt_lanes=lanes, dram_gbps=dram_gbps, noc_gbps=noc_gbps)
    for work in (
        Work(WorkKind.GEMM, m, k, n),
        Work(WorkKind.ATTENTION, k=128, parts=((m * 8, 4, n),), dram_bytes=float(m * n * 4096)),
    ):
        full = best_mapping(arch, _offer(arch, work, ws_cycles))
        pruned = best_mapping(arch, _offer(arch, work, ws_cycles, prune=True))
        assert pruned == full
