"""Expert parallelism: routed experts sharded over `ep` devices (docs/parallelism.md).

Under top-k routing of T tokens over E experts placed E/ep to a device, the device that
receives the most (token, expert) pairs sets the time of the expert GEMMs of a MoE layer.

Expected maximum load (`expected_max_load`). A token picks k distinct experts uniformly; the
number of them on one device (n = E/ep experts) is hypergeometric with mean k·n/E = k/ep and
variance v₁ = k·(n/E)·(1 − n/E)·(E − k)/(E − 1) (draws without replacement). Over T independent
tokens a device's load L_d has mean μ = T·k/ep and variance T·v₁, and the loads of the ep
devices sum to T·k, so they are exchangeable with correlation −1/(ep − 1). For Gaussian loads
with that correlation L_d = μ + σ·√(ep/(ep−1))·(Z_d − Z̄) with Z iid N(0, 1), hence exactly

    E[max_d L_d] ≈ μ + σ · √(ep/(ep − 1)) · e(ep),   e(n) = E[max of n iid N(0, 1)]

(the normal approximation of the multinomial "balls into bins" maximum, e.g. Raab & Steger,
"Balls into bins — a simple and tight analysis", RANDOM 1998, for the regime T·k ≫ ep; e(n) is
integrated numerically, e(2) = 1/√π, e(8) = 1.4236). The result is clipped to what is possible:
at least ⌈μ⌉ (pigeonhole: the loads sum to T·k) and at most T·min(k, n) (a token sends at most
min(k, n) pairs to one device). tests/test_parallel.py checks it against a seeded Monte-Carlo
simulation of the routing (within 8 % on the cases tried, exact for one token).

The expert GEMMs of the most loaded device (`ep_gemm_timing`): its n local experts, of which
n·(1 − (1 − k/E)^T) are hit on average (the same expectation `models/ops.py` uses for all E),
share the maximum load evenly, as one grouped GEMM per layer like models/ops.py's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ador_opt.models.ops import GemmTiming, StepParts
from ador_opt.models.spec import ModelSpec


@lru_cache(maxsize=1024)
def expected_max_std_normal(n: int) -> float:
    """E[max of `n` iid standard normals] = ∫ x · n φ(x) Φ(x)^(n−1) dx (trapezoid rule on
    [−12, 12], 24,001 points; e(1) = 0, e(2) = 1/√π)."""
    if n <= 1:
        return 0.0
    x = np.linspace(-12.0, 12.0, 24001)
    phi = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))
    return float(np.trapezoid(x * n * phi * cdf ** (n - 1), x))


@lru_cache(maxsize=65536)
def expected_max_load(tokens: int, experts: int, top_k: int, ep: int) -> float:
    """Expected (token, expert) pairs on the most loaded of `ep` devices when `tokens` tokens
    each route to `top_k` of `experts` experts (E/ep per device); see the module docstring."""
    if ep <= 1 or tokens <= 0:
        return float(tokens * top_k)
    local = experts / ep
    mean = tokens * top_k / ep
    share = local / experts
    v1 = top_k * share * (1.0 - share) * (experts - top_k) / max(experts - 1, 1)
    sigma = math.sqrt(tokens * v1)
    approx = mean + sigma * math.sqrt(ep / (ep - 1)) * expected_max_std_normal(ep)
    most = tokens * min(top_k, local)
    return min(most, max(math.ceil(mean - 1e-9), approx))


def expert_imbalance(tokens: int, experts: int, top_k: int, ep: int) -> float:
    """Expected maximum load / mean load (1 = perfectly balanced)."""
    if ep <= 1 or tokens <= 0:
        return 1.0
    return expected_max_load(tokens, experts, top_k, ep) / (tokens * top_k / ep)


def moe_layers(model: ModelSpec) -> int:
    """Layers whose MLP is a mixture of experts (all of them unless the model says less)."""
    if model.num_experts <= 1:
        return 0
    return int(getattr(model, "moe_layers", model.num_layers))


@dataclass(frozen=True, slots=True)
class ExpertShard:
    """How the routed experts of a step are placed: over `ep` devices, receiving the tokens
    of `tokens` tokens (the whole EP group's step, all attention replicas together)."""

    ep: int
    tokens: int

    def apply(self, parts: StepParts) -> StepParts:
        """`parts` with its routed-expert GEMMs those of the most loaded device."""
        gemms = ep_gemm_timing(parts.gemms, self.ep, self.tokens)
        return replace(parts, gemms=gemms)


@lru_cache(maxsize=16384)
def ep_gemm_timing(gemms: GemmTiming, ep: int, tokens: int) -> GemmTiming:
    """`gemms` with `moe_up`/`moe_down` replaced by the most loaded device's local experts.
    Memoised, so the result's identity (the perf models' cache key) is stable."""
    layout = gemms.layout
    model = layout.model
    experts, k = model.num_experts, model.experts_per_token
    layers = moe_layers(model)
    if ep <= 1 or layers == 0:
        return gemms
    local = experts // ep
    active = local * (1.0 - (1.0 - k / experts) ** tokens)
    n_active = max(1, math.ceil(active - 1e-9))
    load = expected_max_load(tokens, experts, k, ep)
    per_expert = max(1, math.ceil(load / n_active - 1e-9))
    # models/ops.py runs the hit experts of a layer as one grouped GEMM (`per_expert` rows
    # against n_active experts side by side); the busiest device's has n_active of its own.
    f, up_n = layout.f_exp, layout.up_exp
    own = {
        "moe_up": (per_expert, model.hidden_size, up_n * n_active),
        "moe_down": (per_expert, f * n_active, model.hidden_size),
    }
    shapes = tuple(
        (name, *own[name], r) if name in own else (name, m, kk, n, r)
        for name, m, kk, n, r in gemms.shapes
    )
    flops = sum(2 * m * kk * n * r for _, m, kk, n, r in shapes)
    return GemmTiming(layout=gemms.layout, shapes=shapes, syncs=gemms.syncs, flops=flops)


def expert_weight_bytes_per_device(model: ModelSpec, tp: int, ep: int, pp: int = 1) -> float:
    """Routed-expert weight bytes one device holds: its E/ep experts of its layers (L/pp),
    each split tp ways."""
    if model.num_experts <= 1:
        return 0.0
    per_layer = model.num_experts / ep * model.expert_params * model.bytes_per_weight / tp
    return moe_layers(model) / pp * per_layer
