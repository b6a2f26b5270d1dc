"""Speed and exactness of one step evaluation (`perf.step_time`) on cold calls.

A fixed, seeded set of distinct batch compositions (prefill-only, decode-only and mixed
Sarathi-style steps; 1–4 prefill chunks of ≤ 512 tokens on 0–4k cached context, 0–256 decode
tokens) is evaluated on several (hardware, model, precision, tp) cases: ador-paper (MAC trees;
all-gather, all-reduce and Megatron TP sync; the double-buffered SA backend), llmcompass-t (no
MAC tree), a100 and h100 (GPU model); llama-3-8b in fp16 and fp8, llama-2-70b at tp 2 and 8,
mixtral-8x7b (MoE) at tp 1 and 2.

Each case runs in a fresh subprocess, so every call is a first (cold) call of its composition,
with the per-shape inner caches warming as the case proceeds — the situation of the serving
simulator, which asks once per distinct step shape. Two sets per case: "raw" compositions
(random token counts: almost every GEMM shape is new, the worst case) and "bucketed" ones
(the same steps mapped to the serving simulator's memo key, `serving/stepcache.py`, so token
counts repeat as in a serving run). Prints µs per call (CPU time) per case and set.

    python benchmarks/step_speed.py --save ref.json.gz     # record results (e.g. before a change)
    python benchmarks/step_speed.py --check ref.json.gz    # compare: ≤ 1e-9 relative, same bound

Each result row: seconds, bound, busy seconds per unit, DRAM bytes, FLOPs, and a digest of the
step's op list (`step_ops`, every field), which must match exactly.

`--check` exits 1 on any difference. `--repeat N` times each case N times (fresh processes) and
reports the minimum.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import random
import subprocess
import sys
import time
from typing import Any

from ador_opt.hardware import load_hardware
from ador_opt.hardware.presets import Hardware
from ador_opt.models import load_model
from ador_opt.models.ops import BatchComposition, PrefillChunk, step_ops
from ador_opt.models.spec import ModelSpec
from ador_opt.perf import step_time
from ador_opt.serving.stepcache import StepGrid, canonical_key, composition_of

# (label, hardware preset, arch overrides, model, precision, tp, sa_backend, compositions)
CASES: tuple[tuple[str, str, dict[str, Any], str, str, int, str, int], ...] = (
    ("ador-paper llama-3-8b fp16 tp1", "ador-paper", {}, "llama-3-8b", "fp16", 1, "cf", 1500),
    ("ador-paper llama-3-8b fp8 tp1", "ador-paper", {}, "llama-3-8b", "fp8", 1, "cf", 400),
    (
        "ador-paper llama-2-70b fp16 tp8",
        "ador-paper",
        {"devices": 8},
        "llama-2-70b",
        "fp16",
        8,
        "cf",
        300,
    ),
    (
        "ador-paper/all-reduce llama-2-70b tp2",
        "ador-paper",
        {"devices": 2, "tp_sync": "all-reduce"},
        "llama-2-70b",
        "fp16",
        2,
        "cf",
        200,
    ),
    (
        "ador-paper/megatron llama-3-8b tp2",
        "ador-paper",
        {"devices": 2, "tp_sync": "megatron"},
        "llama-3-8b",
        "fp16",
        2,
        "cf",
        200,
    ),
    (
        "ador-paper mixtral-8x7b fp16 tp2",
        "ador-paper",
        {"devices": 2},
        "mixtral-8x7b",
        "fp16",
        2,
        "cf",
        300,
    ),
    (
        "ador-paper double-buffered llama-3-8b",
        "ador-paper",
        {},
        "llama-3-8b",
        "fp16",
        1,
        "db",
        200,
    ),
    ("llmcompass-t llama-3-8b fp16 tp1", "llmcompass-t", {}, "llama-3-8b", "fp16", 1, "cf", 600),
    ("llmcompass-t mixtral-8x7b fp8 tp1", "llmcompass-t", {}, "mixtral-8x7b", "fp8", 1, "cf", 200),
    ("a100 llama-3-8b fp16 tp1", "a100", {}, "llama-3-8b", "fp16", 1, "cf", 600),
    ("a100 llama-2-70b fp16 tp8", "a100", {}, "llama-2-70b", "fp16", 8, "cf", 300),
    ("h100 llama-3-8b fp8 tp1", "h100-sxm-80gb", {}, "llama-3-8b", "fp8", 1, "cf", 400),
    ("h100 mixtral-8x7b fp16 tp2", "h100-sxm-80gb", {}, "mixtral-8x7b", "fp16", 2, "cf", 300),
)
BACKENDS = {"cf": "closed-form", "db": "double-buffered"}
REL_TOL = 1e-9
KINDS = ("us_raw", "us_bucketed")


def compositions(seed: int, count: int, bucketed: bool) -> list[BatchComposition]:
    """`count` distinct compositions, a third each prefill-only, decode-only and mixed; with
    `bucketed`, each is first mapped to the serving simulator's memo key (stepcache), so token
    counts repeat as they do in a serving run."""
    rng = random.Random(seed)
    grid = StepGrid()
    seen: set[BatchComposition] = set()
    out: list[BatchComposition] = []
    while len(out) < count:
        kind = len(out) % 3
        chunks: tuple[PrefillChunk, ...] = ()
        if kind != 1:
            n_chunks = rng.choice((1, 1, 1, 2, 3, 4))
            chunks = tuple(
                PrefillChunk(
                    rng.randint(1, 512 // n_chunks),
                    rng.choice((0, rng.randint(0, 4096))),
                    rng.random() < 0.7,
                )
                for _ in range(n_chunks)
            )
        n_dec = 0 if kind == 0 else rng.randint(1, 256)
        ctx = n_dec * rng.randint(1, 4096) if n_dec else 0
        batch = BatchComposition(prefill=chunks, decode_count=n_dec, decode_context_sum=ctx)
        if bucketed:
            raw = [(c.tokens, c.context, c.last) for c in chunks]
            batch = composition_of(canonical_key(grid, raw, n_dec, ctx))
        if batch not in seen:
            seen.add(batch)
            out.append(batch)
    return out


def _hardware(preset: str, overrides: dict[str, Any]) -> Hardware:
    hw = load_hardware(preset)
    if overrides:
        assert hw.arch is not None
        return Hardware(hw.name, hw.arch.replace(**overrides), hw.gpu)
    return hw


def run_case(index: int, kind: str) -> dict[str, Any]:
    """Evaluate the `kind` ("raw" or "bucketed") set of case `index`: results, µs per call."""
    label, preset, overrides, model_name, precision, tp, backend, count = CASES[index]
    hw = _hardware(preset, overrides)
    model = load_model(model_name).with_precision(precision)
    import ador_opt.perf.gpu
    import ador_opt.perf.hda  # noqa: F401  (imported lazily by step_time: not part of a call)

    batches = compositions(index, count, kind == "bucketed")
    results = []
    start = time.process_time()
    for batch in batches:
        if hw.gpu is None:
            results.append(step_time(hw, model, batch, tp, BACKENDS[backend]))
        else:
            results.append(step_time(hw, model, batch, tp))
    elapsed = time.process_time() - start
    rows = [
        [r.seconds, r.bound, dict(r.busy_s), r.dram_bytes, r.flops, _ops_digest(model, b, tp)]
        for r, b in zip(results, batches, strict=True)
    ]
    return {"label": label, f"us_{kind}": 1e6 * elapsed / count, "rows": rows}


def _child(index: int, kind: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--case", str(index), "--kind", kind],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(out))


def _ops_digest(model: ModelSpec, batch: BatchComposition, tp: int) -> str:
    """Digest of the step's op list (`step_ops`), every field of every op."""
    return hashlib.sha256(repr(step_ops(model, batch, tp)).encode()).hexdigest()[:16]


