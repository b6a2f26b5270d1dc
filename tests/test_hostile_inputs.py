"""Hostile input: every file a user can hand to ador-opt either runs or exits 2.

Property-based (hypothesis) over the four input kinds — study spec (TOML), `--designs` lines
(JSON lines), validation case files (CSV) and serving trace files (CSV). Inputs are made by
mutating valid ones (wrong types, missing or unknown keys, extreme numbers, NaN/inf, huge and
unicode strings, negative values) plus raw garbage (empty files, binary, truncated text), so
most examples get past the parser into the deep code. The CLI is driven in-process
(`ador_opt.cli.main`) for speed; a few subprocess checks at the end cover the real entry point.

For every example: exit code 0 or 2 (never 1 = internal error, never an uncaught exception);
on 2 exactly one line on stderr, nothing on stdout and — for `optimize` — no store written;
on 0 the documented JSON. A per-example alarm turns a hang into a failure.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import math
import os
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from tests.conftest import CASES_CSV, run_cli
from tests.explore_fixtures import spec_dict

EXAMPLES = 200
PER_EXAMPLE_LIMIT_S = 30  # generous: an example that takes longer is a hang, not slowness
HOSTILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class _Hang(BaseException):
    """Raised by the alarm; a BaseException so the CLI's `except Exception` cannot eat it."""


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def on_alarm(_sig: int, _frame: Any) -> None:
        raise _Hang(f"example still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_main(*args: str) -> Outcome:
    """`ador-opt ARGS` in-process: exit code and captured stdout/stderr."""
    from ador_opt.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_int, old_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    code: Any = 0
    try:
        with (
            _alarm(PER_EXAMPLE_LIMIT_S),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            main(list(args))
    except SystemExit as exc:
        code = exc.code
    except _Hang as exc:  # report the input that hung (the file named in the arguments)
        files = [Path(a) for a in args if Path(a).is_file()]
        shown = files[0].read_bytes()[:3000] if files else b""
        raise AssertionError(f"{exc}: ador-opt {' '.join(args)}; input file {shown!r}") from None
    finally:  # `optimize` installs a Ctrl-C handler; do not leak it into the next example
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    return Outcome(int(code or 0), out.getvalue(), err.getvalue())


def check_outcome(o: Outcome, bad: bool = False) -> None:
    """The contract every hostile example must meet. `bad=True`: the input is known to be
    invalid, so exit 0 (running it anyway) is a failure too."""
    if currently_in_test_context():  # --hypothesis-show-statistics: how many ran vs refused
        event(f"exit {o.code}")
    assert "Traceback" not in o.stderr, o.stderr
    assert o.code in ((2,) if bad else (0, 2)), (o.code, o.stderr[-2000:], o.stdout[:300])
    if o.code == 2:
        lines = [ln for ln in o.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, o.stderr
        assert lines[0].startswith("error: "), lines[0]
        assert o.stdout == "", o.stdout[:500]


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADOR_OPT_DEBUG", raising=False)


# --- shared value strategies -----------------------------------------------------------------
HUGE_STRING = "x" * 200_000
weird_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["", " ", "ллама-3-8b", "llama-3-8b\x00", "🦙", "../../etc/passwd", "NaN", "-1", "1e999",
         "ador-paper ", "A100", "\ufeff", "null", HUGE_STRING]
    ),
)  # fmt: skip
extreme_ints = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([2**31, 2**63 - 1, 2**63, 2**64, 10**18, 10**30, -(2**63), -(10**30)]),
    st.integers(-(2**70), 2**70),
)
extreme_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, 5e-324, 1e300, -1e300, 0.5, 1e18]),
)
# Valid-looking names, so that many mutations stay valid and reach the evaluation code.
NAMES = [
    "llama-3-8b",
    "llama-2-7b",
    "mixtral-8x7b",
    "llama-3-70b",
    "ador-paper",
    "a100",
    "llmcompass-l",
    "llmcompass-t",
    "a100-sxm-80gb",
    "h100-sxm-80gb",
    "fp8",
    "fp16",
    "tpe",
    "random",
    "nsga2",
    "grid",
    "stepwise",
    "chat",
    "static",
    "serving",
    "hbm3",
    "ddr5",
    "nvlink4",
    "megatron",
    "all-reduce",
    "maximize",
    "minimize",
    "tbt_ms",
    "ttft_ms",
    "area_mm2",
    "cost_usd",
    "throughput_tokens_per_s",
    "decode_step",
    "prefill",
    "gemm",
]
near_valid = st.one_of(
    st.integers(1, 512),
    st.sampled_from([32, 64, 128, 256, 1024, 4096]),
    st.floats(0.5, 5000),
    st.sampled_from(NAMES),
)
scalar = st.one_of(extreme_ints, extreme_floats, weird_text, st.booleans(), near_valid)
hostile_value = st.one_of(
    scalar,
    st.lists(scalar, max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=6), scalar, max_size=2),
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a nested dict/list document (tables and leaves)."""
    out: list[tuple[Any, ...]] = []
    items: Any = doc.items() if isinstance(doc, dict) else enumerate(doc)
    for key, value in items:
        path = (*prefix, key)
        out.append(path)
        if isinstance(value, dict | list):
            out.extend(_paths(value, path))
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _scaled(value: Any, factor: Any) -> Any:
    """A numeric leaf pushed to an extreme (or a sign flip), keeping its type where possible."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return factor
    try:
        result = value * factor
    except OverflowError:
        return factor
    return (
        int(result)
        if isinstance(value, int) and isinstance(result, float) and math.isfinite(result)
        else result
    )


