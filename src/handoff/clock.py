"""The one clock: now and today in UTC, and UTC back on the times the store returns (handed in where tests set it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

# What a job takes when a test must set the time (`now=`, `clock=`); the default is `utcnow`.
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)


def naive_utcnow() -> datetime:
    """Now in UTC without tzinfo: how the store's naive DateTime columns hold time, on SQLite and PostgreSQL alike."""
    return utcnow().replace(tzinfo=None)


def today() -> date:
    """Today's date in UTC."""
    return utcnow().date()


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: they were written as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
