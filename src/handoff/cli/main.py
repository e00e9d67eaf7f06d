"""The `handoff` command: registers each noun's commands and turns errors into one clear line."""

from __future__ import annotations

import importlib
import os
import sys

import typer

from handoff.errors import HandoffError, InvalidInput, NotReady

# One module per noun; each exposes `register(app)`. Modules import their heavy dependencies inside commands.
COMMAND_MODULES = (
    "handoff.cli.db",
    "handoff.cli.crm",
    "handoff.cli.docs",
    "handoff.cli.up",
    "handoff.cli.inbox",
    "handoff.cli.ledger",
    "handoff.cli.extract",
    "handoff.cli.train",
    "handoff.cli.risk",
    "handoff.cli.eval",
    "handoff.cli.keys",
    "handoff.cli.nightly",
)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="handoff",
        help="Closes the loop between your CRM and project delivery: inbox to tasks, estimates, churn alerts.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(app)
    return app


def _exit_code(error: HandoffError) -> int:
    if isinstance(error, InvalidInput):
        return 2
    if isinstance(error, NotReady):
        return 3
    return 1


def run() -> None:
    app = build_app()
    try:
        app()
    except HandoffError as error:
        sys.stderr.write(f"error: {error}\n")
        sys.exit(_exit_code(error))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as error:  # the last line of defence: one line, not a traceback, unless asked
        if os.environ.get("HANDOFF_DEBUG"):
            raise
        sys.stderr.write(f"error: unexpected {type(error).__name__}: {error} (set HANDOFF_DEBUG=1 for details)\n")
        sys.exit(1)
