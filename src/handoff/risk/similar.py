"""The past projects most like a brief, and how they really ended (planned vs actual)."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from handoff.risk import features as feats

NUMERIC = ("scope_items", "team_size", "planned_budget", "sales_estimate_hours")
CATEGORICAL = ("product", "contract_type", "segment")


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value if not pd.isna(value) else None


def finished_before(frames: feats.Frames, as_of: date) -> pd.DataFrame:
    """Projects whose actuals were known before the cutoff, with their kickoff fields and segment."""
    f = feats.normalise_frames(frames)
    cutoff = pd.Timestamp(as_of)
    projects = f["projects"]
    done = projects[(projects["actual_end"] < cutoff) & projects["actual_hours"].notna()]
    segments = f["accounts"].set_index("id")["segment"].astype("object")
    return done.assign(segment=done["account_id"].map(segments))


def similar_projects(brief: pd.Series, history: pd.DataFrame, k: int = 3) -> list[dict[str, Any]]:
    """The `k` nearest finished projects to one brief (a `project_features` row).

    Distance: log sizes (scope, team, budget, sales estimate) scaled by their spread across history, plus one unit
    per differing product, contract type or segment. A field missing on either side counts as half a unit.
    """
    if history.empty:
        return []
    parts = []
    for column in NUMERIC:
        values = np.log1p(pd.to_numeric(history[column], errors="coerce").astype("float64").clip(lower=0))
        spread = float(values.std()) or 1.0
        target = pd.to_numeric(pd.Series([brief.get(column)]), errors="coerce").iloc[0]
        if pd.isna(target):
            parts.append(pd.Series(0.5, index=history.index))
            continue
        gap = ((values - np.log1p(max(float(target), 0.0))) / spread).abs()
        parts.append(gap.fillna(0.5))
    for column in CATEGORICAL:
        target = brief.get(column)
        theirs = history[column].astype("object")
        if target is None or pd.isna(target):
            parts.append(pd.Series(0.5, index=history.index))
        else:
            parts.append((theirs != target).astype("float64").where(theirs.notna(), 0.5))
    distance = np.sqrt((pd.concat(parts, axis=1) ** 2).mean(axis=1))
    nearest = distance.nsmallest(k).index
    out = []
    for index in nearest:
        row = history.loc[index]
        planned_days = (row["planned_end"] - row["planned_start"]).days if pd.notna(row["planned_end"]) else None
        actual_days = (row["actual_end"] - row["actual_start"]).days if pd.notna(row["actual_start"]) else None
        budget, cost = _clean(row["planned_budget"]), _clean(row["actual_cost"])
        out.append(
            {
                "project_id": str(row["id"]),
                "name": _clean(row.get("name")),
                "account_id": _clean(row.get("account_id")),
                "product": _clean(row.get("product")),
                "contract_type": _clean(row.get("contract_type")),
                "scope_items": _clean(row["scope_items"]),
                "team_size": _clean(row["team_size"]),
                "planned_budget": budget,
                "actual_cost": cost,
                "planned_hours": _clean(row["planned_hours"]),
                "actual_hours": _clean(row["actual_hours"]),
                "planned_days": _clean(planned_days),
                "actual_days": _clean(actual_days),
                "overrun_pct": (cost / budget - 1.0) if budget and cost is not None else None,
                "similarity": float(1.0 / (1.0 + distance.loc[index])),
            }
        )
    return out
