"""Pydantic field types shared by request and response shapes: datetimes that always say they are UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def _as_utc(value: datetime) -> datetime:
    # The store keeps naive UTC; an answer without an offset is not an RFC 3339 date-time, so it gets one here.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]
