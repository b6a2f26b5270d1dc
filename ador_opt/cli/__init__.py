"""`ador-opt`: a thin typer layer. Commands live in sibling modules; no logic here.

Errors: `InputError` (and click usage errors) → one line on stderr, exit 2; anything else →
one line naming the internal error, exit 1 (set ADOR_OPT_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from typer.exceptions import Abort, Exit, TyperException

import ador_opt
from ador_opt.cli import (
    catalog,
    perf_commands,
    report_commands,
    serving_commands,
    study_commands,
    tp_commands,
)
from ador_opt.errors import InputError
from ador_opt.redact import redact

# rich_markup_mode=None: click's plain help, which names a value's type only where an option
# takes one (typer's rich help shows `<bool>` beside every flag).
app = typer.Typer(
    name="ador-opt",
    help="Design-space exploration for LLM-serving accelerators (ADOR method, Optuna).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(catalog.models_app, name="models")
app.add_typer(catalog.hardware_app, name="hardware")
for _module in (perf_commands, serving_commands, study_commands, report_commands, tp_commands):
    _module.register(app)


def _version(value: bool) -> None:
    if value:
        print(f"ador-opt {ador_opt.__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Design-space exploration for LLM-serving accelerators (ADOR method, Optuna)."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = app(args=args, prog_name="ador-opt", standalone_mode=False)
    except InputError as exc:
        # one line even when the message quotes user text with line breaks (e.g. a TOML key)
        message = " | ".join(redact(str(exc)).splitlines())
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    except Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except Exit as exc:
        sys.exit(exc.exit_code)
    except TyperException as exc:  # click usage errors: bad option, missing argument, …
        if exc.__class__.__name__ == "NoArgsIsHelpError":  # a group without a command
            print(exc.format_message(), file=sys.stderr)
            sys.exit(2)
        message = redact(" ".join(exc.format_message().split()))
        if message:  # an empty message is click's "no arguments: help shown"
            print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # internal error: one line, exit 1
        if os.environ.get("ADOR_OPT_DEBUG"):
            raise
        from ador_opt.explore.storage import environment_error

        reason = environment_error(exc)
        if reason is not None:  # a locked store or a full disk: not a bug, but still exit 1
            print(f"error: {redact(reason)}", file=sys.stderr)
            sys.exit(1)
        message = " ".join(redact(str(exc)).split())
        print(f"internal error: {exc.__class__.__name__}: {message}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
