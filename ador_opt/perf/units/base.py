"""The interface every compute unit of the HDA template implements (docs/perf-hda.md §6).

A unit answers one question for the scheduler: given an op's shape (`Work`) and the design,
how long does the unit need to run the whole op, which DRAM / local-SRAM / NoC bytes does it
move, and how does its DRAM stream reach it (`UnitWork.stages`)? It returns None when it cannot
run the op (no such unit in the design, or an op kind it does not do). The scheduler
(`perf/schedule.py`) puts each op on the unit — or the split across units — that finishes it
first under the shared DRAM bandwidth. A new unit kind is one module with a `ComputeUnit`
implementation plus its tests, and an entry in `schedule.MATRIX_UNITS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from ador_opt.hardware.arch import ArchConfig
from ador_opt.perf.systolic import CyclesFn


class WorkKind(StrEnum):
    GEMM = "gemm"  # (m × k)·(k × n), the k × n weights streamed from DRAM
    ATTENTION = "attention"  # `count` products QKᵀ (rows × hd)·(hd × keys) and AV
    ELEMENTWISE = "elementwise"  # `ops` element-wise operations (norms, softmax, RoPE, ...)


@dataclass(frozen=True, slots=True)
class Work:
    """An op's shape as the units see it. GEMM: m, k, n, bytes per weight / activation
    (`dram_bytes`: extra DRAM bytes, e.g. an activation spill). ATTENTION: head dimension `k`
    and `parts`, groups of (count, rows, keys) — `count` independent products of `rows` query
    rows against `keys` keys (one group per prefill chunk kind, or the decode tokens), run one
    after another; `group` query heads share one KV head; `dram_bytes` of K/V come from DRAM,
    `sram_bytes` from global SRAM. ELEMENTWISE: `ops` operations."""

    kind: WorkKind
    m: int = 0
    k: int = 0
    n: int = 0
    wb: int = 2
    ab: int = 2
    group: int = 1
    dram_bytes: float = 0.0
    ops: float = 0.0
    parts: tuple[tuple[int, int, int], ...] = ()
    sram_bytes: float = 0.0


@dataclass(frozen=True, slots=True)
class UnitWork:
    """What one unit needs to run a whole op alone. `compute_s`: the unit's busy seconds;
    `dram_bytes`, `sram_bytes`, `noc_bytes`: bytes it moves (local SRAM read + written);
    `stages`: how its DRAM stream reaches it — 0: straight from DRAM (no staging); s ≥ 2:
    through local SRAM in s double-buffered tiles (one tile's load and one tile's compute do
    not overlap); 1: through SRAM without double buffering (load and compute serialise)."""

    unit: str
    compute_s: float
    dram_bytes: float
    sram_bytes: float = 0.0
    noc_bytes: float = 0.0
    stages: int = 0
    granules: int = 0


class ComputeUnit(Protocol):
    """A compute unit kind of the template (systolic array, MAC tree, vector unit)."""

    name: str

    def run(self, arch: ArchConfig, work: Work, cycles_fn: CyclesFn) -> UnitWork | None:
        """The unit's cost of running all of `work` on `arch`, or None if it cannot."""
        ...


def staged_core_s(compute_s: float, dram_s: float, stages: int) -> float:
    """Seconds of compute fed by a DRAM stream of `dram_s`: overlapped (stages 0: the unit
    consumes the stream directly), a two-stage DRAM → SRAM → unit pipeline of `stages` tiles
    (the first tile's load and the last tile's compute are exposed: + min/stages), or serial
    (stages 1: no double buffering)."""
    if stages == 1:
        return compute_s + dram_s
    longer = compute_s if compute_s > dram_s else dram_s
    if stages <= 0:
        return longer
    shorter = dram_s if compute_s > dram_s else compute_s
    return longer + shorter / stages
