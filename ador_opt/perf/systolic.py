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

What-if (`sa_backend="double-buffered"`, `ws_cycles_double_buffered`): arrays whose fold i+1
weight load overlaps fold i's input stream, so folds stream back to back, a fold costs
max(M, R) and the first load plus the last fill/drain are exposed once:

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

On-chip activation pool: ACT_SRAM_FRACTION of all SRAM (every core's local SRAM plus the global
SRAM) holds the GEMM's input rows. A larger input is processed in passes of rows that fit, and
every pass streams the weights again (paper §IV-B: more on-chip activations ⇒ more weight
reuse). Each pass of an array is one layer of ⌈K/R⌉·⌈N/C⌉ folds for the cycle model.

All cycle counts are per array (the busiest one); the caller turns them into seconds with the
clock and overlaps them with DRAM and NoC time (schedule.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ador_opt.errors import InputError
from ador_opt.hardware.arch import ArchConfig

# A per-array cycle model: (m, k, n, rows, cols) -> cycles: `ws_cycles` (SCALE-Sim's timing in
# closed form, the default), SCALE-Sim itself (scalesim_backend.scalesim_ws_cycles) or
# `ws_cycles_double_buffered` (what-if).
CyclesFn = Callable[[int, int, int, int, int], int]

# ASSUMPTION: half of the on-chip SRAM holds a GEMM's input rows; the other half holds the
# double-buffered weight tiles, output accumulators/outputs and the chunk's KV.
ACT_SRAM_FRACTION = 0.5
ACC_BYTES = 4  # fp32 partial sums (standard for fp16/fp8 MAC arrays)


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


@dataclass(frozen=True, slots=True)
class SaPlan:
    """One way to run a GEMM on a device's systolic arrays.

    `cycles`: compute cycles of the busiest array; `weight_bytes`: DRAM weight bytes streamed
    (× passes); `noc_bytes`: NoC bytes (weight broadcast, or input multicast + output
    all-gather + partial sums); `passes`: times the weights are streamed.
    """

    mode: str
    cycles: int
    weight_bytes: float
    noc_bytes: float
    passes: int


def onchip_bytes(arch: ArchConfig) -> float:
    """All on-chip SRAM of a device (local SRAM of every core + global SRAM), bytes."""
    return arch.core_count * arch.local_sram_kib * 1024 + arch.global_sram_mib * 2**20


def weight_passes(arch: ArchConfig, m: int, k: int, bytes_per_act: int) -> int:
    """Passes over the weights needed to push m input rows of k elements through the on-chip
    activation pool."""
    pool_rows = max(1, int(ACT_SRAM_FRACTION * onchip_bytes(arch) // (k * bytes_per_act)))
    return -(-m // pool_rows)


def sa_gemm_plans(
    arch: ArchConfig,
    m: int,
    k: int,
    n: int,
    weight_bytes: float,
    bytes_per_act: int,
    cycles_fn: CyclesFn = ws_cycles,
) -> tuple[SaPlan, ...]:
    """The n-split and m-split plans of (m × k)·(k × n) on `arch` (m-split only when every
    core gets at least one row per pass)."""
    r, c = arch.sa_rows, arch.sa_cols
    cores, per_core = arch.core_count, arch.sa_per_core
    arrays = cores * per_core
    f_r, f_c = -(-k // r), -(-n // c)
    passes = weight_passes(arch, m, k, bytes_per_act)
    m_pass = -(-m // passes)
    plans = []

    # n-split: column folds over all arrays; K split too when columns are scarce.
    k_split = 1 if f_c >= arrays else max(1, min(f_r, arrays // f_c))
    col_folds = -(-f_c // (arrays // k_split))
    row_folds = -(-f_r // k_split)
    cycles = passes * cycles_fn(m_pass, row_folds * r, col_folds * c, r, c)
    noc = (
        m * k * bytes_per_act * col_folds  # input rows multicast once per column round
        + m * n * bytes_per_act  # all-gather of the final outputs
        + (k_split - 1) * m * n * ACC_BYTES  # partial sums of a split K
    )
    plans.append(SaPlan("n-split", cycles, weight_bytes * passes, noc, passes))

    # m-split: rows over cores, weights broadcast; a core's arrays share its column folds.
    if m_pass >= cores:
        m_core = -(-m_pass // cores)
        col_folds = -(-f_c // per_core)
        cycles = passes * cycles_fn(m_core, f_r * r, col_folds * c, r, c)
        plans.append(
            SaPlan("m-split", cycles, weight_bytes * passes, weight_bytes * passes, passes)
        )
    return tuple(plans)


def sa_batched_cycles(
    arch: ArchConfig,
    count: int,
    m: int,
    k: int,
    n: int,
    cycles_fn: CyclesFn = ws_cycles,
) -> int:
    """Cycles of the busiest array for `count` independent (m × k)·(k × n) products (e.g. one
    per attention head and request) spread over all arrays; when there are fewer products than
    arrays, each product's rows are split across arrays too."""
    if count <= 0:
        return 0
    arrays = arch.core_count * arch.sa_per_core
    slices = max(1, min(m, arrays // count)) if count < arrays else 1
    units = count * slices
    return math.ceil(units / arrays) * cycles_fn(-(-m // slices), k, n, arch.sa_rows, arch.sa_cols)
