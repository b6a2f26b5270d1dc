"""TPU serving cases (`ador_opt/data/tpu_cases.csv`): schema, the serving engine they were
measured on, and their validation.

The measurements are JetStream-PyTorch offline runs (AI-Hypercomputer/jetstream-pytorch,
benchmarks/summary.md): `num_requests` ShareGPT prompts queued at once, `max_batch` decode
slots, KV cache of `cache_length` tokens per slot, one model sharded over `chips` (`tp`) or one
replica per chip (`dp`, JetStream's `--shard_on_batch`). The engine is modelled as it runs:

* **Static shapes.** JAX/XLA programs have fixed shapes: every decode step computes all
  `max_batch` slots and attends over the whole `cache_length`-token cache of every slot,
  occupied or not (jetstream-pytorch's analyze_sharegpt.py counts on "KV cache sparsity" to
  remove exactly that cost). A decode step therefore always costs
  `step_time(decode_only(slots per chip, cache_length))` — the product's step model.
* **Prefill one request at a time**, its prompt padded to JetStream's next power-of-two bucket
  (`token_utils`: 16, 32, …, 1024), producing the first output token; the request then takes
  a free slot. Prefills and decode steps share the chips, so they run one after another.
* **Continuous insertion.** A freed slot is refilled (prefill, insert) before the next decode
  step while prompts are waiting; the run ends when the last request finishes. Throughput =
  output tokens / makespan (JetStream's benchmark: output tokens per second).
* **Memory.** The cache is allocated for all slots up front. When `max_batch × cache_length`
  does not fit in the HBM left after the weights, the cache per slot is what fits (JetStream
  then runs rolling-window attention, summary.md note) — the published Gemma-2B row on one chip
  is such a case (1024 slots × 2048 tokens × 18 KiB = 38.7 GB > 16 GiB).
* **int8** (`--quantize_weights --quantize_kv_cache`) is weight-only quantisation
  (jetstream_pt `WeightOnlyPerChannelQuantizedLinear`: int8 weights and KV, bf16 activations,
  `F.linear(bf16 input, int8 weight) * scaler`): bytes halve, but the MXUs multiply bf16, so
  the engine model runs int8 cases without the arrays' int8 rate (`JETSTREAM_INT8_MATMULS`).
* **dp**: one program over all chips, weights replicated, slots split over the chips (decode
  steps in lock step, each chip `max_batch / chips` slots), prefills replicated on every chip.

* **Host loop.** JAX dispatches asynchronously, so the host's per-step work (JetStream's
  Python loop over every slot: copy back, detokenise, check for completion) overlaps the
  device's next step: a decode step takes max(device step, slots × host time per slot).

Constants fitted on the shipped rows (`benchmarks/fit_tpu.py`, docs/validation-tpu.md): a
per-program overhead (dispatch and insertion, paid by every decode step and every prefill), the
host time per slot, and the achieved fraction of HBM bandwidth. They enter through the product's
step model (`perf.step.step_time` on the preset with `dram_gbps` scaled), no TPU special case
in perf/.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ador_opt.errors import InputError
from ador_opt.hardware.presets import HARDWARE_PRESETS, Hardware
from ador_opt.limits import MAX_BATCH, MAX_TP, read_input_text
from ador_opt.models.ops import BatchComposition
from ador_opt.models.presets import MODEL_PRESETS
from ador_opt.models.spec import ModelSpec, Precision
from ador_opt.perf.memory import (
    dram_bytes_per_device,
    kv_bytes_per_token_per_device,
    weight_bytes_per_device,
)
from ador_opt.perf.step import step_time
from ador_opt.serving.workload import parse_workload

TPU_COLUMNS = (
    "case_id",
    "scenario",
    "hardware",
    "chips",
    "parallelism",
    "model",
    "precision",
    "max_batch",
    "workload",
    "num_requests",
    "metric",
    "value",
    "source",
)
# `source` documents; `cache_length` is optional (default DEFAULT_CACHE_LENGTH).
TPU_REQUIRED = tuple(c for c in TPU_COLUMNS if c != "source")
TPU_SIGNATURE = ("chips", "parallelism", "max_batch", "workload")  # columns only TPU files have
# jetstream-pytorch benchmarks/summary.md: "cache length 2048" (max input 1024 + output 1024).
DEFAULT_CACHE_LENGTH = 2048
# JetStream token_utils DEFAULT_PREFILL_BUCKETS (powers of two from 16), up to the max prompt.
PREFILL_BUCKET_MIN = 16
TPU_PRECISIONS = {"bf16": Precision.FP16, "fp16": Precision.FP16, "int8": Precision.INT8}
TPU_METRICS = ("throughput_tokens_per_s",)
MAX_REQUESTS = 1_000_000  # a bigger offline run is a typo (and would take minutes)


class Parallelism(StrEnum):
    TP = "tp"  # one model sharded over all chips (Megatron tensor parallelism)
    DP = "dp"  # one replica per chip, slots split over the chips


@dataclass(frozen=True, slots=True)
class TpuCase:
    """One measured offline run; `value` in output tokens/s over all chips."""

    case_id: str
    hardware: str
    chips: int
    parallelism: Parallelism
    model: str
    precision: Precision
    max_batch: int
    workload: str
    num_requests: int
    metric: str
    value: float
    cache_length: int = DEFAULT_CACHE_LENGTH
    source: str = ""
    line: int = 0
    scenario: str = "offline"


@dataclass(frozen=True, slots=True)
class JetStreamParams:
    """Fitted constants of the engine model (benchmarks/fit_tpu.py).

    `program_overhead_s`: seconds every device program (decode step or prefill) adds beyond
    the step model — dispatch, slot insertion; `hbm_efficiency`: achieved fraction of the
    datasheet HBM bandwidth; `host_s_per_slot`: host seconds per slot per decode step, which
    overlap the device step (a step takes the longer of the two)."""

    program_overhead_s: float = 0.0
    hbm_efficiency: float = 1.0
    host_s_per_slot: float = 0.0

    def __post_init__(self) -> None:
        if self.program_overhead_s < 0 or self.host_s_per_slot < 0:
            raise InputError("engine parameters: overheads must be ≥ 0 s")
        if not 0 < self.hbm_efficiency <= 1:
            raise InputError("engine parameters: 0 < HBM efficiency ≤ 1")


# JetStream-PyTorch's int8 is weight-only: its matmuls run at the bf16 MXU rate (docstring).
JETSTREAM_INT8_MATMULS = False

# Fitted by benchmarks/fit_tpu.py on the consistent rows of ador_opt/data/tpu_cases.csv (T011,
# T014, T019, T021; model selected by out-of-sample error, docs/validation-tpu.md §4).
FITTED = JetStreamParams(program_overhead_s=0.0013, hbm_efficiency=0.96, host_s_per_slot=89e-6)


# --- schema ------------------------------------------------------------------------------
def _header(path: Path) -> tuple[str, list[str]]:
    # The project's bounded reader: special files (/dev/zero, FIFOs) and oversized inputs are
    # refused at once (limits.read_input_bytes).
    text = read_input_text(path, "case file", encoding="utf-8-sig")
    first = next(csv.reader(io.StringIO(text, newline="")), [])
    return text, [h.strip() for h in first]


def is_tpu_case_file(path: str | Path) -> bool:
    """True when the file has the TPU case columns (`chips`, `parallelism`, …)."""
    _, header = _header(Path(path))
    return all(c in header for c in TPU_SIGNATURE)


def _positive_int(where: str, column: str, text: str, limit: int) -> int:
    try:
        number = float(text)
    except ValueError:
        raise InputError(f"{where}, column {column}: not a number: {text!r}") from None
    if not math.isfinite(number) or number != int(number) or number <= 0:
        raise InputError(f"{where}, column {column}: must be a positive integer, got {text!r}")
    if number > limit:
        raise InputError(f"{where}, column {column}: must be at most {limit:,}, got {text}")
    return int(number)


def _parse(where: str, line: int, raw: dict[str, str]) -> TpuCase:
    def text(column: str) -> str:
        return (raw.get(column) or "").strip()

    case_id = text("case_id")
    if not case_id:
        raise InputError(f"{where}, column case_id: empty")
    if text("scenario").lower() != "offline":
        raise InputError(
            f"{where}, column scenario: unknown TPU scenario {text('scenario')!r}; known: offline"
        )
    hardware = text("hardware").lower()
    if hardware not in HARDWARE_PRESETS:
        known = ", ".join(sorted(HARDWARE_PRESETS))
        raise InputError(
            f"{where}, column hardware: unknown hardware {hardware!r}; known: {known}"
        )
    model = text("model").lower()
    if model not in MODEL_PRESETS:
        known = ", ".join(sorted(MODEL_PRESETS))
        raise InputError(f"{where}, column model: unknown model {model!r}; known: {known}")
    precision = text("precision").lower() or "bf16"
    if precision not in TPU_PRECISIONS:
        known = ", ".join(TPU_PRECISIONS)
        raise InputError(f"{where}, column precision: unknown precision {precision!r}; {known}")
    try:
        parallelism = Parallelism(text("parallelism").lower())
    except ValueError:
        raise InputError(
            f"{where}, column parallelism: must be tp or dp, got {text('parallelism')!r}"
        ) from None
    metric = text("metric").lower()
    if metric not in TPU_METRICS:
        raise InputError(f"{where}, column metric: {metric!r}; known: {', '.join(TPU_METRICS)}")
    parse_workload(text("workload"))  # unknown workloads are refused by name here
    try:
        value = float(text("value"))
    except ValueError:
        raise InputError(f"{where}, column value: not a number: {text('value')!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{where}, column value: must be a positive number, got {value}")
    chips = _positive_int(where, "chips", text("chips"), MAX_TP)
    max_batch = _positive_int(where, "max_batch", text("max_batch"), MAX_BATCH)
    if parallelism is Parallelism.DP and max_batch % chips:
        raise InputError(f"{where}, column max_batch: dp needs a multiple of chips ({chips})")
    cache = text("cache_length")
    return TpuCase(
        case_id=case_id,
        hardware=hardware,
        chips=chips,
        parallelism=parallelism,
        model=model,
        precision=TPU_PRECISIONS[precision],
        max_batch=max_batch,
        workload=text("workload"),
        num_requests=_positive_int(where, "num_requests", text("num_requests"), MAX_REQUESTS),
        metric=metric,
        value=value,
        cache_length=_positive_int(where, "cache_length", cache, 1 << 20)
        if cache
        else DEFAULT_CACHE_LENGTH,
        source=text("source"),
        line=line,
    )


def load_tpu_cases(path: str | Path) -> list[TpuCase]:
    """Read and check a TPU case file; `InputError` naming file, line, case and column."""
    path = Path(path)
    text, header = _header(path)
    missing = [c for c in TPU_REQUIRED if c not in header]
    if missing:
        raise InputError(f"{path}: missing column(s): {', '.join(missing)}")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    _ = reader.fieldnames  # consume the header row, then use its stripped names
    reader.fieldnames = header
    cases: list[TpuCase] = []
    seen: set[str] = set()
    try:
        for raw in reader:
            case_id = (raw.get("case_id") or "").strip() or "no case_id"
            where = f"{path} line {reader.line_num} (case {case_id})"
            if None in raw:
                raise InputError(f"{where}: more cells than the header has columns")
            case = _parse(where, reader.line_num, raw)
            if case.case_id in seen:
                raise InputError(f"{where}, column case_id: duplicate case id {case.case_id!r}")
            seen.add(case.case_id)
            cases.append(case)
    except csv.Error as exc:
        raise InputError(f"{path} line {reader.line_num}: malformed CSV: {exc}") from None
    if not cases:
        raise InputError(f"{path}: no cases")
    return cases


# --- the engine --------------------------------------------------------------------------
def prefill_bucket(prompt_tokens: int, max_prompt: int) -> int:
    """JetStream's padded prefill length: the next power of two ≥ max(16, prompt)."""
    bucket = max(PREFILL_BUCKET_MIN, 1 << max(0, prompt_tokens - 1).bit_length())
    return max(prompt_tokens, min(bucket, max_prompt))


