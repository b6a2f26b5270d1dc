"""Speculative decoding: a draft model or a multi-token-prediction (MTP) head proposes `k`
tokens, the target model verifies them in one multi-token step (docs/model.md "Speculative
decoding").

Acceptance. `acceptance` holds the conditional probability a_i that proposed token i is
accepted given that tokens 1..i−1 were (one value: the same a for every position). Token i
survives with the prefix probability P_i = a_1 · … · a_i, and every verification step emits
the accepted prefix plus one token of its own (the target's correction or bonus token), so the
expected tokens per step are

    τ = 1 + Σ_{i=1..k} P_i          (i.i.d. a: (1 − a^{k+1}) / (1 − a), Leviathan et al. 2023)

Cost of one verification step of a batch of B sequences at context c:

* the target model runs all k+1 query positions of every sequence at once — one chunk of
  k+1 tokens per sequence after its c cached tokens (K/V read once per sequence, causal among
  the new positions), with the LM head on every position (`BatchComposition.extra_logits`);
* the draft proposes autoregressively: k decode steps of the draft model for the B sequences
  (a draft model), or k steps of the MTP head (DeepSeek-V3's MTP module: one transformer block
  of the target's shape with the shared embedding and output head, run once per proposed
  token) — timed as a one-layer copy of the target;
* per emitted token: (verify + draft) / τ. The static evaluator's TBT is that quotient; the
  serving simulator advances a decoding request by τ tokens per verification step in
  expectation (the step is spread over τ one-token rounds, so KV grows by τ per step).

The prompt is prefilled by the draft (or the MTP head) as well, added to TTFT; the proposer's
weights and KV count against the device memory (`proposer_bytes_per_device`). Acceptance does
not change the cost of a step, only τ, so a higher acceptance never slows decoding.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ador_opt.errors import InputError
from ador_opt.models.ops import BatchComposition, PrefillChunk
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.memory import kv_bytes_per_token_per_device, weight_bytes_per_device
from ador_opt.perf.result import StepTime, add_steps, scale_step

# Most proposed tokens per step accepted as input: published systems use 1–8 (EAGLE-2 up to 8
# in its tree, Medusa 5 heads, DeepSeek-V3 1 MTP module); 16 bounds the verify width.
MAX_DRAFT_TOKENS = 16
MTP = "mtp"

StepFn = Callable[[BatchComposition], StepTime]


@dataclass(frozen=True, slots=True)
class SpeculativeConfig:
    """`k` proposed tokens per verification step, `acceptance` per position (see the module
    docstring; one value or k values in [0, 1]), proposed by `draft` (a draft model) or, when
    `draft` is None, by an MTP head of the target model."""

    k: int
    acceptance: tuple[float, ...]
    draft: ModelSpec | None = None

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or not self.k >= 1:
            raise InputError(f"draft tokens must be a positive integer, got {self.k!r}")
        if self.k > MAX_DRAFT_TOKENS:
            raise InputError(f"draft tokens must be at most {MAX_DRAFT_TOKENS}, got {self.k}")
        acc = tuple(self.acceptance)
        if len(acc) not in (1, self.k):
            raise InputError(
                f"acceptance: give one rate or one per draft token ({self.k}), got {len(acc)}"
            )
        for a in acc:
            if isinstance(a, bool) or not isinstance(a, int | float) or not 0 <= a <= 1:
                raise InputError(f"acceptance rates must be numbers in [0, 1], got {a!r}")
        object.__setattr__(self, "acceptance", tuple(float(a) for a in acc))

    @property
    def method(self) -> str:
        return MTP if self.draft is None else "draft-model"

    @property
    def per_position(self) -> tuple[float, ...]:
        acc = self.acceptance
        return acc * self.k if len(acc) == 1 else acc

    @property
    def prefix_probabilities(self) -> tuple[float, ...]:
        """P_i: probability that proposed tokens 1..i are all accepted."""
        out, p = [], 1.0
        for a in self.per_position:
            p *= a
            out.append(p)
        return tuple(out)

    @property
    def expected_tokens(self) -> float:
        """τ: expected tokens emitted per verification step (accepted prefix + 1)."""
        return 1.0 + math.fsum(self.prefix_probabilities)

    def proposer(self, target: ModelSpec) -> ModelSpec:
        """The model that proposes: the draft, or the target's MTP head (one layer)."""
        if self.draft is not None:
            return self.draft
        return mtp_head(target)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "draft": None if self.draft is None else self.draft.name,
            "draft_tokens": self.k,
            "acceptance": list(self.acceptance),
            "expected_tokens_per_step": self.expected_tokens,
        }


