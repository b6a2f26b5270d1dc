"""Tensor-parallel synchronisation sweep (ADOR paper §IV-D, §V-C, Fig. 7-(c), Fig. 13).

For each TP degree and each `tp_sync` method: the step time of one HDA step at the design's own
`p2p_gbps`, the same step over an infinitely fast link, the smallest `p2p_gbps` at which the
synchronisation is hidden (step within `tp.HIDE_TOLERANCE` of the infinitely fast link, by
bisection: `hda.min_p2p_gbps_to_hide`) and the bytes each device sends per layer and token
(the volume of Fig. 7-(c)). The per-layer collectives are those of `perf/tp.py`; nothing here
models a collective of its own.

Volumes per layer and token, per device (X = elements × bytes per activation; ring
collectives): all-gather (p−1)/p·(q + h + ffn·k + h); all-reduce 2(p−1)/p·(qkv + h + up + h);
Megatron 2 · 2(p−1)/p·h.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ador_opt.errors import InputError
from ador_opt.hardware.arch import ArchConfig, TpSync
from ador_opt.models.ops import BatchComposition
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.hda import hda_step_time, min_p2p_gbps_to_hide
from ador_opt.perf.tp import HIDE_TOLERANCE

MAX_SWEEP_TP = 64  # a sweep point is a full bisection (≈ 45 step evaluations); keep it bounded


@dataclass(frozen=True, slots=True)
class TpSyncPoint:
    """One (tp, sync) point of the sweep. Times in seconds, bandwidths in GB/s
    (bidirectional aggregate per device, as `p2p_gbps`)."""

    tp: int
    sync: TpSync
    step_s: float  # at the design's p2p_gbps
    ideal_step_s: float  # over an infinitely fast link (latencies kept)
    min_p2p_gbps_to_hide: float
    bytes_per_token_layer: float  # sent per device per layer and token
    best_at_design_bw: bool = False  # fastest sync at this tp and the design's p2p_gbps

    @property
    def exposed_fraction(self) -> float:
        """Share of the step spent on exposed synchronisation at the design's bandwidth."""
        return 1.0 - self.ideal_step_s / self.step_s if self.step_s > 0 else 0.0


def sync_bytes_per_token_layer(model: ModelSpec, sync: TpSync, tp: int) -> float:
    """Bytes one device sends per layer and token for `sync` on a `tp`-way ring."""
    if tp <= 1:
        return 0.0
    ab = model.bytes_per_activation
    h = model.hidden_size
    share = (tp - 1) / tp
    if sync is TpSync.ALL_GATHER:
        widths = model.q_size + h + model.ffn_size * model.experts_per_token + h
        return share * widths * ab
    if sync is TpSync.ALL_REDUCE:
        qkv = model.q_size + 2 * model.kv_size
        up = (2 if model.gated_mlp else 1) * model.ffn_size * model.experts_per_token
        return 2.0 * share * (qkv + h + up + h) * ab
    return 2.0 * 2.0 * share * h * ab  # Megatron: two all-reduces of the hidden state


def tp_sync_sweep(
    arch: ArchConfig,
    model: ModelSpec,
    batch: BatchComposition,
    tp_values: Sequence[int],
    syncs: Sequence[TpSync] = tuple(TpSync),
) -> list[TpSyncPoint]:
    """Every (tp, sync) point, tp-major. Raises `InputError` for a TP degree the model cannot
    be split into (heads) or outside 2…MAX_SWEEP_TP."""
    if not tp_values:
        raise InputError("give at least one TP degree")
    if not syncs:
        raise InputError("give at least one synchronisation method")
    for tp in tp_values:
        if not 2 <= tp <= MAX_SWEEP_TP:
            raise InputError(f"TP degree must be in 2…{MAX_SWEEP_TP}, got {tp}")
        if model.num_heads % tp:
            raise InputError(
                f"{model.name} has {model.num_heads} attention heads; TP {tp} does not divide them"
            )
    points: list[TpSyncPoint] = []
    for tp in tp_values:
        row: list[TpSyncPoint] = []
        for sync in syncs:
            a = arch.replace(tp_sync=sync, devices=tp, tp=tp)
            row.append(
                TpSyncPoint(
                    tp=tp,
                    sync=sync,
                    step_s=hda_step_time(a, model, batch, tp).seconds,
                    ideal_step_s=hda_step_time(a.replace(p2p_gbps=1e12), model, batch, tp).seconds,
                    min_p2p_gbps_to_hide=min_p2p_gbps_to_hide(a, model, batch, tp),
                    bytes_per_token_layer=sync_bytes_per_token_layer(model, sync, tp),
                )
            )
        best = min(row, key=lambda p: p.step_s)
        points.extend(
            TpSyncPoint(
                p.tp,
                p.sync,
                p.step_s,
                p.ideal_step_s,
                p.min_p2p_gbps_to_hide,
                p.bytes_per_token_layer,
                p is best,
            )
            for p in row
        )
    return points


def sweep_document(
    arch: ArchConfig, model: ModelSpec, batch: BatchComposition, points: Sequence[TpSyncPoint]
) -> dict[str, object]:
    """The JSON document of a sweep (`ador-opt tp-sync --json`)."""
    return {
        "model": model.name,
        "hardware": arch.name,
        "p2p_type": arch.p2p_type.value,
        "p2p_gbps": arch.p2p_gbps,
        "decode_tokens": batch.decode_count,
        "prefill_tokens": batch.prefill_tokens,
        "hide_tolerance": HIDE_TOLERANCE,
        "points": [
            {
                "tp": p.tp,
                "tp_sync": p.sync.value,
                "step_ms": p.step_s * 1e3,
                "ideal_step_ms": p.ideal_step_s * 1e3,
                "exposed_fraction": p.exposed_fraction,
                "min_p2p_gbps_to_hide": p.min_p2p_gbps_to_hide,
                "bytes_per_token_layer": p.bytes_per_token_layer,
                "best_at_design_bw": p.best_at_design_bw,
            }
            for p in points
        ],
    }
