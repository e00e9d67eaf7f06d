"""The kickoff estimate's hot path: project history as arrays, built once per data version, and one brief's features.

`features.project_features` defines the features and builds them for training, many rows at a time, with pandas.
`kickoff_record` builds the same numbers for one brief in well under a millisecond; a test holds the two equal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from handoff.risk import features as feats

# Kickoff fields that place a project among its peers (see `similar.similar_projects`).
SIMILARITY_NUMERIC = ("scope_items", "team_size", "planned_budget", "sales_estimate_hours")
SIMILARITY_CATEGORICAL = ("product", "contract_type", "segment")
# Per account, the means of past projects' overrun share, overran flag and delay days; with the count and tickets,
# the features a brief without an account cannot have.
_OUTCOME_FEATURES = ("account_past_overrun_mean", "account_past_overrun_share", "account_past_delay_days_mean")
_HISTORY_FEATURES = ("account_past_projects", *_OUTCOME_FEATURES, "account_tickets_365", "account_escalations_365")


@dataclass(frozen=True)
class AccountOutcomes:
    """One account's finished projects in the order they ended, with running sums of their three outcomes."""

    ended: np.ndarray  # datetime64[ns], ascending
    running: np.ndarray  # (n, 3) cumulative sums of overrun share, overran flag, delay days

    def before(self, cutoff: np.datetime64) -> tuple[float, np.ndarray]:
        """How many projects ended strictly before `cutoff`, and their outcome sums."""
        count = int(np.searchsorted(self.ended, cutoff, side="left"))
        return float(count), (self.running[count - 1] if count else np.zeros(len(_OUTCOME_FEATURES)))


@dataclass(frozen=True)
class ProjectHistory:
    """The project table, typed once: per-account outcomes and the pool of finished projects to compare against."""

    outcomes: dict[str, AccountOutcomes]
    pool_ended: np.ndarray  # datetime64[ns] actual end of each pool project
    pool_numeric: np.ndarray  # (n, 4) log1p of `SIMILARITY_NUMERIC`, NaN where unknown
    pool_codes: np.ndarray  # (n, 3) level codes of `SIMILARITY_CATEGORICAL`, -1 where unknown
    pool_levels: list[dict[Any, int]]  # per categorical column, each level's code
    pool_cards: list[dict[str, Any]]  # each pool project as `SimilarProject` fields, without its similarity

    @classmethod
    def from_frames(cls, projects: pd.DataFrame, accounts: pd.DataFrame) -> ProjectHistory:
        """`projects` and `accounts` (id, segment) as read from the CRM, raw or typed."""
        typed = feats.normalise_frames({"projects": projects, "accounts": accounts}, entities=("projects", "accounts"))
        projects, accounts = typed["projects"], typed["accounts"]
        return cls(outcomes=_outcomes(projects), **_pool(projects, accounts))


def _outcomes(projects: pd.DataFrame) -> dict[str, AccountOutcomes]:
    # The same rows and sums as `features.project_features`: a project counts from the day its actuals are known.
    done = projects[
        projects["actual_end"].notna()
        & projects["actual_cost"].notna()
        & (projects["planned_budget"] > 0)
        & projects["account_id"].notna()
    ]
    values = np.column_stack(
        [
            (done["actual_cost"] / done["planned_budget"] - 1.0).to_numpy("float64"),
            (done["actual_cost"] > done["planned_budget"] * (1 + feats.OVERRUN_TOLERANCE)).to_numpy("float64"),
            ((done["actual_end"] - done["planned_end"]).dt.total_seconds() / 86400.0).fillna(0.0).to_numpy("float64"),
        ]
    )
    ended = done["actual_end"].to_numpy("datetime64[ns]")
    out = {}
    for account_id, positions in done.groupby(done["account_id"].astype("object"), sort=False).indices.items():
        order = positions[np.argsort(ended[positions], kind="stable")]
        out[str(account_id)] = AccountOutcomes(ended[order], np.cumsum(values[order], axis=0))
    return out


