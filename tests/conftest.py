"""Shared fixtures: run the CLI in-process or as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
CASES_CSV = ROOT / "ador_opt" / "data" / "calibration_cases.csv"

# No timing thresholds in unit tests: Hypothesis' per-example deadline (200 ms) is one, and the
# suite runs on two pytest-xdist workers beside subprocess-heavy tests.
settings.register_profile("ador", deadline=None)
settings.load_profile("ador")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the one PostgreSQL server run on one xdist worker, one after another: one of
    them restarts the server (`--dist loadgroup`, set in pyproject.toml)."""
    for item in items:
        if item.get_closest_marker("postgres") is not None:
            item.add_marker(pytest.mark.xdist_group("postgres"))


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)


def run_cli(
    *args: str, timeout: float = 300, cwd: Path | None = None, env: dict[str, str] | None = None
) -> CliResult:
    """Run `ador-opt ARGS` as a subprocess (the real console entry point)."""
    proc = subprocess.run(
        [sys.executable, "-m", "ador_opt", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def assert_input_error(result: CliResult, *needles: str) -> None:
    """Exit 2, one line on stderr naming the problem, no traceback, nothing on stdout."""
    assert result.code == 2, (result.code, result.stderr)
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle.lower() in lines[0].lower(), (needle, lines[0])


@pytest.fixture
def cli():
    return run_cli
