"""Counts failed sign-ins per key (an email, a client address) in a sliding window; pure, with the clock handed in."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class Throttle:
    """After `limit` failures within `window_s` for a key, every attempt for it is refused until the oldest ages out.

    Refusing the correct password too is the point: otherwise a guesser only has to keep going. Held in memory,
    per process; the number of keys is bounded so that a scanner cycling addresses cannot grow it without end."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        seen = self._failures.get(key)
        if seen is None:
            return deque()
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        if not seen:
            del self._failures[key]
        return seen

    def retry_after(self, key: str) -> float | None:
        """Seconds until `key` may try again, or None when it may now."""
        with self._lock:
            now = self._clock()
            seen = self._recent(key, now)
            if len(seen) < self.limit:
                return None
            return max(1.0, seen[0] + self.window_s - now)

    def failed(self, key: str) -> None:
        with self._lock:
            if key not in self._failures and len(self._failures) >= self._max_keys:
                self._failures.clear()  # forget everyone rather than grow: the window is short anyway
            self._failures.setdefault(key, deque()).append(self._clock())

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
