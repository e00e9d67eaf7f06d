"""A synthetic CRM of any size, built vectorised in account chunks: the scale benches' data, not the demo story."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

# The day the synthetic history ends at (every row is dated before it); the nightly scores as of this day.
AS_OF = date(2026, 11, 1)
OWNER_IDS = tuple(f"T{i:04d}" for i in range(1000))


def synthetic_team() -> pd.DataFrame:
    """The account owners the synthetic accounts name, each with a name and an email."""
    return pd.DataFrame(
        {
            "id": list(OWNER_IDS),
            "name": [f"Owner {i}" for i in range(len(OWNER_IDS))],
            "email": [f"owner{i}@synthetic.invalid" for i in range(len(OWNER_IDS))],
            "role": ["account_owner"] * len(OWNER_IDS),
        }
    )


def _days_before(rng: np.random.Generator, as_of: date, n: int, low: int, high: int) -> np.ndarray:
    """Timestamps `low..high` days before the cutoff, at a random second of the day."""
    offsets = rng.integers(low, high, n).astype("timedelta64[D]") + rng.integers(0, 86400, n).astype("timedelta64[s]")
    return np.datetime64(as_of, "s") - offsets


def synthetic_frames(accounts: int, seed: int = 0, *, first: int = 0, as_of: date = AS_OF) -> dict[str, pd.DataFrame]:
    """Raw CRM rows for `accounts` accounts, shaped like the data dictionary, built vectorised.

    Per account on average: 1 subscription, 6 usage rows in 90 days, 2 tickets, 1 survey, 5 activities,
    3 invoices, 0.3 projects, 0.05 churn events -- about 19 M rows for a million accounts. Accounts are numbered
    from `first` (ids `A00000000`, fixed width so text order is number order); every row of an account is made in
    the same call, so a base of any size is made in chunks (`first`, `accounts`) with bounded memory, each chunk
    determined by (`seed`, `first`) alone.
    """
    rng = np.random.default_rng([seed, first])
    # The `str` dtype is what `risk.store.load_frames` hands the nightly in pandas 3.
    ids = pd.Index([f"A{i:08d}" for i in range(first, first + accounts)], dtype="str")

    def pick(per_account: float) -> np.ndarray:
        return rng.integers(0, accounts, int(accounts * per_account))

    def choose(options: tuple, n: int) -> np.ndarray:
        return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]

    frames: dict[str, pd.DataFrame] = {}
    frames["accounts"] = pd.DataFrame(
        {
            "id": ids,
            "name": ids,
            "owner_id": choose(OWNER_IDS, accounts),
            "created_at": _days_before(rng, as_of, accounts, 30, 3000).astype("datetime64[D]"),
            "segment": choose(("smb", "mid_market", "enterprise"), accounts),
            "industry": choose(("software", "retail", "manufacturing", "finance", "health"), accounts),
            "status": np.full(accounts, "active", dtype=object),
        }
    )
    start = _days_before(rng, as_of, accounts, 1, 700).astype("datetime64[D]")
    frames["subscriptions"] = pd.DataFrame(
        {
            "id": ids.str.replace("A", "S"),
            "account_id": ids,
            "plan_tier": choose(("basic", "pro", "enterprise"), accounts),
            "billing_frequency": choose(("monthly", "quarterly", "annual"), accounts),
            "seats": rng.integers(1, 500, accounts).astype("float64"),
            "mrr": rng.gamma(2.0, 400.0, accounts),
            "start_date": start,
            "renewal_date": start + np.timedelta64(365, "D"),
            "end_date": np.full(accounts, np.datetime64("NaT"), dtype="datetime64[D]"),
            "auto_renew": rng.random(accounts) < 0.7,
            "is_trial": rng.random(accounts) < 0.05,
            "upgraded": rng.random(accounts) < 0.1,
            "downgraded": rng.random(accounts) < 0.05,
        }
    )
    owner = pick(6)
    frames["usage"] = pd.DataFrame(
        {
            "account_id": ids[owner],
            "day": _days_before(rng, as_of, len(owner), 1, 90).astype("datetime64[D]"),
            "feature": choose(("reports", "api", "dashboards", "export", "admin"), len(owner)),
            "events": rng.poisson(40, len(owner)).astype("float64"),
            "duration_seconds": rng.gamma(2.0, 600.0, len(owner)),
            "errors": rng.poisson(1, len(owner)).astype("float64"),
        }
    )
    owner = pick(2)
    opened = _days_before(rng, as_of, len(owner), 1, 365)
    frames["tickets"] = pd.DataFrame(
        {
            "account_id": ids[owner],
            "opened_at": opened,
            "closed_at": opened + rng.integers(1, 200, len(owner)).astype("timedelta64[h]"),
            "priority": choose(("low", "normal", "high", "urgent"), len(owner)),
            "resolution_hours": rng.gamma(2.0, 12.0, len(owner)),
            "satisfaction": rng.integers(1, 6, len(owner)).astype("float64"),
            "escalated": rng.random(len(owner)) < 0.1,
        }
    )
    owner = pick(1)
    kind = choose(("nps", "csat"), len(owner))
    frames["surveys"] = pd.DataFrame(
        {
            "account_id": ids[owner],
            "kind": kind,
            "score": np.where(kind == "nps", rng.integers(0, 11, len(owner)), rng.integers(1, 6, len(owner))).astype(
                "float64"
            ),
            "responded_at": _days_before(rng, as_of, len(owner), 1, 365),
        }
    )
    owner = pick(5)
    frames["activities"] = pd.DataFrame(
        {
            "account_id": ids[owner],
            "kind": choose(("email", "email", "call", "meeting", "note"), len(owner)),
            "direction": choose(("inbound", "outbound"), len(owner)),
            "occurred_at": _days_before(rng, as_of, len(owner), 1, 365),
            "sentiment": rng.uniform(-1, 1, len(owner)),
        }
    )
    owner = pick(0.3)
    planned_start = _days_before(rng, as_of, len(owner), 30, 700).astype("datetime64[D]")
    planned_end = planned_start + rng.integers(30, 200, len(owner)).astype("timedelta64[D]")
    finished = rng.random(len(owner)) < 0.7
    budget = rng.gamma(2.0, 20000.0, len(owner))
    frames["projects"] = pd.DataFrame(
        {
            "account_id": ids[owner],
            "planned_start": planned_start,
            "planned_end": planned_end,
            "actual_end": np.where(
                finished, planned_end + rng.integers(-10, 60, len(owner)).astype("timedelta64[D]"), np.datetime64("NaT")
            ),
            "planned_budget": budget,
            "actual_cost": np.where(finished, budget * rng.uniform(0.8, 1.5, len(owner)), np.nan),
        }
    )
    owner = pick(3)
    issued = _days_before(rng, as_of, len(owner), 1, 365).astype("datetime64[D]")
    paid = rng.random(len(owner)) < 0.9
    frames["invoices"] = pd.DataFrame(
        {
            "account_id": ids[owner],
            "issued_at": issued,
            "due_at": issued + np.timedelta64(30, "D"),
            "paid_at": np.where(
                paid, issued + rng.integers(5, 60, len(owner)).astype("timedelta64[D]"), np.datetime64("NaT")
            ),
            "amount": rng.gamma(2.0, 1000.0, len(owner)),
        }
    )
    owner = pick(0.05)
    frames["churn_events"] = pd.DataFrame(
        {
            "account_id": ids[owner],
            "churned_at": _days_before(rng, as_of, len(owner), 400, 3000).astype("datetime64[D]"),
            "is_reactivation": np.ones(len(owner), dtype=bool),  # old losses that came back: all stay active
        }
    )
    return frames