@dataclass(frozen=True, slots=True)
class OfflineRun:
    """Result of one simulated offline run. Seconds are wall-clock totals of the run; the
    `decode_busy_s` map gives the busy seconds per unit of all decode steps (step model's
    units), `prefill_busy_s` the same for all prefills."""

    output_tokens: int
    makespan_s: float
    decode_steps: int
    prefills: int
    decode_step_s: float  # one decode step on the device, overheads excluded
    slots: int  # decode slots the host loop visits every step (all chips)
    prefill_s: float  # all prefills, overhead excluded
    overhead_s: float  # all programs' fixed overhead
    cache_tokens_per_slot: int
    decode_bound: str
    decode_busy_s: dict[str, float] = field(default_factory=dict)
    prefill_busy_s: dict[str, float] = field(default_factory=dict)

    @property
    def output_tokens_per_s(self) -> float:
        return self.output_tokens / self.makespan_s

    @property
    def decode_s(self) -> float:
        """Device time of all decode steps (overheads and host-bound excess excluded)."""
        return self.decode_steps * self.decode_step_s


def effective_hardware(hw: Hardware, params: JetStreamParams) -> Hardware:
    """`hw` as the engine uses it (HDA templates only): HBM at the fitted achieved bandwidth,
    and no int8 MAC rate unless the engine's int8 matmuls use it."""
    if hw.arch is None or hw.gpu is not None:
        return hw
    changes: dict[str, float | int] = {}
    if params.hbm_efficiency != 1.0:
        changes["dram_gbps"] = hw.arch.dram_gbps * params.hbm_efficiency
    if not JETSTREAM_INT8_MATMULS and hw.arch.int8_macs_per_fp16_mac != 1:
        changes["int8_macs_per_fp16_mac"] = 1
    return Hardware(hw.name, hw.arch.replace(**changes), None) if changes else hw


