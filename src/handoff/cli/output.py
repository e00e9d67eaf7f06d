"""How commands talk to people and scripts: one JSON document, or rich text, and progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.progress import Progress

T = TypeVar("T")


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def parse_day(text: str | None, option: str) -> date | None:
    """A day option (`YYYY-MM-DD`) within the days the feature tables and the API accept; None when absent."""
    from handoff.errors import InvalidInput
    from handoff.schema_types import EARLIEST, LATEST

    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option} must be a date like 2026-03-31, not {text!r}") from None
    if not EARLIEST <= day <= LATEST:
        raise InvalidInput(f"{option} must lie between {EARLIEST} and {LATEST}, not {day}")
    return day


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, default=_default, ensure_ascii=False) + "\n")


def emit_jsonl(document: Any) -> None:
    sys.stdout.write(json.dumps(document, default=_default, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def progress(items: Iterable[T], description: str, total: int | None = None, enabled: bool = True) -> Iterator[T]:
    """A progress bar on stderr when it is a terminal; silent in scripts, pipes and `--json` mode."""
    if not enabled or not sys.stderr.isatty():
        yield from items
        return
    from rich.progress import track

    yield from track(items, description=description, total=total, transient=True, console=_stderr_console())


def progress_callback(enabled: bool = True) -> Progress:
    """`progress` as the callback the cores take (`handoff.progress.Progress`): a bar unless `enabled` is False."""

    def bar(items: Iterable[T], description: str, total: int | None = None) -> Iterable[T]:
        return progress(items, description, total=total, enabled=enabled)

    return bar


@contextmanager
def progress_bar(description: str, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A bar on stderr (when it is a terminal) for a core that reports `(done, total)` through a callback."""
    if not enabled or not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.progress import Progress

    with Progress(console=_stderr_console(), transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def say(message: str) -> None:
    """Human-readable status on stderr, so stdout stays clean for data."""
    _stderr_console().print(message, highlight=False)
