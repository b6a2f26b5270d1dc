"""Calibrated GPU baseline (DESIGN §5): per-kernel rooflines with physical efficiencies.

One serving step on one GPU of a TP group is the sequence of kernels of `step_parts`, run one
after the other (TensorRT-LLM and vLLM issue every layer's kernels and its TP all-reduce on one
stream). The constants come in two layers, fitted separately by `benchmarks/fit_gpu.py` so that
errors of one cannot hide errors of the other:

*Operator layer* — GPU time of one kernel, fitted on timed kernels (GEMMs, NCCL all-reduces):

* GEMM (cuBLAS/CUTLASS-style): the output is cut into tiles of one of `GEMM_TILES` (the
  CUTLASS tensor-core tile classes 64×64 … 256×128), optionally split along K (`SPLIT_K`); the
  tiles run in waves over the SMs. One tile costs `Tm·Tn·Kₛ / (MACs/cycle/SM · mainloop_eff)`
  cycles of main loop plus `tile_overhead_cycles` (prologue, pipeline fill, epilogue). Memory:
  weights + activations (+ split-K's fp32 partials) at HBM bandwidth · `hbm_eff`; compute and
  memory blend in a smooth roofline. The kernel takes the best tile and split, as cuBLAS's
  heuristics and autotuned engines do, plus `kernel_fixed_s` (ramp-up and tail of a kernel on
  the GPU itself). Tile, wave and split-K quantisation all follow from this.
* Prefill attention (FlashAttention-2-style, fused): one CTA per (query block × head), each
  walking the KV blocks it attends to; causal masking wastes half of the diagonal block; the
  matmuls run at `ATTN_MATMUL_EFF` of the FP16 peak, exp() on the special-function units, and
  each CTA pays the same `tile_overhead_cycles` (load Q, normalise and write O). Efficiency
  therefore rises with sequence length (fixed CTA cost amortised, wave tail) and with head dim
  (more matmul work per exp()).
* Decode attention (paged, split-KV as FlashDecoding / TensorRT-LLM multi-block): one CTA per
  (request, KV head, partition), the context split in ≥ 512-token slices only as far as needed
  to occupy the SMs; a CTA streams at most one SM's share of the HBM bandwidth, so small
  batches with short contexts run far below the streaming bandwidth; each CTA pays
  `tile_overhead_cycles`.
* Element-wise work (norms, rotary, activation, residual): bytes at HBM bandwidth · `hbm_eff`,
  `VECTOR_KERNELS_PER_LAYER` kernels per layer.
* TP all-reduce: `perf/collectives.collective_time` — NCCL's algorithm/protocol choice by
  payload — with the GPU's NVLink `LinkParams`: per-hop and per-call latency in SM cycles
  (shared by all GPUs: NCCL's latency is flag polling and fences on the SMs), sustained
  bandwidth fraction per NVLink generation. HDA devices use the same function (`perf/tp.py`).

*Engine layer* — what a serving engine adds around the kernels, fitted on whole-step rows with
the operator layer fixed: `kernel_gap_s`, the GPU-side gap per kernel of a step (every engine);
`prefill_step_s` / `eager_prefill_step_s`, host time of a step that holds prompts (context
set-up and first-token return; an eager engine's prompt path), not overlapped with the GPU;
and for a Python-eager engine (`Engine.python_eager`: PyTorch ops launched one by one, no CUDA
graphs) the host bound — a step lasts at least its kernels × `eager_launch_s` — plus
`eager_seq_s` of host work per request (input preparation, sampling). The engine is a property
of the measured setup (`validate/engines.py` maps sources to engines); the product compares
against `DEFAULT_ENGINE` (compiled: TensorRT-LLM's C++ runtime, CUDA-graph replay). A constant
on every step of a compiled engine was tried and fitted to zero, so it is not in the model.

FP8 models (8-bit weights) run GEMMs at the FP8 tensor peak when the GPU has one (W8A8, as
TensorRT-LLM FP8 does); attention runs at the FP16 peak. All constants are shared by every GPU
(link constants per NVLink generation) and live in `perf/gpu_params.py`; everything per GPU is
a datasheet fact (`hardware/presets.py`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from ador_opt.hardware.arch import LinkType
from ador_opt.hardware.gpu import GpuSpec
from ador_opt.models.ops import BatchComposition, GemmTiming, Op, OpKind, step_parts
from ador_opt.models.spec import ModelSpec, Precision
from ador_opt.perf import gpu_params
from ador_opt.perf.collectives import Collective, LinkParams, collective_time
from ador_opt.perf.expert import ExpertShard
from ador_opt.perf.precision import DEQUANT_OPS_PER_WEIGHT, GPU_DEQUANT_OPS_PER_CYCLE_PER_SM
from ador_opt.perf.result import StepTime

# Output tile classes of tensor-core GEMMs on Ampere and Hopper: the CUTLASS profiler's default
# threadblock shapes (64×64, 64×128, 128×64, 128×128, 128×256, 256×128) that cuBLAS's kernels
# also use. M is padded to the tile (an M = 8 decode GEMM runs 64-row tiles).
GEMM_TILES: tuple[tuple[int, int], ...] = (
    (64, 64),
    (64, 128),
    (128, 64),
    (128, 128),
    (128, 256),
    (256, 128),
)
# Split-K factors cuBLAS/CUTLASS use (serial or parallel split-K reduction).
SPLIT_K: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16)
# Split-K keeps at least this many K elements per split (one pipeline stage holds 32–64 of K;
# a few stages per split). Assumption.
SPLIT_K_MIN_K = 256
# Split-K partial sums are fp32: written once and read once by the reduction.
SPLIT_K_PARTIAL_BYTES = 4
# FlashAttention-2 forward, head dim 128 on sm80 (`run_mha_fwd_hdim128`: 128 × 64 blocks): each
# CTA takes 128 query rows of one head and walks the keys in blocks of 64.
ATTN_BLOCK_M = 128
ATTN_BLOCK_N = 64
# Decode attention partitions the context in 512-token slices, one CTA each (vLLM PagedAttention
# v2 `PARTITION_SIZE = 512`; TensorRT-LLM's multi-block mode splits alike).
DECODE_PARTITION_TOKENS = 512
# Special-function-unit throughput (exp, rsqrt, …): 16 results per cycle per SM on compute
# capability 8.0 and 9.0 (CUDA C++ Programming Guide, arithmetic-instruction throughput table).
SFU_OPS_PER_CYCLE_PER_SM = 16
# Tensor-core efficiency of FlashAttention's two matmuls, exp() excluded. FlashAttention-2
# (Dao 2023, Fig. 5) reaches ≈ 62 % of A100 FP16 peak end to end (forward, causal, head dim 128,
# 2k tokens); with the non-overlapped exp() time above (≈ 0.25 of the matmul time at peak on
# A100: 16 exp/cycle/SM vs 1024 MAC/cycle/SM, 512 FLOPs per score) the matmul part alone runs
# at 1 / (1/0.62 − 0.25) ≈ 0.73 of peak. Not fitted: no row of the case files identifies it.
ATTN_MATMUL_EFF = 0.73
# Element-wise kernels per layer in fused engines: two (residual-add + RMSNorm), rotary
# embedding, activation·gate. Assumption from TensorRT-LLM's LLaMA graph.
VECTOR_KERNELS_PER_LAYER = 4
# Attention kernels per layer: one fused kernel (split-KV decode reduces its partial results in
# the same kernel, as TensorRT-LLM's multi-block XQA kernel does).
ATTN_KERNELS_PER_LAYER = 1


@dataclass(frozen=True, slots=True)
class GpuModelParams:
    """Efficiencies (fractions of datasheet peaks), overheads (seconds, cycles) and NVLink
    parameters shared by every GPU. Fitted values live in `perf/gpu_params.py`."""

    # operator layer: GEMM and streaming kernels (GPU time only)
    gemm_mainloop_eff: float  # sustained fraction of tensor peak inside a long GEMM K loop
    tile_overhead_cycles: float  # fixed cycles per output tile / attention CTA
    hbm_eff: float  # sustained fraction of HBM bandwidth of a streaming kernel
    roofline_blend: float  # p of the smooth roofline (t_c^p + t_m^p)^(1/p); ∞ = max
    kernel_fixed_s: float  # per kernel on the GPU: ramp-up and tail
    # operator layer: NVLink collectives (ring/Simple values; NCCL's ratios for the rest).
    # NCCL's latencies are SM work (flag polling, fences, the kernel's set-up), so they are
    # counted in SM cycles and shared by every GPU; the sustained link fraction is per NVLink
    # generation (a property of the fabric).
    nccl_hop_latency_cycles: float
    nccl_base_latency_cycles: float
    nvlink3_bw_eff: float
    nvlink4_bw_eff: float
    # engine layer (serving steps)
    kernel_gap_s: float  # per kernel launched in a step: GPU-side gap between kernels
    eager_launch_s: float  # host time to launch one kernel from a Python eager engine
    eager_seq_s: float  # host time per request per step of a Python engine (inputs, sampling)
    # per step that holds prompts (context chunks), not overlapped with the GPU: a compiled
    # engine's context-phase set-up and first-token return; a Python engine's prompt path
    prefill_step_s: float
    eager_prefill_step_s: float

    @classmethod
    def fitted(cls) -> GpuModelParams:
        return cls(**{name: float(getattr(gpu_params, name.upper())) for name in PARAM_NAMES})


PARAM_NAMES: tuple[str, ...] = tuple(GpuModelParams.__dataclass_fields__)
DEFAULT_PARAMS = GpuModelParams.fitted()


@dataclass(frozen=True, slots=True)
class Engine:
    """How the serving engine drives the GPU — a property of the measured setup, not of the GPU.

    `python_eager`: the engine launches every kernel from Python, one CUDA launch per op and
    rank (PyTorch eager, no CUDA graphs), so a step cannot finish before the host has issued
    all of its kernels, and the host prepares each request's inputs and samples its token
    between steps. Otherwise (TensorRT-LLM's C++ runtime, CUDA-graph replay in vLLM ≥ 0.2.6)
    the launches run ahead of the GPU and only the GPU-side gap between kernels remains.
    """

    name: str
    python_eager: bool = False


COMPILED_ENGINE = Engine("compiled")  # TensorRT-LLM C++ runtime / CUDA-graph replay
PYTHON_EAGER_ENGINE = Engine("python-eager", python_eager=True)
DEFAULT_ENGINE = COMPILED_ENGINE  # the baselines the product compares against


def link_params(gpu: GpuSpec, params: GpuModelParams = DEFAULT_PARAMS) -> LinkParams:
    """The GPU's NVLink as collectives see it: one-way bandwidth is half the quoted
    bidirectional figure; efficiency per NVLink generation; NCCL's hop and base latencies
    are SM cycles at the GPU's clock."""
    gen = "nvlink3" if gpu.link_type is LinkType.NVLINK3 else "nvlink4"
    hz = gpu.freq_mhz * 1e6
    return LinkParams(
        name=f"{gpu.name} {gen}",
        gbps_one_way=gpu.nvlink_gbps / 2,
        bw_eff=getattr(params, f"{gen}_bw_eff"),
        hop_latency_s=params.nccl_hop_latency_cycles / hz,
        base_latency_s=params.nccl_base_latency_cycles / hz,
        nvls=gpu_params.GPU_NVLS and gpu.link_type is LinkType.NVLINK4,
        nvls_latency_s=gpu_params.NVLS_LATENCY_S,
    )


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


@dataclass(frozen=True, slots=True)
class GemmPlan:
    """The tiling a GEMM runs with: tile shape, split-K factor, waves, and its times (s)."""

    tile_m: int
    tile_n: int
    split_k: int
    waves: int
    compute_s: float
    memory_s: float
    body_s: float  # blended compute/memory time, kernel fixed cost excluded


@lru_cache(maxsize=65536)
def gemm_plan(
    gpu: GpuSpec,
    m: int,
    k: int,
    n: int,
    weight_bytes_per_elem: float,
    act_bytes_per_elem: int,
    params: GpuModelParams,
    tiles_to_try: tuple[tuple[int, int], ...] = GEMM_TILES,
    precision: str = "",
) -> GemmPlan:
    """Best tile shape (of `tiles_to_try`) and split-K of an m×k by k×n GEMM (least blended
    time); `precision` "int8" runs at the INT8 tensor peak."""
    fmt = precision or ("fp8" if weight_bytes_per_elem == 1 else "fp16")
    tflops = gpu.peak_tflops_for(fmt)
    macs = _macs_per_cycle_per_sm(gpu, tflops) * params.gemm_mainloop_eff
    # Weight-only formats (weights narrower than the MAC format): each CTA dequantises its
    # K × tile_n weight slice on the CUDA cores, overlapped with its tensor-core main loop (as
    # weight-only kernels pipeline it); perf/precision.py.
    dq = DEQUANT_OPS_PER_WEIGHT if weight_bytes_per_elem < Precision(fmt).width_bits / 8 else 0
    dq_per_cycle = GPU_DEQUANT_OPS_PER_CYCLE_PER_SM
    hz = gpu.freq_mhz * 1e6
    bw = gpu.hbm_gbps * 1e9 * params.hbm_eff
    base_bytes = k * n * weight_bytes_per_elem + (m * k + m * n) * act_bytes_per_elem
    sms, c_tile, p = gpu.sm_count, params.tile_overhead_cycles, params.roofline_blend
    best: GemmPlan | None = None
    best_body = math.inf
    for tm, tn in tiles_to_try:
        tiles = -(-m // tm) * -(-n // tn)
        for split in SPLIT_K:
            if split > 1 and (k // split < SPLIT_K_MIN_K or tiles >= sms):
                break
            waves = -(-tiles * split // sms)
            ks = -(-k // split)
            mainloop = tm * tn * ks / macs
            if dq:
                mainloop = max(mainloop, tn * ks * dq / dq_per_cycle)
            compute = waves * (mainloop + c_tile) / hz
            memory = (
                base_bytes + (2 * split * m * n * SPLIT_K_PARTIAL_BYTES if split > 1 else 0)
            ) / bw
            hi, lo = (compute, memory) if compute >= memory else (memory, compute)
            if hi >= best_body:
                continue  # the blend is ≥ max(compute, memory): cannot win
            body = hi * (1.0 + (lo / hi) ** p) ** (1.0 / p)
            if body < best_body:
                best_body = body
                best = GemmPlan(tm, tn, split, waves, compute, memory, body)
    assert best is not None
    return best


def gemm_compute_s(
    gpu: GpuSpec, m: int, k: int, n: int, tflops: float, params: GpuModelParams = DEFAULT_PARAMS
) -> float:
    """Seconds of tensor-core work of the best tiling of an m×k by k×n GEMM."""
    if m <= 0 or k <= 0 or n <= 0:
        return 0.0
    wb = 1 if tflops == gpu.fp8_tflops and gpu.fp8_tflops > 0 else 2
    return gemm_plan(gpu, m, k, n, wb, 2, params).compute_s


def gemm_kernel(
    gpu: GpuSpec,
    m: int,
    k: int,
    n: int,
    weight_bytes_per_elem: float,
    act_bytes_per_elem: int = 2,
    params: GpuModelParams = DEFAULT_PARAMS,
    precision: str = "",
) -> KernelTime:
    """One GEMM kernel's GPU time (m×k activations by k×n weights), best tiling. FP8 tensor
    peak when the weights are 8 bit and the GPU has FP8 tensor cores; `precision` "int8" uses
    the INT8 tensor peak."""
    tflops = gpu.peak_tflops_for(precision or ("fp8" if weight_bytes_per_elem == 1 else "fp16"))
    plan = gemm_plan(
        gpu, m, k, n, weight_bytes_per_elem, act_bytes_per_elem, params, precision=precision
    )
    flops = 2.0 * m * k * n
    nbytes = k * n * weight_bytes_per_elem + (m * k + m * n) * act_bytes_per_elem
    bw = gpu.hbm_gbps * 1e9
    return KernelTime(
        seconds=plan.body_s + params.kernel_fixed_s,
        compute_s=plan.compute_s,
        memory_s=plan.memory_s,
        overhead_s=params.kernel_fixed_s,
        tensor_busy_s=flops / (tflops * 1e12),
        dram_busy_s=nbytes / bw,
    )


def _memory_kernel(
    gpu: GpuSpec, nbytes: float, flops: float, kernels: int, params: GpuModelParams
) -> KernelTime:
    bw = gpu.hbm_gbps * 1e9
    memory = nbytes / (bw * params.hbm_eff)
    overhead = kernels * params.kernel_fixed_s
    return KernelTime(
        memory + overhead, 0.0, memory, overhead, flops / (gpu.fp16_tflops * 1e12), nbytes / bw
    )


def _attn_prefill_kernel(gpu: GpuSpec, op: Op, params: GpuModelParams) -> KernelTime:
    extra = dict(op.extra)
    chunks = extra.get("chunks", 1)
    hz = gpu.freq_mhz * 1e6
    ctas = op.heads * max(chunks, math.ceil(op.m / ATTN_BLOCK_M))
    waves = math.ceil(ctas / gpu.sm_count)
    # Causal: the diagonal KV block of every query row is computed whole, half of it masked.
    wasted = op.m * op.heads * ATTN_BLOCK_N / 2
    scores = extra.get("score_elements", 0) + wasted
    flops = op.flops + 4 * op.k * wasted
    macs = _macs_per_cycle_per_sm(gpu, gpu.fp16_tflops) * ATTN_MATMUL_EFF
    # exp() of every score element runs on the special-function units, not overlapped with
    # the tensor-core work in FlashAttention-2 (the bottleneck FlashAttention-3 §3.1 describes).
    cta_cycles = (
        flops / 2 / ctas / macs
        + scores / ctas / SFU_OPS_PER_CYCLE_PER_SM
        + params.tile_overhead_cycles
    )
    compute = waves * cta_cycles / hz
    nbytes = op.kv_bytes + op.kv_write_bytes + op.act_bytes
    bw = gpu.hbm_gbps * 1e9
    memory = nbytes / (bw * params.hbm_eff)
    return KernelTime(
        _overlap(compute, memory, params) + params.kernel_fixed_s,
        compute,
        memory,
        params.kernel_fixed_s,
        op.flops / (gpu.fp16_tflops * 1e12),
        nbytes / bw,
    )


def _decode_partitions(requests: int, kv_heads: int, context: int, sm_count: int) -> int:
    """KV partitions per (request, KV head): split (in ≥ 512-token slices) only as far as
    needed to give every SM a CTA — FlashDecoding / TensorRT-LLM multi-block heuristics."""
    fill = math.ceil(sm_count / (requests * kv_heads))
    return max(1, min(math.ceil(context / DECODE_PARTITION_TOKENS), fill))


def _attn_decode_kernel(gpu: GpuSpec, op: Op, params: GpuModelParams) -> KernelTime:
    """Split-KV paged decode attention: one CTA per (request, KV head, partition); a CTA streams
    at most an SM's share of the bandwidth (bandwidth · hbm_eff / SMs), so the kernel takes the
    longer of the whole stream at full bandwidth and its longest CTA; every CTA pays the
    fixed CTA cost (many short CTAs are scheduled dynamically: fractional waves)."""
    hz = gpu.freq_mhz * 1e6
    requests = max(1, op.m_decode)
    heads = max(1, op.kv_heads)
    context = max(1, op.n)
    parts = _decode_partitions(requests, heads, context, gpu.sm_count)
    waves = max(1.0, requests * heads * parts / gpu.sm_count)
    # Longest CTA: a full 512-token slice, or a longer one when the split is capped.
    fill = math.ceil(gpu.sm_count / (requests * heads))
    longest_tokens = max(min(context, DECODE_PARTITION_TOKENS), math.ceil(context / fill))
    nbytes = op.kv_bytes + op.kv_write_bytes + op.act_bytes
    bw = gpu.hbm_gbps * 1e9
    per_sm_bw = bw * params.hbm_eff / gpu.sm_count
    longest_cta_bytes = op.kv_bytes / (requests * heads * context) * longest_tokens
    memory = max(nbytes / (bw * params.hbm_eff), longest_cta_bytes / per_sm_bw)
    memory += waves * params.tile_overhead_cycles / hz
    overhead = ATTN_KERNELS_PER_LAYER * params.kernel_fixed_s
    return KernelTime(
        memory + overhead,
        0.0,
        memory,
        overhead,
        op.flops / (gpu.fp16_tflops * 1e12),
        nbytes / bw,
    )


def _op_kernel(gpu: GpuSpec, model: ModelSpec, op: Op, params: GpuModelParams) -> KernelTime:
    """Time of one copy of `op` (collectives excluded)."""
    if op.kind is OpKind.GEMM:
        return gemm_kernel(
            gpu,
            op.m,
            op.k,
            op.n,
            model.bytes_per_weight,
            model.bytes_per_activation,
            params,
            model.gemm_precision.value,
        )
    if op.kind is OpKind.ATTN_PREFILL:
        return _attn_prefill_kernel(gpu, op, params)
    if op.kind is OpKind.ATTN_DECODE:
        return _attn_decode_kernel(gpu, op, params)
    return _memory_kernel(gpu, op.act_bytes, op.flops, VECTOR_KERNELS_PER_LAYER, params)


def _kernels_of(op: Op) -> int:
    """Kernels one copy of `op` launches (each pays the engine's launch gap)."""
    if op.kind in (OpKind.ATTN_DECODE, OpKind.ATTN_PREFILL):
        return ATTN_KERNELS_PER_LAYER
    if op.kind in (OpKind.GEMM, OpKind.COLLECTIVE):
        return 1
    return VECTOR_KERNELS_PER_LAYER


def allreduce_s(
    gpu: GpuSpec, message_bytes: float, devices: int, params: GpuModelParams = DEFAULT_PARAMS
) -> float:
    """GPU time of one NCCL all-reduce over NVLink (best algorithm and protocol)."""
    if devices <= 1:
        return 0.0
    link = link_params(gpu, params)
    return collective_time(Collective.ALL_REDUCE, message_bytes, devices, link).seconds


def allreduce_kernel_s(
    gpu: GpuSpec, message_bytes: float, devices: int, params: GpuModelParams = DEFAULT_PARAMS
) -> float:
    """One all-reduce kernel as an operator profile times it (GPU time; the collective's base
    latency covers its start-up)."""
    return allreduce_s(gpu, message_bytes, devices, params)


# Per-step accumulators, in this order: compute, memory, overhead and communication seconds,
# tensor and DRAM busy seconds, FLOPs, DRAM bytes, kernels launched.
_Totals = tuple[float, float, float, float, float, float, float, float, float]


def _accumulate(
    totals: list[float],
    ops: Iterable[Op],
    gpu: GpuSpec,
    model: ModelSpec,
    params: GpuModelParams,
) -> None:
    """Add the kernels of `ops` (each × its repeat, with launch gaps) to `totals`."""
    for op in ops:
        kt = _op_kernel(gpu, model, op, params)
        # Attribute each kernel's time to the roofline side that set it.
        body = kt.seconds - kt.overhead_s
        if kt.compute_s >= kt.memory_s:
            totals[0] += op.repeat * body
        else:
            totals[1] += op.repeat * body
        totals[2] += op.repeat * (kt.overhead_s + _kernels_of(op) * params.kernel_gap_s)
        totals[4] += op.repeat * kt.tensor_busy_s
        totals[5] += op.repeat * kt.dram_busy_s
        totals[6] += op.flops * op.repeat
        totals[7] += op.repeat * kt.dram_busy_s * gpu.hbm_gbps * 1e9
        totals[8] += op.repeat * _kernels_of(op)


@lru_cache(maxsize=16384)
def _group_totals(params: GpuModelParams, gpu: GpuSpec, group: GemmTiming) -> _Totals:
    """Totals (see `_Totals`) of a step's GEMMs and TP syncs, which depend on the token
    counts only through `group` (shared by many steps)."""
    layout = group.layout
    compute_s = memory_s = overhead_s = p2p_s = tensor_busy = dram_busy = flops = 0.0
    dram_bytes = kernels = 0.0
    for _, m, k, n, repeat in group.shapes:
        fmt = layout.model.gemm_precision.value
        kt = gemm_kernel(gpu, m, k, n, layout.wb, layout.ab, params, fmt)
        body = kt.seconds - kt.overhead_s
        if kt.compute_s >= kt.memory_s:
            compute_s += repeat * body
        else:
            memory_s += repeat * body
        overhead_s += repeat * (kt.overhead_s + params.kernel_gap_s)
        tensor_busy += repeat * kt.tensor_busy_s
        dram_busy += repeat * kt.dram_busy_s
        flops += 2 * m * k * n * repeat
        dram_bytes += repeat * kt.dram_busy_s * gpu.hbm_gbps * 1e9
        kernels += repeat
    for message_bytes, repeat in group.syncs:
        p2p_s += repeat * allreduce_kernel_s(gpu, message_bytes, layout.tp, params)
        overhead_s += repeat * params.kernel_gap_s
        kernels += repeat
    return (
        compute_s, memory_s, overhead_s, p2p_s, tensor_busy, dram_busy, flops, dram_bytes,
        kernels,
    )  # fmt: skip


@lru_cache(maxsize=65536)
def gpu_step_time_with(
    params: GpuModelParams,
    gpu: GpuSpec,
    model: ModelSpec,
    batch: BatchComposition,
    tp: int,
    engine: Engine = DEFAULT_ENGINE,
    ep_moe: ExpertShard | None = None,
) -> StepTime:
    """`gpu_step_time` under explicit model parameters (used by the fit) and `engine`.

    GPU time = Σ kernels (GPU time + GPU-side gap). A Python-eager engine issues the step's
    kernels one by one from the host, so the step lasts `max(GPU time, kernels ·
    eager_launch_s)` — the launches overlap the GPU work they queue — plus `eager_seq_s` per
    request of host work that does not overlap the GPU (input preparation before the launches,
    sampling after the logits are copied back). A step that holds prompts also pays
    `prefill_step_s` (compiled) or `eager_prefill_step_s` (eager) of host time."""
    parts = step_parts(model, batch, tp)
    if ep_moe is not None:  # expert parallelism (perf/expert.py): the most loaded device
        parts = ep_moe.apply(parts)
    totals = list(_group_totals(params, gpu, parts.gemms))
    _accumulate(totals, (*parts.attention_ops(), parts.vector_op()), gpu, model, params)
    compute_s, memory_s, overhead_s, p2p_s, tensor_busy, dram_busy, flops, dram_bytes, kernels = (
        totals
    )
    seconds = compute_s + memory_s + overhead_s + p2p_s
    has_prompts = 1.0 if batch.prefill else 0.0
    if engine.python_eager:
        requests = len(batch.prefill) + batch.decode_count
        host_s = (
            max(seconds, kernels * params.eager_launch_s)
            + requests * params.eager_seq_s
            + has_prompts * params.eager_prefill_step_s
        )
    else:
        host_s = seconds + has_prompts * params.prefill_step_s
    overhead_s += host_s - seconds
    seconds = host_s
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


def gpu_step_time(
    gpu: GpuSpec,
    model: ModelSpec,
    batch: BatchComposition,
    tp: int,
    ep_moe: ExpertShard | None = None,
) -> StepTime:
    """Latency of one step of `batch` on one GPU of a `tp`-way group (fitted parameters).

    `busy_s`: `tensor` = FLOPs at datasheet peak, `dram` = bytes at datasheet HBM bandwidth
    (so utilisation = achieved fraction of peak), `p2p` = collective time, `overhead` =
    kernel fixed costs and the engine's launch gaps. `bound` is the largest of
    compute / memory / communication / overhead time.
    """
    if ep_moe is None:
        return gpu_step_time_with(DEFAULT_PARAMS, gpu, model, batch, tp)
    return gpu_step_time_with(DEFAULT_PARAMS, gpu, model, batch, tp, DEFAULT_ENGINE, ep_moe)
