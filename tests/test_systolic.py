"""Systolic arrays: the closed form against SCALE-Sim 3.0.0 itself, closed-form properties,
device tiling plans, and the SCALE-Sim backend's cache."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ador_opt.errors import InputError
from ador_opt.hardware.arch import ArchConfig
from ador_opt.hardware.presets import HARDWARE_PRESETS
from ador_opt.perf import scalesim_backend as sb
from ador_opt.perf.systolic import (
    SRAM_PORT_BYTES_PER_CYCLE,
    double_buffered,
    sa_attention_cost,
    sa_batched_cycles,
    sa_batched_plan,
    sa_gemm_plans,
    sram_banks,
    sram_port_bytes_per_cycle,
    weight_staging,
    ws_cycles,
    ws_cycles_double_buffered,
    ws_cycles_np,
    ws_utilisation,
)

# (M, K, N, rows, cols): partial folds in every dimension, M below/above the array, non-square
# arrays, single-fold and many-fold cases, GEMV rows.
SMALL_SHAPES = [
    (1, 32, 32, 32, 32),
    (1, 64, 64, 32, 32),
    (8, 40, 70, 32, 32),
    (5, 300, 17, 64, 32),
    (100, 33, 65, 32, 64),
    (3, 100, 200, 32, 32),
    (64, 64, 64, 64, 64),
    (1, 500, 100, 32, 32),
    (16, 128, 96, 32, 32),
    (33, 31, 33, 32, 32),
    (2, 96, 160, 32, 64),
    (70, 65, 40, 64, 32),
    (4, 64, 256, 64, 64),
    (128, 32, 32, 32, 32),
    (7, 256, 64, 128, 32),
    (9, 65, 129, 64, 64),
    (1, 1, 1, 32, 32),
    (50, 200, 50, 32, 32),
    (12, 130, 70, 16, 16),
    (3, 48, 48, 8, 8),
    (20, 96, 33, 32, 96),
    (6, 64, 300, 32, 128),
    (40, 160, 80, 64, 32),
    (1, 1024, 64, 32, 32),
]


@pytest.mark.parametrize("shape", SMALL_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_closed_form_equals_scalesim_full_simulation(shape: tuple[int, ...]) -> None:
    """0 cycles difference against SCALE-Sim's compute report (full simulation, memory incl.),
    and its compute stage alone gives the same count."""
    m, k, n, r, c = shape
    full = sb.full_layer_cycles(m, k, n, r, c)
    assert full == ws_cycles(m, k, n, r, c)
    assert sb.compute_stage_cycles(m, k, n, r, c) == full


@pytest.mark.parametrize("shape", [(8, 40, 200, 32, 32), (3, 100, 300, 32, 64)])
def test_compute_stage_slabs_add_up(shape: tuple[int, ...]) -> None:
    m, k, n, r, c = shape
    whole = sb.compute_stage_cycles(m, k, n, r, c, slab_cols=n)
    for width in (c, 2 * c, 3 * c):
        assert sb.compute_stage_cycles(m, k, n, r, c, slab_cols=width) == whole


def test_numpy_patch_is_scoped() -> None:
    from scalesim.memory.double_buffered_scratchpad_mem import double_buffered_scratchpad

    before = double_buffered_scratchpad.service_memory_requests
    sb.full_layer_cycles(2, 40, 40, 32, 32)
    assert double_buffered_scratchpad.service_memory_requests is before


def test_scalesim_bad_input() -> None:
    with pytest.raises(InputError):
        sb.full_layer_cycles(0, 4, 4, 32, 32)
    with pytest.raises(InputError):
        sb.full_layer_cycles(1, 4, 4, 32, 32, dataflow="xs")
    with pytest.raises(InputError):
        sb.compute_stage_cycles(4, 64, 100, 32, 32, slab_cols=40)


# --- on-disk cache -----------------------------------------------------------------------


def test_cache_roundtrip_and_corruption(tmp_path, monkeypatch) -> None:
    shape = (4, 64, 96, 32, 32)
    expected = ws_cycles(*shape)
    assert sb.cached_compute_stage_cycles(*shape, directory=tmp_path) == expected
    path = sb.cache_path(*shape, directory=tmp_path)
    doc = json.loads(path.read_text())
    assert doc["cycles"] == expected and doc["key"]["scalesim"] == sb.scalesim_version()

    # A hit does not simulate again.
    def boom(*args: object, **kwargs: object) -> int:
        raise AssertionError("should have been a cache hit")

    monkeypatch.setattr(sb, "compute_stage_cycles", boom)
    assert sb.cached_compute_stage_cycles(*shape, directory=tmp_path) == expected
    monkeypatch.undo()

    # Tampered value (checksum no longer matches) → detected and recomputed.
    doc["cycles"] = expected + 7
    path.write_text(json.dumps(doc))
    with pytest.warns(UserWarning, match="corrupted"):
        assert sb.cached_compute_stage_cycles(*shape, directory=tmp_path) == expected
    assert json.loads(path.read_text())["cycles"] == expected

    # Truncated file → detected and recomputed.
    path.write_text(path.read_text()[:10])
    with pytest.warns(UserWarning, match="corrupted"):
        assert sb.cached_compute_stage_cycles(*shape, directory=tmp_path) == expected
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sb.cached_compute_stage_cycles(*shape, directory=tmp_path) == expected
    assert not list(tmp_path.glob(".tmp-*"))


def test_cache_key_separates_shapes_and_versions(tmp_path, monkeypatch) -> None:
    a = sb.cache_path(4, 64, 96, 32, 32, directory=tmp_path)
    assert a != sb.cache_path(4, 64, 96, 32, 64, directory=tmp_path)
    assert a != sb.cache_path(5, 64, 96, 32, 32, directory=tmp_path)
    monkeypatch.setattr(sb, "scalesim_version", lambda: "9.9.9")
    assert a != sb.cache_path(4, 64, 96, 32, 32, directory=tmp_path)


def test_cache_dir_from_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ADOR_OPT_CACHE_DIR", str(tmp_path))
    assert sb.cache_dir() == tmp_path / "scalesim"


# --- closed-form properties ------------------------------------------------------------------

dims = st.integers(1, 5000)
arr = st.sampled_from([8, 16, 32, 64, 96, 128, 256])


@given(dims, dims, dims, arr, arr)
def test_closed_form_properties(m: int, k: int, n: int, r: int, c: int) -> None:
    base = ws_cycles(m, k, n, r, c)
    assert base >= m + r + c - 2  # at least one fold's stream, fill and drain
    assert ws_cycles(m + 1, k, n, r, c) > base
    assert ws_cycles(m, k + 1, n, r, c) >= base
    assert ws_cycles(m, k, n + 1, r, c) >= base
    assert 0 < ws_utilisation(m, k, n, r, c) <= 1
    db = ws_cycles_double_buffered(m, k, n, r, c)
    assert db <= base
    assert db * r * c >= m * k * n  # never faster than the MAC count allows
    if k <= r and n <= c:
        assert db == base  # one fold: double buffering has nothing to overlap


@given(st.lists(st.tuples(dims, dims, dims, arr, arr), min_size=1, max_size=20))
def test_vectorised_matches_scalar(shapes: list[tuple[int, int, int, int, int]]) -> None:
    cols = np.array(shapes).T
    np.testing.assert_array_equal(ws_cycles_np(*cols), [ws_cycles(*s) for s in shapes])


def test_closed_form_golden() -> None:
    # ⌈4096/64⌉·⌈4096/64⌉·(128 + 64 + 1 − 2) − 1 = 4096·191 − 1
    assert ws_cycles(1, 4096, 4096, 64, 64) == 782_335
    assert ws_cycles_double_buffered(1, 4096, 4096, 64, 64) == 191 - 1 + 4095 * 64


def test_closed_form_bad_input() -> None:
    with pytest.raises(InputError):
        ws_cycles(0, 1, 1, 32, 32)
    with pytest.raises(InputError):
        ws_cycles_np([1, 0], 1, 1, 32, 32)


# --- device tiling --------------------------------------------------------------------------

ADOR = HARDWARE_PRESETS["ador-paper"].arch


@settings(max_examples=60)
@given(
    st.integers(1, 20000),
    st.sampled_from([4096, 8192, 14336]),
    st.sampled_from([1024, 4096, 6144, 28672]),
)
def test_plans_cover_the_work(m: int, k: int, n: int) -> None:
    arrays = ADOR.core_count * ADOR.sa_per_core
    for plan in sa_gemm_plans(ADOR, m, k, n, k * n * 2.0, 2):
        # The busiest array does at least its share of the MACs, and the weights are read
        # at least once per pass.
        assert plan.cycles * ADOR.sa_rows * ADOR.sa_cols * arrays >= m * k * n
        assert plan.weight_bytes == pytest.approx(k * n * 2.0 * plan.passes)
        assert plan.passes >= 1
        # Port stalls only ever add cycles; the pipeline has at least one tile per pass.
        assert plan.cycles == max(plan.array_cycles, plan.port_cycles)
        assert plan.stages >= plan.passes


def _passes(arch: ArchConfig, m: int, k: int, n: int) -> dict[str, int]:
    return {p.mode: p.passes for p in sa_gemm_plans(arch, m, k, n, k * n * 2.0, 2)}


def test_more_local_sram_means_fewer_weight_passes() -> None:
    """Paper §IV-B: more on-chip activations ⇒ more weight reuse. The local SRAM (not the
    global one) holds the rows a pass works on."""
    small = ADOR.replace(local_sram_kib=128.0)
    big, little = _passes(ADOR, 16384, 4096, 6144), _passes(small, 16384, 4096, 6144)
    assert little["n-split"] > big["n-split"] >= 1
    assert little["m-split"] > big["m-split"] >= 1
    # m-split cores hold their own rows: fewer passes than n-split, whose cores all hold
    # the same rows (Fig. 6-(b) vs 6-(a)).
    assert big["m-split"] < big["n-split"]
    assert _passes(ADOR.replace(global_sram_mib=256.0), 16384, 4096, 6144) == big


def test_sram_ports_limit_arrays_per_core() -> None:
    """More arrays per core than the local SRAM's banks can feed stall on the ports; more
    banks (a larger local SRAM) remove the stall."""
    m, k, n = 4096, 4096, 14336
    one = ADOR.replace(local_sram_kib=512.0)  # one bank: 128 B/cycle
    four = one.replace(sa_per_core=4)
    plan = min(sa_gemm_plans(four, m, k, n, k * n * 2.0, 2), key=lambda p: p.cycles)
    assert plan.port_cycles > plan.array_cycles
    fed = four.replace(local_sram_kib=4096.0)  # eight banks
    plan_fed = min(sa_gemm_plans(fed, m, k, n, k * n * 2.0, 2), key=lambda p: p.cycles)
    assert plan_fed.cycles < plan.cycles
    assert sram_banks(one) == 1 and sram_banks(fed) == 8
    assert sram_port_bytes_per_cycle(fed) == 8 * SRAM_PORT_BYTES_PER_CYCLE


def test_weight_tiles_single_buffered_in_a_tiny_local_sram() -> None:
    """Two tiles per array in at most half the local SRAM, else load and compute serialise."""
    assert weight_staging(ADOR, 2)[0]
    tiny = ADOR.replace(local_sram_kib=16.0)  # 64×64×2 B = 8 KiB per tile
    assert not weight_staging(tiny, 2)[0]
    assert all(p.stages == 1 for p in sa_gemm_plans(tiny, 64, 4096, 4096, 2.0 * 4096**2, 2))


def test_double_buffered_factory() -> None:
    assert double_buffered(ws_cycles) is ws_cycles_double_buffered
    calls = []

    def base(m: int, k: int, n: int, r: int, c: int) -> int:
        calls.append((m, k, n))
        return ws_cycles(m, k, n, r, c)

    db = double_buffered(base)
    assert db is double_buffered(base)  # one object per base (a stable cache key)
    for shape in [(1, 4096, 4096), (100, 200, 300), (64, 64, 64), (500, 128, 1000)]:
        assert db(*shape, 64, 64) == ws_cycles_double_buffered(*shape, 64, 64)
    assert all(k == 64 and n == 64 for _, k, n in calls)  # SCALE-Sim asked for one fold only


def test_batched_cycles_split_rows_when_units_are_few() -> None:
    one = sa_batched_cycles(ADOR, 1, 1024, 128, 1024)
    many = sa_batched_cycles(ADOR, 32, 1024, 128, 1024)
    assert one < many  # one unit is spread over all 32 arrays
    assert sa_batched_cycles(ADOR, 64, 1024, 128, 1024) == 2 * many
    assert sa_batched_cycles(ADOR, 0, 1024, 128, 1024) == 0


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 600),
    st.integers(1, 2048),
    st.sampled_from([64, 128]),
    st.integers(1, 8192),
    st.sampled_from([16.0, 192.0, 2048.0]),
)
def test_attention_cost_is_two_batched_plans(
    count: int, m: int, hd: int, keys: int, local: float
) -> None:
    arch = ADOR.replace(local_sram_kib=local)
    qk = sa_batched_plan(arch, count, m, hd, keys)
    av = sa_batched_plan(arch, count, m, keys, hd)
    cycles, sram, stages, granules = sa_attention_cost(arch, count, m, hd, keys, ws_cycles, 2)
    assert cycles == qk.cycles + av.cycles
    assert sram == pytest.approx(qk.sram_bytes + av.sram_bytes)
    # Double-buffered tiles pipeline across both products; single-buffered ones serialise.
    assert stages == (qk.stages + av.stages if weight_staging(arch, 2)[0] else 1)
    assert granules == qk.granules == av.granules
