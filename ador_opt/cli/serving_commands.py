"""`ador-opt simulate` and `ador-opt capacity`: thin wrappers over `ador_opt.serving`.

JSON contract (DESIGN §9): `simulate --json` prints `ttft_ms`, `tbt_ms`, `e2e_ms` (each with
`mean`, `p50`, `p90`, `p99`), `throughput` and `utilisation` (plus everything else in the
report); `capacity --json` adds `max_rate` (req/s). Results (tables, summaries) go to stdout;
progress (the bar, capacity's probe lines) to stderr.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.table import Table

from ador_opt.cli._common import emit_json, err_console, out_console
from ador_opt.cli.formats import (
    AcceptanceOpt,
    ActPrecisionOpt,
    DraftOpt,
    DraftTokensOpt,
    EpOpt,
    KvPrecisionOpt,
    MicroBatchesOpt,
    PpOpt,
    PrecisionOpt,
    WeightPrecisionOpt,
    model_from_options,
    speculative_from_options,
)
from ador_opt.errors import InputError
from ador_opt.hardware import load_hardware
from ador_opt.hardware.presets import Hardware
from ador_opt.limits import MAX_NUM_REQUESTS, MAX_REPLICAS, check_option_bounded
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.parallel import resolve_parallelism, with_parallelism
from ador_opt.progress import Progress
from ador_opt.serving.arrivals import arrival_process
from ador_opt.serving.capacity import DEFAULT_REL_TOL, TUNED_CHUNK_SIZES, Probe, find_capacity
from ador_opt.serving.metrics import ServingReport
from ador_opt.serving.scheduler import SchedulerConfig
from ador_opt.serving.simulator import simulate
from ador_opt.serving.slo import slo_from_limits
from ador_opt.serving.traces import load_conversations, load_trace_csv
from ador_opt.serving.workload import Workload, parse_workload

# Runs with at least this many requests show a progress bar (unless --json).
PROGRESS_MIN_REQUESTS = 2000

ModelOpt = Annotated[str, typer.Option("--model", help="Model preset or config.json path.")]
HardwareOpt = Annotated[
    str, typer.Option("--hardware", help="Hardware preset or TOML/JSON design file.")
]
WorkloadOpt = Annotated[
    str,
    typer.Option(
        "--workload",
        help="Preset (chat, arxiv-4k, bwb-4k, azure-conv-2023, azure-code-2023, "
        "sharegpt-1024; use cases: usecase-chat, -qa, -summarization, -code-completion, -rag, "
        "-reasoning), fixed:IN:OUT or uniform:LO-HI:LO-HI.",
    ),
]
NumOpt = Annotated[
    int | None,
    typer.Option("--num-requests", help="Requests to simulate (default 1000, or the trace)."),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (lengths and arrivals).")]
TpOpt = Annotated[int, typer.Option("--tp", help="Tensor-parallel devices per replica.")]
SchedulerOpt = Annotated[
    str, typer.Option("--scheduler", help="sarathi (chunked prefill), vllm or hybrid.")
]
ChunkOpt = Annotated[
    int | None, typer.Option("--chunk-size", help="Token budget per step (default 512).")
]
MaxBatchOpt = Annotated[
    int | None, typer.Option("--max-batch", help="Most running requests per replica (256).")
]
TraceOpt = Annotated[
    str | None,
    typer.Option(
        "--trace",
        help="CSV trace input_len,output_len[,arrival_s] (replaces "
        "--workload; its timestamps are used unless --rate is given).",
    ),
]
CapacityTraceOpt = Annotated[
    str | None,
    typer.Option(
        "--trace",
        help="CSV trace input_len,output_len[,arrival_s] (replaces --workload; its lengths "
        "are used, the arrivals are the Poisson rates the search tries).",
    ),
]
DatasetOpt = Annotated[
    str | None,
    typer.Option(
        "--dataset",
        help="Local conversation dataset (ultrachat-style JSON/JSONL, or a saved Hugging Face "
        "dataset directory) replacing --workload; needs --tokenizer.",
    ),
]
TokenizerOpt = Annotated[
    str | None,
    typer.Option("--tokenizer", help="Local Hugging Face tokenizer directory for --dataset."),
]
ReplicasOpt = Annotated[
    int,
    typer.Option(
        "--replicas", "--dp", help="Data-parallel replicas behind the router (--dp: same)."
    ),
]
RouterOpt = Annotated[str, typer.Option("--router", help="round-robin or least-loaded.")]
BurstOpt = Annotated[
    float | None,
    typer.Option("--burstiness", help="Gamma arrivals with this CV of gaps (1 = Poisson)."),
]
KvOpt = Annotated[
    int | None,
    typer.Option("--kv-tokens", help="KV capacity per replica in tokens (default: DRAM left)."),
]
TtftOpt = Annotated[
    float | None,
    typer.Option("--slo-ttft-p90-ms", help="P90 TTFT limit, ms (default: none, Sarathi-Serve)."),
]
TbtOpt = Annotated[
    float | None,
    typer.Option("--slo-tbt-p99-ms", help="P99 TBT limit, ms (default: Sarathi-Serve rule)."),
]
QueueOpt = Annotated[
    float | None,
    typer.Option("--slo-queue-p50-ms", help="Median scheduling delay limit, ms (2000)."),
]
StrictOpt = Annotated[
    str, typer.Option("--slo-level", help="Default TBT SLO: strict (5×) or relaxed (25×).")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def _scheduler(
    policy: str,
    chunk: int | None,
    max_batch: int | None,
    replicas: int,
    router: str,
    kv_tokens: int | None,
) -> SchedulerConfig:
    base = SchedulerConfig()
    check_option_bounded("--replicas", replicas, MAX_REPLICAS)
    return SchedulerConfig(
        policy=policy,  # type: ignore[arg-type]  # validated (InputError) by SchedulerConfig
        chunk_size=base.chunk_size if chunk is None else chunk,
        max_batch=base.max_batch if max_batch is None else max_batch,
        replicas=replicas,
        router=router,
        kv_tokens=kv_tokens,
    )


def _load(
    model: str,
    hardware: str,
    precision: str,
    formats: tuple[str | None, str | None, str | None],
    tp: int,
    parallel: tuple[int | None, int | None, int | None],
) -> tuple[ModelSpec, Hardware]:
    """The model in `precision` with the per-kind `formats` (weights, activations, KV) and the
    hardware with the run's `parallel` = (ep, pp, micro_batches) (None: the design's own)."""
    spec = model_from_options(model, precision, *formats)
    return spec, with_parallelism(load_hardware(hardware), spec, tp, *parallel)


def _workload(
    spec: str, trace: str | None, dataset: str | None = None, tokenizer: str | None = None
) -> Workload:
    if trace and dataset:
        raise InputError("give either --trace or --dataset, not both")
    if dataset:
        if not tokenizer:
            raise InputError("--dataset needs --tokenizer (a local tokenizer directory)")
        return load_conversations(dataset, tokenizer)
    if tokenizer:
        raise InputError("--tokenizer is only used with --dataset")
    return load_trace_csv(trace) if trace else parse_workload(spec)


@contextmanager
def _progress_bar(
    enabled: bool, total: int, label: str
) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled:
        yield None
        return
    with Progress(label, total, err_console, unit="requests") as bar:

        def update(done: int, _total: int) -> None:
            bar.update(done)

        yield update


def _summary_table(title: str, report: ServingReport) -> Table:
    table = Table(title=title)
    for col in ("metric", "mean", "p50", "p90", "p99"):
        table.add_column(col, justify="right")
    for name in ("ttft_ms", "tbt_ms", "e2e_ms", "queue_ms", "tpot_ms"):
        s = getattr(report, name)
        table.add_row(name, *(f"{v:.1f}" for v in (s.mean, s.p50, s.p90, s.p99)))
    return table


def _print_report(report: ServingReport, header: str) -> None:
    out_console.print(_summary_table(header, report))
    out_console.print(
        f"throughput: {report.requests_per_s:.2f} req/s, {report.output_tokens_per_s:.0f} "
        f"output tok/s, {report.input_tokens_per_s:.0f} input tok/s; goodput "
        f"{report.goodput_requests_per_s:.2f} req/s; {report.preemptions} preemptions"
    )
    util = ", ".join(f"{k} {v:.0%}" for k, v in report.utilisation.items())
    out_console.print(f"utilisation: {util}")
    out_console.print(
        f"{report.completed} requests in {report.duration_s:.1f} s simulated, "
        f"{report.steps} steps, mean decode batch {report.mean_decode_batch:.1f}, "
        f"KV {report.kv_capacity_tokens} tokens/replica; wall {report.sim_wall_s:.2f} s"
    )


def _context(
    model: ModelSpec,
    hw: Hardware,
    workload: Workload,
    tp: int,
    cfg: SchedulerConfig,
    seed: int,
    num: int,
) -> dict[str, Any]:
    par = resolve_parallelism(hw, tp)
    return {
        "model": model.name,
        "hardware": hw.name,
        "tp": tp,
        "ep": par.ep,
        "pp": par.pp,
        "dp": cfg.replicas,
        "precision": model.precision_label,
        "workload": workload.describe(),
        "scheduler": cfg.to_dict(),
        "seed": seed,
        "num_requests": num,
    }


def _num_requests(num: int | None, workload: Workload) -> int:
    if num is not None:
        check_option_bounded("--num-requests", num, MAX_NUM_REQUESTS)
        return num
    return workload.default_num_requests()


def simulate_cmd(
    model: ModelOpt,
    hardware: HardwareOpt,
    workload: WorkloadOpt = "chat",
    rate: Annotated[
        float | None, typer.Option("--rate", help="Arrival rate, requests/s (all replicas).")
    ] = None,
    num_requests: NumOpt = None,
    seed: SeedOpt = 0,
    tp: TpOpt = 1,
    precision: PrecisionOpt = "fp16",
    scheduler: SchedulerOpt = "sarathi",
    chunk_size: ChunkOpt = None,
    max_batch: MaxBatchOpt = None,
    trace: TraceOpt = None,
    dataset: DatasetOpt = None,
    tokenizer: TokenizerOpt = None,
    replicas: ReplicasOpt = 1,
    router: RouterOpt = "round-robin",
    burstiness: BurstOpt = None,
    kv_tokens: KvOpt = None,
    slo_ttft_p90_ms: TtftOpt = None,
    slo_tbt_p99_ms: TbtOpt = None,
    slo_queue_p50_ms: QueueOpt = None,
    slo_level: StrictOpt = "strict",
    weight_precision: WeightPrecisionOpt = None,
    act_precision: ActPrecisionOpt = None,
    kv_precision: KvPrecisionOpt = None,
    draft: DraftOpt = None,
    draft_tokens: DraftTokensOpt = None,
    acceptance: AcceptanceOpt = None,
    ep: EpOpt = None,
    pp: PpOpt = None,
    micro_batches: MicroBatchesOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Simulate serving a workload at an arrival rate; report TTFT/TBT/E2E, throughput and
    utilisation."""
    formats = (weight_precision, act_precision, kv_precision)
    spec, hw = _load(model, hardware, precision, formats, tp, (ep, pp, micro_batches))
    wl = _workload(workload, trace, dataset, tokenizer)
    cfg = _scheduler(scheduler, chunk_size, max_batch, replicas, router, kv_tokens)
    cfg = cfg.replace(speculative=speculative_from_options(spec, draft, draft_tokens, acceptance))
    num = _num_requests(num_requests, wl)
    slo, _ = slo_from_limits(
        spec, tp, slo_level, slo_ttft_p90_ms, slo_tbt_p99_ms, slo_queue_p50_ms
    )
    arrivals = arrival_process(rate, burstiness, wl.arrival_s is not None)
    with _progress_bar(not json_out and num >= PROGRESS_MIN_REQUESTS, num, "simulating") as bar:
        report = simulate(hw, spec, wl, rate, num, seed, tp, cfg, bar, arrivals=arrivals, slo=slo)
    doc = {
        **_context(spec, hw, wl, tp, cfg, seed, num),
        "rate_per_s": rate,
        "arrivals": arrivals.describe() if arrivals is not None else {"kind": "trace"},
        **report.to_dict(),
    }
    if json_out:
        emit_json(doc)
        return
    _print_report(report, f"{spec.name} on {hw.name}, {wl.name}, {rate or 'trace'} req/s")


