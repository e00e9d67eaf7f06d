"""Runs a list of eval or bench modules in turn, each in its own process, and prints one summary."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def run_modules(kind: str, modules: tuple[str, ...], selected: list[str]) -> int:
    """Each module's `main()` runs in a child process so one crash or memory spike cannot spoil the others."""
    chosen = [m for m in modules if not selected or any(s in m for s in selected)]
    failures = []
    timings: dict[str, float] = {}
    for module in chosen:
        if importlib.util.find_spec(module) is None:
            print(f"!! {module}: missing", flush=True)
            failures.append(module)
            continue
        print(f"\n=== {kind}: {module} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-c", f"import {module} as m; m.main()"])
        timings[module] = round(time.perf_counter() - started, 1)
        if code != 0:
            failures.append(module)
    print(f"\n{kind} finished: {len(chosen) - len(failures)}/{len(chosen)} ok; results in {RESULTS}/")
    for module, seconds in timings.items():
        print(f"  {module}: {seconds} s")
    for module in failures:
        print(f"  FAILED: {module}")
    return 1 if failures else 0
