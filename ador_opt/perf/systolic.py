"""Weight-stationary systolic arrays (ADOR paper §IV-A "throughput-oriented design", §V-A).

Per array: SCALE-Sim 3.0.0's weight-stationary compute cycles for an (M × K) · (K × N) GEMM on
an R × C array are exactly

    ⌈K/R⌉ · ⌈N/C⌉ · (2R + C + M − 2) − 1

(one "fold" per R × C weight tile: R cycles to shift the weights in, M rows streamed, R + C − 2
cycles of skew fill/drain; SCALE-Sim reports the index of the last output cycle, hence − 1).
`ws_cycles` is that closed form; tests/test_systolic.py checks it against SCALE-Sim itself
(0 cycles difference) and benchmarks/scalesim_vs_closed_form.py on full-size LLM shapes.

The device model uses this count per array pass (`sa_backend="closed-form"`, the default, and
`"scalesim"`, which runs SCALE-Sim itself and gives the same numbers): each fold exposes its
weight load and its fill/drain. That is SCALE-Sim's timing, which the paper used to model its
arrays (§V-A), and matches the paper's remark that weight double buffering is not feasible for
GEMV on systolic arrays (§III-B).

In-array weight double buffering (template field `sa_weight_double_buffer`; the
`sa_backend="double-buffered"` what-if applies it to every design): fold i+1's weights shift in
while fold i streams, so a fold costs max(M, R) and the first load plus the last fill/drain are
exposed once (`double_buffered(base)`; with `ws_cycles` as base, `ws_cycles_double_buffered`):

    2R + C + M − 3 + (⌈K/R⌉·⌈N/C⌉ − 1) · max(M, R)

(equal to SCALE-Sim's count for one fold, never larger).

Per device (`sa_gemm_plans`), `core_count` cores × `sa_per_core` arrays share a GEMM in one of
two ways (paper §IV-C, Fig. 6):

* n-split ("latency mode"): weight column folds are partitioned across all arrays (each core
  streams its own weight slice from the nearest DRAM channel, no broadcast); all arrays work
  on the same input rows, multicast over the NoC once per round of column folds; outputs are
  all-gathered over the NoC (final sums, pipelined). When there are fewer column folds than
  arrays, K is split as well and fp32 partial sums are reduced over the NoC.
* m-split ("throughput mode"): input rows are partitioned across cores and the weights are
  broadcast to all cores over the NoC, double-buffered; the arrays of one core share its
  column folds.

Local SRAM (paper §IV-B, Fig. 12): each core stages its arrays' stationary tiles (two per
array when they fit in half the local SRAM, else one: `weight_staging`) and holds the rows of
one pass (n-split: the streamed input K-slices and fp32 accumulators; m-split: whole input rows
and accumulators); a larger input is processed in passes and every pass streams the weights
again (more local SRAM ⇒ more weight reuse). The local SRAM's banks (SRAM_BANK_KIB each, one
SRAM_PORT_BYTES_PER_CYCLE port per bank) bound the bytes the arrays of a core can read and
write per cycle; beyond that they stall (`SaPlan.port_cycles`). Each pass of an array is one
layer of ⌈K/R⌉·⌈N/C⌉ folds for the cycle model.

All cycle counts are per array (the busiest one); the caller turns them into seconds with the
clock and overlaps them with DRAM and NoC time (schedule.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from ador_opt.errors import InputError
from ador_opt.hardware.arch import ArchConfig
from ador_opt.hardware.constants import SRAM_BANK_KIB

# A per-array cycle model: (m, k, n, rows, cols) -> cycles: `ws_cycles` (SCALE-Sim's timing in
# closed form, the default), SCALE-Sim itself (scalesim_backend.scalesim_ws_cycles), or either
# with in-array weight double buffering (`double_buffered`).
CyclesFn = Callable[[int, int, int, int, int], int]

ACC_BYTES = 4  # fp32 partial sums (standard for fp16/fp8 MAC arrays)

# Local-SRAM ports. ASSUMPTION (docs/perf-hda.md §1): the local SRAM is built from banks of
# SRAM_BANK_KIB (the area model's bank, hardware/constants.py, so area and bandwidth describe the
# same macros), each with one port of SRAM_PORT_BYTES_PER_CYCLE. 128 B/cycle is the SM shared
# memory/L1 port of NVIDIA Volta/Ampere (32 banks × 4 B per clock, CUDA C Programming Guide,
# "Shared Memory"), the buffer that feeds an A100 SM's four tensor cores.
SRAM_PORT_BYTES_PER_CYCLE = 128


def ws_cycles(m: int, k: int, n: int, rows: int, cols: int) -> int:
    """SCALE-Sim 3.0.0 weight-stationary compute cycles of (m × k)·(k × n) on a rows × cols
    array: ⌈k/rows⌉·⌈n/cols⌉·(2·rows + cols + m − 2) − 1."""
    if min(m, k, n, rows, cols) <= 0:
        raise InputError(f"GEMM and array dimensions must be positive: {(m, k, n, rows, cols)}")
    return -(-k // rows) * -(-n // cols) * (2 * rows + cols + m - 2) - 1


def ws_cycles_np(
    m: npt.ArrayLike, k: npt.ArrayLike, n: npt.ArrayLike, rows: npt.ArrayLike, cols: npt.ArrayLike
) -> npt.NDArray[np.int64]:
    """Vectorised `ws_cycles` (broadcasting over all arguments)."""
    m_, k_, n_, r_, c_ = (np.asarray(x, dtype=np.int64) for x in (m, k, n, rows, cols))
    if np.any(m_ <= 0) or np.any(k_ <= 0) or np.any(n_ <= 0) or np.any(r_ <= 0) or np.any(c_ <= 0):
        raise InputError("GEMM and array dimensions must be positive")
    folds = -(-k_ // r_) * -(-n_ // c_)
    return np.asarray(folds * (2 * r_ + c_ + m_ - 2) - 1, dtype=np.int64)


def ws_cycles_double_buffered(m: int, k: int, n: int, rows: int, cols: int) -> int:
    """What-if WS cycles with in-array weight double buffering: 2R + C + M − 3 +
    (folds − 1)·max(M, R) (SCALE-Sim's count for one fold, then one fold every max(M, R))."""
    if min(m, k, n, rows, cols) <= 0:
        raise InputError(f"GEMM and array dimensions must be positive: {(m, k, n, rows, cols)}")
    folds = -(-k // rows) * -(-n // cols)
    return 2 * rows + cols + m - 3 + (folds - 1) * max(m, rows)


def ws_utilisation(m: int, k: int, n: int, rows: int, cols: int) -> float:
    """Useful MACs / (array MACs × cycles) of one array under SCALE-Sim's WS timing."""
    return m * k * n / (rows * cols * (ws_cycles(m, k, n, rows, cols) + 1))


@lru_cache(maxsize=8)
def double_buffered(base: CyclesFn) -> CyclesFn:
    """The per-array cycle model of arrays with in-array weight double buffering built on
    `base`'s count of one fold: base(M, R, C) + (folds − 1)·max(M, R) (fold i+1's weights shift
    in while fold i streams its M rows; a fold lasts the longer of the two). With `base` =
    `ws_cycles` this is `ws_cycles_double_buffered`; with SCALE-Sim's compute stage it is
    SCALE-Sim's single-fold count plus the same overlap rule. One object per base (cache key)."""
    if base is ws_cycles:
        return ws_cycles_double_buffered

    def cycles(m: int, k: int, n: int, rows: int, cols: int) -> int:
        folds = -(-k // rows) * -(-n // cols)
        return base(m, rows, cols, rows, cols) + (folds - 1) * max(m, rows)

    return cycles


@dataclass(frozen=True, slots=True)
class SaPlan:
    """One way to run a GEMM (or a batch of products) on a device's systolic arrays.

    `cycles`: cycles of the busiest array including local-SRAM port stalls (`array_cycles`:
    the array's own count, `port_cycles`: its core's SRAM traffic over the core's ports);
    `weight_bytes`: DRAM bytes of the stationary operand (× passes); `noc_bytes`: NoC bytes
    (weight broadcast, or input multicast + output all-gather + partial sums); `passes`: times
    the stationary operand is streamed; `sram_bytes`: local-SRAM bytes read + written by all
    arrays; `stages`: stationary tiles the busiest array streams through SRAM (the DRAM → SRAM
    → array pipeline depth; 1 = the tiles cannot be double-buffered, load and compute serialise);
    `granules`: equal rounds of the busiest array's work another unit could take over (its
    column folds, or its products).
    """

    mode: str
    cycles: int
    weight_bytes: float
    noc_bytes: float
    passes: int
    sram_bytes: float = 0.0
    stages: int = 1
    array_cycles: int = 0
    port_cycles: int = 0
    granules: int = 1


def onchip_bytes(arch: ArchConfig) -> float:
    """All on-chip SRAM of a device (local SRAM of every core + global SRAM), bytes."""
    return arch.core_count * arch.local_sram_kib * 1024 + arch.global_sram_mib * 2**20


def sram_banks(arch: ArchConfig) -> int:
    """Banks of one core's local SRAM (SRAM_BANK_KIB each, at least one)."""
    return _banks(arch.local_sram_kib)


@lru_cache(maxsize=1024)
def _banks(local_sram_kib: float) -> int:
    return max(1, math.ceil(local_sram_kib / SRAM_BANK_KIB - 1e-9))


def sram_port_bytes_per_cycle(arch: ArchConfig) -> int:
    """Local-SRAM bytes one core can read or write per cycle (banks × port width)."""
    return _banks(arch.local_sram_kib) * SRAM_PORT_BYTES_PER_CYCLE


def weight_staging(arch: ArchConfig, bytes_per_weight: int) -> tuple[bool, float]:
    """(double-buffered, local bytes left for activations) of one core. Each array needs its
    R × C stationary tile in local SRAM before a fold; two per array let the next tile's DRAM
    load overlap the current fold. ASSUMPTION: weight staging may take at most half the local
    SRAM (the rest holds the activations the arrays stream); if two tiles per array do not fit
    in that half the tiles are single-buffered and DRAM load and compute serialise."""
    return _staging(
        arch.local_sram_kib, arch.sa_per_core * arch.sa_rows * arch.sa_cols * bytes_per_weight
    )


@lru_cache(maxsize=4096)
def _staging(local_sram_kib: float, tiles: int) -> tuple[bool, float]:
    local = local_sram_kib * 1024
    if 2 * tiles <= local / 2:
        return True, local - 2 * tiles
    return False, max(0.0, local - tiles)


def _array_sram_bytes(
    passes: int, m_pass: int, row_folds: int, col_folds: int, r: int, c: int, wb: int, ab: int
) -> float:
    """Local-SRAM port bytes of one array: per fold its m_pass × R input slice read, the R × C
    stationary tile written (from DRAM/NoC) and read (into the array); per column fold its
    m_pass × C outputs written. ASSUMPTION: the fp32 accumulators occupy local-SRAM capacity
    (see `sa_gemm_plans`) but are read-modify-written through their own port next to the
    array's bottom edge (as the TPU's accumulator buffer), not through the banks' ports."""
    folds = row_folds * col_folds
    per_pass = folds * (m_pass * r * ab + 2 * r * c * wb) + col_folds * m_pass * c * ab
    return float(passes * per_pass)


def _plan(
    port: int,
    cores: int,
    per_core: int,
    mode: str,
    array_cycles: int,
    array_sram: float,
    weight_bytes: float,
    noc_bytes: float,
    passes: int,
    stages: int,
    double: bool,
    granules: int,
) -> SaPlan:
    """One plan; `port`: local-SRAM bytes per cycle of a core (`sram_port_bytes_per_cycle`),
    `cores` × `per_core` arrays."""
    port_cycles = math.ceil(array_sram * per_core / port)
    return SaPlan(
        mode,
        max(array_cycles, port_cycles),
        weight_bytes,
        noc_bytes,
        passes,
        array_sram * cores * per_core,
        stages if double else 1,
        array_cycles,
        port_cycles,
        granules,
    )


def sa_gemm_plans(
    arch: ArchConfig,
    m: int,
    k: int,
    n: int,
    weight_bytes: float,
    bytes_per_act: int,
    cycles_fn: CyclesFn = ws_cycles,
    bytes_per_weight: int | None = None,
) -> tuple[SaPlan, ...]:
    """The n-split and m-split plans of (m × k)·(k × n) on `arch` (m-split only when every
    core gets at least one row per pass). Row blocks per pass are set by what one core's local
    SRAM holds after weight staging (`weight_staging`): n-split cores all work on the same rows
    (streamed K-slice by K-slice, with accumulators for their column fold), m-split cores hold
    their own rows (all of K, reused by every broadcast tile) and reuse weights over P× the rows
    (paper §IV-C, Fig. 6-(b)). Accumulators are fp32 (ACC_BYTES).

    The plans depend on the design only through its array geometry (rows, columns, cores,
    arrays per core) and local SRAM, so they are memoised on those: designs that differ in
    other fields (DRAM, NoC, clock, MAC trees, global SRAM) share them."""
    ab = bytes_per_act
    return _gemm_plans(
        arch.sa_rows,
        arch.sa_cols,
        arch.core_count,
        arch.sa_per_core,
        arch.local_sram_kib,
        m,
        k,
        n,
        weight_bytes,
        ab,
        bytes_per_weight if bytes_per_weight is not None else ab,
        cycles_fn,
    )


@lru_cache(maxsize=65536)
def _gemm_plans(
    r: int,
    c: int,
    cores: int,
    per_core: int,
    local_sram_kib: float,
    m: int,
    k: int,
    n: int,
    weight_bytes: float,
    ab: int,
    wb: int,
    cycles_fn: CyclesFn,
) -> tuple[SaPlan, ...]:
    """`sa_gemm_plans` on an r × c array geometry (`per_core` arrays in each of `cores`)."""
    arrays = cores * per_core
    f_r, f_c = -(-k // r), -(-n // c)
    double, act = _staging(local_sram_kib, per_core * r * c * wb)
    port = _banks(local_sram_kib) * SRAM_PORT_BYTES_PER_CYCLE
    plans = []

    # n-split: column folds over all arrays; K split too when columns are scarce.
    k_split = 1 if f_c >= arrays else max(1, min(f_r, arrays // f_c))
    col_folds = -(-f_c // (arrays // k_split))
    row_folds = -(-f_r // k_split)
    # Per row in local SRAM: each array's double-buffered input K-slice (rows arrive over the
    # NoC, multicast once per column round) and its fp32 accumulators of the current column
    # fold.
    row_bytes = per_core * (2 * r * ab + c * ACC_BYTES)
    rows = max(1, int(act // row_bytes))
    passes = -(-m // rows)
    m_pass = -(-m // passes)
    cycles = passes * cycles_fn(m_pass, row_folds * r, col_folds * c, r, c)
    noc = (
        m * k * ab * col_folds  # input rows multicast once per column round
        + m * n * ab  # all-gather of the final outputs
        + (k_split - 1) * m * n * ACC_BYTES  # partial sums of a split K
    )
    sram = _array_sram_bytes(passes, m_pass, row_folds, col_folds, r, c, wb, ab)
    stages = passes * row_folds * col_folds
    plans.append(
        _plan(
            port,
            cores,
            per_core,
            "n-split",
            cycles,
            sram,
            weight_bytes * passes,
            noc,
            passes,
            stages,
            double,
            col_folds,
        )
    )

    # m-split: rows over cores, weights broadcast; a core's arrays share its column folds.
    col_folds = -(-f_c // per_core)
    # Per row: the whole input row (reused by every broadcast weight tile) and the fp32
    # accumulators of the core's current column folds.
    row_bytes = k * ab + per_core * c * ACC_BYTES
    rows_core = max(1, int(act // row_bytes))
    passes = -(-m // (rows_core * cores))
    m_pass = -(-m // passes)
    if m_pass >= cores:
        m_core = -(-m_pass // cores)
        cycles = passes * cycles_fn(m_core, f_r * r, col_folds * c, r, c)
        sram = _array_sram_bytes(passes, m_core, f_r, col_folds, r, c, wb, ab)
        stages = passes * f_r * col_folds
        wbytes = weight_bytes * passes
        plans.append(
            _plan(
                port,
                cores,
                per_core,
                "m-split",
                cycles,
                sram,
                wbytes,
                wbytes,
                passes,
                stages,
                double,
                col_folds,
            )
        )
    return tuple(plans)


def sa_batched_plan(
    arch: ArchConfig,
    count: int,
    m: int,
    k: int,
    n: int,
    cycles_fn: CyclesFn = ws_cycles,
    bytes_per_elem: int = 2,
) -> SaPlan:
    """`count` independent (m × k)·(k × n) products (e.g. one per attention head and request)
    spread over all arrays; when there are fewer products than arrays, each product's rows
    are split across arrays too. The k × n operand is stationary (staged through local SRAM);
    `weight_bytes` and `noc_bytes` are left to the caller (they depend on where it lives)."""
    if count <= 0:
        return SaPlan("batched", 0, 0.0, 0.0, 1)
    r, c = arch.sa_rows, arch.sa_cols
    arrays = arch.core_count * arch.sa_per_core
    slices = max(1, min(m, arrays // count)) if count < arrays else 1
    rounds = math.ceil(count * slices / arrays)
    m_slice = -(-m // slices)
    cycles = rounds * cycles_fn(m_slice, k, n, r, c)
    row_folds, col_folds = -(-k // r), -(-n // c)
    sram = _array_sram_bytes(
        rounds, m_slice, row_folds, col_folds, r, c, bytes_per_elem, bytes_per_elem
    )
    double, _ = weight_staging(arch, bytes_per_elem)
    return _plan(
        sram_port_bytes_per_cycle(arch),
        arch.core_count,
        arch.sa_per_core,
        "batched",
        cycles,
        sram,
        0.0,
        0.0,
        1,
        rounds * row_folds * col_folds,
        double,
        rounds,
    )


def sa_attention_cost(
    arch: ArchConfig, count: int, m: int, hd: int, keys: int, cycles_fn: CyclesFn, b: int
) -> tuple[int, float, int, int]:
    """QKᵀ (m × hd)·(hd × keys) and AV (m × keys)·(keys × hd) of `count` products, K and V
    stationary: (cycles incl. port stalls, local-SRAM bytes, stages, granules) — the sum of two
    `sa_batched_plan`s, computed without building them (hot path of every attention op).
    Memoised on the array geometry and local SRAM, like `sa_gemm_plans`."""
    return _attention_cost(
        arch.sa_rows,
        arch.sa_cols,
        arch.core_count,
        arch.sa_per_core,
        arch.local_sram_kib,
        count,
        m,
        hd,
        keys,
        cycles_fn,
        b,
    )


@lru_cache(maxsize=65536)
def _attention_cost(
    r: int,
    c: int,
    cores: int,
    per_core: int,
    local_sram_kib: float,
    count: int,
    m: int,
    hd: int,
    keys: int,
    cycles_fn: CyclesFn,
    b: int,
) -> tuple[int, float, int, int]:
    """`sa_attention_cost` on an r × c array geometry (`per_core` arrays in each of `cores`)."""
    arrays = cores * per_core
    slices = max(1, min(m, arrays // count)) if count < arrays else 1
    rounds = -(-(count * slices) // arrays)
    m_slice = -(-m // slices)
    double, _ = _staging(local_sram_kib, per_core * r * c * b)
    port = _banks(local_sram_kib) * SRAM_PORT_BYTES_PER_CYCLE
    cycles = 0
    sram = 0.0
    stages = 0
    for k, n in ((hd, keys), (keys, hd)):
        array_cycles = rounds * cycles_fn(m_slice, k, n, r, c)
        row_folds, col_folds = -(-k // r), -(-n // c)
        per_array = _array_sram_bytes(rounds, m_slice, row_folds, col_folds, r, c, b, b)
        cycles += max(array_cycles, math.ceil(per_array * per_core / port))
        sram += per_array * arrays
        stages += rounds * row_folds * col_folds
    return cycles, sram, stages if double else 1, rounds


def sa_batched_cycles(
    arch: ArchConfig,
    count: int,
    m: int,
    k: int,
    n: int,
    cycles_fn: CyclesFn = ws_cycles,
) -> int:
    """Array cycles of the busiest array for `count` products (`sa_batched_plan`, without
    SRAM-port stalls)."""
    return sa_batched_plan(arch, count, m, k, n, cycles_fn).array_cycles
