"""Serving scenarios used by `validate`: offline throughput and closed-loop clients.

Both model a TensorRT-LLM engine (the published measurements they are compared with come from
TensorRT-LLM and NIM, which runs TensorRT-LLM): in-flight batching of decodes with whole new
prompts (`hybrid` policy; TensorRT-LLM's default has chunked context off), up to
`max_num_tokens` = 8192 tokens and `max_batch_size` = 2048 requests per step — the TensorRT-LLM
LLM-API defaults (BuildConfig) — and a KV pool of 90 % of the free memory
(`perf.memory`, `kv_cache_free_gpu_mem_fraction` = 0.9).

A prompt longer than `max_num_tokens` cannot run as one context step: TensorRT-LLM then needs
chunked context (`enable_chunked_context`), which fills each step's `max_num_tokens` budget
with the running decodes plus context chunks — the `sarathi` policy with the same budget. (Run
with whole prompts instead, such a prompt could only start when no decode is running, which
serialises the requests: 106 instead of ≈ 600 output tok/s for 20k-token prompts on one H100.)
`engine_scheduler` gives the configuration both scenarios use; `ador-opt simulate` with the
same `--scheduler`, `--chunk-size` and `--max-batch` gives the same answer.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ador_opt.errors import InputError
from ador_opt.hardware.presets import Hardware
from ador_opt.models.spec import ModelSpec
from ador_opt.serving.arrivals import AllAtOnce
from ador_opt.serving.lengths import FixedLengths
from ador_opt.serving.scheduler import Policy, SchedulerConfig
from ador_opt.serving.simulator import simulate_closed_loop, simulate_run
from ador_opt.serving.workload import Workload

TRTLLM_MAX_NUM_TOKENS = 8192  # TensorRT-LLM BuildConfig default max_num_tokens
TRTLLM_MAX_BATCH_SIZE = 2048  # TensorRT-LLM BuildConfig default max_batch_size
TRTLLM_SCHEDULER = SchedulerConfig(
    policy=Policy.HYBRID, chunk_size=TRTLLM_MAX_NUM_TOKENS, max_batch=TRTLLM_MAX_BATCH_SIZE
)
TRTLLM_CHUNKED_SCHEDULER = TRTLLM_SCHEDULER.replace(policy=Policy.SARATHI)
# Closed-loop runs: each client sends this many requests back to back (means over them).
CLOSED_LOOP_ROUNDS = 8


def offline_request_count(input_len: int, output_len: int) -> int:
    """Requests per offline run: the counts TensorRT-LLM's perf-overview uses for its published
    throughput table (30000 for ISL+OSL = 256; 3000 up to 2500 tokens; 1500 up to ~6k; 1000 for
    20k-token sequences). NVIDIA chose them "to guarantee that the system hit a steady state";
    using the same counts also gives ramp-up and drain the same weight they had in the
    measurement. Fixed lengths keep the step shapes few, so even 30000 requests run in about a
    second."""
    seq = input_len + output_len
    if seq <= 256:
        return 30000
    if seq <= 2500:
        return 3000
    if seq <= 8192:
        return 1500
    return 1000


def engine_scheduler(input_len: int) -> SchedulerConfig:
    """The TensorRT-LLM engine's batching for prompts of `input_len` tokens: in-flight batching
    of whole prompts, or chunked context when a prompt exceeds `max_num_tokens`."""
    return TRTLLM_SCHEDULER if input_len <= TRTLLM_MAX_NUM_TOKENS else TRTLLM_CHUNKED_SCHEDULER


def _check_lengths(input_len: int, output_len: int, model: ModelSpec) -> None:
    for name, value in (("input_len", input_len), ("output_len", output_len)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    if input_len + output_len > model.max_context:
        raise InputError(
            f"input_len + output_len = {input_len + output_len} exceeds the "
            f"{model.max_context}-token context of {model.name}"
        )


@lru_cache(maxsize=512)
def offline_throughput(
    hw: Hardware, model: ModelSpec, tp: int, input_len: int, output_len: int, seed: int = 0
) -> float:
    """Output tokens/s over the TP group: every request queued at t = 0, continuous batching,
    total output tokens / (last completion − 0) as trtllm-bench reports."""
    _check_lengths(input_len, output_len, model)
    workload = Workload(
        f"fixed:{input_len}:{output_len}", FixedLengths(input_len), FixedLengths(output_len)
    )
    run = simulate_run(
        hw,
        model,
        workload,
        None,
        offline_request_count(input_len, output_len),
        seed,
        tp,
        engine_scheduler(input_len),
        arrivals=AllAtOnce(),
    )
    return run.report.output_tokens_per_s


def closed_loop(
    hw: Hardware,
    model: ModelSpec,
    tp: int,
    concurrency: int,
    input_len: int,
    output_len: int,
    seed: int = 0,
) -> dict[str, float]:
    """`concurrency` clients, each sending its next request when the previous one completes
    (fixed lengths; `seed` is accepted for interface symmetry — nothing here is random).

    `ttft_ms`: mean time to first token; `itl_ms`: mean over requests of (E2E − TTFT) /
    (output_len − 1), the inter-token latency of genai-perf / NIM benchmarks;
    `output_tokens_per_s`: total output tokens / run time over the TP group."""
    return dict(_closed_loop(hw, model, tp, concurrency, input_len, output_len))


@lru_cache(maxsize=512)
def _closed_loop(
    hw: Hardware, model: ModelSpec, tp: int, concurrency: int, input_len: int, output_len: int
) -> tuple[tuple[str, float], ...]:
    _check_lengths(input_len, output_len, model)
    n = concurrency * CLOSED_LOOP_ROUNDS
    run = simulate_closed_loop(
        hw, model, [input_len] * n, [output_len] * n, concurrency, tp, engine_scheduler(input_len)
    )
    reqs = run.requests
    ttft = np.array([r.first_token_s - r.arrival_s for r in reqs])
    e2e = np.array([r.finish_s - r.arrival_s for r in reqs])
    itl = (e2e - ttft) / (output_len - 1) if output_len > 1 else np.zeros_like(ttft)
    return (
        ("ttft_ms", float(ttft.mean() * 1e3)),
        ("itl_ms", float(itl.mean() * 1e3)),
        ("output_tokens_per_s", run.report.output_tokens_per_s),
        ("e2e_ms", float(e2e.mean() * 1e3)),
    )