def _close(a: float, b: float) -> bool:
    return a == b or math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-300)


def compare(label: str, ref: list[Any], new: list[Any]) -> list[str]:
    """Differences between two result lists of one case (empty when identical)."""
    problems = []
    for i, (a, b) in enumerate(zip(ref, new, strict=True)):
        sa, bound_a, busy_a, dram_a, fl_a, ops_a = a
        sb, bound_b, busy_b, dram_b, fl_b, ops_b = b
        bad = (
            ops_a != ops_b
            or not _close(sa, sb)
            or bound_a != bound_b
            or busy_a.keys() != busy_b.keys()
            or any(not _close(busy_a[k], busy_b[k]) for k in busy_a)
            or not _close(dram_a, dram_b)
            or not _close(fl_a, fl_b)
        )
        if bad:
            problems.append(f"{label} #{i}: {a} != {b}")
    return problems


def _mean(docs: list[dict[str, Any]], kind: str) -> float:
    calls = sum(len(d["rows"]) for d in docs)
    return sum(d[kind] * len(d["rows"]) for d in docs) / calls


def _ratio(old: dict[str, Any], new: dict[str, Any], kind: str) -> str:
    return f"{old[kind]:6.1f} → {new[kind]:5.1f} ({old[kind] / new[kind]:.1f}×)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--save", help="write results to this .json.gz file")
    ap.add_argument("--check", help="compare results with this .json.gz file")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--case", type=int, help=argparse.SUPPRESS)  # child process mode
    ap.add_argument("--kind", default="raw", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case is not None:
        print(json.dumps(run_case(args.case, args.kind)))
        return
    docs = []
    print(f"{'case':<42} {'calls':<11} {'µs raw':>8} {'bucketed':>8}  (µs per cold call)")
    for index in range(len(CASES)):
        doc: dict[str, Any] = {"label": CASES[index][0], "rows": []}
        for kind in ("raw", "bucketed"):
            runs = [_child(index, kind) for _ in range(args.repeat)]
            doc[f"us_{kind}"] = min(r[f"us_{kind}"] for r in runs)
            doc["rows"] += runs[0]["rows"]
        docs.append(doc)
        calls = len(doc["rows"]) // 2
        line = f"{doc['label']:<42} {calls:>5}+{calls:<5}"
        print(f"{line} {doc['us_raw']:8.1f} {doc['us_bucketed']:8.1f}")
    print(
        f"{'all cases (call-weighted mean)':<42} {'':11} {_mean(docs, 'us_raw'):8.1f} "
        f"{_mean(docs, 'us_bucketed'):8.1f}"
    )
    if args.save:
        with gzip.open(args.save, "wt") as fh:
            json.dump(docs, fh)
    if args.check:
        with gzip.open(args.check, "rt") as fh:
            ref = json.load(fh)
        problems = []
        print(f"{'before → after, µs per cold call':<42} {'raw':>19} {'bucketed':>19}")
        for old, new in zip(ref, docs, strict=True):
            print(f"{new['label']:<42} " + " ".join(_ratio(old, new, k) for k in KINDS))
            problems += compare(new["label"], old["rows"], new["rows"])
        all_old = {k: _mean(ref, k) for k in KINDS}
        all_new = {k: _mean(docs, k) for k in KINDS}
        label = "all cases (call-weighted mean)"
        print(f"{label:<42} " + " ".join(_ratio(all_old, all_new, k) for k in KINDS))
        for line in problems[:20]:
            print(line)
        print(f"{len(problems)} differing results (tolerance {REL_TOL:g} relative)")
        if problems:
            sys.exit(1)


if __name__ == "__main__":
    main()
