"""Calibrated GPU baseline (DESIGN §5): per-kernel rooflines with physical efficiencies.

One serving step on one GPU of a TP group is the sequence of kernels of `step_ops`, run one
after the other (TensorRT-LLM and vLLM issue every layer's kernels and its TP all-reduce on one
stream), plus a per-step engine overhead. Per kernel:

* GEMM (cuBLAS/CUTLASS-style tiling): the output is cut into `TILE_M × TILE_N` tiles that run
  in waves over the SMs. One tile costs `Tm·Tn·K / (MACs/cycle/SM · GEMM_MAINLOOP_EFF)` cycles
  of main loop plus `TILE_OVERHEAD_CYCLES` (prologue, pipeline fill, epilogue), so compute time
  = waves · tile cycles / f. This gives tile quantisation (M padded to the tile), wave
  quantisation (a partly filled last wave) and the K dependence of efficiency (short K loops
  amortise the fixed tile cost badly; it weighs more on GPUs with more MACs per SM per cycle,
  e.g. H100 in FP8). Too few tiles to fill the SMs → split-K. Memory time = (weights +
  activations) / (HBM bandwidth · `HBM_EFF`). Kernel time = max(compute, memory) + a fixed
  `KERNEL_OVERHEAD_S` (launch, ramp-up, tail).
* Prefill attention (FlashAttention-style, fused: scores never reach HBM): matmul FLOPs at
  the FP16 peak · `ATTN_MATMUL_EFF` plus one exp() per score element on the special-function
  units, quantised to waves of (query-block × head) tiles; memory: Q/O, the KV written and any
  cached KV read.
* Decode attention: KV-cache streaming at HBM bandwidth · `HBM_EFF`.
* Element-wise work (norms, rotary, activation, residual): bytes at HBM bandwidth · `HBM_EFF`,
  `VECTOR_KERNELS_PER_LAYER` kernels per layer.
* TP collectives: ring all-reduce over NVLink (α–β, `perf/collectives.py`) at
  one-way bandwidth (nvlink_gbps / 2) · `LINK_EFF` and per-hop latency `LINK_LATENCY_S`.
* Per step: `STEP_OVERHEAD_S` + `SEQ_OVERHEAD_S` per request in the step (scheduling, input
  preparation, sampling).

FP8 models (8-bit weights) run GEMMs at the FP8 tensor peak when the GPU has one (W8A8, as
TensorRT-LLM FP8 does); attention runs at the FP16 peak. The efficiencies and overheads are
shared by all GPUs and fitted on `calibration_cases.csv` by `benchmarks/fit_gpu.py`
(`perf/gpu_params.py`); everything per GPU is a datasheet fact (`hardware/presets.py`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from ador_opt.hardware.gpu import GpuSpec
from ador_opt.models.ops import BatchComposition, GemmTiming, Op, OpKind, step_parts
from ador_opt.models.spec import ModelSpec
from ador_opt.perf import gpu_params
from ador_opt.perf.collectives import ring_allreduce_s
from ador_opt.perf.result import StepTime

# Output tile of a large tensor-core GEMM: 128×128 is the CUTLASS/cuBLAS default class on
# Ampere and Hopper (CUTLASS profiler default tiles; NVIDIA "Matrix Multiplication Background"
# guide). Assumption for all GEMM shapes.
TILE_N = 128
TILE_M_MAX = 128
# Smallest M of a tensor-core MMA instruction (mma.sync m16n8k16, PTX ISA); smaller M is padded.
TILE_M_MIN = 16
# Split-K keeps at least this many K elements per split (one pipeline stage holds 32–64 of K;
# a few stages per split). Assumption.
SPLIT_K_MIN_K = 256
# FlashAttention-2 query block (Dao 2023, "FlashAttention-2", §3.1): each thread block handles
# 128 query rows of one head.
ATTN_BLOCK_M = 128
# Special-function-unit throughput (exp, rsqrt, …): 16 results per cycle per SM on compute
# capability 8.0 and 9.0 (CUDA C++ Programming Guide, arithmetic-instruction throughput table).
SFU_OPS_PER_CYCLE_PER_SM = 16
# Tensor-core efficiency of FlashAttention's two matmuls, exp() excluded. FlashAttention-2
# (Dao 2023, Fig. 5) reaches ≈ 62 % of A100 FP16 peak end to end (forward, causal, head dim 128,
# 2k tokens); with the non-overlapped exp() time above (≈ 0.25 of the matmul time at peak on
# A100: 16 exp/cycle/SM vs 1024 MAC/cycle/SM, 512 FLOPs per score) the matmul part alone runs
# at 1 / (1/0.62 − 0.25) ≈ 0.73 of peak. Not fitted: the case table cannot identify it.
ATTN_MATMUL_EFF = 0.73
# Element-wise kernels per layer in fused engines: two (residual-add + RMSNorm), rotary
# embedding, activation·gate. Assumption from TensorRT-LLM's LLaMA graph.
VECTOR_KERNELS_PER_LAYER = 4


@dataclass(frozen=True, slots=True)
class GpuModelParams:
    """Efficiencies (fractions of datasheet peaks) and overheads (seconds, cycles) shared by
    every GPU. Fitted values live in `perf/gpu_params.py`."""

    gemm_mainloop_eff: float  # sustained fraction of tensor peak inside a long GEMM K loop
    tile_overhead_cycles: float  # fixed cycles per output tile (prologue + epilogue)
    hbm_eff: float  # sustained fraction of HBM bandwidth of a streaming kernel
    roofline_blend: float  # p of the smooth roofline (t_c^p + t_m^p)^(1/p); ∞ = max
    kernel_overhead_s: float  # per kernel: launch, ramp-up, tail
    link_eff: float  # fraction of one-way NVLink bandwidth a ring collective reaches
    link_latency_s: float  # per ring hop

    @classmethod
    def fitted(cls) -> GpuModelParams:
        return cls(
            gemm_mainloop_eff=gpu_params.GEMM_MAINLOOP_EFF,
            tile_overhead_cycles=gpu_params.TILE_OVERHEAD_CYCLES,
            hbm_eff=gpu_params.HBM_EFF,
            roofline_blend=gpu_params.ROOFLINE_BLEND,
            kernel_overhead_s=gpu_params.KERNEL_OVERHEAD_S,
            link_eff=gpu_params.LINK_EFF,
            link_latency_s=gpu_params.LINK_LATENCY_S,
        )


DEFAULT_PARAMS = GpuModelParams.fitted()


@dataclass(frozen=True, slots=True)
class KernelTime:
    """One kernel: compute and memory times (s), the overhead, and ideal busy times at peak."""

    seconds: float
    compute_s: float
    memory_s: float
    overhead_s: float
    tensor_busy_s: float  # FLOPs / datasheet peak
    dram_busy_s: float  # bytes / datasheet HBM bandwidth


def _overlap(compute_s: float, memory_s: float, params: GpuModelParams) -> float:
    """Smooth roofline: a kernel near the ridge point overlaps its memory and tensor work only
    partly (a wave loads, then computes). p → ∞ gives max(compute, memory); p = 1 their sum."""
    p = params.roofline_blend
    if compute_s <= 0 or memory_s <= 0:
        return compute_s + memory_s
    hi, lo = max(compute_s, memory_s), min(compute_s, memory_s)
    return float(hi * (1.0 + (lo / hi) ** p) ** (1.0 / p))


def _macs_per_cycle_per_sm(gpu: GpuSpec, tflops: float) -> float:
    return tflops * 1e12 / 2.0 / (gpu.sm_count * gpu.freq_mhz * 1e6)


def _tile_m(m: int) -> int:
    """Tile height: the smallest power of two ≥ m between TILE_M_MIN and TILE_M_MAX."""
    tile = TILE_M_MIN
    while tile < m and tile < TILE_M_MAX:
        tile *= 2
    return tile


def gemm_compute_s(
    gpu: GpuSpec, m: int, k: int, n: int, tflops: float, params: GpuModelParams
) -> float:
    """Seconds of tensor-core work of an m×k by k×n GEMM under the tile/wave model."""
    if m <= 0 or k <= 0 or n <= 0:
        return 0.0
    tm = _tile_m(m)
    tiles = math.ceil(m / tm) * math.ceil(n / TILE_N)
    if tiles >= gpu.sm_count:
        waves, k_per_tile = math.ceil(tiles / gpu.sm_count), k
    else:  # split-K to occupy idle SMs
        split = max(1, min(gpu.sm_count // tiles, k // SPLIT_K_MIN_K))
        waves, k_per_tile = 1, math.ceil(k / split)
    macs = _macs_per_cycle_per_sm(gpu, tflops)
    tile_cycles = tm * TILE_N * k_per_tile / (macs * params.gemm_mainloop_eff)
    return waves * (tile_cycles + params.tile_overhead_cycles) / (gpu.freq_mhz * 1e6)


def gemm_kernel(
    gpu: GpuSpec,
    m: int,
    k: int,
    n: int,
    weight_bytes_per_elem: int,
    act_bytes_per_elem: int = 2,
    params: GpuModelParams = DEFAULT_PARAMS,
) -> KernelTime:
    """One GEMM kernel (m×k activations by k×n weights). FP8 tensor peak when the weights are
    8 bit and the GPU has FP8 tensor cores."""
    tflops = gpu.peak_tflops_for("fp8" if weight_bytes_per_elem == 1 else "fp16")
    flops = 2.0 * m * k * n
    nbytes = k * n * weight_bytes_per_elem + (m * k + m * n) * act_bytes_per_elem
    bw = gpu.hbm_gbps * 1e9
    compute = gemm_compute_s(gpu, m, k, n, tflops, params)
    memory = nbytes / (bw * params.hbm_eff)
    return KernelTime(
        seconds=_overlap(compute, memory, params) + params.kernel_overhead_s,
        compute_s=compute,
        memory_s=memory,
        overhead_s=params.kernel_overhead_s,
        tensor_busy_s=flops / (tflops * 1e12),
        dram_busy_s=nbytes / bw,
    )


def _memory_kernel(
    gpu: GpuSpec, nbytes: float, flops: float, kernels: int, params: GpuModelParams
) -> KernelTime:
    bw = gpu.hbm_gbps * 1e9
    memory = nbytes / (bw * params.hbm_eff)
    overhead = kernels * params.kernel_overhead_s
    return KernelTime(
        memory + overhead, 0.0, memory, overhead, flops / (gpu.fp16_tflops * 1e12), nbytes / bw
    )


def _attn_prefill_kernel(gpu: GpuSpec, op: Op, params: GpuModelParams) -> KernelTime:
    extra = dict(op.extra)
    chunks = extra.get("chunks", 1)
    blocks = op.heads * max(chunks, math.ceil(op.m / ATTN_BLOCK_M))
    waves = math.ceil(blocks / gpu.sm_count)
    wave_eff = blocks / (waves * gpu.sm_count)
    peak = gpu.fp16_tflops * 1e12
    # exp() of every score element runs on the special-function units, not overlapped with
    # the tensor-core work in FlashAttention-2 (the bottleneck FlashAttention-3 §3.1 describes).
    sfu_s = extra.get("score_elements", 0) / (
        gpu.sm_count * SFU_OPS_PER_CYCLE_PER_SM * gpu.freq_mhz * 1e6 * wave_eff
    )
    compute = op.flops / (peak * ATTN_MATMUL_EFF * wave_eff) + sfu_s
    nbytes = op.kv_bytes + op.kv_write_bytes + op.act_bytes
    bw = gpu.hbm_gbps * 1e9
    memory = nbytes / (bw * params.hbm_eff)
    return KernelTime(
        max(compute, memory) + params.kernel_overhead_s,
        compute,
        memory,
        params.kernel_overhead_s,
        op.flops / peak,
        nbytes / bw,
    )


def _op_kernel(gpu: GpuSpec, model: ModelSpec, op: Op, params: GpuModelParams) -> KernelTime:
    """Time of one copy of `op` (collectives excluded)."""
    if op.kind is OpKind.GEMM:
        return gemm_kernel(
            gpu, op.m, op.k, op.n, model.bytes_per_weight, model.bytes_per_activation, params
        )
    if op.kind is OpKind.ATTN_PREFILL:
        return _attn_prefill_kernel(gpu, op, params)
    if op.kind is OpKind.ATTN_DECODE:
        return _memory_kernel(
            gpu, op.kv_bytes + op.kv_write_bytes + op.act_bytes, op.flops, 1, params
        )
    return _memory_kernel(gpu, op.act_bytes, op.flops, VECTOR_KERNELS_PER_LAYER, params)


def allreduce_s(
    gpu: GpuSpec, message_bytes: float, devices: int, params: GpuModelParams = DEFAULT_PARAMS
) -> float:
    """Ring all-reduce over NVLink: one-way bandwidth is half the quoted bidirectional figure."""
    if devices <= 1:
        return 0.0
    return ring_allreduce_s(
        message_bytes, devices, gpu.nvlink_gbps / 2 * params.link_eff, params.link_latency_s
    )


def allreduce_kernel_s(
    gpu: GpuSpec, message_bytes: float, devices: int, params: GpuModelParams = DEFAULT_PARAMS
) -> float:
    """One all-reduce kernel as the step sees it: the ring time plus the kernel overhead."""
    if devices <= 1:
        return 0.0
    return allreduce_s(gpu, message_bytes, devices, params) + params.kernel_overhead_s


# Per-step accumulators, in this order: compute, memory, overhead and communication seconds,
# tensor and DRAM busy seconds, FLOPs, DRAM bytes.
_Totals = tuple[float, float, float, float, float, float, float, float]


def _accumulate(
    totals: list[float],
    ops: Iterable[Op],
    gpu: GpuSpec,
    model: ModelSpec,
    tp: int,
    params: GpuModelParams,
) -> None:
    """Add the kernels of `ops` (each × its repeat) to `totals` (see `_Totals`)."""
    for op in ops:
        if op.kind is OpKind.COLLECTIVE:
            t = allreduce_kernel_s(gpu, op.message_bytes, tp, params)
            totals[3] += op.repeat * (t - params.kernel_overhead_s)
            totals[2] += op.repeat * params.kernel_overhead_s
            continue
        kt = _op_kernel(gpu, model, op, params)
        # Attribute each kernel's time to the roofline side that set it.
        body = kt.seconds - kt.overhead_s
        if kt.compute_s >= kt.memory_s:
            totals[0] += op.repeat * body
        else:
            totals[1] += op.repeat * body
        totals[2] += op.repeat * kt.overhead_s
        totals[4] += op.repeat * kt.tensor_busy_s
        totals[5] += op.repeat * kt.dram_busy_s
        totals[6] += op.flops * op.repeat
        totals[7] += op.repeat * kt.dram_busy_s * gpu.hbm_gbps * 1e9


@lru_cache(maxsize=16384)
def _group_totals(params: GpuModelParams, gpu: GpuSpec, group: GemmTiming) -> _Totals:
    """Totals (see `_Totals`) of a step's GEMMs and TP syncs, which depend on the token
    counts only through `group` (shared by many steps)."""
    layout = group.layout
    compute_s = memory_s = overhead_s = p2p_s = tensor_busy = dram_busy = flops = 0.0
    dram_bytes = 0.0
    for _, m, k, n, repeat in group.shapes:
        kt = gemm_kernel(gpu, m, k, n, layout.wb, layout.ab, params)
        body = kt.seconds - kt.overhead_s
        if kt.compute_s >= kt.memory_s:
            compute_s += repeat * body
        else:
            memory_s += repeat * body
        overhead_s += repeat * kt.overhead_s
        tensor_busy += repeat * kt.tensor_busy_s
        dram_busy += repeat * kt.dram_busy_s
        flops += 2 * m * k * n * repeat
        dram_bytes += repeat * kt.dram_busy_s * gpu.hbm_gbps * 1e9
    for message_bytes, repeat in group.syncs:
        t = allreduce_kernel_s(gpu, message_bytes, layout.tp, params)
        p2p_s += repeat * (t - params.kernel_overhead_s)
        overhead_s += repeat * params.kernel_overhead_s
    return compute_s, memory_s, overhead_s, p2p_s, tensor_busy, dram_busy, flops, dram_bytes


@lru_cache(maxsize=65536)
def gpu_step_time_with(
    params: GpuModelParams, gpu: GpuSpec, model: ModelSpec, batch: BatchComposition, tp: int
) -> StepTime:
    """`gpu_step_time` under explicit model parameters (used by the fit)."""
    parts = step_parts(model, batch, tp)
    totals = list(_group_totals(params, gpu, parts.gemms))
    attention = (op for op in (parts.attn_prefill, parts.attn_decode) if op is not None)
    _accumulate(totals, (*attention, parts.vector_op()), gpu, model, tp, params)
    compute_s, memory_s, overhead_s, p2p_s, tensor_busy, dram_busy, flops, dram_bytes = totals
    seconds = compute_s + memory_s + overhead_s + p2p_s
    parts_s = {
        "compute": compute_s,
        "memory": memory_s,
        "communication": p2p_s,
        "overhead": overhead_s,
    }
    bound = max(parts_s, key=parts_s.__getitem__)
    busy = MappingProxyType(
        {"tensor": tensor_busy, "dram": dram_busy, "p2p": p2p_s, "overhead": overhead_s}
    )
    return StepTime(seconds, bound, busy, dram_bytes, flops)


def gpu_step_time(gpu: GpuSpec, model: ModelSpec, batch: BatchComposition, tp: int) -> StepTime:
    """Latency of one step of `batch` on one GPU of a `tp`-way group (fitted parameters).

    `busy_s`: `tensor` = FLOPs at datasheet peak, `dram` = bytes at datasheet HBM bandwidth
    (so utilisation = achieved fraction of peak), `p2p` = collective time, `overhead` =
    launch and engine overheads. `bound` is the largest of compute / memory / communication /
    overhead time.
    """
    return gpu_step_time_with(DEFAULT_PARAMS, gpu, model, batch, tp)
