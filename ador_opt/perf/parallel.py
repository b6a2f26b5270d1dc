"""Expert, pipeline and data parallelism on two-level platforms (docs/parallelism.md).

A model replica spans tp · ep · pp devices; `dp` replicas serve side by side (the serving
simulator's replicas and router, `serving/replica.py`, `serving/router.py`). Ranks are laid out
TP fastest, then EP, then PP (`hardware/topology.group_span`).

* **TP** (`perf/tp.py`, unchanged): heads, FFN and vocabulary split tp ways.
* **EP**: the routed experts are split ep ways (E/ep per device, each expert still split tp
  ways); attention, dense layers and shared weights are replicated over the ep groups, each
  serving 1/ep of the step's requests (data-parallel attention, as DeepSeek-V3 serves its MoE:
  "the attention part employs TP4 with SP, combined with DP8", "EP32" for the MoE part —
  DeepSeek-V3 technical report §3.4). Per MoE layer an all-to-all *dispatch* sends each token
  to the devices of its top-k experts and a *combine* brings the results back: per device
  tokens/tp × hidden × bytes × k × (ep − 1)/ep leaves in each (uniform routing), blocking
  (the expert GEMMs need their tokens; the next layer needs the combined output). The most
  loaded device's expected load sets the expert GEMMs (`perf/expert.py`).
* **PP**: layers split pp ways (L/pp per stage; the last stage also runs the LM head and is
  the slowest, so it sets the stage period). A stage sends its micro-batch's hidden states
  (tokens × hidden × bytes, split tp ways) to the next stage. Prefill: the batch is cut into m
  micro-batches (`micro_batches`, default pp, at most one per request) that flow GPipe/1F1B-
  style: time = (m + pp − 1) · period − t_send with period = t_stage + t_send, a bubble of
  (pp − 1)/(m + pp − 1) (Huang et al., "GPipe", NeurIPS 2019; Narayanan et al., SC 2021).
  Decode keeps pp micro-batches in flight (one per stage, as vLLM's pipeline engines do), so
  there is no bubble in steady state and every token of a micro-batch traverses all stages:
  step = pp · period − t_send for micro-batches of B/pp requests.
* **Two levels**: a collective or send whose group spans scale-up domains runs hierarchically;
  the all-to-all sends the share addressed inside the domain over the scale-up links and the
  rest over the scale-out NIC, one phase after the other (`ep_all_to_all_s`); a stage
  boundary that crosses domains uses the scale-out link, and the slowest boundary sets the
  pipeline period; a TP group wider than the domain all-reduces hierarchically (`perf/tp.py`).

`parallel_step_time` is used only when ep > 1 or pp > 1; tp-only designs keep the direct
path of `perf/step.py` (identical numbers, no extra cost).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from types import MappingProxyType

from ador_opt.errors import InputError
from ador_opt.hardware.presets import Hardware
from ador_opt.hardware.topology import ScaleOut, gpu_scale_out, group_span
from ador_opt.models.ops import BatchComposition, PrefillChunk
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.collectives import LinkParams, all_to_all_time, send_time
from ador_opt.perf.expert import ExpertShard, moe_layers
from ador_opt.perf.memory import weight_bytes_per_device
from ador_opt.perf.result import StepTime, scale_step


@dataclass(frozen=True, slots=True)
class Parallelism:
    """Devices of one replica along each axis; `micro_batches` = prefill micro-batches per
    pipeline pass (0: pp)."""

    tp: int = 1
    ep: int = 1
    pp: int = 1
    micro_batches: int = 0

    def __post_init__(self) -> None:
        for name in ("tp", "ep", "pp"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        mb = self.micro_batches
        if isinstance(mb, bool) or not isinstance(mb, int) or mb < 0:
            raise InputError(f"micro_batches must be an integer ≥ 0, got {mb!r}")

    @property
    def devices(self) -> int:
        return self.tp * self.ep * self.pp

    def check(self, model: ModelSpec) -> None:
        """Refuse a layout the model cannot be split into (`InputError`, exit 2)."""
        check_parallelism(model, self.tp, self.ep, self.pp)


def check_parallelism(model: ModelSpec, tp: int, ep: int, pp: int) -> None:
    """Heads divisible by tp, routed experts by ep (ep > 1 needs a MoE model), layers by pp."""
    if model.num_heads % tp:
        raise InputError(
            f"tp={tp} does not divide the {model.num_heads} attention heads of {model.name}"
        )
    if ep > 1 and model.num_experts <= 1:
        raise InputError(f"ep={ep} needs a mixture-of-experts model; {model.name} is dense")
    if model.num_experts % ep:
        raise InputError(
            f"ep={ep} does not divide the {model.num_experts} routed experts of {model.name}"
        )
    if model.num_layers % pp:
        raise InputError(f"pp={pp} does not divide the {model.num_layers} layers of {model.name}")


def stage_of(model: ModelSpec, pp: int) -> ModelSpec:
    """The layers of one pipeline stage: L/pp layers, with the model's layer-count fields
    (leading dense layers, sliding-window layers) split pp ways the same (rounded up, so the
    stage is the fullest one)."""
    layers = model.num_layers // pp
    return replace(
        model,
        num_layers=layers,
        dense_layers=min(-(-model.dense_layers // pp), layers),
        sliding_window_layers=min(-(-model.sliding_window_layers // pp), layers),
    )


def bubble_fraction(pp: int, micro_batches: int) -> float:
    """Idle share of a GPipe/1F1B pipeline pass: (pp − 1) / (m + pp − 1)."""
    if pp < 1 or micro_batches < 1:
        raise InputError("bubble_fraction needs pp ≥ 1 and micro_batches ≥ 1")
    return (pp - 1) / (micro_batches + pp - 1)


# --- the two network levels of a Hardware ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Levels:
    """Scale-up link (and whether it is a ring of point-to-point links rather than a switch),
    scale-out link, and devices per scale-up domain (0: one domain)."""

    up: LinkParams
    up_ring: bool
    out: LinkParams
    domain_devices: int


def scale_out_link(so: ScaleOut, base_latency_s: float) -> LinkParams:
    """The scale-out NIC as collectives see it: its one-way bandwidth, sustained as quoted
    (bw_eff 1, ASSUMPTION: the user gives achievable NIC bandwidth), its per-message latency
    as the hop latency, and the scale-up level's per-call base latency."""
    return LinkParams(so.name, so.gbps_one_way, 1.0, so.latency_s, base_latency_s)


