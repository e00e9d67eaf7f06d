"""A cooperative time budget for parsing: pure code checks it between steps, so no message can parse forever."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


class ParseTimeout(Exception):
    """The message took longer to read than `settings.inbox.parse_timeout_s` allows."""


@dataclass
class Deadline:
    """Raises `ParseTimeout` from `check()` once `seconds` have passed since it was made."""

    seconds: float | None
    started: float = field(default_factory=time.monotonic)

    def check(self) -> None:
        if self.seconds is not None and time.monotonic() - self.started > self.seconds:
            raise ParseTimeout(f"parse time limit of {self.seconds:g}s exceeded")


NO_DEADLINE = Deadline(None)
