"""Workloads: what requests look like (prompt and output lengths, optional trace arrivals).

Presets are lognormals fitted (`lengths.fit_lognormal`) to published length statistics; the
statistics, the fitted parameters and the resulting mean/median/p90 are tabulated in
`docs/serving.md`, and `tests/test_serving_workload.py` re-runs every fit.

Sampling truncates each request to the model's context: prompt ≤ max_context − 1, prompt +
output ≤ max_context (what a server does with `max_tokens`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ador_opt.errors import InputError
from ador_opt.registry import Registry
from ador_opt.serving.lengths import (
    ClippedLengths,
    EmpiricalLengths,
    FixedLengths,
    Lengths,
    LogNormalLengths,
    UniformLengths,
    lognormal_from_moments,
)

# Requests a run simulates from a synthetic workload when the user names no count: enough for
# stable p90/p99 latencies (docs/serving.md).
DEFAULT_NUM_REQUESTS = 1000


@dataclass(frozen=True, slots=True)
class Workload:
    """Prompt (`input_len`) and output (`output_len`) length distributions in tokens.

    `arrival_s` holds trace timestamps (seconds, non-decreasing) when the workload came from a
    trace that has them; `source` says where the numbers come from."""

    name: str
    input_len: Lengths
    output_len: Lengths
    arrival_s: tuple[float, ...] | None = None
    source: str = ""

    def sample(
        self, n: int, rng: np.random.Generator, max_context: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """`n` (prompt, output) length pairs, truncated to `max_context` tokens in total."""
        if n <= 0:
            raise InputError(f"the number of requests must be positive, got {n}")
        if max_context < 2:
            raise InputError("the model context must hold at least 2 tokens")
        inputs = np.minimum(self.input_len.sample(n, rng), max_context - 1)
        outputs = np.minimum(self.output_len.sample(n, rng), max_context - inputs)
        return inputs, outputs

    def default_num_requests(self) -> int:
        """Requests a run simulates when the user names no count: every request of a trace
        (timestamps or recorded conversations), else `DEFAULT_NUM_REQUESTS`."""
        if self.arrival_s is not None or self.source.startswith(("trace", "conversations")):
            return len(self.input_len.values)  # type: ignore[attr-defined]
        return DEFAULT_NUM_REQUESTS

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "input_len": self.input_len.describe(),
            "output_len": self.output_len.describe(),
            "trace_arrivals": self.arrival_s is not None,
            "source": self.source,
        }


# ---------------------------------------------------------------------------------------------
# Presets. Parameters are fit_lognormal(mean, median, p90, cap) of the published statistics
# (kept as constants so that importing is instant; the test re-fits them to 1e-3).
# ---------------------------------------------------------------------------------------------

# Chat-like conversations: prompt mean/median/p90 686/417/1678, output 197/139/484 tokens
# (statistics as given in the project brief, DESIGN §6; the ADOR paper's ultrachat_200k service).
_CHAT_IN = LogNormalLengths(6.0238, 1.0591)
_CHAT_OUT = LogNormalLengths(4.9142, 0.9449)
# arxiv-4k and bwb-4k (long-document summarisation / book translation, filtered to 4k tokens):
# prompt 2588/2730/3702 and output 291/167/372; prompt 1067/1037/1453 and output 1612/1601/2149.
# Truncation at 4096 tokens follows the "-4k" filter.
_ARXIV_IN = LogNormalLengths(8.6701, 0.7931, cap=4096)
_ARXIV_OUT = LogNormalLengths(5.2422, 0.6183, cap=4096)
_BWB_IN = LogNormalLengths(6.9412, 0.2649, cap=4096)
_BWB_OUT = LogNormalLengths(7.3690, 0.2354, cap=4096)
# Azure LLM inference trace 2023 (Splitwise): only medians are published here — conversation
# prompt 1020 / output 129, code prompt 1469 / output 13. ASSUMPTION: the spread (sigma) of the
# chat-like fit above, for lack of a published p90.
_AZURE_CONV_IN = LogNormalLengths(round(math.log(1020), 4), _CHAT_IN.sigma)
_AZURE_CONV_OUT = LogNormalLengths(round(math.log(129), 4), _CHAT_OUT.sigma)
_AZURE_CODE_IN = LogNormalLengths(round(math.log(1469), 4), _CHAT_IN.sigma)
_AZURE_CODE_OUT = LogNormalLengths(round(math.log(13), 4), _CHAT_OUT.sigma)

# ShareGPT V3 (ShareGPT_V3_unfiltered_cleaned_split, the file vLLM's and JetStream's serving
# benchmarks sample): first-turn prompt and response lengths as published in the Llumnix paper
# (Sun et al., OSDI 2024, table of workload statistics), Llama tokenizer — prompt mean 306,
# p50 74, p80 348, p95 1484; output mean 500, p50 487, p80 781, p95 988 tokens (cross-check:
# the vLLM paper, Kwon et al. SOSP 2023 Fig. 11, gives means of 161 and 338 after its own
# filtering). `fit_lognormal_quantiles` of those four statistics per side (uncapped: they
# describe the whole file). "-1024": JetStream's benchmark_serving.py drops prompts longer than
# 1,024 tokens (prompt conditioned on ≤ 1024: the truncated lognormal) and the server's
# maximum output length of 1,024 (jetstream-pytorch summary.md) stops longer answers there
# (output clipped at 1024). The benchmark's other filters (prompt or output < 4 tokens,
# prompt + output > 2048) drop ≈ 4 % of prompts of < 4 tokens and < 1 % otherwise; not
# modelled. Resulting means/medians (docs/serving.md): prompt 150 / 66, output 526 / 485.
SHAREGPT_CAP_TOKENS = 1024
_SHAREGPT_IN = LogNormalLengths(4.3366, 1.7390, cap=SHAREGPT_CAP_TOKENS)
_SHAREGPT_OUT = ClippedLengths(LogNormalLengths(6.1840, 0.4510), SHAREGPT_CAP_TOKENS)
# Published ShareGPT V3 statistics per side: (mean, {percentile: tokens}).
SHAREGPT_V3_STATS: dict[str, tuple[float, dict[float, float]]] = {
    "input": (306.0, {0.5: 74.0, 0.8: 348.0, 0.95: 1484.0}),
    "output": (500.0, {0.5: 487.0, 0.8: 781.0, 0.95: 988.0}),
}

# The published statistics each preset is fitted to: (mean, median, p90, cap) per side.
PUBLISHED_STATS: dict[str, dict[str, tuple[float | None, float, float | None, int | None]]] = {
    "chat": {"input": (686, 417, 1678, None), "output": (197, 139, 484, None)},
    "arxiv-4k": {"input": (2588, 2730, 3702, 4096), "output": (291, 167, 372, 4096)},
    "bwb-4k": {"input": (1067, 1037, 1453, 4096), "output": (1612, 1601, 2149, 4096)},
    "azure-conv-2023": {"input": (None, 1020, None, None), "output": (None, 129, None, None)},
    "azure-code-2023": {"input": (None, 1469, None, None), "output": (None, 13, None, None)},
}

# ---------------------------------------------------------------------------------------------
# Use-case workloads in the style of GenZ (Bambhaniya et al. 2024, which sizes platforms per use
# case): `usecase-<name>`. Each says where its lengths come from; docs/serving.md tabulates them.
# ---------------------------------------------------------------------------------------------

# Chat: LMSYS-Chat-1M (Zheng et al., ICLR 2024, Table 1, one million real conversations with 25
# models): tokens per user prompt 69.5 ± 143.4 and per response 214.5 ± 237.8 (mean ± std);
# lognormals with those moments (`lognormal_from_moments`).
LMSYS_CHAT_1M_STATS = {"input": (69.5, 143.4), "output": (214.5, 237.8)}
_UC_CHAT_IN = LogNormalLengths(*lognormal_from_moments(*LMSYS_CHAT_1M_STATS["input"]))
_UC_CHAT_OUT = LogNormalLengths(*lognormal_from_moments(*LMSYS_CHAT_1M_STATS["output"]))
# GenZ's use-case lengths (Bambhaniya et al. 2024, arXiv 2406.01698, Sec. VII platform
# requirements; the values in GenZ-LLM-Analyzer `Paper charts/variables.py`): one request per
# use case with (input, output) tokens — QA (1000, 200), chat bots (3000, 1000), QA + RAG
# (10000, 200), summarisation (15000, 1000), code generation (20000, 50). The qa and rag presets
# take GenZ's point as the median of each side; GenZ gives no spread, so sigma is an ASSUMPTION
# (0.6 for qa; 0.3 for the rag prompt, whose retrieved-passage count varies little).
GENZ_USE_CASE_TOKENS: dict[str, tuple[int, int]] = {
    "qa": (1000, 200),
    "chat": (3000, 1000),
    "rag": (10000, 200),
    "summarization": (15000, 1000),
    "code-generation": (20000, 50),
}
_UC_QA_IN = LogNormalLengths(round(math.log(GENZ_USE_CASE_TOKENS["qa"][0]), 4), 0.6)
_UC_QA_OUT = LogNormalLengths(round(math.log(GENZ_USE_CASE_TOKENS["qa"][1]), 4), 0.6)
# Summarisation: arXiv summarisation filtered to 4k tokens (the arxiv-4k statistics, used by
# Sarathi-Serve, Agrawal et al. OSDI 2024) — the same distributions as `arxiv-4k`.
# Code completion: Azure LLM inference trace 2023, code (Splitwise, Patel et al. ISCA 2024):
# median prompt 1469 and output 13 tokens — the same distributions as `azure-code-2023`.
# Retrieval-augmented generation: GenZ's QA + RAG point (above), 10000 prompt and 200 output
# tokens as medians, sigma 0.3 on the prompt and 0.6 on the answer (ASSUMPTION). Cross-check:
# the RAGPulse trace (Wang et al. 2025, arXiv 2511.12979; 7,106 requests of a university Q&A
# service; column ranges of its dataset page) spans 1,050–7,710 prompt and 7–2,180 output
# tokens, so GenZ's prompt is long for a production RAG service (docs/serving.md).
_UC_RAG_IN = LogNormalLengths(round(math.log(GENZ_USE_CASE_TOKENS["rag"][0]), 4), 0.3)
_UC_RAG_OUT = LogNormalLengths(round(math.log(GENZ_USE_CASE_TOKENS["rag"][1]), 4), 0.6)
# Long-output reasoning: a chat-length prompt (the LMSYS-Chat-1M prompt fit) and a thinking
# trace with DeepSeek-R1's published mean output length, 4717.5 tokens (Evstafev 2025, arXiv
# 2501.18576: DeepSeek-R1 on 30 hard MATH problems, tokens per solved problem; the figure as a
# summary of the paper reports it, not re-checked against the PDF), as the lognormal
# mean (mu = ln(mean) − sigma²/2) with sigma 0.8 (ASSUMPTION: no published spread; ServeGen,
# Xiang et al. NSDI 2026, reports a bimodal reasoning length in production, not modelled),
# capped at 32768 tokens (the maximum generation length DeepSeek-R1 was evaluated with,
# DeepSeek-AI 2025). The cap removes 0.24 % of the mass and lowers the mean to 4627 (−1.9 %).
REASONING_CAP_TOKENS = 32768
REASONING_MEAN_TOKENS = 4717.5
REASONING_SIGMA = 0.8
_UC_REASON_OUT = LogNormalLengths(
    round(math.log(REASONING_MEAN_TOKENS) - REASONING_SIGMA**2 / 2, 4),
    REASONING_SIGMA,
    cap=REASONING_CAP_TOKENS,
)

USE_CASES = (
    "usecase-chat",
    "usecase-qa",
    "usecase-summarization",
    "usecase-code-completion",
    "usecase-rag",
    "usecase-reasoning",
)

WORKLOAD_PRESETS: Registry[Workload] = Registry(
    "workload",
    {
        "chat": Workload("chat", _CHAT_IN, _CHAT_OUT, source="chat-like statistics, DESIGN §6"),
        "arxiv-4k": Workload("arxiv-4k", _ARXIV_IN, _ARXIV_OUT, source="arxiv-4k statistics"),
        "bwb-4k": Workload("bwb-4k", _BWB_IN, _BWB_OUT, source="bwb-4k statistics"),
        "azure-conv-2023": Workload(
            "azure-conv-2023",
            _AZURE_CONV_IN,
            _AZURE_CONV_OUT,
            source="Azure LLM inference trace 2023 (conversation), medians",
        ),
        "azure-code-2023": Workload(
            "azure-code-2023",
            _AZURE_CODE_IN,
            _AZURE_CODE_OUT,
            source="Azure LLM inference trace 2023 (code), medians",
        ),
        "sharegpt-1024": Workload(
            "sharegpt-1024",
            _SHAREGPT_IN,
            _SHAREGPT_OUT,
            source="ShareGPT V3 length statistics (Llumnix, OSDI 2024); prompts ≤ 1024 tokens "
            "(JetStream benchmark filter), outputs clipped at 1024 (server maximum)",
        ),
        "usecase-chat": Workload(
            "usecase-chat",
            _UC_CHAT_IN,
            _UC_CHAT_OUT,
            source="LMSYS-Chat-1M (Zheng et al., ICLR 2024) mean ± std per prompt and response",
        ),
        "usecase-qa": Workload(
            "usecase-qa",
            _UC_QA_IN,
            _UC_QA_OUT,
            source="GenZ use case QA (arXiv 2406.01698): medians 1000 in / 200 out; "
            "spread ASSUMPTION",
        ),
        "usecase-summarization": Workload(
            "usecase-summarization",
            _ARXIV_IN,
            _ARXIV_OUT,
            source="arXiv summarisation ≤ 4k tokens (Sarathi-Serve, OSDI 2024): as arxiv-4k",
        ),
        "usecase-code-completion": Workload(
            "usecase-code-completion",
            _AZURE_CODE_IN,
            _AZURE_CODE_OUT,
            source="Azure LLM inference trace 2023, code (Splitwise, ISCA 2024): medians",
        ),
        "usecase-rag": Workload(
            "usecase-rag",
            _UC_RAG_IN,
            _UC_RAG_OUT,
            source="GenZ use case QA + RAG (arXiv 2406.01698): medians 10000 in / 200 out; "
            "spread ASSUMPTION",
        ),
        "usecase-reasoning": Workload(
            "usecase-reasoning",
            _UC_CHAT_IN,
            _UC_REASON_OUT,
            source="LMSYS-Chat-1M prompts; DeepSeek-R1 mean output 4717.5 tokens (arXiv "
            "2501.18576), capped at 32768; spread ASSUMPTION",
        ),
    },
)


def workload_preset(name: str) -> Workload:
    """A preset by name (InputError naming the known presets otherwise)."""
    return WORKLOAD_PRESETS[name]


def _positive_int(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"workload: {what} must be an integer, got {text!r}") from None
    if value <= 0:
        raise InputError(f"workload: {what} must be positive, got {value}")
    return value


def _range(text: str, what: str) -> UniformLengths:
    low, sep, high = text.partition("-")
    if not sep:
        raise InputError(f"workload: {what} range must look like LOW-HIGH, got {text!r}")
    return UniformLengths(_positive_int(low, what), _positive_int(high, what))


def parse_workload(spec: str) -> Workload:
    """A preset name, `fixed:IN:OUT` or `uniform:INLOW-INHIGH:OUTLOW-OUTHIGH` (tokens)."""
    kind, _, rest = spec.strip().partition(":")
    if not rest:
        return workload_preset(spec.strip())
    parts = rest.split(":")
    if len(parts) != 2:
        raise InputError(f"workload {spec!r}: expected {kind}:INPUT:OUTPUT")
    if kind == "fixed":
        return Workload(
            spec,
            FixedLengths(_positive_int(parts[0], "input length")),
            FixedLengths(_positive_int(parts[1], "output length")),
            source="fixed lengths",
        )
    if kind == "uniform":
        return Workload(
            spec,
            _range(parts[0], "input length"),
            _range(parts[1], "output length"),
            source="uniform lengths",
        )
    raise InputError(f"unknown workload kind {kind!r}; use a preset, fixed:IN:OUT or uniform")


def trace_workload(
    name: str,
    inputs: list[int],
    outputs: list[int],
    arrival_s: list[float] | None,
    source: str,
) -> Workload:
    """A workload replaying `inputs[i]`, `outputs[i]` (and `arrival_s[i]`) in order."""
    return Workload(
        name,
        EmpiricalLengths(tuple(inputs)),
        EmpiricalLengths(tuple(outputs)),
        arrival_s=None if arrival_s is None else tuple(arrival_s),
        source=source,
    )