@lru_cache(maxsize=256)
def levels_of(hw: Hardware) -> Levels:
    """GPUs: NVLink through NVSwitch (switched; the fitted link of `perf/gpu.py`) in domains
    of 8, one NIC per GPU (`topology.GPU_SCALE_OUT`). HDA templates: the `p2p_*` ring in
    domains of `scale_up_devices`, the `scale_out_*` NIC."""
    if hw.gpu is not None:
        from ador_opt.perf.gpu import link_params

        up = link_params(hw.gpu)
        so = gpu_scale_out(hw.gpu.name)
        return Levels(up, False, scale_out_link(so, up.base_latency_s), so.domain_devices)
    assert hw.arch is not None
    from ador_opt.perf.tp import arch_link
    from ador_opt.perf.tp import scale_out_link as arch_scale_out_link

    arch = hw.arch
    return Levels(arch_link(arch), True, arch_scale_out_link(arch), arch.scale_up_devices)


def ep_all_to_all_s(payload_bytes: float, tp: int, ep: int, lv: Levels) -> float:
    """Seconds of one all-to-all among the `ep` members of an EP group (stride tp) in which
    each device sends `payload_bytes`. Within one domain: `all_to_all_time` on the scale-up
    link. Across c domains of a members each: the (a − 1)/(ep − 1) share addressed inside the
    domain goes over the scale-up links, the rest over the NIC, one phase after the other
    (hierarchical, as DeepEP's internode kernels forward RDMA-received tokens over NVLink; not
    overlapping them is the conservative choice and keeps a cross-domain all-to-all from ever
    beating the same group inside one domain when the NIC is the slower level)."""
    if ep <= 1 or payload_bytes <= 0:
        return 0.0
    a, c = group_span(tp, ep, lv.domain_devices)
    if c == 1:
        return all_to_all_time(payload_bytes, ep, lv.up, lv.up_ring).seconds
    inside = payload_bytes * (a - 1) / (ep - 1)
    outside = payload_bytes - inside
    t_in = all_to_all_time(inside, a, lv.up, lv.up_ring).seconds if a > 1 else 0.0
    t_out = all_to_all_time(outside, ep - a + 1, lv.out).seconds
    return t_in + t_out


def stage_send_s(payload_bytes: float, tp: int, ep: int, pp: int, lv: Levels) -> float:
    """Seconds of the slowest stage-to-stage send of a micro-batch's activations
    (`payload_bytes` per device): over the NIC when any stage boundary crosses domains."""
    if pp <= 1:
        return 0.0
    _, domains = group_span(tp * ep, pp, lv.domain_devices)
    return send_time(payload_bytes, lv.out if domains > 1 else lv.up).seconds


