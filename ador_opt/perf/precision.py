"""Facts about running narrow numeric formats that the HDA and GPU models share
(docs/model.md "Numeric formats").

Weight-only formats (w8a16, w4a16, MXFP4 weights with 16-bit activations) store fewer bytes per
weight but multiply at the activation format. A GPU converts every weight element a GEMM
streams to fp16 on its CUDA cores inside the GEMM's main loop, because its tensor cores take
fp16 operands (`perf/gpu.py`). The HDA template's arrays and MAC trees can multiply the raw
narrow values — every int4/int8/fp8/fp4 value is exact in fp16 — and apply each scale block's
scale (and zero point) to the block's partial sum: Σ_j s·(q_j − z)·a_j = s·(Σ_j q_j·a_j −
z·Σ_j a_j), DEQUANT_OPS_PER_BLOCK vector ops per output element and scale block; or convert
every weight once on its way through local SRAM, DEQUANT_OPS_PER_BLOCK per weight. The template
takes the smaller: m·n·⌈k/block⌉ vs k·n ops (`perf/hda.py`) — per-block scaling in decode (few
rows), per-weight conversion in prefill.
"""

from __future__ import annotations

from dataclasses import dataclass

from ador_opt.perf.systolic import CyclesFn

# Ops per weight element to dequantise: one unpack/convert and one multiply-add with the group
# scale (and zero point). GPU weight-only kernels do exactly this pair per element (a bit-field
# extract / magic-number convert, then an fma with the scale: Kim et al., "Who Says Elephants
# Can't Run", 2022 (FasterTransformer's int4 path); Frantar et al., "MARLIN", 2024). ASSUMPTION
# that the template's vector unit needs the same two ops.
DEQUANT_OPS_PER_WEIGHT = 2
# Vector ops on the template per output element and scale block (one multiply-add of the block's
# partial sum with its scale, one of the zero-point correction z·Σa), and per weight when
# converting (unpack + scale). ASSUMPTION (the algebra above; docs/model.md).
DEQUANT_OPS_PER_BLOCK = 2
# Dequantisation ops one SM issues per cycle on its CUDA cores: 64 FP32/INT32 lanes per SM on
# A100 and H100 (NVIDIA A100 / H100 architecture whitepapers: 64 FP32 cores per SM on GA100,
# 128 on GH100 — the smaller figure is used for both), each doing a packed half2 op (2 elements).
GPU_DEQUANT_OPS_PER_CYCLE_PER_SM = 128


@dataclass(frozen=True, slots=True, eq=False)
class PackedCycles:
    """The cycle model of array PEs / MAC-tree inputs that do `rate` narrow-format MACs per
    cycle for every fp16 MAC: each PE (tree input) holds `rate` consecutive K elements, so an
    (M×K)·(K×N) GEMM costs what an M×⌈K/rate⌉ fp16 one costs. The MAC-tree unit reads `rate`
    (perf/units/mac_tree.py). Hashed by identity; `perf/hda.int8_packed_cycles` memoises one
    object per (base, rate) so step caches keyed on it keep hitting."""

    base: CyclesFn
    rate: int

    def __call__(self, m: int, k: int, n: int, rows: int, cols: int) -> int:
        return self.base(m, -(-k // self.rate), n, rows, cols)


def packing_rate(cycles_fn: CyclesFn) -> int:
    """Narrow-format MACs per fp16 MAC of a GEMM's cycle model (1 unless packed)."""
    return cycles_fn.rate if isinstance(cycles_fn, PackedCycles) else 1
