"""`ador-opt`: a thin typer layer. Commands live in sibling modules; no logic here.

Errors: `InputError` (and click usage errors) → one line on stderr, exit 2; anything else →
one line naming the internal error, exit 1 (set ADOR_OPT_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import os
import sys

import typer
from typer.exceptions import Abort, Exit, TyperException

from ador_opt.cli import catalog
from ador_opt.errors import InputError
from ador_opt.redact import redact

app = typer.Typer(
    name="ador-opt",
    help="Design-space exploration for LLM-serving accelerators (ADOR method, Optuna).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(catalog.models_app, name="models")
app.add_typer(catalog.hardware_app, name="hardware")


def _register_optional() -> None:
    """Stage modules register their commands on `app` (each owns one module)."""
    from ador_opt.cli import commands

    commands.register(app)


_register_optional()


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
