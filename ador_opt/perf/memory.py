"""Memory rules (ADOR paper §IV-B, §V-B): what must fit where, and the KV-cache budget.

* DRAM per device holds the weight shard and the KV cache; what is left after the weights is
  the KV budget (GPUs: an engine keeps a fraction of the free memory, see below).
* Local SRAM of each core must hold at least one token's activations of a layer (else every
  GEMM spills activations to DRAM; the design is rejected as infeasible).
* The LM head's logits of a step (rows × vocab/P per core) stay in local SRAM for sampling;
  the excess round-trips through DRAM (`logits_spill_bytes`, Fig. 12: LM head × batch).
"""

from __future__ import annotations

from dataclasses import dataclass

from ador_opt.hardware.arch import ArchConfig
from ador_opt.hardware.presets import Hardware
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.expert import expert_weight_bytes_per_device

GIB = 1024**3
# TensorRT-LLM gives the KV cache 90 % of the memory free after weights by default
# (`kv_cache_free_gpu_mem_fraction` = 0.9; shared/reference/README: "about 90–95 %").
GPU_KV_FREE_MEMORY_FRACTION = 0.90
# CUDA context, cuBLAS workspaces and activation buffers held outside the KV pool (≈ 2 GiB is
# typical of vLLM/TensorRT-LLM start-up logs for 8B–70B models). Assumption; docs/model.md.
GPU_RUNTIME_RESERVE_GIB = 2.0


