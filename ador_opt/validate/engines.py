"""Which serving engine produced a measured row — a property of the measured setup.

A row's `source` names its publication; the engine follows from it (evidence in
`docs/perf-gpu.md`, "Engines"). Rows of an unknown source run on the product's default
engine (`perf.gpu.DEFAULT_ENGINE`: compiled launches, as TensorRT-LLM and CUDA-graph engines).
"""

from __future__ import annotations

from ador_opt.perf.gpu import COMPILED_ENGINE, DEFAULT_ENGINE, PYTHON_EAGER_ENGINE, Engine

# (lower-case substring of `source`, engine). First match wins.
SOURCE_ENGINES: tuple[tuple[str, Engine], ...] = (
    # TensorRT-LLM: its C++ runtime (perf-overview: trtllm-bench; performance.md: C++ benchmark).
    ("tensorrt-llm", COMPILED_ENGINE),
    # NeMo's Llama-2 inference table: NeMo checkpoints exported to TensorRT-LLM engines.
    ("nemo", COMPILED_ENGINE),
    # NIM for LLMs serves Llama-3.3-70B on H100 through TensorRT-LLM engines.
    ("nim for llms", COMPILED_ENGINE),
    # vLLM's Buildkite benchmark runs current vLLM, CUDA graphs on (the default).
    ("vllm buildkite", COMPILED_ENGINE),
    # SplitwiseSim's performance model: profiles of the Splitwise prototype (vLLM of late 2023,
    # before vLLM's CUDA-graph support): PyTorch eager, one Python worker per TP rank.
    ("splitwisesim", PYTHON_EAGER_ENGINE),
)


def engine_for_source(source: str) -> Engine:
    """The engine of a row published by `source` (the default engine when unknown)."""
    text = source.lower()
    for key, engine in SOURCE_ENGINES:
        if key in text:
            return engine
    return DEFAULT_ENGINE