def capacity_cmd(
    model: ModelOpt,
    hardware: HardwareOpt,
    workload: WorkloadOpt = "chat",
    num_requests: NumOpt = None,
    seed: SeedOpt = 0,
    tp: TpOpt = 1,
    precision: PrecisionOpt = "fp16",
    scheduler: SchedulerOpt = "sarathi",
    chunk_size: ChunkOpt = None,
    max_batch: MaxBatchOpt = None,
    trace: CapacityTraceOpt = None,
    dataset: DatasetOpt = None,
    tokenizer: TokenizerOpt = None,
    replicas: ReplicasOpt = 1,
    router: RouterOpt = "round-robin",
    kv_tokens: KvOpt = None,
    slo_ttft_p90_ms: TtftOpt = None,
    slo_tbt_p99_ms: TbtOpt = None,
    slo_queue_p50_ms: QueueOpt = None,
    slo_level: StrictOpt = "strict",
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Relative width of the final rate bracket.")
    ] = DEFAULT_REL_TOL,
    tune_chunk_size: Annotated[
        bool,
        typer.Option(
            "--tune-chunk-size",
            help="Search every token budget in 256/512/1024/2048 and keep the best "
            "(Sarathi-Serve picks its budget per deployment).",
        ),
    ] = False,
    weight_precision: WeightPrecisionOpt = None,
    act_precision: ActPrecisionOpt = None,
    kv_precision: KvPrecisionOpt = None,
    draft: DraftOpt = None,
    draft_tokens: DraftTokensOpt = None,
    acceptance: AcceptanceOpt = None,
    ep: EpOpt = None,
    pp: PpOpt = None,
    micro_batches: MicroBatchesOpt = None,
    json_out: JsonFlag = False,
) -> None:
    """Find the highest Poisson arrival rate meeting the SLOs (bracketing + bisection)."""
    formats = (weight_precision, act_precision, kv_precision)
    spec, hw = _load(model, hardware, precision, formats, tp, (ep, pp, micro_batches))
    wl = _workload(workload, trace, dataset, tokenizer)
    cfg = _scheduler(scheduler, chunk_size, max_batch, replicas, router, kv_tokens)
    cfg = cfg.replace(speculative=speculative_from_options(spec, draft, draft_tokens, acceptance))
    num = _num_requests(num_requests, wl)
    slo, slo_text = slo_from_limits(
        spec, tp, slo_level, slo_ttft_p90_ms, slo_tbt_p99_ms, slo_queue_p50_ms
    )

    def show(probe: Probe) -> None:
        if not json_out:
            verdict = "[green]meets[/green]" if probe.feasible else "[red]violates[/red]"
            err_console.print(
                f"  {probe.rate_per_s:8.3f} req/s {verdict} the SLO: {_probe_text(probe)} "
                f"({probe.wall_s:.2f} s)",
                soft_wrap=True,
            )

    result = find_capacity(
        hw,
        spec,
        wl,
        slo,
        num,
        seed,
        tp,
        cfg,
        rel_tol=tolerance,
        progress=show,
        tune_chunk_sizes=TUNED_CHUNK_SIZES if tune_chunk_size else (),
    )
    doc = {**_context(spec, hw, wl, tp, cfg, seed, num), **result.to_dict()}
    if json_out:
        emit_json(doc)
        return
    if result.tuned:
        tried = ", ".join(f"{k}: {v:.2f}" for k, v in result.tuned.items())
        out_console.print(f"token budget → capacity (req/s): {tried}")
    out_console.print(
        f"[bold]capacity {result.max_rate_per_s:.2f} req/s[/bold] (token budget "
        f"{result.chunk_size}) — {spec.name} on {hw.name}, {wl.name}"
    )
    out_console.print(f"SLO: {slo_text}", soft_wrap=True)
    if result.report is not None:
        _print_report(result.report, f"at {result.max_rate_per_s:.2f} req/s")


def _ms(value: float, digits: int) -> str:
    return f"{value:.{digits}f} ms" if math.isfinite(value) else "–"


def _probe_text(probe: Probe) -> str:
    """The probe's latencies; a run stopped early says which limit it broke instead of NaN."""
    if probe.aborted:
        return f"stopped early, {probe.aborted} over its limit"
    return (
        f"TTFT p90 {_ms(probe.ttft_p90_ms, 0)}, TBT p99 {_ms(probe.tbt_p99_ms, 1)}, "
        f"queue p50 {_ms(probe.queue_p50_ms, 0)}"
    )


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_cmd)
    app.command("capacity")(capacity_cmd)