def _kv_share(model: ModelSpec, tp: int) -> float:
    """Fraction of a token's KV one device of the TP group keeps: KV heads split across the
    group (replicated when there are fewer KV heads than devices); MLA's latent is one
    vector per token that every device keeps whole."""
    if model.is_mla:
        return 1.0
    return max(1, model.num_kv_heads // tp) / model.num_kv_heads


def kv_bytes_per_token_per_device(model: ModelSpec, tp: int, pp: int = 1) -> float:
    """KV bytes one token occupies on one device in the full-attention layers (with pipeline
    parallelism only the stage's L/pp layers)."""
    return model.kv_bytes_per_token * _kv_share(model, tp) / pp


def kv_window_bytes_per_request_per_device(model: ModelSpec, tp: int, pp: int = 1) -> float:
    """Most KV bytes one request holds on one device in the sliding-window layers (its last
    `sliding_window` tokens; 0 without windowed layers; the stage's share under PP)."""
    window = model.sliding_window if model.sliding_window_layers else 0
    return window * model.kv_window_bytes_per_token * _kv_share(model, tp) / pp


def window_reserve_tokens(model: ModelSpec, tp: int, requests: int) -> int:
    """Full-attention KV tokens whose bytes equal the window KV of `requests` requests — what
    a token-counting KV pool sets aside for the windowed layers (docs/model.md)."""
    per_request = kv_window_bytes_per_request_per_device(model, tp)
    if not per_request:
        return 0
    return -(-int(requests * per_request) // max(1, int(kv_bytes_per_token_per_device(model, tp))))


def weight_bytes_per_device(model: ModelSpec, tp: int, ep: int = 1, pp: int = 1) -> float:
    """Weight bytes on the fullest device of a tp × ep × pp replica: its L/pp layers — dense
    weights split tp ways, routed experts split ep · tp ways — plus the embedding (first
    stage) or the LM head and final norm (last stage), whichever is larger, split tp ways.
    Equals `model.weight_bytes / tp` when ep = pp = 1."""
    if ep == 1 and pp == 1:
        return model.weight_bytes / tp
    wb = model.bytes_per_weight
    experts = expert_weight_bytes_per_device(model, 1, 1)
    vocab = model.vocab_size * model.hidden_size * wb
    ends = (model.embedding_params + model.lm_head_params) * wb  # norms stay with the layers
    layers_dense = model.weight_bytes - experts - ends
    if pp > 1:  # first stage: embedding; last: LM head (the embedding when tied) + final norm
        embedding = model.embedding_params * wb
        ends = max(embedding, ends - embedding + (vocab if model.tied_embeddings else 0))
    return (layers_dense / pp + ends) / tp + experts / (pp * ep * tp)


def _ep_pp(hw: Hardware, ep: int | None, pp: int | None) -> tuple[int, int]:
    """`ep`/`pp` when given, else the HDA design's own fields (1 on GPUs)."""
    own = hw.arch if hw.gpu is None else None
    return (
        ep if ep is not None else (own.ep if own is not None else 1),
        pp if pp is not None else (own.pp if own is not None else 1),
    )


def dram_bytes_per_device(hw: Hardware) -> float:
    if hw.gpu is not None:
        return hw.gpu.hbm_gib * GIB
    assert hw.arch is not None
    return hw.arch.dram_gib * GIB


def kv_budget_bytes_per_device(
    hw: Hardware, model: ModelSpec, tp: int, ep: int | None = None, pp: int | None = None
) -> float:
    """Bytes of KV cache one device can hold (≤ 0 when the weights do not fit)."""
    e, p = _ep_pp(hw, ep, pp)
    free = dram_bytes_per_device(hw) - weight_bytes_per_device(model, tp, e, p)
    if hw.gpu is not None:
        free = (free - GPU_RUNTIME_RESERVE_GIB * GIB) * GPU_KV_FREE_MEMORY_FRACTION
    return free


def max_kv_tokens(
    hw: Hardware, model: ModelSpec, tp: int, ep: int | None = None, pp: int | None = None
) -> int:
    """Tokens of KV cache a replica can hold (0 when the weights do not fit): a TP group's,
    × ep attention replicas (each holds the KV of its own requests), each device holding
    its stage's layers."""
    e, p = _ep_pp(hw, ep, pp)
    budget = kv_budget_bytes_per_device(hw, model, tp, e, p)
    return e * max(0, int(budget // kv_bytes_per_token_per_device(model, tp, p)))


def local_sram_need_kib(arch: ArchConfig, model: ModelSpec, tp: int) -> float:
    """Local SRAM one core needs to hold one token's activations of a layer: the widest input
    row it reads plus its share of the widest output row (weights are split across cores)."""
    ab = model.bytes_per_activation
    widest_in = max(model.hidden_size, model.ffn_size // tp)
    up = (2 if model.gated_mlp else 1) * model.ffn_size // tp
    qkv = (model.num_heads + 2 * model.num_kv_heads) * model.head_dim // tp
    widest_out = max(up, qkv, model.vocab_size // tp)
    return (widest_in + widest_out / arch.core_count) * ab / 1024


def logits_spill_bytes(arch: ArchConfig, rows: int, vocab: int, bytes_per_act: int) -> float:
    """DRAM bytes (written + read back) of the LM head's logits that do not fit in local SRAM
    (paper §V-B / Fig. 12: the LM head's local-memory need is vocab × batch). Each core keeps
    the logits of its vocab slice (vocab/P per row) for the softmax/sampling that follows;
    what exceeds its local SRAM goes to DRAM and back."""
    per_core = rows * -(-vocab // arch.core_count) * bytes_per_act
    excess = per_core - arch.local_sram_kib * 1024
    return 2.0 * excess * arch.core_count if excess > 0 else 0.0


@dataclass(frozen=True, slots=True)
class MemoryCheck:
    """Each value ≤ 0 means satisfied (Optuna's constraint convention); `reason` explains."""

    weights_fit: float  # weight shard + one request's KV − DRAM, bytes
    sram_holds_token: float  # needed − available local SRAM, KiB
    reason: str

    @property
    def ok(self) -> bool:
        return self.weights_fit <= 0 and self.sram_holds_token <= 0


def check_memory(
    hw: Hardware,
    model: ModelSpec,
    tp: int,
    kv_tokens: int = 0,
    requests: int = 0,
    ep: int | None = None,
    pp: int | None = None,
) -> MemoryCheck:
    """Does the model (and `kv_tokens` tokens of KV per replica, spread over `requests`
    requests whose sliding-window layers hold a full window each) fit one device of `hw`?
    With expert parallelism the replica's requests (and their KV) are spread over ep
    attention replicas; `ep`/`pp` default to the HDA design's own fields."""
    e, p = _ep_pp(hw, ep, pp)
    need = (
        weight_bytes_per_device(model, tp, e, p)
        + -(-kv_tokens // e) * kv_bytes_per_token_per_device(model, tp, p)
        + -(-requests // e) * kv_window_bytes_per_request_per_device(model, tp, p)
    )
    have = dram_bytes_per_device(hw)
    if hw.gpu is not None:
        have -= GPU_RUNTIME_RESERVE_GIB * GIB
    weights_fit = need - have
    sram = 0.0
    if hw.arch is not None and hw.gpu is None:
        sram = local_sram_need_kib(hw.arch, model, tp) - hw.arch.local_sram_kib
    reasons = []
    if weights_fit > 0:
        reasons.append(
            f"weights + KV need {need / GIB:.1f} GiB per device, DRAM has {have / GIB:.1f} GiB"
        )
    if sram > 0:
        reasons.append(f"local SRAM too small for one token's activations (short {sram:.0f} KiB)")
    return MemoryCheck(weights_fit, sram, "; ".join(reasons))
