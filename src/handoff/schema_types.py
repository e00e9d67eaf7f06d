"""Pydantic field types shared by request and response shapes: datetimes that always say they are UTC, and days the
feature tables can hold."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, Field


def _as_utc(value: datetime) -> datetime:
    # The store keeps naive UTC; an answer without an offset is not an RFC 3339 date-time, so it gets one here.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]

# Dates outside what pandas' nanosecond timestamps hold (1677-2262) would break feature building: refuse them early.
EARLIEST, LATEST = date(1900, 1, 1), date(2200, 12, 31)
Day = Annotated[date, Field(ge=EARLIEST, le=LATEST)]
