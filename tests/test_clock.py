"""The one clock: aware and naive UTC agree, and the store's naive times read back as UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from handoff.clock import as_utc, naive_utcnow, today, utcnow


def test_aware_and_naive_now_are_the_same_instant_in_utc() -> None:
    aware, naive = utcnow(), naive_utcnow()
    assert aware.tzinfo is UTC and naive.tzinfo is None
    assert abs(naive.replace(tzinfo=UTC) - aware) < timedelta(seconds=5)
    assert today() in {aware.date(), utcnow().date()}  # a run across midnight may see the next day


def test_naive_times_from_the_store_are_utc_and_aware_ones_are_converted() -> None:
    assert as_utc(None) is None
    assert as_utc(datetime(2026, 3, 1, 9, 30)) == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    berlin = datetime(2026, 3, 1, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    assert as_utc(berlin) == datetime(2026, 3, 1, 9, 30, tzinfo=UTC) and as_utc(berlin).tzinfo is UTC
