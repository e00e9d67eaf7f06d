"""The churn hot path: point-in-time feature rows cached per (account, as-of day), the champion scored every call.

Building an account's features reads ten CRM tables (tens of milliseconds); the features only change when the
as-of day changes or new CRM rows land, so they are kept for `ttl_s` seconds. Scoring and the drivers run on
every request against the loaded champion, so a new champion (a restart) answers at once.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

MISSING = object()  # "not cached", as distinct from a cached "not an active customer" (None)


class FeatureCache:
    """A small LRU of one-row feature frames; thread-safe (plain `def` routes run in a thread pool)."""

    def __init__(self, ttl_s: float = 300.0, max_rows: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.max_rows = max_rows
        self._rows: OrderedDict[tuple[str, date], tuple[float, pd.DataFrame]] = OrderedDict()
        self._records: dict[tuple[str, date], tuple[float, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def _get(self, key: tuple[str, date]) -> pd.DataFrame | None:
        with self._lock:
            hit = self._rows.get(key)
            if hit is None or hit[0] < time.monotonic():
                return None
            self._rows.move_to_end(key)
            return hit[1]

    def _put(self, key: tuple[str, date], row: pd.DataFrame) -> None:
        with self._lock:
            self._rows[key] = (time.monotonic() + self.ttl_s, row)
            while len(self._rows) > self.max_rows:
                self._rows.popitem(last=False)

    def cached_record(self, account_id: str, as_of: date) -> dict[str, Any] | None | object:
        """`record` when the answer (found or not found) is cached, else `MISSING`; never touches the database."""
        cached = self._records.get((account_id, as_of)) if self.ttl_s > 0 else None
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return MISSING

    def record(self, sessions: sessionmaker[Session], account_id: str, as_of: date) -> dict[str, Any] | None:
        """One account's feature row as a plain dict (the pandas-free scoring path), or None when not active.

        Opens a session only on a miss: a cached answer, found or not found, costs no database round trip.
        """
        key = (account_id, as_of)
        cached = self.cached_record(account_id, as_of)
        if cached is not MISSING:
            return cached  # type: ignore[return-value]
        with sessions() as session:
            frame = self.features(session, [account_id], as_of)
        record = None if frame.empty else _record(frame.iloc[0])
        if self.ttl_s > 0:
            with self._lock:
                if len(self._records) >= self.max_rows:
                    self._records.clear()
                self._records[key] = (time.monotonic() + self.ttl_s, record)
        return record

    def features(self, session: Session, account_ids: list[str], as_of: date) -> pd.DataFrame:
        """Feature rows (index `account_id`) for those accounts that were active customers on `as_of`."""
        from handoff.risk import features as feats
        from handoff.risk.store import load_account_frames

        found = {}
        missing = []
        for account_id in account_ids:
            row = self._get((account_id, as_of)) if self.ttl_s > 0 else None
            if row is None:
                missing.append(account_id)
            else:
                found[account_id] = row
        if missing:
            frames = load_account_frames(session, feats.ENTITIES_BY_NAME.keys(), missing)
            computed = feats.account_features(frames, as_of)
            for account_id in missing:
                if account_id in computed.index:
                    row = computed.loc[[account_id]]
                    found[account_id] = row
                    if self.ttl_s > 0:
                        self._put((account_id, as_of), row)
        ordered = [found[a] for a in account_ids if a in found]
        if not ordered:
            return pd.DataFrame()
        return ordered[0] if len(ordered) == 1 else pd.concat(ordered)


class DefaultDay:
    """`risk.service.default_as_of` (two MAX() queries) remembered for a minute: it moves once a day at most."""

    def __init__(self, ttl_s: float = 60.0) -> None:
        self.ttl_s = ttl_s
        self._value: tuple[float, date] | None = None

    def cached(self) -> date | None:
        """The remembered day while it is fresh, else None; never touches the database."""
        cached = self._value
        return cached[1] if cached is not None and cached[0] > time.monotonic() else None

    def get(self, sessions: sessionmaker[Session]) -> date:
        from handoff.risk.service import default_as_of

        day = self.cached()
        if day is not None:
            return day
        with sessions() as session:
            day = default_as_of(session)
        self._value = (time.monotonic() + self.ttl_s, day)
        return day


def _record(row: pd.Series) -> dict[str, Any]:
    out = {}
    for name, value in row.items():
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
            out[str(name)] = None
        elif isinstance(value, np.generic):
            out[str(name)] = value.item()
        else:
            out[str(name)] = value
    return out


def score_record(model: Any, record: dict[str, Any], top: int = 5) -> tuple[float, list[dict[str, Any]]]:
    """Probability and risk-raising drivers for one account, on the boosters' row path (no DataFrame per call).

    Same numbers as `risk.service.score_churn` (a test holds them equal); the booster is walked once for both.
    """
    prediction, drivers = model.bundle.predict_explain_row(record, top=top, direction="up")
    return prediction["probability"], drivers
