"""Meeting-note structure: "Action items" sections, ACTION:/AI: lines, checklists, owner tables, metadata lines."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from handoff.extraction.sentences import PRESENTER_TAIL
from handoff.webvtt import is_webvtt, read_cues

_SECTION = re.compile(
    r"^\s*(?:#{1,6}\s*|\*\*|__)?\s*(action items?|actions|next steps|to-?dos?|follow[- ]?ups?|tasks|"
    r"行动项|待办(?:事项)?|后续(?:事项|行动)?|下一步|(?:上期|上次)?遗留(?:事项|问题)|未完成事项)\s*(?:\*\*|__)?\s*[:：]?\s*(?:\*\*)?\s*$",
    re.I,
)
_OTHER_SECTION = re.compile(
    r"^\s*(?:#{1,6}\s+.+|(?:\*\*|__).+(?:\*\*|__)\s*:?|[A-Z][\w /&-]{1,40}:|[\u4e00-\u9fff]{2,8}[:：])\s*$"
)
# "议题：", "本期会议议题：", "## Agenda": the topics the meeting goes through, each with its presenter. Its numbered
# "topic -- presenter" lines present work; the same shape under "遗留事项" (carried-over items) is an owner's to-do.
_AGENDA_SECTION = re.compile(
    r"^\s*(?:#{1,6}\s*|\*\*|__)?\s*(?:本期|本次)?(?:会议)?(?:议题|议程|agenda)\s*(?:\*\*|__)?\s*[:：]?\s*(?:\*\*)?\s*$",
    re.I,
)
NUMBERED = re.compile(r"^\s*\d{1,2}\s*[、.,，．)]")
_AGENDA_TOPIC = re.compile(NUMBERED.pattern + r"\s*\S.*?" + PRESENTER_TAIL.pattern)
_ACTION_LINE = re.compile(r"^\s*(?:[-*•]\s*)?(?:action(?: item)?|ai|todo|to-do)\s*[:：-]\s*\S", re.I)
_OPEN_CHECKBOX = re.compile(r"^\s*(?:[-*]\s*)?\[\s\]\s*\S")
_DONE_CHECKBOX = re.compile(r"^\s*(?:[-*]\s*)?\[[xX✓]\]")
_METADATA = re.compile(
    r"^\s*(?:date|time|when|where|location|attendees|participants|present|absent|apologies|agenda|meeting|"
    r"notes? taken by|scribe|日期|时间|地点|参会人员?|与会者|与会人员?|出席|主持人?|记录人?|会议)\s*[:：]",
    re.I,
)
# "Anna to send…", "Maria will create…", "@benc will patch…": a named owner and a verb make a line an action item.
OWNER_LINE = re.compile(
    r"^\s*(?:[-*•·]\s*|\d{1,2}[.)]\s*)?(?:@[\w.-]+|[A-Z][\w'.-]+(?:\s[A-Z][\w'-]+)?)\s+(?:to|will|shall)\s+[a-z]"
    r"|^\s*(?:[-*•·]\s*)?[\u4e00-\u9fff]{2,4}\s+(?:负责)?\S"
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s+")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}")

OWNER_HEADERS = ("owner", "assignee", "who", "responsible", "负责人", "责任人", "owner(s)")
TASK_HEADERS = ("task", "action", "action item", "item", "what", "description", "事项", "任务", "行动项", "内容")
DUE_HEADERS = ("due", "due date", "deadline", "when", "by", "date", "截止", "截止日期", "完成时间", "期限")


@dataclass(frozen=True)
class NoteItem:
    """A line the notes' own structure marks as an action item, with owner/due cells when a table gave them."""

    text: str
    line_no: int
    how: str  # "section", "action_line", "checkbox", "table"
    owner: str | None = None
    due_text: str | None = None


@dataclass(frozen=True)
class NoteStructure:
    items: list[NoteItem]
    consumed_lines: set[int]  # lines that are items, metadata, done checkboxes or tables: not prose
    agenda_topics: set[int] = field(default_factory=set)  # "N、topic -- presenter" lines of an agenda: no tasks


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def _column(headers: list[str], names: tuple[str, ...]) -> int | None:
    for index, header in enumerate(headers):
        if header.lower().strip("* ") in names:
            return index
    return None


def from_webvtt(text: str) -> tuple[str, dict[int, str]]:
    """A WebVTT transcript as plain lines, and who spoke each line (`<v Name>`), for "I'll" → the speaker."""
    if not is_webvtt(text):
        return text, {}
    lines: list[str] = []
    speakers: dict[int, str] = {}
    for cue in read_cues(text):
        if cue.speaker:
            speakers[len(lines)] = cue.speaker
        lines.append(cue.words)
        lines.append("")  # each cue its own paragraph
    return "\n".join(lines), speakers


