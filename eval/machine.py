"""The machine beside a bench's numbers: cores, load, and how fast one core runs Python right now."""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

PROBE_ADDITIONS = 2_000_000


def core_speed_ms(repeats: int = 3) -> float:
    """Milliseconds for a fixed pure-Python loop, median of `repeats`: the shared VM's speed drifts by half within
    minutes, so a number is only comparable with others taken when this probe read about the same."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        total = 0
        for i in range(PROBE_ADDITIONS):
            total += i
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 1)


def snapshot() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "python_loop_ms": core_speed_ms(),
    }
