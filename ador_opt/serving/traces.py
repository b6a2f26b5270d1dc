"""Workloads read from files: a CSV trace, or a local Hugging Face conversation dataset.

CSV: a header with `input_len,output_len` and optionally `arrival_s`; one request per row.

Hugging Face: the ADOR paper reconstructs request lengths from ultrachat_200k (§V-D, §VI-C).
`load_conversations` reads a local JSON/JSONL file of conversations (ultrachat's layout: a
`messages` list of `{"role", "content"}`) with only the standard library; a dataset directory
saved by `datasets` needs that package, imported lazily. The tokenizer is any object with an
`encode(text) -> list` method, or a path to a local tokenizer directory (needs `transformers`,
imported lazily, never downloading). Every assistant turn becomes one request: its prompt is the
conversation so far, its output the assistant's reply (how Sarathi-Serve replays multi-round
chat traces); with `multi_turn=False` only the first round of each conversation is used.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from ador_opt.errors import InputError
from ador_opt.limits import MAX_NUM_REQUESTS, check_request_tokens, read_input_text
from ador_opt.serving.workload import Workload, trace_workload

REQUIRED_COLUMNS = ("input_len", "output_len")


def load_trace_csv(path: str | Path) -> Workload:
    """A CSV trace `input_len,output_len[,arrival_s]` → a replaying Workload."""
    p = Path(path)
    text = read_input_text(p, "trace file")
    try:
        with io.StringIO(text, newline="") as fh:
            reader = csv.DictReader(fh)
            header = [c.strip() for c in (reader.fieldnames or [])]
            dupes = sorted({c for c in header if header.count(c) > 1})
            if dupes:
                raise InputError(f"{p}: duplicate column(s) {', '.join(dupes)} in the header")
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise InputError(f"{p}: trace is missing column(s) {', '.join(missing)}")
            has_arrival = "arrival_s" in header
            inputs: list[int] = []
            outputs: list[int] = []
            arrivals: list[float] = []
            for line, raw in enumerate(reader, start=2):
                if len(inputs) >= MAX_NUM_REQUESTS:
                    raise InputError(f"{p}: more than {MAX_NUM_REQUESTS:,} requests")
                if None in raw:  # DictReader files surplus cells under the key None
                    raise InputError(f"{p}:{line}: more cells than the header has columns")
                row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
                inputs.append(_int_cell(row, "input_len", p, line))
                outputs.append(_int_cell(row, "output_len", p, line))
                check_request_tokens(inputs[-1], outputs[-1], f"{p}:{line}")
                if has_arrival:
                    arrivals.append(_arrival_cell(row, p, line, arrivals))
    except UnicodeDecodeError:
        raise InputError(f"{p}: trace is not a text CSV file") from None
    except csv.Error as exc:
        raise InputError(f"{p}: malformed CSV: {exc}") from None
    if not inputs:
        raise InputError(f"{p}: trace has no requests")
    return trace_workload(
        p.stem, inputs, outputs, arrivals if has_arrival else None, source=f"trace {p.name}"
    )


def _int_cell(row: dict[str, str], col: str, path: Path, line: int) -> int:
    text = row.get(col, "")
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{path}:{line}: {col} must be an integer, got {text[:40]!r}") from None
    if value <= 0:
        raise InputError(f"{path}:{line}: {col} must be positive, got {value}")
    return value


def _arrival_cell(row: dict[str, str], path: Path, line: int, before: list[float]) -> float:
    text = row.get("arrival_s", "")
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{path}:{line}: arrival_s must be a number, got {text[:40]!r}") from None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{path}:{line}: arrival_s must be a finite time ≥ 0, got {text}")
    if before and value < before[-1]:
        raise InputError(f"{path}:{line}: arrival_s must not decrease ({value} < {before[-1]})")
    return value


# --- Hugging Face conversations ---


class Tokenizer(Protocol):
    def encode(self, text: str) -> Any: ...


def _conversations_from_json(path: Path) -> Iterator[Any]:
    text = read_input_text(path, "conversation file")
    if path.suffix == ".jsonl":
        for line, raw in enumerate(text.splitlines(), start=1):
            if raw.strip():
                try:
                    yield json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{line}: malformed JSON: {exc.msg}") from None
                except (ValueError, RecursionError) as exc:
                    raise InputError(f"{path}:{line}: unreadable JSON ({str(exc)[:80]})") from None
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{path}: unreadable JSON ({str(exc)[:80]})") from None
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of conversations")
    yield from data


def _conversations_from_dataset_dir(path: Path, split: str) -> Iterable[Any]:
    try:
        import datasets
    except ImportError:
        raise InputError(
            f"{path}: reading a saved Hugging Face dataset needs the `datasets` package "
            "(pip install datasets), or convert it to JSONL"
        ) from None
    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise InputError(f"{path}: no split {split!r}; splits: {', '.join(loaded)}")
        loaded = loaded[split]
    return loaded


def _resolve_tokenizer(tokenizer: Tokenizer | str | Path) -> Tokenizer:
    if not isinstance(tokenizer, str | Path):
        if not callable(getattr(tokenizer, "encode", None)):
            raise InputError("a tokenizer needs an encode(text) method")
        return tokenizer
    try:
        import transformers
    except ImportError:
        raise InputError(
            f"tokenizer {tokenizer}: loading a tokenizer directory needs the `transformers` "
            "package (pip install transformers)"
        ) from None
    if not Path(tokenizer).is_dir():
        raise InputError(f"tokenizer directory not found: {tokenizer}")
    return transformers.AutoTokenizer.from_pretrained(str(tokenizer), local_files_only=True)


def _messages(conv: Any, where: str) -> list[tuple[str, str]]:
    msgs = conv.get("messages") if isinstance(conv, dict) else None
    if not isinstance(msgs, list):
        raise InputError(f"{where}: a conversation needs a `messages` list")
    out = []
    for m in msgs:
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            raise InputError(f"{where}: every message needs a string `content`")
        out.append((str(m.get("role", "")), m["content"]))
    return out


def load_conversations(
    source: str | Path,
    tokenizer: Tokenizer | str | Path,
    *,
    multi_turn: bool = True,
    max_requests: int | None = None,
    split: str = "train_sft",
) -> Workload:
    """Request lengths from a local conversation dataset (see the module docstring)."""
    path = Path(source)
    if not path.exists():
        raise InputError(f"dataset not found: {path} (nothing is downloaded; give a local path)")
    tok = _resolve_tokenizer(tokenizer)
    if path.is_dir():
        conversations: Iterable[Any] = _conversations_from_dataset_dir(path, split)
    elif path.suffix in {".json", ".jsonl"}:
        conversations = _conversations_from_json(path)
    else:
        raise InputError(f"{path}: expected a .json/.jsonl file or a saved dataset directory")
    inputs: list[int] = []
    outputs: list[int] = []
    for index, conv in enumerate(conversations):
        history = 0
        for role, content in _messages(conv, f"{path} conversation {index}"):
            n = len(tok.encode(content))
            if role == "assistant" and history > 0 and n > 0:
                inputs.append(history)
                outputs.append(n)
                if not multi_turn:
                    break
            history += n
        if max_requests is not None and len(inputs) >= max_requests:
            del inputs[max_requests:], outputs[max_requests:]
            break
    if not inputs:
        raise InputError(f"{path}: no (user → assistant) turns found")
    return trace_workload(path.stem, inputs, outputs, None, source=f"conversations {path.name}")
