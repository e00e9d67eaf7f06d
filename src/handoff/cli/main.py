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
    "handoff.cli.users",
    "handoff.cli.nightly",
    "handoff.cli.sync",
    "handoff.cli.export",
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


def _known_failure(error: Exception) -> tuple[str, int] | None:
    """A failure with a known cause, as (one line, exit code): a setting or input file that does not parse (2), a
    store that cannot be reached or named (3). SQLAlchemy is only consulted when something already loaded it."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    if isinstance(error, SettingsError):
        return f"bad setting: {str(error).splitlines()[0]}", 2
    if isinstance(error, ValidationError):
        problem = error.errors()[0] if error.errors() else {"loc": (), "msg": str(error).splitlines()[0]}
        where = "__".join(str(part) for part in problem["loc"])
        if error.title.endswith("Settings"):
            return f"bad setting HANDOFF_{where.upper()}: {problem['msg']}", 2
        return f"invalid {error.title} ({where}): {problem['msg']}", 2
    database = sys.modules.get("sqlalchemy.exc")
    if database and isinstance(error, database.OperationalError | database.ArgumentError | database.NoSuchModuleError):
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        return f"the store is not ready ({reason}); check HANDOFF_DATABASE_URL", 3
    return None


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
        known = _known_failure(error)
        if known is not None:
            sys.stderr.write(f"error: {known[0]}\n")
            sys.exit(known[1])
        if os.environ.get("HANDOFF_DEBUG"):
            raise
        sys.stderr.write(f"error: unexpected {type(error).__name__}: {error} (set HANDOFF_DEBUG=1 for details)\n")
        sys.exit(1)
