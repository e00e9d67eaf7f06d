"""Due dates from a sentence, resolved against the message's send time and its time zone.

Our own rules come first because they encode business meanings that general parsers miss (EOD, EOW, "by the 15th"
means the next 15th, Q3 ends on 30 September, 周五前 / 下周一 / 月底); dateparser handles the long tail of
explicit date spellings. The rules are written down in docs/extraction.md ("Due dates").
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

WEEKDAYS = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2, "thursday": 3, "thu": 3,
    "thur": 3, "thurs": 3, "friday": 4, "fri": 4, "saturday": 5, "sat": 5, "sunday": 6, "sun": 6,
}  # fmt: skip
MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4, "may": 5,
    "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9, "sep": 9, "sept": 9,
    "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip
CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "日": 7, "天": 7, "七": 7, "1": 1, "2": 2, "3": 3}
CN_DIGITS.update({"4": 4, "5": 5, "6": 6, "7": 7})

_WD = r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|wed|thu(?:rs?)?|fri|sat|sun)\.?"
_MONTH = r"(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\.?"  # noqa: E501
_DEADLINE_WORD = re.compile(
    r"\b(by|before|until|till|due|no later than|not later than|deadline|latest|on or before|ahead of|within|"
    r"(?:postpone|move|push|reschedule|delay)\w*\b[\w\s']{0,25}\bto)\b|前|之前|以前|截止",
    re.I,
)


@dataclass(frozen=True)
class DueDate:
    value: date
    confidence: float
    matched: str


def _end_of_month(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _add_months(day: date, months: int) -> tuple[int, int]:
    index = day.year * 12 + day.month - 1 + months
    return index // 12, index % 12 + 1


def _next_weekday(today: date, weekday: int, *, this_week: bool = False, next_week: bool = False) -> date:
    monday = today - timedelta(days=today.weekday())
    if next_week:
        return monday + timedelta(days=7 + weekday)
    if this_week:
        return monday + timedelta(days=weekday)
    # A bare weekday is its next occurrence; said on that very day it means a week later.
    ahead = (weekday - today.weekday()) % 7
    return today + timedelta(days=ahead or 7)


def _next_day_of_month(today: date, day: int) -> date | None:
    year, month = today.year, today.month
    for _ in range(13):
        if day <= calendar.monthrange(year, month)[1]:
            candidate = date(year, month, day)
            if candidate >= today:
                return candidate
        year, month = _add_months(date(year, month, 1), 1)
    return None


def _month_day(today: date, month: int, day: int, year: int | None) -> date | None:
    try:
        if year:
            return date(year if year > 100 else 2000 + year, month, day)
        candidate = date(today.year, month, day)
    except ValueError:
        return None
    # Without a year, a date more than two months back means next year's ("by Jan 10" written in December).
    if candidate < today - timedelta(days=60):
        candidate = date(today.year + 1, month, day)
    return candidate


def _quarter_end(today: date, quarter: int, year: int | None) -> date:
    year = year or today.year
    end = _end_of_month(year, quarter * 3)
    if end < today and year == today.year:
        end = _end_of_month(year + 1, quarter * 3)
    return end


_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), "iso"),
    # Chinese writers often space the numbers out: "4 月 20 日前", "2024 年 3 月 1 日".
    (re.compile(r"(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]"), "cn_month_day"),
    (re.compile(r"(下下?|本|这|这个)?(?:周|星期|礼拜)([一二三四五六日天1-7])"), "cn_weekday"),
    (re.compile(r"(\d{1,2})\s*月\s*(?:底|末)"), "cn_numbered_month_end"),
    (re.compile(r"(下个?月|本月|这个月)?月底|月末"), "cn_month_end"),
    (re.compile(r"(\d{1,2})\s*[日号](?:之?前|以前|截止)"), "cn_day_of_month"),
    (re.compile(r"明天|明日"), "cn_tomorrow"),
    (re.compile(r"后天"), "cn_day_after"),
    (re.compile(r"今天|今日|今晚|下班前"), "cn_today"),
    (re.compile(r"下周(?![一二三四五六日天])|下星期(?![一二三四五六日天])"), "cn_next_week"),
    (re.compile(r"本周(?![一二三四五六日天])|这周(?![一二三四五六日天])"), "cn_this_week"),
    (re.compile(r"\b(?:end of (?:the )?|eo)(next )?(?:month)\b|\beom\b", re.I), "end_of_month"),
    (re.compile(r"\bend of (?:the )?next week\b", re.I), "end_of_next_week"),
    (re.compile(r"\b(?:eow|end of (?:the )?week|this week|end of this week)\b", re.I), "end_of_week"),
    (
        re.compile(r"\b(?:eod|cob|eob|end of (?:the )?(?:business )?day|close of business|today|tonight)\b", re.I),
        "today",
    ),
    (re.compile(r"\bto?m+or+ow\b", re.I), "tomorrow"),  # "tommorrow", "tomorow": as often written
    (re.compile(r"\b(?:(?:end of|by|in|during|before)\s+)?(?:the\s+)?q([1-4])(?:\s*'?(\d{2,4}))?\b", re.I), "quarter"),
    (re.compile(r"\bnext\s+" + _WD + r"\b", re.I), "next_weekday"),
    (re.compile(r"\bthis\s+(?:coming\s+)?" + _WD + r"\b", re.I), "this_weekday"),
    (re.compile(_MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?\b", re.I), "month_day"),
    (re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"(?:,?\s+(\d{4}))?", re.I), "day_month"),
    (re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b"), "numeric"),
    (re.compile(r"\b(?:the\s+)(\d{1,2})(?:st|nd|rd|th)\b", re.I), "day_of_month"),
    (re.compile(r"\b" + _WD + r"\b", re.I), "weekday"),
    (re.compile(r"\b(?:in|within)\s+(\d+|a|one|two|three|four)\s+(day|week|month)s?\b", re.I), "in_delta"),
    (re.compile(r"\bnext week\b", re.I), "next_week"),
    (re.compile(r"\bnext month\b", re.I), "next_month"),
]
_SMALL_NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4}


def _apply(kind: str, match: re.Match[str], today: date) -> tuple[date | None, float]:
    g = match.groups()
    if kind == "iso":
        try:
            return date(int(g[0]), int(g[1]), int(g[2])), 0.95
        except ValueError:
            return None, 0.0
    if kind == "cn_month_day":
        return _month_day(today, int(g[1]), int(g[2]), int(g[0]) if g[0] else None), 0.9
    if kind == "cn_weekday":
        weekday = CN_DIGITS[g[1]] - 1
        prefix = g[0] or ""
        if prefix.startswith("下下"):
            return _next_weekday(today, weekday, next_week=True) + timedelta(days=7), 0.8
        if prefix.startswith("下"):
            return _next_weekday(today, weekday, next_week=True), 0.85
        if prefix:
            return _next_weekday(today, weekday, this_week=True), 0.85
        return _next_weekday(today, weekday), 0.8
    if kind == "cn_numbered_month_end":
        month = int(g[0])
        if not 1 <= month <= 12:
            return None, 0.0
        year = today.year + (1 if month < today.month - 2 else 0)
        return _end_of_month(year, month), 0.85
    if kind == "cn_month_end":
        if g[0] and g[0].startswith("下"):
            return _end_of_month(*_add_months(today, 1)), 0.85
        return _end_of_month(today.year, today.month), 0.85
    if kind == "cn_day_of_month":
        return _next_day_of_month(today, int(g[0])), 0.8
    if kind == "cn_tomorrow":
        return today + timedelta(days=1), 0.9
    if kind == "cn_day_after":
        return today + timedelta(days=2), 0.9
    if kind == "cn_today":
        return today, 0.85
    if kind == "cn_next_week":
        return None, 0.0  # vague: "next week" names no day
    if kind == "cn_this_week":
        return _next_weekday(today, 4, this_week=True), 0.7
    if kind == "end_of_month":
        if g[0]:
            return _end_of_month(*_add_months(today, 1)), 0.85
        return _end_of_month(today.year, today.month), 0.85
    if kind == "end_of_next_week":
        return _next_weekday(today, 4, next_week=True), 0.85
    if kind == "end_of_week":
        friday = _next_weekday(today, 4, this_week=True)
        return (friday if friday >= today else friday + timedelta(days=7)), 0.8
    if kind == "today":
        return today, 0.85
    if kind == "tomorrow":
        return today + timedelta(days=1), 0.9
    if kind == "quarter":
        year = None
        if g[1]:
            year = int(g[1]) if len(g[1]) == 4 else 2000 + int(g[1][-2:])
        return _quarter_end(today, int(g[0]), year), 0.6
    if kind == "next_weekday":
        return _next_weekday(today, WEEKDAYS[g[0].lower().rstrip(".")], next_week=True), 0.75
    if kind == "this_weekday":
        day = _next_weekday(today, WEEKDAYS[g[0].lower().rstrip(".")], this_week=True)
        return (day if day >= today else day + timedelta(days=7)), 0.85
    if kind == "month_day":
        return _month_day(today, MONTHS[g[0].lower().rstrip(".")], int(g[1]), int(g[2]) if g[2] else None), 0.9
    if kind == "day_month":
        return _month_day(today, MONTHS[g[1].lower().rstrip(".")], int(g[0]), int(g[2]) if g[2] else None), 0.9
    if kind == "numeric":
        month, day = int(g[0]), int(g[1])
        if month > 12 >= day:  # 15/3 is day/month
            month, day = day, month
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return None, 0.0
        year = int(g[2]) if g[2] else None
        return _month_day(today, month, day, year), 0.7
    if kind == "day_of_month":
        return _next_day_of_month(today, int(g[0])), 0.8
    if kind == "weekday":
        return _next_weekday(today, WEEKDAYS[g[0].lower().rstrip(".")]), 0.8
    if kind == "in_delta":
        count = int(g[0]) if g[0].isdigit() else _SMALL_NUMBERS[g[0].lower()]
        unit = g[1].lower()
        if count > HORIZON.days:  # "within 3000000 days" overflows a date; nothing that far is a deadline anyway
            return None, 0.0
        if unit == "day":
            return today + timedelta(days=count), 0.75
        if unit == "week":
            return today + timedelta(weeks=count), 0.7
        year, month = _add_months(today, count)
        return date(year, month, min(today.day, calendar.monthrange(year, month)[1])), 0.6
    if kind in ("next_week", "next_month"):
        return None, 0.0  # vague: the guidelines keep such a phrase as text, never as a day
    return None, 0.0


# Dates that describe the past or a meeting rather than a deadline ("on Monday we discussed", "last Friday").
_PAST_CONTEXT = re.compile(
    r"\b(last|yesterday|ago|since|was|were|did|had|met|discussed|sent|received)\b|上周|昨天", re.I
)
_TIME_PHRASE = re.compile(r"\b(\d{1,2})(:\d{2})?\s*(am|pm)\b", re.I)


# A deadline further out is no task's deadline: a contract term, a typo ("2062"), or mischief ("by 31 December 9999",
# which the features' nanosecond timestamps cannot even hold).
HORIZON = timedelta(days=10 * 366)


_VAGUE = {"next_week", "next_month", "cn_next_week"}
_BY_TIME = re.compile(r"\b(?:by|before|until|no later than)\s+\d{1,2}(?::\d{2})?\s*(?:a\.?m\.?|p\.?m\.?)", re.I)


def find_due(sentence: str, sent_at: datetime) -> DueDate | None:
    """The deadline a sentence sets, if any. `sent_at` is aware; its own offset decides what "today" is."""
    today = sent_at.date()
    by_time = _BY_TIME.search(sentence)
    text = _TIME_PHRASE.sub(" ", sentence)
    vague = False
    best: DueDate | None = None
    best_position = -1
    taken: list[tuple[int, int]] = []
    for pattern, kind in _RULES:
        for match in pattern.finditer(text):
            span = match.span()
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue  # already read by a more specific rule
            taken.append(span)
            if kind == "quarter" and not re.match(r"(?i)(end of|by|in|during|before)", match.group(0)):
                continue  # "the Q1 training calendar" names a quarter; it sets no deadline
            value, confidence = _apply(kind, match, today)
            if value is None:
                vague = vague or kind in _VAGUE
                continue
            before = text[max(0, span[0] - 25) : span[0]]
            after = text[span[1] : span[1] + 6]
            if _DEADLINE_WORD.search(before) or _DEADLINE_WORD.search(after) or _DEADLINE_WORD.match(match.group(0)):
                confidence = min(1.0, confidence + 0.05)
                position = 2
            else:
                confidence -= 0.15
                position = 1
            if not today <= value <= today + HORIZON or (
                kind == "weekday" and text[span[1] : span[1] + 2] in ("'s", "’s")
            ):
                continue  # past, beyond the horizon, or "Thursday's deployment": a day named, not a deadline
            if _PAST_CONTEXT.search(before) and not _DEADLINE_WORD.search(before):
                continue
            if position > best_position or (position == best_position and best and confidence > best.confidence):
                best = DueDate(value, round(max(0.05, confidence), 3), match.group(0).strip())
                best_position = position
    if best is None and by_time is not None:
        return DueDate(today, 0.7, by_time.group(0).strip())  # "by 4:55 pm": a time with no day is today
    if best is None and not vague:
        best = _dateparser_fallback(text, sent_at)
    return best


_EVENT_LINE = re.compile(r"^\s*(?:date|when|time and date)\s*:|" + _WD + r",?\s+" + _MONTH + r"\s+\d{1,2}", re.I | re.M)


_EVENT_SUBJECT = re.compile(
    r"\b(?:meeting|call|lunch|dinner|breakfast|interview|session|conference|workshop|training|party|offsite|"
    r"event|presentation|walkthrough|demo)s?\b|会议|会谈",
    re.I,
)


def event_date(text: str, sent_at: datetime, subject: str | None = None) -> DueDate | None:
    """The day a message's meeting or event takes place: a "Date:" line or a spelled-out "Thursday, June 7" — the due
    date of asks to attend it, which seldom repeat the day (GUIDELINES: attending an event is due on its date) — or
    else the day a subject that names a meeting gives ("Meeting Wednesday 28 at 10")."""
    for line in text.splitlines():
        if _EVENT_LINE.search(line):
            found = find_due(line, sent_at)
            if found is not None:
                return DueDate(found.value, round(min(found.confidence, 0.7), 3), found.matched)
    if subject and _EVENT_SUBJECT.search(subject):
        found = find_due(subject, sent_at)
        if found is not None:
            return DueDate(found.value, round(min(found.confidence, 0.6), 3), found.matched)
    return None


_EXPLICIT = re.compile(r"\b(?:by|before|due|until|on)\s+([A-Za-z0-9 ,./-]{4,30}?)(?=[.,;!?)]|$)", re.I)


def _dateparser_fallback(text: str, sent_at: datetime) -> DueDate | None:
    """dateparser for spellings our rules do not know, only after a deadline word (search_dates is too slow)."""
    match = _EXPLICIT.search(text)
    if not match or not re.search(r"\d", match.group(1)):
        return None
    import dateparser

    parsed = dateparser.parse(
        match.group(1),
        settings={
            "RELATIVE_BASE": sent_at.replace(tzinfo=None),
            "PREFER_DATES_FROM": "future",
            "STRICT_PARSING": False,
            "REQUIRE_PARTS": ["day"],
        },
        languages=["en"],
    )
    if parsed is None or not sent_at.date() <= parsed.date() <= sent_at.date() + HORIZON:
        return None
    return DueDate(parsed.date(), 0.6, match.group(1).strip())
