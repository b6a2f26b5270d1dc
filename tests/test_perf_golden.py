"""Golden regression test of the performance model's numbers (issue 11, evaluator speed-up).

The file `tests/data/perf_golden.json.gz` holds, for a fixed seeded set of cases, every number
the perf stage returns: full `evaluate_design` documents (designs of the HDA template across
its knobs, presets, GPU presets; several models, precisions, batch and sequence lengths, tp)
and every `StepTime` field of `step_time` on prefill-only, decode-only and mixed serving steps.
It was written from `main` at 6346fc3 (before the speed-up; first pinned at 0ffbd11, re-pinned
after rebasing onto main's model-family changes) with

    PYTHONPATH=<checkout> python tests/test_perf_golden.py --write

A speed-up of the perf model must reproduce every number within REL_TOL (1e-12 relative; in
practice they are bit-identical). A change of the model's physics changes them on purpose:
then regenerate the file with the command above in the same commit and say so in its message.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import sys
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent / "data" / "perf_golden.json.gz"
REL_TOL = 1e-12

# (model, precision, batch, input_len, output_len, tp): the Fig. 15 static batch, a short int8
# single request, MoE at tp 2, a 70B model at tp 8 with 16 decode steps (the exact-sum branch),
# a single output token (no decode phase).
SCENARIOS: tuple[tuple[str, str, int, int, int, int], ...] = (
    ("llama-3-8b", "fp16", 16, 1024, 1024, 1),
    ("llama-3-8b", "int8", 1, 128, 64, 1),
    ("mixtral-8x7b", "fp8", 32, 512, 128, 2),
    ("llama-2-70b", "fp16", 150, 2048, 17, 8),
    ("gemma-2b", "fp16", 4, 300, 1, 1),
)


def random_design(rng: random.Random) -> dict[str, Any]:
    """A design line around ador-paper touching every timing knob of the template."""
    side = rng.choice((32, 64, 96, 128, 256))
    design: dict[str, Any] = {
        "base": rng.choice(("ador-paper", "ador-paper", "llmcompass-t", "tpu-v5e")),
        "core_count": rng.choice((4, 8, 16, 32, 64)),
        "sa_rows": side,
        "sa_cols": rng.choice((side, 32, 128)),
        "sa_per_core": rng.choice((1, 1, 2, 4)),
        "sa_weight_double_buffer": rng.random() < 0.3,
        "mt_lanes": rng.choice((0, 1, 4, 16, 32)),
        "mt_width": rng.choice((16, 32, 64, 128)),
        "vector_width": rng.choice((8, 32, 128)),
        "local_sram_kib": float(rng.choice((64, 256, 1024, 4096))),
        "global_sram_mib": float(rng.choice((1, 8, 64))),
        "noc_gbps": float(rng.choice((256, 2048, 8192))),
        "dram_gbps": float(rng.randint(4, 40) * 100),
        "freq_mhz": float(rng.choice((800, 1500, 2000))),
        "devices": 8,
        "tp_sync": rng.choice(("all-gather", "all-reduce", "megatron")),
    }
    if design["mt_lanes"] == 0:
        design["mt_width"] = 0  # no MAC tree
    if rng.random() < 0.2:
        design["int8_macs_per_fp16_mac"] = 2
    return design


def _compositions(rng: random.Random, count: int) -> list[Any]:
    from ador_opt.models.ops import BatchComposition, PrefillChunk

    out = []
    for i in range(count):
        kind = i % 3
        chunks: tuple[PrefillChunk, ...] = ()
        if kind != 1:
            n = rng.choice((1, 1, 2, 3, 8))
            chunks = tuple(
                PrefillChunk(
                    rng.randint(1, 1024 // n),
                    rng.choice((0, rng.randint(0, 4096))),
                    rng.random() < 0.7,
                )
                for _ in range(n)
            )
        n_dec = 0 if kind == 0 else rng.randint(1, 256)
        ctx = n_dec * rng.randint(1, 4096) if n_dec else 0
        out.append(BatchComposition(prefill=chunks, decode_count=n_dec, decode_context_sum=ctx))
    return out


def _step_doc(st: Any) -> dict[str, Any]:
    return {
        "seconds": st.seconds,
        "bound": st.bound,
        "busy_s": dict(st.busy_s),
        "dram_bytes": st.dram_bytes,
        "flops": st.flops,
        "sram_bytes": st.sram_bytes,
        "noc_bytes": st.noc_bytes,
        "p2p_bytes": st.p2p_bytes,
        "energy_j": st.energy_j,
    }


def compute() -> dict[str, Any]:
    """Every golden number, recomputed by the code on the path."""
    from ador_opt.errors import InputError
    from ador_opt.hardware.loader import hardware_from_dict
    from ador_opt.hardware.presets import HARDWARE_PRESETS
    from ador_opt.models import MODEL_PRESETS
    from ador_opt.perf.evaluate import evaluate_design
    from ador_opt.perf.hda import min_p2p_gbps_to_hide
    from ador_opt.perf.step import step_time

    rng = random.Random(11)
    designs: list[Any] = list(HARDWARE_PRESETS)
    designs += [random_design(rng) for _ in range(70)]
    evaluations = []
    hardware = []
    for d in designs:
        try:
            hw = HARDWARE_PRESETS[d] if isinstance(d, str) else hardware_from_dict(d)
        except InputError as exc:
            evaluations.append({"design": d, "error": str(exc)})
            continue
        hardware.append((d, hw))
        for model_name, precision, batch, inp, out, tp in SCENARIOS:
            model = MODEL_PRESETS[model_name].with_precision(precision)
            backends = ["closed-form"]
            if isinstance(d, str) and hw.gpu is None:
                backends.append("double-buffered")
            for backend in backends:
                try:
                    doc: Any = evaluate_design(hw, model, batch, inp, out, tp, backend)
                except InputError as exc:
                    doc = {"error": str(exc)}
                evaluations.append({"design": d, "scenario": [model_name, precision, batch,
                                    inp, out, tp, backend], "doc": doc})  # fmt: skip

    steps = []
    step_models = (
        ("llama-3-8b", "fp16", 1),
        ("llama-3-8b", "int8", 1),
        ("llama-2-70b", "fp16", 2),
        ("mixtral-8x7b", "fp8", 2),
    )
    compositions = _compositions(rng, 24)
    for d, hw in hardware[:14]:
        for model_name, precision, tp in step_models:
            model = MODEL_PRESETS[model_name].with_precision(precision)
            for i, batch in enumerate(compositions):
                if i % 2 and model_name != "llama-3-8b":
                    continue
                try:
                    row: Any = _step_doc(step_time(hw, model, batch, tp))
                except InputError as exc:
                    row = {"error": str(exc)}
                steps.append({"design": d, "model": [model_name, precision, tp], "i": i,
                              "step": row})  # fmt: skip
    hide = []
    for d, hw in hardware[:6]:
        if hw.gpu is None and hw.arch is not None:
            model = MODEL_PRESETS["llama-2-70b"]
            try:
                hide.append([d, min_p2p_gbps_to_hide(hw.arch, model, compositions[2], 4)])
            except InputError as exc:  # e.g. the bisection's probe exceeds a link limit
                hide.append([d, str(exc)])
    return {"evaluations": evaluations, "steps": steps, "p2p_to_hide": hide}


def _diffs(ref: Any, new: Any, where: str, out: list[str]) -> None:
    if isinstance(ref, float) and isinstance(new, float | int) and not isinstance(new, bool):
        same = ref == new or (math.isnan(ref) and math.isnan(new))
        if not same and not math.isclose(ref, new, rel_tol=REL_TOL, abs_tol=0.0):
            out.append(f"{where}: {ref!r} != {new!r}")
    elif isinstance(ref, dict) and isinstance(new, dict):
        if ref.keys() != new.keys():
            out.append(f"{where}: keys {sorted(ref)} != {sorted(new)}")
        for k in ref.keys() & new.keys():
            _diffs(ref[k], new[k], f"{where}.{k}", out)
    elif isinstance(ref, list) and isinstance(new, list):
        if len(ref) != len(new):
            out.append(f"{where}: length {len(ref)} != {len(new)}")
        for i, (a, b) in enumerate(zip(ref, new, strict=False)):
            _diffs(a, b, f"{where}[{i}]", out)
    elif ref != new:
        out.append(f"{where}: {ref!r} != {new!r}")


def _normalise(doc: Any) -> Any:
    """JSON round trip (tuples → lists, enums → strings), as the golden file stores it."""
    return json.loads(json.dumps(doc))


def test_perf_numbers_match_golden() -> None:
    ref = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    new = _normalise(compute())
    problems: list[str] = []
    _diffs(ref, new, "golden", problems)
    assert not problems, f"{len(problems)} numbers differ, e.g.\n" + "\n".join(problems[:10])


def test_golden_comparison_can_fail() -> None:
    """The comparison flags a relative change of 1e-10 and a changed bound."""
    problems: list[str] = []
    _diffs({"a": [1.0, "dram"]}, {"a": [1.0 + 1e-10, "dram"]}, "x", problems)
    _diffs({"a": [1.0, "dram"]}, {"a": [1.0, "systolic"]}, "x", problems)
    assert len(problems) == 2


def test_golden_covers_every_kind_of_case() -> None:
    ref = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    docs = [e["doc"] for e in ref["evaluations"] if "doc" in e]
    feasible = [d for d in docs if d.get("feasible")]
    assert len(feasible) >= 150
    bounds = {d["bound"]["decode"] for d in feasible} | {d["bound"]["prefill"] for d in feasible}
    assert {"systolic", "dram"} <= bounds
    assert any(d["performance_model"] == "gpu" for d in feasible)
    assert len(ref["steps"]) >= 500


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_perf_golden.py --write")
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(_normalise(compute()), separators=(",", ":"), sort_keys=True)
    GOLDEN.write_bytes(gzip.compress(data.encode(), mtime=0))
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size:,} bytes)")
