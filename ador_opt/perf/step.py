"""Dispatch: the time of one serving step on any `Hardware` (HDA template or GPU)."""

from __future__ import annotations

from ador_opt.hardware.presets import Hardware
from ador_opt.models.ops import BatchComposition
from ador_opt.models.spec import ModelSpec
from ador_opt.perf.energy import gpu_step_energy_j, hda_step_energy_j, with_energy
from ador_opt.perf.result import StepTime


def step_time(
    hw: Hardware,
    model: ModelSpec,
    batch: BatchComposition,
    tp: int = 1,
    sa_backend: str = "closed-form",
    ep: int | None = None,
    pp: int | None = None,
    micro_batches: int | None = None,
    memo: bool = True,
) -> StepTime:
    """Latency of one step of `batch` on one device of a `tp`-way group of `hw`.

    GPUs (and presets that carry a `GpuSpec`, like `a100`) use the calibrated GPU model; HDA
    templates use the template model, whose systolic-array timing `sa_backend` picks
    ("closed-form", "scalesim" — opt-in re-scoring, cached on disk — or "double-buffered").
    `model` already carries its precision. The result carries the step's energy on one device
    (`StepTime.energy_j`, perf/energy.py).

    `ep`, `pp`, `micro_batches`: expert / pipeline parallelism of the replica (None: the HDA
    design's own `ep`/`pp`/`micro_batches` fields, 1/1/0 on GPUs); any of them above 1 times
    the step with `perf/parallel.py` (the slowest stage's device). `memo=False`: a caller
    that memoises steps itself skips the HDA model's memo of whole steps (same numbers).
    """
    own = hw.arch if hw.gpu is None else None
    if own is not None:
        wide = (ep or own.ep) > 1 or (pp or own.pp) > 1
    else:
        wide = (ep or 1) > 1 or (pp or 1) > 1
    if wide:
        from ador_opt.perf.parallel import parallel_step_time, resolve_parallelism

        par = resolve_parallelism(hw, tp, ep, pp, micro_batches)
        return parallel_step_time(hw, model, batch, par, sa_backend)
    if hw.gpu is not None:
        from ador_opt.perf.gpu import gpu_step_time

        st = gpu_step_time(hw.gpu, model, batch, tp)
        return with_energy(st, gpu_step_energy_j(hw.gpu, st))
    assert hw.arch is not None
    from ador_opt.perf.hda import hda_step_time

    st = hda_step_time(hw.arch, model, batch, tp, sa_backend, memo=memo)
    return with_energy(st, hda_step_energy_j(hw.arch, st, model.gemm_precision.value))