def _pool(projects: pd.DataFrame, accounts: pd.DataFrame) -> dict[str, Any]:
    done = projects[projects["actual_end"].notna() & projects["actual_hours"].notna()]
    segments = accounts.set_index("id")["segment"].astype("object")
    done = done.assign(segment=done["account_id"].map(segments))
    numeric = np.column_stack(
        [np.log1p(done[column].to_numpy("float64").clip(min=0)) for column in SIMILARITY_NUMERIC]
    ).reshape(len(done), len(SIMILARITY_NUMERIC))
    # Codes, not objects: comparing a brief with every past project is then one array operation, not a Python loop.
    levels: list[dict[Any, int]] = []
    codes = np.full((len(done), len(SIMILARITY_CATEGORICAL)), -1, dtype=np.int64)
    for j, column in enumerate(SIMILARITY_CATEGORICAL):
        column_levels: dict[Any, int] = {}
        for i, value in enumerate(done[column].astype("object")):
            value = _clean(value)
            if value is not None:
                codes[i, j] = column_levels.setdefault(value, len(column_levels))
        levels.append(column_levels)
    return {
        "pool_ended": done["actual_end"].to_numpy("datetime64[ns]"),
        "pool_numeric": numeric,
        "pool_codes": codes,
        "pool_levels": levels,
        "pool_cards": [_card(row) for row in done.to_dict("records")],
    }


def _clean(value: Any) -> Any:
    """JSON-ready scalars: NaN/NaT/NA become None, numpy numbers plain Python."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _days_between(start: Any, end: Any) -> int | None:
    return (end - start).days if pd.notna(start) and pd.notna(end) else None


def _card(row: dict[str, Any]) -> dict[str, Any]:
    budget, cost = _clean(row["planned_budget"]), _clean(row["actual_cost"])
    return {
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
        "planned_days": _days_between(row["planned_start"], row["planned_end"]),
        "actual_days": _days_between(row["actual_start"], row["actual_end"]),
        "overrun_pct": (cost / budget - 1.0) if budget and cost is not None else None,
    }


_KEYWORDS = [(f"mentions_{word}", re.compile(rf"\b{re.escape(word)}")) for word in feats.DESCRIPTION_KEYWORDS]


def as_float(value: Any) -> float:
    """A number, or NaN for anything unknown or not numeric."""
    if value is None or value is pd.NA or value is pd.NaT:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _naive(value: Any) -> datetime | None:
    """A CRM date or datetime as a naive UTC datetime (how `features.normalise_frames` types them)."""
    if value is None or value is pd.NaT:
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def _per_item(amount: float, items: float) -> float:
    return amount / items if items > 0 else math.nan


def kickoff_record(
    brief: Mapping[str, Any],
    as_of: date,
    history: ProjectHistory,
    account: Mapping[str, Any] | None = None,
    tickets: Iterable[tuple[Any, Any]] = (),
) -> dict[str, Any]:
    """`features.project_features` of one brief at `as_of`, as a record (feature name -> value), without pandas.

    `brief` has the `BRIEF_COLUMNS`, `segment` and `deal_amount` (the deal's amount already filled in, as
    `risk.service` does); `account` is the brief's account row and `tickets` its tickets as
    `(opened_at, escalated)` pairs. Unknown numbers are NaN, unknown categories None.
    """
    cutoff = datetime.combine(as_of, datetime.min.time())
    account = account or {}
    segment = brief.get("segment")
    record: dict[str, Any] = {
        "segment": segment if segment is not None else account.get("segment"),
        "product": brief.get("product"),
        "contract_type": brief.get("contract_type"),
    }
    for column in ("team_size", "scope_items", "planned_budget", "sales_estimate_hours", "deal_amount"):
        record[column] = as_float(brief.get(column))
    record["budget_per_scope_item"] = _per_item(record["planned_budget"], record["scope_items"])
    record["sales_hours_per_scope_item"] = _per_item(record["sales_estimate_hours"], record["scope_items"])
    text = str(brief.get("description") or "").lower()
    record.update({name: float(pattern.search(text) is not None) for name, pattern in _KEYWORDS})
    record["description_words"] = float(len(text.split()))
    created = _naive(account.get("created_at"))
    record["account_tenure_days"] = (cutoff - created).total_seconds() / 86400.0 if created else math.nan

    account_id = brief.get("account_id")
    if account_id is None:  # a brief for nobody in particular has no history: NaN, not zero
        record.update(dict.fromkeys(_HISTORY_FEATURES, math.nan))
        return record
    outcomes = history.outcomes.get(str(account_id))
    count, sums = outcomes.before(np.datetime64(cutoff, "ns")) if outcomes else (0.0, np.zeros(len(_OUTCOME_FEATURES)))
    record["account_past_projects"] = count
    for name, total in zip(_OUTCOME_FEATURES, sums.tolist(), strict=True):
        record[name] = total / count if count > 0 else math.nan
    year_ago = cutoff - timedelta(days=365)
    opened = [(_naive(at), 0.0 if escalated is None else float(escalated)) for at, escalated in tickets]
    recent = [escalated for at, escalated in opened if at is not None and year_ago <= at < cutoff]
    record["account_tickets_365"] = float(len(recent))
    record["account_escalations_365"] = float(sum(recent))
    return record