def cache_tokens_per_slot(
    hw: Hardware, model: ModelSpec, tp: int, slots_per_chip: int, cache_length: int
) -> int:
    """KV positions per slot: `cache_length`, or what fits in HBM after the weights."""
    hbm = dram_bytes_per_device(hw)
    free = hbm - weight_bytes_per_device(model, tp)
    if free <= 0:
        raise InputError(f"{model.name} weights do not fit one chip at tp={tp}")
    fits = int(free // (slots_per_chip * kv_bytes_per_token_per_device(model, tp)))
    if fits < 1:
        raise InputError(f"{model.name}: no KV cache fits for {slots_per_chip} slots per chip")
    return min(cache_length, fits)


def simulate_offline(
    hw: Hardware,
    model: ModelSpec,
    chips: int,
    parallelism: Parallelism,
    max_batch: int,
    inputs: np.ndarray,
    outputs: np.ndarray,
    cache_length: int = DEFAULT_CACHE_LENGTH,
    params: JetStreamParams = FITTED,
) -> OfflineRun:
    """Run the JetStream engine model over requests (`inputs[i]`, `outputs[i]` tokens), all
    queued at t = 0 (module docstring). Event-driven: between two slot completions the
    batch only runs decode steps, so the loop visits each request a bounded number of times."""
    tp = chips if parallelism is Parallelism.TP else 1
    slots_per_chip = max_batch if parallelism is Parallelism.TP else max_batch // chips
    hw_eff = effective_hardware(hw, params)
    cache = cache_tokens_per_slot(hw, model, tp, slots_per_chip, cache_length)
    decode = step_time(hw_eff, model, BatchComposition.decode_only(slots_per_chip, cache), tp)
    max_prompt = max(int(inputs.max()), PREFILL_BUCKET_MIN)
    prefill_cost: dict[int, tuple[float, dict[str, float]]] = {}

    def prefill(tokens: int) -> tuple[float, dict[str, float]]:
        bucket = prefill_bucket(tokens, max_prompt)
        if bucket not in prefill_cost:
            st = step_time(hw_eff, model, BatchComposition.prefill_only(1, bucket), tp)
            prefill_cost[bucket] = (st.seconds, dict(st.busy_s))
        return prefill_cost[bucket]

    step_s = max(decode.seconds, max_batch * params.host_s_per_slot) + params.program_overhead_s
    remaining = np.zeros(max_batch, dtype=np.int64)  # decode tokens still owed per slot
    clock = prefill_s = 0.0
    steps = 0
    prefill_busy: dict[str, float] = {}
    queue = 0
    n = len(inputs)
    while True:
        for slot in np.flatnonzero(remaining == 0):  # refill free slots
            if queue >= n:
                break
            seconds, busy = prefill(int(inputs[queue]))
            prefill_s += seconds
            for unit, b in busy.items():
                prefill_busy[unit] = prefill_busy.get(unit, 0.0) + b
            clock += seconds + params.program_overhead_s
            remaining[slot] = int(outputs[queue]) - 1  # prefill produced the first token
            queue += 1
        active = remaining > 0
        if not active.any():
            if queue >= n:
                break
            continue
        # Run to the next completion (or, with nothing left to insert, to the end).
        k = int(remaining[active].max() if queue >= n else remaining[active].min())
        clock += k * step_s
        steps += k
        remaining[active] = np.maximum(0, remaining[active] - k)
    return OfflineRun(
        output_tokens=int(outputs.sum()),
        makespan_s=clock,
        decode_steps=steps,
        prefills=n,
        decode_step_s=decode.seconds,
        slots=max_batch,
        prefill_s=prefill_s,
        overhead_s=(steps + n) * params.program_overhead_s,
        cache_tokens_per_slot=cache,
        decode_bound=decode.bound,
        decode_busy_s={u: b * steps for u, b in decode.busy_s.items()},
        prefill_busy_s=prefill_busy,
    )


def case_model(case: TpuCase) -> ModelSpec:
    return MODEL_PRESETS[case.model].with_precision(case.precision)


def run_tpu_case(case: TpuCase, params: JetStreamParams = FITTED, seed: int = 0) -> OfflineRun:
    """Simulate one case with the product's step model and the engine model."""
    model = case_model(case)
    inputs, outputs = _requests(case.workload, case.num_requests, model.max_context, seed)
    return simulate_offline(
        HARDWARE_PRESETS[case.hardware],
        model,
        case.chips,
        case.parallelism,
        case.max_batch,
        inputs,
        outputs,
        case.cache_length,
        params,
    )


@lru_cache(maxsize=64)
def _requests(workload: str, n: int, max_context: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    inputs, outputs = parse_workload(workload).sample(n, np.random.default_rng(seed), max_context)
    inputs.setflags(write=False)
    outputs.setflags(write=False)
    return inputs, outputs


# --- validation --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TpuCaseResult:
    case: TpuCase
    run: OfflineRun

    @property
    def predicted(self) -> float:
        return self.run.output_tokens_per_s

    @property
    def error_pct(self) -> float:
        return (self.predicted - self.case.value) / self.case.value * 100.0

    def to_dict(self) -> dict[str, Any]:
        run = self.run
        return {
            "case_id": self.case.case_id,
            "scenario": self.case.scenario,
            "hardware": self.case.hardware,
            "model": self.case.model,
            "metric": self.case.metric,
            "measured": self.case.value,
            "predicted": self.predicted,
            "error_pct": self.error_pct,
            "supported": True,
            "breakdown": {
                "makespan_s": run.makespan_s,
                "decode_s": run.decode_s,
                "prefill_s": run.prefill_s,
                "overhead_s": run.overhead_s,
                "host_bound_excess_s": run.makespan_s
                - run.prefill_s
                - run.decode_s
                - run.overhead_s,
                "decode_steps": run.decode_steps,
                "decode_step_ms": run.decode_step_s * 1e3,
                "decode_bound": run.decode_bound,
                "cache_tokens_per_slot": run.cache_tokens_per_slot,
                "decode_busy_s": run.decode_busy_s,
                "prefill_busy_s": run.prefill_busy_s,
            },
        }


def run_tpu_cases(
    cases: Sequence[TpuCase], params: JetStreamParams = FITTED
) -> list[TpuCaseResult]:
    results = []
    for case in cases:
        try:
            results.append(TpuCaseResult(case, run_tpu_case(case, params)))
        except InputError as exc:
            raise InputError(f"case {case.case_id} (line {case.line}): {exc}") from None
    return results


def _stats(results: Sequence[TpuCaseResult]) -> dict[str, Any]:
    ape = [abs(r.error_pct) for r in results]
    return {
        "count": len(results),
        "supported": len(ape),
        "unsupported": 0,
        "mape_pct": statistics.fmean(ape) if ape else None,
        "median_ape_pct": statistics.median(ape) if ape else None,
        "max_ape_pct": max(ape) if ape else None,
    }


def summarise_tpu(results: Sequence[TpuCaseResult]) -> dict[str, Any]:
    """The `validate --json` document (DESIGN §9) for TPU cases."""
    overall = _stats(results)
    return {
        "cases": [r.to_dict() for r in results],
        "mape_pct": overall["mape_pct"],
        "median_ape_pct": overall["median_ape_pct"],
        "max_ape_pct": overall["max_ape_pct"],
        "supported_count": overall["supported"],
        "unsupported_count": 0,
        "by_scenario": {"offline": overall},
    }


def validate_tpu_file(path: str | Path, params: JetStreamParams = FITTED) -> dict[str, Any]:
    return summarise_tpu(run_tpu_cases(load_tpu_cases(path), params))
