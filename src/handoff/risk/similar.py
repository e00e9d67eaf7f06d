"""The past projects most like a brief, and how they really ended (planned vs actual)."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from handoff.risk.kickoff import SIMILARITY_CATEGORICAL, SIMILARITY_NUMERIC, ProjectHistory, as_float

UNKNOWN_GAP = 0.5  # a field missing on either side counts as half a unit of difference


def similar_projects(brief: dict[str, Any], history: ProjectHistory, as_of: date, k: int = 3) -> list[dict[str, Any]]:
    """The `k` nearest projects that had finished before `as_of` to one brief (a kickoff feature record).

    Distance: log sizes (scope, team, budget, sales estimate) scaled by their spread across those projects, plus
    one unit per differing product, contract type or segment; the root mean square of the seven gaps.
    """
    finished = np.flatnonzero(history.pool_ended < np.datetime64(pd.Timestamp(as_of), "ns"))
    if not len(finished):
        return []
    gaps = np.full((len(finished), len(SIMILARITY_NUMERIC) + len(SIMILARITY_CATEGORICAL)), UNKNOWN_GAP)
    for j, column in enumerate(SIMILARITY_NUMERIC):
        target = as_float(brief.get(column))
        if math.isnan(target):
            continue
        values = history.pool_numeric[finished, j]
        known = ~np.isnan(values)
        spread = float(np.std(values[known], ddof=1)) if known.sum() > 1 else math.nan
        gap = np.abs(values - math.log1p(max(target, 0.0))) / (spread or 1.0)
        gaps[:, j] = np.where(np.isnan(gap), UNKNOWN_GAP, gap)
    for j, column in enumerate(SIMILARITY_CATEGORICAL):
        target = brief.get(column)
        if target is None or (isinstance(target, float) and math.isnan(target)):
            continue
        theirs = history.pool_codes[finished, j]
        ours = history.pool_levels[j].get(target, -2)  # a level no past project had differs from every known one
        gaps[:, len(SIMILARITY_NUMERIC) + j] = np.where(theirs >= 0, (theirs != ours).astype("float64"), UNKNOWN_GAP)
    distance = np.sqrt(np.mean(gaps**2, axis=1))
    nearest = np.argsort(distance, kind="stable")[:k]
    return [{**history.pool_cards[finished[i]], "similarity": float(1.0 / (1.0 + distance[i]))} for i in nearest]
