"""`handoff eval` commands (being built)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds this noun's commands to the app."""