def proposer_tp(proposer: ModelSpec, tp: int) -> int:
    """TP degree the proposer runs at on a `tp`-way group: the same when its heads split that
    way, else 1 (replicated on every device of the group)."""
    return tp if proposer.num_heads % tp == 0 else 1


def proposer_bytes_per_device(
    spec: SpeculativeConfig, target: ModelSpec, tp: int
) -> tuple[float, float]:
    """(weight bytes, KV bytes per token) the proposer adds on one device of a `tp`-way group:
    a draft model's own weights and KV at its TP degree; an MTP head's one extra block (its
    embedding and output head are the target's) and that block's KV."""
    if spec.draft is None:
        weights = target.layer_params * target.bytes_per_weight / tp
        return weights, kv_bytes_per_token_per_device(mtp_head(target), tp)
    dtp = proposer_tp(spec.draft, tp)
    return weight_bytes_per_device(spec.draft, dtp), kv_bytes_per_token_per_device(spec.draft, dtp)


def mtp_head(model: ModelSpec) -> ModelSpec:
    """A DeepSeek-V3-style MTP module of `model`: one transformer block of the same shape with
    the shared embedding and output head (timed as a one-layer copy)."""
    # DeepSeek-V3's MTP block is a MoE block with full attention: no dense or windowed layers.
    return dataclasses.replace(
        model, name=f"{model.name}-mtp", num_layers=1, dense_layers=0, sliding_window_layers=0
    )


def parse_speculative(
    draft: str | None,
    draft_tokens: int | None,
    acceptance: str | None,
    load: Callable[[str], ModelSpec],
    like: ModelSpec,
) -> SpeculativeConfig | None:
    """The command-line form: `--draft MODEL|mtp --draft-tokens K --acceptance A[,A2,...]`
    (all three, or none). `load` resolves a model name; the draft takes `like`'s formats."""
    given = [x is not None for x in (draft, draft_tokens, acceptance)]
    if not any(given):
        return None
    if not all(given):
        raise InputError("speculative decoding needs --draft, --draft-tokens and --acceptance")
    assert draft is not None and draft_tokens is not None and acceptance is not None
    try:
        rates = tuple(float(part) for part in acceptance.split(",") if part.strip())
    except ValueError:
        raise InputError(
            f"--acceptance: expected a rate or comma-separated rates, got {acceptance!r}"
        ) from None
    proposer = None
    if draft.strip().lower() != MTP:
        proposer = load(draft).with_formats(
            like.precision, like.activation_precision, like.kv_format
        )
    return SpeculativeConfig(draft_tokens, rates, proposer)


def verify_batch(batch: int, context: int, k: int) -> BatchComposition:
    """The target's verification step: `batch` sequences of k+1 query tokens after `context`
    cached tokens each, the LM head on every position."""
    chunk = PrefillChunk(k + 1, context, True)
    return BatchComposition(prefill=(chunk,) * batch, extra_logits=batch * k)


def verification_step(
    target_step: StepFn, draft_step: StepFn, spec: SpeculativeConfig, batch: int, context: int
) -> StepTime:
    """One whole speculative step (k draft proposals, then the target's verification) of
    `batch` sequences at `context` cached tokens."""
    total = target_step(verify_batch(batch, context, spec.k))
    for i in range(spec.k):
        total = add_steps(total, draft_step(BatchComposition.decode_only(batch, context + i)))
    return total


def per_token_step(
    target_step: StepFn, draft_step: StepFn, spec: SpeculativeConfig, batch: int, context: int
) -> StepTime:
    """The cost of one emitted token per sequence: a speculative step divided by τ."""
    step = verification_step(target_step, draft_step, spec, batch, context)
    return scale_step(step, 1.0 / spec.expected_tokens)


def speculative_step_fn(
    target_step: StepFn, draft_step: StepFn, spec: SpeculativeConfig
) -> StepFn:
    """A step function for the static evaluator: prefill steps run the target and the proposer
    (the draft prefills the prompt too); a decode-only step of B tokens at mean context c costs
    one emitted token per sequence (`per_token_step`)."""

    def step(b: BatchComposition) -> StepTime:
        if b.prefill:
            return add_steps(target_step(b), draft_step(b))
        if b.decode_count == 0:
            return target_step(b)
        context = max(0, b.decode_context_sum // b.decode_count - 1)
        return per_token_step(target_step, draft_step, spec, b.decode_count, context)

    return step
