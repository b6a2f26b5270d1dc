"""Small study specs shared by the exploration tests (fast: a few ms per trial)."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

TINY_SPEC = """
[study]
name = "{name}"
n_trials = {n_trials}
sampler = "{sampler}"
seed = 7

[model]
names = ["llama-3-8b"]

[[scenarios]]
kind = "static"
batch = 4
input_len = 128
output_len = 8

[slo]
tbt_ms = 40.0

[budget]
area_mm2 = 700.0

[space]
base = "ador-paper"
sa_dim = {{ min = 32, max = 128, step = 32 }}
core_count = {{ choices = [16, 32, 64] }}
mt_lanes = {{ min = 0, max = 16, step = 8 }}
local_sram_kib = {{ choices = [256, 1024, 2048] }}
total_sram_mib = 64
dram_gbps = {{ choices = [1600, 3200] }}

[[objectives]]
name = "throughput_per_mm2"

[[objectives]]
name = "area_mm2"
"""


def write_spec(
    directory: Path, name: str = "tiny", n_trials: int = 10, sampler: str = "tpe", extra: str = ""
) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(TINY_SPEC.format(name=name, n_trials=n_trials, sampler=sampler) + extra)
    return path


def spec_dict(name: str = "tiny", n_trials: int = 10, sampler: str = "tpe") -> dict:
    import tomllib

    return tomllib.loads(TINY_SPEC.format(name=name, n_trials=n_trials, sampler=sampler))


def wait_complete(store: Path, n: int, proc: subprocess.Popen[str], limit_s: float = 120) -> None:
    """Wait until `store` (SQLite) holds `n` COMPLETE trials while `proc` still runs."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as conn:
                (done,) = conn.execute(
                    "SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'"
                ).fetchone()
        except sqlite3.Error:
            done = 0
        if done >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} COMPLETE trials after {limit_s} s")
