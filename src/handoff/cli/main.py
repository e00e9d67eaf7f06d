"""The `handoff` command: registers each noun's commands and turns errors into one clear line."""

from __future__ import annotations

import importlib
import os
import sys

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

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


def _first_problem(error: ValidationError | SettingsError) -> str:
    if not isinstance(error, ValidationError) or not error.errors():
        return f"bad setting: {str(error).splitlines()[0]}"
    problem = error.errors()[0]
    where = "__".join(str(part) for part in problem["loc"])
    if error.title.endswith("Settings"):
        return f"bad setting HANDOFF_{where.upper()}: {problem['msg']}"
    return f"invalid {error.title} ({where}): {problem['msg']}"


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
    except (ValidationError, SettingsError) as error:  # a HANDOFF_* variable, or an input file, that does not parse
        sys.stderr.write(f"error: {_first_problem(error)}\n")
        sys.exit(2)
    except (OperationalError, ArgumentError, NoSuchModuleError) as error:  # the store cannot be reached or named
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        sys.stderr.write(f"error: the store is not ready ({reason}); check HANDOFF_DATABASE_URL\n")
        sys.exit(3)
    except Exception as error:  # the last line of defence: one line, not a traceback, unless asked
        if os.environ.get("HANDOFF_DEBUG"):
            raise
        sys.stderr.write(f"error: unexpected {type(error).__name__}: {error} (set HANDOFF_DEBUG=1 for details)\n")
        sys.exit(1)