# --- splitting a step -------------------------------------------------------------------------


def largest_part(batch: BatchComposition, parts: int) -> BatchComposition:
    """The first (largest) of `parts` round-robin shares of `batch`: prefill chunks
    0, parts, 2·parts, …; ⌈decodes/parts⌉ decode tokens with their share of the context.
    A single request is never split (it goes whole to one share)."""
    if parts <= 1:
        return batch
    chunks: tuple[PrefillChunk, ...] = batch.prefill[::parts]
    d = batch.decode_count
    d_part = -(-d // parts)
    ctx = round(batch.decode_context_sum * d_part / d) if d else 0
    return BatchComposition(prefill=chunks, decode_count=d_part, decode_context_sum=ctx)


def _sequences(batch: BatchComposition) -> int:
    return len(batch.prefill) + batch.decode_count


def micro_batch_count(batch: BatchComposition, pp: int, micro_batches: int) -> int:
    """Micro-batches of a step: 1 without PP; decode-only steps keep pp in flight; steps with
    prefill use `micro_batches` (0: pp); never more than the step's requests."""
    if pp <= 1:
        return 1
    want = pp if not batch.prefill else (micro_batches or pp)
    return max(1, min(want, _sequences(batch)))


def _base_step(
    hw: Hardware,
    model: ModelSpec,
    batch: BatchComposition,
    tp: int,
    sa_backend: str,
    shard: ExpertShard | None,
) -> StepTime:
    """One stage-step on one device (the tp-only models with the experts of `shard`)."""
    from ador_opt.perf.energy import gpu_step_energy_j, hda_step_energy_j, with_energy

    if hw.gpu is not None:
        from ador_opt.perf.gpu import gpu_step_time

        st = gpu_step_time(hw.gpu, model, batch, tp, ep_moe=shard)
        return with_energy(st, gpu_step_energy_j(hw.gpu, st))
    assert hw.arch is not None
    from ador_opt.perf.hda import hda_step_time

    st = hda_step_time(hw.arch, model, batch, tp, sa_backend, ep_moe=shard)
    return with_energy(st, hda_step_energy_j(hw.arch, st, model.precision.value))


@dataclass(frozen=True, slots=True)
class StepBreakdown:
    """Where a parallel step's time goes (seconds, one device of the slowest stage)."""

    stage_s: float  # one stage-step of one micro-batch, all-to-alls included
    all_to_all_s: float  # of which dispatch + combine
    send_s: float  # one stage-to-stage send
    micro_batches: int
    bubble_fraction: float
    expert_tokens: int  # tokens whose routing the most loaded expert device sees
    seconds: float


@lru_cache(maxsize=32768)
def parallel_breakdown(
    hw: Hardware,
    model: ModelSpec,
    batch: BatchComposition,
    par: Parallelism,
    sa_backend: str = "closed-form",
) -> tuple[StepTime, StepBreakdown]:
    """The step of `batch` on a tp × ep × pp replica of `hw` (module docstring)."""
    par.check(model)
    tp, ep, pp = par.tp, par.ep, par.pp
    stage_model = model if pp == 1 else stage_of(model, pp)
    m = micro_batch_count(batch, pp, par.micro_batches)
    micro = largest_part(batch, m)
    group = largest_part(micro, ep)  # the attention replica with the most requests
    is_moe = model.num_experts > 1
    shard = ExpertShard(ep, micro.tokens) if ep > 1 and is_moe else None
    st = _base_step(hw, stage_model, group, tp, sa_backend, shard)
    lv = levels_of(hw)
    h, ab = model.hidden_size, model.bytes_per_activation
    a2a_s = a2a_bytes = 0.0
    if shard is not None:
        leaving = model.experts_per_token * (ep - 1) / ep
        payload = group.tokens / tp * h * ab * leaving
        a2a_s = 2 * moe_layers(stage_model) * ep_all_to_all_s(payload, tp, ep, lv)
        # Bytes one device sends in dispatch + combine per micro-batch, over all MoE layers.
        a2a_bytes = 2 * moe_layers(stage_model) * payload
    send_s = stage_send_s(group.tokens / tp * h * ab, tp, ep, pp, lv)
    stage_s = st.seconds + a2a_s
    period = stage_s + send_s
    if pp == 1:
        seconds, bubble = stage_s, 0.0
    elif not batch.prefill:
        seconds, bubble = pp * period - send_s, 0.0
    else:
        seconds, bubble = (m + pp - 1) * period - send_s, bubble_fraction(pp, m)
    comm_s = (a2a_s + send_s) * m
    per_pass = scale_step(st, m)  # every micro-batch's work and activity
    busy = dict(per_pass.busy_s)
    busy["p2p"] = busy.get("p2p", 0.0) + comm_s
    bound = "p2p" if a2a_s + send_s > st.seconds else st.bound
    # The all-to-alls' bytes on the links, charged at e_link like the TP collectives' (HDA
    # designs; GPU presets keep the datasheet-TDP rule of their stage step, no per-byte term).
    a2a_bytes *= m
    energy = per_pass.energy_j
    if a2a_bytes and hw.gpu is None and hw.arch is not None:
        from ador_opt.perf.energy import link_energy_j

        energy += link_energy_j(hw.arch, a2a_bytes)
    out = replace(
        per_pass,
        seconds=seconds,
        bound=bound,
        busy_s=MappingProxyType(busy),
        p2p_bytes=per_pass.p2p_bytes + a2a_bytes,
        energy_j=energy,
    )
    tokens = micro.tokens if shard is not None else 0
    return out, StepBreakdown(stage_s, a2a_s, send_s, m, bubble, tokens, seconds)


def parallel_step_time(
    hw: Hardware,
    model: ModelSpec,
    batch: BatchComposition,
    par: Parallelism,
    sa_backend: str = "closed-form",
) -> StepTime:
    """Latency of one step of `batch` on a tp × ep × pp replica of `hw`; counters (busy,
    bytes, FLOPs, energy) are those of one device of the slowest stage."""
    return parallel_breakdown(hw, model, batch, par, sa_backend)[0]


def resolve_parallelism(
    hw: Hardware,
    tp: int,
    ep: int | None = None,
    pp: int | None = None,
    micro_batches: int | None = None,
) -> Parallelism:
    """`ep`/`pp`/`micro_batches` when given, else the HDA design's own fields, else 1/1/0
    (GPU presets carry no parallelism of their own; `--tp` works the same way)."""
    arch = hw.arch if hw.gpu is None else None
    return Parallelism(
        tp=tp,
        ep=ep if ep is not None else (arch.ep if arch is not None else 1),
        pp=pp if pp is not None else (arch.pp if arch is not None else 1),
        micro_batches=micro_batches
        if micro_batches is not None
        else (arch.micro_batches if arch is not None else 0),
    )


def with_parallelism(
    hw: Hardware,
    model: ModelSpec,
    tp: int,
    ep: int | None = None,
    pp: int | None = None,
    micro_batches: int | None = None,
) -> Hardware:
    """`hw` with `ep`/`pp`/`micro_batches` in place of the design's own fields (None: keep
    them), for the serving simulator, which reads a replica's EP/PP from the design. The
    layout is checked against `model` at `tp` (InputError). The design keeps its number of
    data-parallel replicas (devices = tp · ep · pp · dp). GPUs are served tensor-parallel
    only (their presets carry no EP/PP fields), so ep or pp above 1 on a GPU is refused."""
    if ep is None and pp is None and micro_batches is None:
        return hw
    par = resolve_parallelism(hw, tp, ep, pp, micro_batches)  # validates the values
    par.check(model)
    if hw.gpu is not None or hw.arch is None:
        if par.ep > 1 or par.pp > 1:
            raise InputError(
                f"ep/pp above 1 in the serving simulator needs an HDA design; {hw.name} is a "
                "GPU, served tensor-parallel only (evaluate times EP/PP on GPUs)"
            )
        return hw
    arch = hw.arch
    devices = arch.tp * par.ep * par.pp * arch.dp
    changed = arch.replace(ep=par.ep, pp=par.pp, micro_batches=par.micro_batches, devices=devices)
    return Hardware(hw.name, changed, None)


def kv_share(ep: int, pp: int) -> float:
    """Fraction of a replica's KV cache one device holds, relative to tp-only: its stage's
    L/pp layers of the requests of its attention replica (1/ep of them)."""
    return 1.0 / (ep * pp)


def check_layout_devices(devices: int, par: Parallelism) -> None:
    """Refuse a device count that is not a whole number of replicas."""
    if devices % par.devices:
        raise InputError(f"devices ({devices}) must be a multiple of tp · ep · pp ({par.devices})")


def replicas_for(devices: int, par: Parallelism) -> int:
    check_layout_devices(devices, par)
    return devices // par.devices


__all__ = [
    "Parallelism",
    "bubble_fraction",
    "check_parallelism",
    "ep_all_to_all_s",
    "largest_part",
    "levels_of",
    "parallel_breakdown",
    "parallel_step_time",
    "resolve_parallelism",
    "weight_bytes_per_device",
    "with_parallelism",
]