def parse_structure(text: str, *, is_notes: bool = True) -> NoteStructure:
    lines = text.replace("\r\n", "\n").split("\n")
    items: list[NoteItem] = []
    consumed: set[int] = set()
    topics: set[int] = set()
    in_section = in_agenda = False
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if _TABLE_ROW.match(line) and index + 1 < len(lines) and _TABLE_RULE.match(lines[index + 1]):
            index = _read_table(lines, index, items, consumed)
            continue
        if not stripped:
            index += 1
            continue
        if _SECTION.match(stripped):
            in_section, in_agenda = True, False
            consumed.add(index)
        elif _AGENDA_SECTION.match(stripped):
            in_section, in_agenda = False, True
            consumed.add(index)
        elif in_agenda and _AGENDA_TOPIC.match(stripped):
            topics.add(index)  # a topic and its presenter: what the lines under it decide is what may be a task
        elif _METADATA.match(stripped) or _DONE_CHECKBOX.match(stripped):
            consumed.add(index)
        elif _ACTION_LINE.match(stripped):
            items.append(NoteItem(stripped, index, "action_line"))
            consumed.add(index)
        elif _OPEN_CHECKBOX.match(stripped):
            items.append(NoteItem(stripped, index, "checkbox"))
            consumed.add(index)
        elif in_section and (_LIST_ITEM.match(stripped) or not _OTHER_SECTION.match(stripped)):
            items.append(NoteItem(stripped, index, "section"))
            consumed.add(index)
        elif is_notes and OWNER_LINE.match(stripped) and len(stripped.split()) <= 30:
            items.append(NoteItem(stripped, index, "owner_line"))
            consumed.add(index)
        elif _OTHER_SECTION.match(stripped):
            in_section = False
        index += 1
    return NoteStructure(items, consumed, topics)


def _read_table(lines: list[str], start: int, items: list[NoteItem], consumed: set[int]) -> int:
    headers = _cells(lines[start])
    owner_col = _column(headers, OWNER_HEADERS)
    task_col = _column(headers, TASK_HEADERS)
    due_col = _column(headers, DUE_HEADERS)
    consumed.update({start, start + 1})
    index = start + 2
    while index < len(lines) and _TABLE_ROW.match(lines[index]):
        consumed.add(index)
        cells = _cells(lines[index])
        if task_col is not None and task_col < len(cells) and cells[task_col]:
            owner = cells[owner_col] if owner_col is not None and owner_col < len(cells) else None
            due = cells[due_col] if due_col is not None and due_col < len(cells) else None
            items.append(NoteItem(cells[task_col], index, "table", owner or None, due or None))
        index += 1
    return index


# "与会人：魏刚、胡峰", "**Attendees:** Ann, Bo", or a "## Present" / "## 👤参会人" heading over a list of names.
_ATTENDEE_LABEL = r"(?:attendees|participants|present|与会人员?|与会者|参会人员?|出席人员?|参加人员?)"
_ATTENDEES_INLINE = re.compile(
    rf"^\s*(?:[-*•]\s*)?(?:\*\*|__)?\s*{_ATTENDEE_LABEL}\s*(?:\*\*|__)?\s*[:：]\s*(?:\*\*|__)?\s*(?P<names>\S.*)$", re.I
)
_ATTENDEES_HEADING = re.compile(
    rf"^\s*(?:#{{1,6}}\s*|\*\*|__)\s*\W{{0,2}}\s*{_ATTENDEE_LABEL}\s*(?:\*\*|__)?\s*[:：]?\s*$", re.I
)
_NAME_SEPARATORS = re.compile(r"\s*(?:[、,，;；/]|@|\band\b)\s*")
_NAME_NOISE = re.compile(r"\\?\([^)]*\\?\)|（[^）]*）|\[[^\]]*\]|\*\*|__|\\")
MAX_ATTENDEE_LINES = 40


def meeting_attendees(text: str) -> tuple[str, ...]:
    """The names the notes list as present: the meeting's own roster, which tells a name from the words around it
    ("@秦圆圆创建…" is 秦圆圆, "建民" is 王建民) where no team roster knows the people."""
    lines = text.split("\n")
    found: list[str] = []
    for number, line in enumerate(lines):
        inline = _ATTENDEES_INLINE.match(line)
        if inline:
            found += _names(inline.group("names"))
            continue
        if not _ATTENDEES_HEADING.match(line):
            continue
        for following in lines[number + 1 : number + 1 + MAX_ATTENDEE_LINES]:
            stripped = following.strip()
            if stripped.startswith("#") or (found and not stripped):
                break
            if stripped and (_LIST_ITEM.match(stripped) or "@" in stripped or "、" in stripped or "," in stripped):
                found += _names(_LIST_ITEM.sub("", stripped))
    return tuple(dict.fromkeys(name for name in found if name))


def _names(listing: str) -> list[str]:
    names = []
    for part in _NAME_SEPARATORS.split(_NAME_NOISE.sub(" ", listing)):
        name = part.strip(" .:-–—*_")
        if name and len(name) <= 40 and len(name.split()) <= 4:
            names.append(name)
    return names