@st.composite
def mutated(draw: st.DrawFn, base: Any, max_mutations: int = 3) -> Any:
    """`base` with 1…max_mutations hostile edits (replace, scale, delete, add a key)."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _get(doc, path[:-1])
        key = path[-1]
        op = draw(st.sampled_from(["replace", "scale", "delete", "add", "near", "near"]))
        if op == "near":
            parent[key] = draw(near_valid)
        elif op == "replace":
            parent[key] = draw(hostile_value)
        elif op == "scale":
            factor = draw(st.sampled_from([0, -1, 10**6, 10**30, 2**64, 0.5, 1.5, 1e300]))
            parent[key] = _scaled(parent[key], factor)
        elif op == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(scalar)
        else:
            parent.append(draw(scalar))
    return doc


# --- 1. study specs ---------------------------------------------------------------------------
def _toml_key(key: Any) -> str:
    return _toml_str(str(key))


def _toml_str(text: str) -> str:
    # JSON escapes are valid TOML basic-string escapes; TOML also forbids a raw DEL.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        inner = ", ".join(
            f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None
        )
        return "{" + inner + "}"
    raise TypeError(type(value))


def to_toml(doc: Any) -> str:
    """Serialise any dict as TOML (top-level keys with inline tables/arrays)."""
    if not isinstance(doc, dict):
        return _toml_value(doc) + "\n"  # not a valid document: exercises the parser
    return "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in doc.items())


SERVING_BASE = spec_dict()
SERVING_BASE["scenarios"] = [{"kind": "serving", "workload": "chat", "num_requests": 20}]
SERVING_BASE["slo"] = {"ttft_p90_ms": 2000.0, "tbt_p99_ms": 200.0}
SERVING_BASE["objectives"] = [{"name": "capacity_per_mm2"}, {"name": "area_mm2"}]

spec_text = st.one_of(
    mutated(spec_dict()).map(to_toml),
    mutated(SERVING_BASE, max_mutations=2).map(to_toml),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.integers(0, 700).map(lambda k: to_toml(spec_dict())[:k]),
    st.just(""),
)


@HOSTILE
@given(text=spec_text)
def test_hostile_spec(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.toml"
        spec.write_text(text, encoding="utf-8", errors="surrogatepass")
        store = Path(tmp) / "store.journal"
        # --n-trials keeps a valid spec cheap whatever n_trials the mutation wrote; --storage
        # keeps the store inside tmp and lets us check that a refused spec writes nothing.
        o = run_main("optimize", str(spec), "--storage", str(store), "--n-trials", "2", "--json")
        check_outcome(o)
        if o.code == 2:
            leftovers = sorted(p.name for p in Path(tmp).iterdir() if p.name != "spec.toml")
            assert leftovers == [], (leftovers, o.stderr)
        else:
            doc = json.loads(o.stdout)
            assert doc["complete"] == 2 and doc["n_trials"] == 2, doc


def test_spec_errors_name_the_field() -> None:
    """A mutation of one known key is reported under that key's name."""
    cases = [
        (("scenarios", 0, "batch"), -4, "batch"),
        (("scenarios", 0, "input_len"), float("nan"), "input_len"),
        (("budget", "area_mm2"), float("inf"), "area_mm2"),
        (("budget", "area_mm2"), "big", "area_mm2"),
        (("study", "sampler"), "annealing", "sampler"),
        (("space", "sa_dim"), {"min": 48, "max": 96, "step": 48}, "sa_dim"),
        (("space", "core_count"), {"choices": []}, "core_count"),
        (("model", "names"), ["ллама"], "names"),
        (("slo", "tbt_ms"), -1.0, "tbt_ms"),
        (("objectives", 0, "name"), "speed", "name"),
    ]
    for path, value, needle in cases:
        doc = spec_dict()
        _get(doc, path[:-1])[path[-1]] = value
        with tempfile.TemporaryDirectory() as tmp:
            spec = Path(tmp) / "spec.toml"
            spec.write_text(to_toml(doc), encoding="utf-8")
            o = run_main("optimize", str(spec), "--storage", str(Path(tmp) / "s.db"), "--json")
            check_outcome(o, bad=True)
            assert o.code == 2, (path, value, o.stdout[:300])
            assert needle in o.stderr, (path, o.stderr)
            assert not (Path(tmp) / "s.db").exists()


