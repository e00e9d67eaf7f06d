"""Priority from urgency cues in the sentence (and, weaker, in the subject) and from how close the due date is."""

from __future__ import annotations

import re
from datetime import date

from handoff.extraction.model import Priority

_URGENT = re.compile(
    r"\b(urgent(ly)?|asap|a\.s\.a\.p|immediately|right away|critical|blocker|blocking|emergency|p0|sev ?1|"
    r"top priority|highest priority)\b|紧急|十万火急|马上|立即|立刻|尽快|!!!",
    re.I,
)
_HIGH = re.compile(
    r"\b(important|high priority|priority|soon|as soon as|quickly|time[- ]sensitive|p1|crucial|essential|"
    r"escalat\w*)\b|重要|优先|加急",
    re.I,
)
_LOW = re.compile(
    r"\b(no rush|no hurry|low priority|whenever|when you (get|have) a (chance|moment|minute)|nice to have|"
    r"at your (leisure|convenience)|not urgent|eventually|someday|if you have time)\b|不急|有空|有时间的话",
    re.I,
)


def has_urgency(text: str) -> bool:
    return bool(_URGENT.search(text))


def find_priority(
    sentence: str, *, subject: str | None, due: date | None, today: date, following: str | None = None
) -> tuple[Priority, float]:
    """A level and how sure we are; no cue at all means "normal" with middling confidence.

    `following` is the next sentence when it asks nothing itself: people often put the urgency right after the ask
    ("Could you send the SOW by Friday? It's urgent, the board meets Monday.").
    """
    if _LOW.search(sentence):
        return "low", 0.8
    if _URGENT.search(sentence):
        return "urgent", 0.85
    if following and _URGENT.search(following) and not _LOW.search(following):
        return "urgent", 0.7
    if subject and _URGENT.search(subject):
        return "urgent", 0.65
    if _HIGH.search(sentence):
        return "high", 0.7
    if due is not None and (due - today).days <= 1:
        return "high", 0.6
    return "normal", 0.6
