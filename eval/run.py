"""`make eval`: quality numbers against published anchors (`python -m eval.run [name...]` runs a subset)."""

from __future__ import annotations

import sys

from eval.runner import run_modules

EVALS = (
    "eval.extraction.real",  # the headline: real mail and minutes nobody here wrote
    "eval.extraction.eval",
    "eval.intake.spam",  # the content spam classifier: spam that would still become tasks, ham quarantined
    "eval.intake.gate",  # header rules on the public spam/ham corpus
    "eval.tabular.eval",
    "eval.models.eval",
    "eval.security.probe",  # issue 16's adversarial probe of a running `handoff up` (HANDOFF_PROBE_* set its size)
)

if __name__ == "__main__":
    sys.exit(run_modules("eval", EVALS, sys.argv[1:]))