# --- 2. --designs lines -----------------------------------------------------------------------
DESIGN_BASE = {"base": "ador-paper", "sa_rows": 64, "sa_cols": 64, "core_count": 32,
               "mt_lanes": 16, "local_sram_kib": 2048, "global_sram_mib": 16,
               "dram_gbps": 2000, "tp_sync": "all-gather"}  # fmt: skip
design_line = st.one_of(
    mutated(DESIGN_BASE).map(lambda d: json.dumps(d, ensure_ascii=False)),
    st.sampled_from(['"ador-paper"', '"a100"', '"nope"', "[]", "null", "42", "{", "", "   ",
                     '{"base": "ador-paper", "sa_rows": NaN}', '{"base": "ador-paper"}',
                     '{"base": "a100-sxm-80gb"}', "\x00\x01", '{"sa_rows": Infinity}']),
    st.text(max_size=60),
)  # fmt: skip
designs_file = st.one_of(
    st.lists(design_line, min_size=1, max_size=4).map(lambda ls: ("\n".join(ls) + "\n").encode()),
    st.binary(max_size=200),
    st.just(b""),
)


@HOSTILE
@given(data=designs_file)
def test_hostile_designs(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "designs.jsonl"
        path.write_bytes(data)
        o = run_main("evaluate", "--model", "llama-3-8b", "--designs", str(path), "--batch", "2",
                     "--input-len", "32", "--output-len", "2", "--json")  # fmt: skip
        check_outcome(o)
        if o.code == 0:
            for line in o.stdout.splitlines():
                doc = json.loads(line, parse_constant=_no_constant)  # strict JSON: no NaN
                assert isinstance(doc["line"], int)
                if doc["feasible"]:
                    for key in ("ttft_ms", "tbt_ms", "e2e_ms", "area_mm2"):
                        assert isinstance(doc[key], float | int) and doc[key] > 0, (key, doc)
                else:
                    assert isinstance(doc["reason"], str) and doc["reason"], doc


def _no_constant(name: str) -> Any:
    raise AssertionError(f"non-standard JSON constant {name} on stdout")


# --- 3. validation case files -----------------------------------------------------------------
def _case_rows() -> tuple[list[str], list[dict[str, str]]]:
    """Header and one row of each cheap scenario of the shipped calibration table."""
    with CASES_CSV.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    picked: dict[str, dict[str, str]] = {}
    for row in rows:
        if row["scenario"] in ("gemm", "allreduce", "decode_step", "prefill", "static_batch"):
            picked.setdefault(row["scenario"], row)
    return header, list(picked.values())


CASE_HEADER, CASE_ROWS = _case_rows()
cell_value = st.one_of(
    near_valid.map(str),
    near_valid.map(str),
    weird_text.filter(lambda s: len(s) < 1000),
    extreme_ints.map(str),
    extreme_floats.map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "1e30", "1.5", "0", "-0", "0x10", "1_000"]),
)


@st.composite
def case_file(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        return b""
    header = list(CASE_HEADER)
    rows = [dict(r) for r in draw(st.lists(st.sampled_from(CASE_ROWS), min_size=1, max_size=2))]
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["cell", "cell", "cell", "drop_column", "extra_cell", "dup"]))
        row = draw(st.sampled_from(rows))
        if op == "cell":
            row[draw(st.sampled_from(header))] = draw(cell_value)
        elif op == "drop_column" and len(header) > 1:
            header.remove(draw(st.sampled_from(header)))
        elif op == "extra_cell":
            row[None] = "surplus"  # type: ignore[index]
        else:
            rows.append(dict(row))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        cells = [row.get(c, "") for c in header]
        if None in row:
            cells.append(row[None])  # type: ignore[index]
        writer.writerow(cells)
    text = buf.getvalue()
    if kind == 2:
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode("utf-8", errors="surrogatepass")


