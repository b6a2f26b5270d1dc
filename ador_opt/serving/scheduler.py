"""Batching policies: what the next step of a replica processes.

* `sarathi` — Sarathi-Serve stall-free batching (Agrawal et al., OSDI'24, Algorithm 3): a token
  budget per step (`chunk_size`) is filled with every running decode first, then the next chunk
  of prompts already being prefilled, then chunks of new requests (FCFS, while KV blocks and the
  batch limit allow). Decodes never stall; long prompts are split into chunks.
* `vllm` — vLLM v0 default (prefill-first iteration-level batching, no chunking): when requests
  wait and fit, the step is prefill-only with as many whole prompts as fit in
  `max_prefill_tokens`; otherwise a decode step of every running request. Decodes stall during
  prefills (the "generation stalls" Sarathi-Serve measures).
* `hybrid` — Orca / TensorRT-LLM in-flight batching without chunked context: decodes plus whole
  new prompts while they fit in the token budget (a prompt larger than the budget runs alone).

All admit FCFS with head-of-line blocking and allocate the whole prompt's KV blocks at
admission; a decode step that lacks blocks preempts the most recently admitted request
(recompute). Policies are looked up in a registry that refuses duplicates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum

from ador_opt.errors import InputError
from ador_opt.perf.speculative import SpeculativeConfig
from ador_opt.registry import Registry
from ador_opt.serving.kv import DEFAULT_BLOCK_TOKENS, DEFAULT_WATERMARK
from ador_opt.serving.replica import Replica
from ador_opt.serving.request import Request
from ador_opt.serving.router import ROUTERS
from ador_opt.serving.stepcache import StepGrid

# Sarathi-Serve evaluation: token budget 512 under strict SLOs, 2048 under relaxed ones (§5.1).
SARATHI_STRICT_BUDGET = 512
SARATHI_RELAXED_BUDGET = 2048
# vLLM's default `max_num_seqs` (running requests per replica).
VLLM_MAX_NUM_SEQS = 256
# vLLM v0 SchedulerConfig without chunked prefill: max_num_batched_tokens = max(max_model_len,
# 2048). Used when `max_prefill_tokens` is None.
VLLM_MIN_BATCHED_TOKENS = 2048


class Policy(StrEnum):
    SARATHI = "sarathi"
    VLLM = "vllm"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """How each replica batches requests, and how many replicas serve."""

    policy: Policy = field(default=Policy.SARATHI, metadata={"help": "sarathi | vllm | hybrid"})
    chunk_size: int = field(
        default=SARATHI_STRICT_BUDGET,
        metadata={"help": "token budget of one step (decodes + prefill tokens); sarathi/hybrid"},
    )
    max_batch: int = field(
        default=VLLM_MAX_NUM_SEQS, metadata={"help": "most requests running on a replica"}
    )
    max_prefill_tokens: int | None = field(
        default=None,
        metadata={"help": "vllm: prompt tokens of one prefill step (None: max(context, 2048))"},
    )
    block_tokens: int = field(
        default=DEFAULT_BLOCK_TOKENS, metadata={"help": "KV-cache block size (tokens)"}
    )
    watermark: float = field(
        default=DEFAULT_WATERMARK,
        metadata={"help": "fraction of KV blocks kept free at admission"},
    )
    kv_tokens: int | None = field(
        default=None,
        metadata={"help": "KV capacity per replica in tokens (None: DRAM left after weights)"},
    )
    replicas: int = field(default=1, metadata={"help": "replicas (TP groups) behind the router"})
    router: str = field(default="round-robin", metadata={"help": "round-robin | least-loaded"})
    step_grid: StepGrid = field(
        default_factory=StepGrid,
        metadata={"help": "resolution of the memoised step shapes (stepcache.StepGrid)"},
    )
    speculative: SpeculativeConfig | None = field(
        default=None,
        metadata={"help": "speculative decoding of decode-only steps (perf/speculative.py)"},
    )

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "policy", Policy(self.policy))
        except ValueError:
            known = ", ".join(p.value for p in Policy)
            raise InputError(f"unknown scheduler {self.policy!r}; known: {known}") from None
        for name in ("chunk_size", "max_batch", "block_tokens", "replicas"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise InputError(f"scheduler: {name} must be a positive integer, got {value!r}")
        for name in ("max_prefill_tokens", "kv_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise InputError(f"scheduler: {name} must be a positive integer, got {value!r}")
        if not 0 <= self.watermark < 1:
            raise InputError(f"scheduler: watermark must be in [0, 1), got {self.watermark}")
        ROUTERS[self.router]  # an unknown router is an InputError naming the known ones

    def replace(self, **changes: object) -> SchedulerConfig:
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["step_grid"] = asdict(self.step_grid)
        out["speculative"] = None if self.speculative is None else self.speculative.to_dict()
        return out


# A policy fills the replica's next step: returns (prefill chunks, decode?) or None when idle.
Step = tuple[list[tuple[Request, int]], bool]
PolicyFn = Callable[[Replica, SchedulerConfig, int, float], Step | None]


def _admit_chunks(
    r: Replica,
    cfg: SchedulerConfig,
    budget: int,
    now: float,
    chunks: list[tuple[Request, int]],
    whole: bool,
) -> None:
    """Admit new requests FCFS into `chunks` while budget, KV and the batch limit allow."""
    while budget > 0 and r.waiting and len(r.running) < cfg.max_batch:
        head = r.waiting[0]
        if whole and head.prompt_len > budget and (chunks or r.n_dec):
            break
        if not r.kv.can_admit(head.prompt_len):
            break
        req = r.admit(now)
        take = req.prompt_len if whole else min(req.prompt_len, budget)
        chunks.append((req, take))
        budget -= take


def sarathi_step(r: Replica, cfg: SchedulerConfig, max_context: int, now: float) -> Step | None:
    if r.n_dec:
        r.reserve_decode_blocks(now)
    budget = cfg.chunk_size - r.n_dec
    chunks: list[tuple[Request, int]] = []
    for req in r.prefilling:
        if budget <= 0:
            break
        take = min(req.prompt_len - req.prefilled, budget)
        chunks.append((req, take))
        budget -= take
    _admit_chunks(r, cfg, budget, now, chunks, whole=False)
    if not chunks and not r.n_dec:
        return None
    return chunks, r.n_dec > 0


def hybrid_step(r: Replica, cfg: SchedulerConfig, max_context: int, now: float) -> Step | None:
    if r.n_dec:
        r.reserve_decode_blocks(now)
    chunks: list[tuple[Request, int]] = []
    _admit_chunks(r, cfg, cfg.chunk_size - r.n_dec, now, chunks, whole=True)
    if not chunks and not r.n_dec:
        return None
    return chunks, r.n_dec > 0


def vllm_step(r: Replica, cfg: SchedulerConfig, max_context: int, now: float) -> Step | None:
    limit = cfg.max_prefill_tokens or max(max_context, VLLM_MIN_BATCHED_TOKENS)
    chunks: list[tuple[Request, int]] = []
    tokens = 0
    while r.waiting and len(r.running) < cfg.max_batch:
        head = r.waiting[0]
        if tokens + head.prompt_len > limit and chunks:
            break
        if not r.kv.can_admit(head.prompt_len):
            break
        req = r.admit(now)
        chunks.append((req, req.prompt_len))
        tokens += req.prompt_len
    if chunks:
        return chunks, False
    if r.n_dec:
        r.reserve_decode_blocks(now)
        if r.n_dec:
            return [], True
    return None


POLICIES: Registry[PolicyFn] = Registry(
    "scheduler",
    {
        Policy.SARATHI.value: sarathi_step,
        Policy.VLLM.value: vllm_step,
        Policy.HYBRID.value: hybrid_step,
    },
)
