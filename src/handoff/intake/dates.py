"""Dates as mail clients print them in forwarded headers (English and Chinese), to timezone-aware datetimes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from handoff.intake.mime import parse_date

_CHINESE = re.compile(
    r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日(?:\s*[(（]?(?:星期|周|週)[一二三四五六日天][)）]?)?"
    r"\s*(上午|下午|晚上|中午|凌晨)?\s*(?:(\d{1,2})\s*[:：]\s*(\d{2})(?:\s*[:：]\s*(\d{2}))?)?"
)
_OFFSET = re.compile(r"(?:GMT|UTC)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?|([+-])(\d{2})(\d{2})\b")
_WEEKDAY = re.compile(r"\b(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(day|nesday|sday|urday)?\b\.?,?", re.IGNORECASE)
_FORMATS = (
    "%B %d %Y %I:%M:%S %p",
    "%B %d %Y %I:%M %p",
    "%b %d %Y %I:%M:%S %p",
    "%b %d %Y %I:%M %p",
    "%d %B %Y %H:%M:%S",
    "%d %B %Y %H:%M",
    "%d %b %Y %H:%M:%S",
    "%d %b %Y %H:%M",
    "%B %d %Y %H:%M",
    "%b %d %Y %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%d/%m/%Y %H:%M",
    "%d.%m.%Y %H:%M",
    "%B %d %Y",
    "%d %B %Y",
    "%Y-%m-%d",
)


def parse_loose_date(value: str | None, default_tz: tzinfo | None = None) -> datetime | None:
    """Best effort: RFC 2822, Chinese 年月日, the common English layouts; the zone defaults to `default_tz`/UTC."""
    if not value:
        return None
    value = value.strip()
    zone = default_tz or UTC
    rfc = parse_date(value)
    if rfc is not None and re.search(r"\d{1,2}:\d{2}", value) and _OFFSET.search(value):
        return rfc
    offset_zone = _offset(value)
    zone = offset_zone or zone
    chinese = _CHINESE.search(value)
    if chinese:
        year, month, day, half, hour, minute, second = chinese.groups()
        h = int(hour or 0)
        if half in ("下午", "晚上") and h < 12:
            h += 12
        if half == "中午" and h < 11:
            h += 12
        try:
            return datetime(int(year), int(month), int(day), h, int(minute or 0), int(second or 0), tzinfo=zone)
        except ValueError:
            return None
    cleaned = _WEEKDAY.sub(" ", value)
    cleaned = _OFFSET.sub(" ", cleaned)
    cleaned = re.sub(r"\(.*?\)|\b(at|um|à|GMT|UTC|CET|CEST|PST|PDT|EST|EDT)\b|,", " ", cleaned, flags=re.IGNORECASE)
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", cleaned)
    cleaned = cleaned.replace("\u202f", " ").replace("\u00a0", " ")
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    for layout in _FORMATS:
        try:
            return datetime.strptime(cleaned, layout).replace(tzinfo=zone)
        except ValueError:
            continue
    if rfc is not None:
        return rfc
    return _dateparser(value, zone)


def _offset(value: str) -> tzinfo | None:
    match = _OFFSET.search(value)
    if not match:
        return None
    sign, hours, minutes = (match.group(1), match.group(2), match.group(3)) if match.group(1) else match.groups()[3:]
    delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
    return timezone(-delta if sign == "-" else delta)


def _dateparser(value: str, zone: tzinfo) -> datetime | None:
    import dateparser  # slow to import: only for layouts the fast paths above do not know

    try:
        parsed = dateparser.parse(value, settings={"RETURN_AS_TIMEZONE_AWARE": False})
    except Exception:
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