@HOSTILE
@given(data=case_file())
def test_hostile_case_files(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.csv"
        path.write_bytes(data)
        o = run_main("validate", str(path), "--json")
        check_outcome(o)
        if o.code == 0:
            doc = json.loads(o.stdout, parse_constant=_no_constant)
            assert doc["cases"], doc
            for case in doc["cases"]:
                assert {"case_id", "scenario", "metric", "measured", "predicted"} <= set(case)


# --- 4. serving trace files -------------------------------------------------------------------
trace_cell = st.one_of(
    st.integers(1, 4096).map(str),
    cell_value,
)


@st.composite
def trace_file(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        return b""
    columns = ["input_len", "output_len"] + (["arrival_s"] if draw(st.booleans()) else [])
    if draw(st.integers(0, 5)) == 0:
        columns[draw(st.integers(0, len(columns) - 1))] = draw(
            weird_text.filter(lambda s: len(s) < 50)
        )
    n = draw(st.integers(1, 4))
    rows = [[str(64 * (i + 1)), str(4 + i), str(0.1 * i)][: len(columns)] for i in range(n)]
    for _ in range(draw(st.integers(0, 3))):
        r = draw(st.integers(0, n - 1))
        c = draw(st.integers(0, len(columns) - 1))
        rows[r][c] = draw(trace_cell)
    if draw(st.integers(0, 6)) == 0:
        rows[0].append("surplus")
    if draw(st.integers(0, 6)) == 0:
        rows[-1] = rows[-1][:1]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    writer.writerows(rows)
    text = buf.getvalue()
    if kind == 2:
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode("utf-8", errors="surrogatepass")


@HOSTILE
@given(data=trace_file())
def test_hostile_trace_files(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.csv"
        path.write_bytes(data)
        o = run_main("simulate", "--model", "llama-3-8b", "--hardware", "ador-paper",
                     "--trace", str(path), "--rate", "5", "--seed", "1", "--json")  # fmt: skip
        check_outcome(o)
        if o.code == 0:
            doc = json.loads(o.stdout, parse_constant=_no_constant)
            assert {"ttft_ms", "tbt_ms", "e2e_ms"} <= set(doc), doc


# --- the real entry point (subprocess) ------------------------------------------------------
DESIGN_ARGS = ["--batch", "2", "--input-len", "32", "--output-len", "2"]


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("spec", b"\x89PNG\r\n\x1a\n\x00\x00garbage"),
        ("spec", b'[study]\nname = "x"\nn_trials = 1e999\n'),
        ("designs", b'{"base": "ador-paper", "core_count": 1e400}\n\xff\xfe\n'),
        ("cases", b"case_id,scenario\n"),
        ("trace", b"input_len,output_len\n100000000000000000000000,10\n"),
    ],
)
def test_hostile_subprocess(tmp_path: Path, kind: str, data: bytes) -> None:
    """Known-bad inputs through the real entry point: refused (exit 2), never run. A bad
    `--designs` file is the exception by contract (DESIGN §3): exit 0, every line
    `feasible: false` with its reason. Every other argument is valid, so the refusal comes
    from reading the file (not from a missing option)."""
    path = tmp_path / f"input.{kind}"
    path.write_bytes(data)
    args = {
        "spec": ["optimize", str(path), "--storage", str(tmp_path / "s.db")],
        "designs": ["evaluate", "--model", "llama-3-8b", "--designs", str(path), *DESIGN_ARGS,
                    "--json"],
        "cases": ["validate", str(path), "--json"],
        "trace": ["simulate", "--model", "llama-3-8b", "--hardware", "ador-paper", "--trace",
                  str(path), "--rate", "5", "--json"],
    }[kind]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "ADOR_OPT_DEBUG"}
    result = run_cli(*args, cwd=tmp_path, env=env)
    outcome = Outcome(result.code, result.stdout, result.stderr)
    if kind == "designs":
        check_outcome(outcome)
        assert result.code == 0, result.stderr
        docs = [json.loads(line) for line in result.stdout.splitlines()]
        assert [d["line"] for d in docs] == [1, 2]
        assert all(d["feasible"] is False and d["reason"] for d in docs), docs
    else:
        check_outcome(outcome, bad=True)
        assert str(path.name) in result.stderr or kind == "cases", result.stderr
    assert not (tmp_path / "s.db").exists()


def test_check_outcome_rejects_exit_0_for_bad_input() -> None:
    """The checker itself can fail: a known-bad input that ran is reported."""
    with pytest.raises(AssertionError):
        check_outcome(Outcome(0, "{}", ""), bad=True)
    with pytest.raises(AssertionError):
        check_outcome(Outcome(1, "", "internal error: ZeroDivisionError"))
    with pytest.raises(AssertionError):
        check_outcome(Outcome(2, "", "error: a\nerror: b\n"))
