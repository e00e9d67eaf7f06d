"""The progress callback a core takes from its caller: it wraps the items the core walks, the caller draws the bar."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")

# `progress(items, description, total)` returns the same items; a core never knows whether a bar is drawn.
Progress = Callable[[Iterable[T], str, int | None], Iterable[T]]


def no_progress(items: Iterable[T], description: str, total: int | None = None) -> Iterable[T]:
    """The default: walk the items, show nothing."""
    return items
