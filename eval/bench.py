"""`make bench`: speed and memory numbers (`python -m eval.bench [name...]` runs a subset)."""

from __future__ import annotations

import sys

from eval.runner import run_modules

BENCHES = (
    "eval.crm.bench",
    "eval.extraction.bench",
    "eval.intake.bench",
    "eval.api.bench",
    "eval.alerts.bench",
    "eval.scale.bench",
    "eval.scale.train_bench",
    "eval.sync.bench",
    "eval.web.bench",
)

if __name__ == "__main__":
    sys.exit(run_modules("bench", BENCHES, sys.argv[1:]))
