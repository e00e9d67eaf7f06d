"""The progress callbacks a core takes from its caller: the core says how far it is, the caller draws the bar."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")

# `progress(items, description, total)` returns the same items; a core never knows whether a bar is drawn.
Progress = Callable[[Iterable[T], str, int | None], Iterable[T]]


# `count(done, total)`: for a core that counts its own steps (bytes read, folds fitted) instead of walking items.
ProgressCount = Callable[[int, int], None]


def no_progress(items: Iterable[T], description: str, total: int | None = None) -> Iterable[T]:
    """The default: walk the items, show nothing."""
    return items


def no_count(done: int, total: int) -> None:
    """The default: count nothing."""
