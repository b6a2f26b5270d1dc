"""Registers the stage commands. Each stage's commands live in their own module."""

from __future__ import annotations

import importlib

import typer

# (module, attribute) pairs; a module that does not exist yet is skipped so that stages can
# land one at a time.
_MODULES = ("perf_commands", "serving_commands", "study_commands", "report_commands")


def register(app: typer.Typer) -> None:
    for name in _MODULES:
        try:
            module = importlib.import_module(f"ador_opt.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"ador_opt.cli.{name}":
                raise
            continue
        module.register(app)
