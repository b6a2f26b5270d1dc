"""Vector unit: element-wise work (norms, softmax, activations, residual adds, rotary).

Each core has `vector_width` lanes, each retiring one FP32 operation per cycle (ASSUMPTION, the
LLMCompass core model's vector unit: one op per lane per cycle; transcendental functions are
already counted as several ops by `models/ops.py`). Overlap rule (docs/perf-hda.md): vector work
is fused into the matrix ops' prologues/epilogues and row-pipelined with them (a norm or
activation of one row tile runs while the arrays work on the next; attention uses an online,
FlashAttention-style softmax), so it only sets the step time when the vector unit is the
busiest resource of the step.
"""

from __future__ import annotations

from ador_opt.hardware.arch import ArchConfig


def vector_s(arch: ArchConfig, ops: float) -> float:
    """Seconds for `ops` element-wise operations spread over all cores' vector lanes."""
    if ops <= 0:
        return 0.0
    return ops / (arch.vector_width * arch.core_count * arch.freq_hz)
