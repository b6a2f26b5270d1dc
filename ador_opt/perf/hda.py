"""Latency of one serving step on the HDA template (ADOR paper §IV; docs/perf-hda.md).

The step's per-device ops (`models/ops.py`) are mapped to units by `schedule.py`, tensor-
parallel synchronisation is added by `tp.py`, and the step time is

    T = Σ_layers [ Σ_GEMMs (t_gemm + v_gemm) + t_attention + v_softmax + t_tp_exposed ] + t_lm_head

(ops of a layer in sequence, resources overlapped inside each op). v_x is the part of the
vector work fused with op x (norm and RoPE with QKV, residual + norm with the MLP's up
projection, activation + residual with its down projection, softmax with attention) that does
not overlap it: the two are row-pipelined in min(PIPELINE_CHUNKS, rows) tiles, so
v = max(t_vec, t_x) − t_x + min(t_vec, t_x)/tiles (noc.pipelined_exposed_s).
Results are memoised by value (all inputs are frozen); the GEMM part of a step is memoised per
`GemmTiming` (token count and LM-head rows), so steps that differ only in attention share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from ador_opt.errors import InputError
from ador_opt.hardware.arch import ArchConfig
from ador_opt.models.ops import (
    BatchComposition,
    GemmTiming,
    StepLayout,
    StepParts,
    step_parts,
)
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.expert import ExpertShard
from ador_opt.perf.mactree import dram_stream_s
from ador_opt.perf.memory import logits_spill_bytes
from ador_opt.perf.noc import PIPELINE_CHUNKS, pipelined_exposed_s
from ador_opt.perf.precision import DEQUANT_OPS_PER_BLOCK, PackedCycles
from ador_opt.perf.result import StepTime
from ador_opt.perf.schedule import DRAM, P2P, UNIT_NAMES, VEC, attention_time, gemm_time
from ador_opt.perf.systolic import CyclesFn, double_buffered, ws_cycles
from ador_opt.perf.tp import LayerProducers, bisect_bandwidth_to_hide, tp_sync_cost
from ador_opt.perf.vector import vector_s

# closed-form (default): SCALE-Sim's WS timing in closed form; scalesim: SCALE-Sim's compute
# stage itself (identical numbers; slow, cached on disk). Either gives the in-array weight
# double-buffered timing (systolic.double_buffered) for designs with
# `sa_weight_double_buffer`. double-buffered: every design timed as if it had in-array weight
# double buffering (a what-if that ignores the field and its register area).
SA_BACKENDS = ("closed-form", "scalesim", "double-buffered")


def check_sa_backend(sa_backend: str) -> None:
    """Raise `InputError` unless `sa_backend` is one of SA_BACKENDS."""
    if sa_backend not in SA_BACKENDS:
        raise InputError(
            f"unknown systolic-array backend {sa_backend!r}; use one of {', '.join(SA_BACKENDS)}"
        )


def _cycles_fn(sa_backend: str, arch: ArchConfig) -> CyclesFn:
    if sa_backend == "closed-form":
        return double_buffered(ws_cycles) if arch.sa_weight_double_buffer else ws_cycles
    if sa_backend == "double-buffered":
        return double_buffered(ws_cycles)
    if sa_backend == "scalesim":
        from ador_opt.perf.scalesim_backend import scalesim_ws_cycles

        base: CyclesFn = scalesim_ws_cycles
        return double_buffered(base) if arch.sa_weight_double_buffer else base
    raise InputError(f"unknown systolic-array backend {sa_backend!r}; use one of {SA_BACKENDS}")


def hda_step_time(
    arch: ArchConfig,
    model: ModelSpec,
    batch: BatchComposition,
    tp: int,
    sa_backend: str = "closed-form",
    ep_moe: ExpertShard | None = None,
    memo: bool = True,
) -> StepTime:
    """Latency of one step of `batch` on one device of a `tp`-way group of `arch`.

    `sa_backend` picks the per-array systolic cycle model (SA_BACKENDS): "scalesim" runs
    SCALE-Sim's compute stage for every array pass (slow, cached on disk; for re-scoring a few
    final designs, never inside trials) and equals "closed-form" exactly; "double-buffered"
    times every design as if `sa_weight_double_buffer` were set. `ep_moe`: the routed
    experts are sharded over an EP group (perf/expert.py; None = all experts local).
    `memo=False` skips the memo of whole steps (for callers with their own, like the serving
    simulator's step cache: hashing the arguments and filling the memo would be wasted) and
    memoises the parts many steps of one design share instead (the GEMMs before the LM head,
    each attention part); the numbers are the same either way."""
    if not memo:  # and memoise the parts that the steps of a serving run share instead
        return _step.__wrapped__(
            arch, model, batch, tp, _cycles_fn(sa_backend, arch), ep_moe, True
        )
    if ep_moe is None:
        return _step(arch, model, batch, tp, _cycles_fn(sa_backend, arch))
    return _step(arch, model, batch, tp, _cycles_fn(sa_backend, arch), ep_moe)


@lru_cache(maxsize=64)
def int8_packed_cycles(cycles_fn: CyclesFn, macs_per_fp16_mac: int) -> CyclesFn:
    """The cycle model of arrays whose PEs (and MAC trees whose inputs) do `macs_per_fp16_mac`
    narrow-format (int8, fp8, int4, fp4) MACs per cycle (`perf/precision.PackedCycles`: an
    (M×K)·(K×N) GEMM costs what an M×⌈K/r⌉ fp16 one costs). One object per (model, rate), so
    step caches keyed on it still hit."""
    if macs_per_fp16_mac == 1:
        return cycles_fn
    return PackedCycles(cycles_fn, macs_per_fp16_mac)


@dataclass(frozen=True, slots=True)
class _Block:
    """Summed over a set of ops: chain seconds, busy seconds per unit, seconds per bounding
    unit, DRAM / SRAM / NoC bytes, and per-layer seconds by op name."""

    chain_s: float
    busy: tuple[float, ...]
    bound_s: tuple[tuple[str, float], ...]
    dram_bytes: float
    per_layer: tuple[tuple[str, float], ...]
    sram_bytes: float = 0.0
    noc_bytes: float = 0.0


# Running sums over a step's GEMMs: chain, DRAM, SRAM and NoC bytes, busy seconds per unit,
# seconds per bounding unit and per-layer seconds by op name (in the order first seen).
_Sums = tuple[
    float, float, float, float, tuple[float, ...], tuple[tuple[str, float], ...],
    tuple[tuple[str, float], ...],
]  # fmt: skip
_NO_SUMS: _Sums = (0.0, 0.0, 0.0, 0.0, (0.0,) * len(UNIT_NAMES), (), ())


@lru_cache(maxsize=32768)
def _gemm_block(
    arch: ArchConfig, group: GemmTiming, cycles_fn: CyclesFn, shared: bool = False
) -> _Block:
    """All GEMMs of a step (`group.shapes`: name, m, k, n, repeat) run one after another,
    each with the exposed part of the vector work fused with it. Cached per `GemmTiming`, so
    steps that differ only in their attention share it; with `shared`, the sums over all GEMMs
    but the last (the LM head, whose rows vary most) are cached per token count as well."""
    shapes = group.shapes
    tokens = shapes[0][1]  # the step's tokens (QKV sees all of them; MoE GEMMs fewer)
    if shared:
        head = _gemm_sums(arch, group.layout, shapes[:-1], tokens, cycles_fn)
    else:
        head = _add_gemms(arch, group.layout, shapes[:-1], tokens, cycles_fn, _NO_SUMS)
    chain, dram, sram, noc, busy, bound_s, per_layer = _add_gemms(
        arch, group.layout, shapes[-1:], tokens, cycles_fn, head
    )
    return _Block(chain, busy, bound_s, dram, per_layer, sram, noc)


@lru_cache(maxsize=16384)
def _gemm_sums(
    arch: ArchConfig,
    layout: StepLayout,
    shapes: tuple[tuple[str, int, int, int, int], ...],
    tokens: int,
    cycles_fn: CyclesFn,
) -> _Sums:
    """`_add_gemms` from zero (memoised: the GEMMs before the LM head depend on the tokens)."""
    return _add_gemms(arch, layout, shapes, tokens, cycles_fn, _NO_SUMS)


def _add_gemms(
    arch: ArchConfig,
    layout: StepLayout,
    shapes: tuple[tuple[str, int, int, int, int], ...],
    tokens: int,
    cycles_fn: CyclesFn,
    start: _Sums,
) -> _Sums:
    """The running sums `start` continued over the GEMMs `shapes` of a step of `tokens`
    tokens, each with the exposed part of the vector work fused with it."""
    wb, ab, layers = layout.wb, layout.ab, layout.layers
    vec_per_token = dict(layout.vec_by_gemm)
    tiles = min(PIPELINE_CHUNKS, tokens)
    vec_rate = arch.vector_width * arch.core_count * arch.freq_hz  # ops per second (vector.py)
    # Weight-only formats (perf/precision.py): the vector unit either scales each scale block's
    # partial sums (m·n·blocks, few rows) or converts every weight once (k·n, many rows),
    # whichever is less work, concurrently with the GEMM.
    wfmt = layout.model.precision
    dequant_ops = DEQUANT_OPS_PER_BLOCK if layout.model.dequantises_weights else 0
    chain, dram, sram, noc = start[:4]
    busy = list(start[4])
    bound_s: dict[str, float] = dict(start[5])
    per_layer: dict[str, float] = dict(start[6])
    for name, m, k, n, repeat in shapes:
        t = gemm_time(arch, m, k, n, wb, ab, cycles_fn)
        chain += t.seconds * repeat
        dram += t.dram_bytes * repeat
        sram += t.sram_bytes * repeat
        noc += t.noc_bytes * repeat
        busy = [x + b * repeat for x, b in zip(busy, t.busy, strict=True)]
        bound_s[t.bound] = bound_s.get(t.bound, 0.0) + t.seconds * repeat
        if name == "lm_head":
            spill = logits_spill_bytes(arch, m, n, ab)
            if spill:  # written to DRAM and read back for sampling, after the GEMM
                spill_s = dram_stream_s(arch, spill)
                chain += spill_s
                dram += spill
                busy[DRAM] += spill / (arch.dram_gbps * 1e9)
                bound_s["dram"] = bound_s.get("dram", 0.0) + spill_s
        if dequant_ops:
            blocks = -(-k // wfmt.scale_block) if wfmt.scale_block else 1
            dq_s = dequant_ops * min(m * n * blocks, k * n) / vec_rate
            # block by block beside the MACs: only what exceeds the GEMM is exposed (the last
            # block's few cycles of scaling are not charged)
            dq_exposed = max(0.0, dq_s - t.seconds) * repeat
            busy[VEC] += dq_s * repeat
            chain += dq_exposed
            if dq_exposed > 0:
                bound_s["vector"] = bound_s.get("vector", 0.0) + dq_exposed
        layer_s = t.seconds * repeat / layers
        per_layer[name] = per_layer.get(name, 0.0) + layer_s
        ops = vec_per_token.get(name, 0) * tokens
        if ops:
            vec_s = ops / vec_rate
            exposed = pipelined_exposed_s(vec_s, layer_s, tiles) * layers
            busy[VEC] += vec_s * layers
            sram += 2.0 * ops * ab * layers  # operands read + results written (local SRAM)
            chain += exposed
            if exposed > 0:
                bound_s["vector"] = bound_s.get("vector", 0.0) + exposed
    return chain, dram, sram, noc, tuple(busy), tuple(bound_s.items()), tuple(per_layer.items())


@lru_cache(maxsize=8192)
def _step_parts(model: ModelSpec, batch: BatchComposition, tp: int) -> StepParts:
    """`step_parts`, memoised: it depends on the model and the batch only, so every design
    evaluated on the same scenario (a `--designs` file, the trials of a study) shares it."""
    return step_parts(model, batch, tp)


@lru_cache(maxsize=32768)
def _step(
    arch: ArchConfig,
    model: ModelSpec,
    batch: BatchComposition,
    tp: int,
    cycles_fn: CyclesFn,
    ep_moe: ExpertShard | None = None,
    shared: bool = False,
) -> StepTime:
    """See `hda_step_time` (`shared`: its `memo=False`)."""
    parts = _step_parts(model, batch, tp)
    if ep_moe is not None:  # expert parallelism: the most loaded device's experts
        parts = ep_moe.apply(parts)
    layers = model.num_layers
    gemm_cycles = cycles_fn
    rate = arch.macs_per_fp16_mac(model.gemm_precision.value)
    if rate > 1:  # weight GEMMs at the arrays' packed rate of their MAC format
        gemm_cycles = int8_packed_cycles(cycles_fn, rate)
    block = _gemm_block(arch, parts.gemms, gemm_cycles, shared)
    busy = list(block.busy)
    bound_s = dict(block.bound_s)
    chain = block.chain_s
    dram_bytes = block.dram_bytes

    attention_s = 0.0
    sram_bytes, noc_bytes = block.sram_bytes, block.noc_bytes
    # One group per kind of attention layer (full; sliding-window), each timed per layer and
    # repeated over its layers.
    for pre_op, dec_op, seen, repeat in parts.attention_groups(batch):
        t = attention_time(arch, pre_op, dec_op, seen, parts.layout.ab, cycles_fn, shared)
        # Softmax (the vector work not fused with a GEMM), row-pipelined over K/V blocks.
        scores = sum(dict(op.extra)["score_elements"] for op in (pre_op, dec_op) if op is not None)
        softmax_ops = 5 * scores
        softmax_s = vector_s(arch, softmax_ops)
        exposed = pipelined_exposed_s(softmax_s, t.seconds)
        busy[VEC] += softmax_s * repeat
        chain += (t.seconds + exposed) * repeat
        dram_bytes += t.dram_bytes * repeat
        sram_bytes += (t.sram_bytes + 2.0 * softmax_ops * parts.layout.ab) * repeat
        noc_bytes += t.noc_bytes * repeat
        busy = [x + b * repeat for x, b in zip(busy, t.busy, strict=True)]
        bound_s[t.bound] = bound_s.get(t.bound, 0.0) + t.seconds * repeat
        if exposed > 0:
            bound_s["vector"] = bound_s.get("vector", 0.0) + exposed * repeat
        attention_s += (t.seconds + exposed) * repeat / layers

    p2p_bytes = 0.0
    if tp > 1:
        per_layer = dict(block.per_layer)
        producers = LayerProducers(
            qkv_s=per_layer.get("qkv_proj", 0.0),
            attention_s=attention_s,
            o_proj_s=per_layer.get("o_proj", 0.0),
            mlp_up_s=per_layer.get("mlp_up", 0.0)
            + per_layer.get("moe_up", 0.0)
            + per_layer.get("shared_up", 0.0),
            mlp_down_s=per_layer.get("mlp_down", 0.0)
            + per_layer.get("moe_down", 0.0)
            + per_layer.get("shared_down", 0.0),
        )
        cost = tp_sync_cost(arch, model, parts.tokens, tp, producers)
        chain += cost.exposed_s * layers
        busy[P2P] += cost.busy_s * layers
        bound_s["p2p"] = bound_s.get("p2p", 0.0) + cost.exposed_s * layers
        # ASSUMPTION (energy counter only): the link moves its bandwidth per direction while
        # busy (p2p_gbps is bidirectional; ring collectives send one direction per step).
        p2p_bytes = cost.busy_s * layers * arch.p2p_gbps / 2 * 1e9

    bound = max(bound_s, key=bound_s.__getitem__) if bound_s else "vector"
    return StepTime(
        seconds=chain,
        bound=bound,
        busy_s=MappingProxyType(dict(zip(UNIT_NAMES, busy, strict=True))),
        dram_bytes=dram_bytes,
        flops=float(parts.total_flops),
        sram_bytes=sram_bytes,
        noc_bytes=noc_bytes,
        p2p_bytes=p2p_bytes,
    )


def min_p2p_gbps_to_hide(
    arch: ArchConfig, model: ModelSpec, batch: BatchComposition, tp: int
) -> float:
    """Smallest `p2p_gbps` (bidirectional aggregate per device, GB/s) at which the HDA step
    of `batch` on a `tp`-way group hides its synchronisation (within `tp.HIDE_TOLERANCE`)."""
    return bisect_bandwidth_to_hide(lambda a: hda_step_time(a, model, batch, tp).seconds, arch)
