"""Who a task belongs to: names, nicknames, @handles and addresses resolved against the team roster."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr

from handoff.extraction.decision import assignment_owner
from handoff.extraction.model import TeamMember

_HANDLE = re.compile(r"(?<![\w.])@([A-Za-z][\w.-]*[\w])")
_FIRST_PERSON = re.compile(
    r"\b(i'?ll|i will|i'm going to|i am going to|i can|i shall|let me (?!know|have|see|hear)|"
    r"i'?d be happy to|i'?d like to|i would like to|"
    r"i want to|i plan to|i need to|i intend to)\b|我来|我会|我将|我负责",
    re.I,
)
_SECOND_PERSON = re.compile(
    r"\b(could|can|would|will|do)\s+(you|u)\b|\byou (need|should|must|have) to\b|\bplease\b|\bpls\b|\bkindly\b|"
    r"\bi need you\b|\bi'?d like you\b|\bwould you mind\b|\bmake sure\b|\bdon'?t forget\b|"
    r"\blet me (?:know|have|see|hear)\b|\bget back to me\b|\b(?:send|give|tell|forward|call) me\b|"
    r"请|麻烦|能否|可否|务必|你|您",
    re.I,
)
# The writer's "we" commits the writer in mail (GUIDELINES 5: "we will", "we need to" → the sender).
_WE_COMMIT = re.compile(
    r"^\W*(?:[\w,]+\s+){0,3}?(?:we'll|we will|we are going to|we need to|we should|we must|we have to|let'?s)\b", re.I
)
_READERS = re.compile(r"\b(?:all of you|each of you|every one of you|you all)\b", re.I)
_PLURAL = re.compile(r"\b(we|let'?s|us|our team|everyone|all of us)\b|我们|大家", re.I)
_GREETING = re.compile(r"^\s*(?:hi|hello|hey|dear|morning|good morning)\s+([A-Z][\w'-]+)", re.I)
_CN_GREETING = re.compile(r"^\s*([\u4e00-\u9fff]{1,4}?)(?:你好|您好|,|，)")


@dataclass(frozen=True)
class Assignee:
    value: str | None  # roster id when resolved, else the name as written
    member_id: str | None
    confidence: float
    how: str


class Roster:
    """Lookup of roster members by every name they answer to."""

    def __init__(self, members: Sequence[TeamMember]) -> None:
        self.members = list(members)
        self._by_key: dict[str, TeamMember | None] = {}
        for member in self.members:
            keys = {member.name.lower(), member.id.lower()}
            parts = member.name.split()
            if parts:
                keys.add(parts[0].lower())
                keys.add(parts[-1].lower())
            if member.email:
                keys.add(member.email.lower())
                keys.add(member.email.split("@")[0].lower())
            keys.update(alias.lower().lstrip("@") for alias in member.aliases if alias.strip())
            for key in keys:
                # A first name shared by two people resolves to nobody rather than to the wrong one.
                if key in self._by_key and self._by_key[key] is not member:
                    self._by_key[key] = None
                else:
                    self._by_key[key] = member

    def find(self, name: str | None) -> TeamMember | None:
        if not name:
            return None
        key = name.strip().strip("@<>\"'").lower()
        if "<" in name or "@" in key:
            display, address = parseaddr(name)
            if address and address.lower() in self._by_key:
                return self._by_key[address.lower()]
            if address and address.split("@")[0].lower() in self._by_key:
                return self._by_key[address.split("@")[0].lower()]
            key = (display or key).lower()
        return self._by_key.get(key) or self._by_key.get(key.replace(".", " ").replace("_", " "))

    def mentioned(self, text: str) -> TeamMember | None:
        """The one roster member whose full name or distinctive alias appears in `text`, if exactly one does."""
        lowered = text.lower()
        found = {
            member.id: member
            for member in self.members
            if _contains_word(lowered, member.name.lower())
            or any(alias.strip() and _contains_word(lowered, alias.lower().lstrip("@")) for alias in member.aliases)
        }
        return next(iter(found.values())) if len(found) == 1 else None

    def resolve(self, name: str | None, confidence: float, how: str) -> Assignee:
        member = self.find(name)
        if member is not None:
            return Assignee(member.id, member.id, confidence, how)
        cleaned = _display_name(name)
        return Assignee(cleaned, None, confidence * 0.7, how + " (not on roster)") if cleaned else _UNRESOLVED


_UNRESOLVED = Assignee(None, None, 0.5, "unresolved")


def _contains_word(haystack: str, needle: str) -> bool:
    if not needle:
        return False
    if re.search(r"[\u4e00-\u9fff]", needle):
        return needle in haystack
    return re.search(r"(?<![\w@])" + re.escape(needle) + r"(?![\w])", haystack) is not None


def _display_name(raw: str | None) -> str | None:
    if not raw:
        return None
    if "@" not in raw and "<" not in raw:
        return raw.strip() or None
    display, address = parseaddr(raw)
    if display:
        return display.strip()
    if address and "@" in address:
        return address
    return raw.strip().lstrip("@") or None


_NAME = r"[A-Z][\w'-]+(?:\s[A-Z]\.|\s[A-Z][a-z]+)?"
# "Tim -", "Shanna/Tom,", "Marie or Tana -", "Scott and JIm,": people addressed by name at the start of a line.
_VOCATIVE_OPENING = re.compile(rf"^\s*({_NAME}(?:\s*(?:/|&|\band\b|\bor\b)\s*{_NAME})*)\s*(?:,|-|–|:)\s")
# Owners written after the item ("… - 胡欣蔚", "… -谢秀奇 (10月底…)", "… @陈玄", "责任人：朱健伟、罗钰凯").
_TRAILING_OWNER = re.compile(
    r"\s[-–—]{1,3}\s*((?:[\u4e00-\u9fff]{2,4}|[A-Z][\w'.-]+(?:\s[A-Z][\w'-]+)?)(?:\s*[&、和]\s*[\u4e00-\u9fff]{2,4})*)"
    r"\s*(?:[(（][^)）]*[)）]?)?\s*(?:->.*)?$"
)
_CN_RESPONSIBLE = re.compile(
    r"(?:责任人|负责人)\s*(?:[:：]\s*|\s+)([\u4e00-\u9fff]{2,4}(?:\s*[、,，和&]\s*[\u4e00-\u9fff]{2,4})*)"
)
# "@石垚@丁文昊将…", "@陈玄先用…": handles at the start of a Chinese line, each ended by another or by a verb.
_CN_LEADING_HANDLES = re.compile(r"^(?:@[\u4e00-\u9fff]{2,3}?(?=@|将|先|来|负责|需要|会|把|和|与|、|\s))+")
_CN_HANDLE = re.compile(r"@([\u4e00-\u9fff]{2,4}|[A-Za-z][\w-]+)\s*$")
# "@秦圆圆创建…", "… @罗基印 基本完成": a Chinese handle run into the words after it. Most Chinese names are two or
# three characters; a third character that is a common verb or particle ends a two-character one ("@石垚还有…").
_CN_MENTION = re.compile(r"@([\u4e00-\u9fff]{2,4})")
_CN_AFTER_NAME = frozenset("还将先来负需会把和与在已对要的是也都就再去做跟提创引完说分建认觉希讲问答")
# A group as the doer, as GUIDELINES 5 writes a role or subgroup: "请各委员准备…", "每位候选人需准备…", "需要大家参与…".
_CN_GROUP = re.compile(
    r"((?:各位|每位|每个|全体)[\u4e00-\u9fffA-Za-z ]{1,20}?|各(?![种类个项方面自])[\u4e00-\u9fff]{1,6}?|大家)"
    r"(?=需|要|准备|完成|主动|参与|提交|负责|积极|尽快|务必|一起|都|在|于|按|[,，。])"
)
# Words that open a line with a colon as its label, not its speaker ("问题：需要大家参与共建").
_CN_LABELS = frozenset(
    {
        "问题",
        "议题",
        "结论",
        "决议",
        "决定",
        "背景",
        "目标",
        "进展",
        "计划",
        "时间",
        "地点",
        "主题",
        "会议",
        "待办",
        "行动",
        "备注",
        "说明",
        "总结",
        "讨论",
        "建议",
        "需求",
        "风险",
        "现状",
        "方案",
        "原因",
        "结果",
        "内容",
        "描述",
        "链接",
        "状态",
        "议程",
        "纪要",
        "遗留",
        "其他",
        "补充",
        "回复",
        "答复",
        "意见",
        "会后",
        "后续",
        "目前",
        "当前",
        "下周",
        "本周",
        "下次",
    }
)
_AI_OWNER = re.compile(r"^\s*\*\*\s*(?:ai|action)\s*[:：]?\s+([A-Z][\w'-]+(?:\s[A-Z][\w'-]+)?)\s*\*\*", re.I)
# "It was agreed that Robin will…", "Also Brad needs to…", "…, Marco will lead this".
_INNER_OWNER = re.compile(
    rf"(?:\bthat|\balso|[,;:.]|\bso)\s+({_NAME}(?:\s*(?:&|\band\b)\s*{_NAME})*)\s+"
    r"(?:will|to|needs? to|is going to|are going to|volunteered|agreed to|offered to)\b"
)


def _joined(names: str) -> str:
    """Several owners as the guidelines write them: "A and B"."""
    parts = [part.strip() for part in re.split(r"\s*(?:/|&|、|＆|,|，|\band\b|\bor\b)\s*", names) if part.strip()]
    return " and ".join(parts)


def greets_by_name(text: str) -> bool:
    """Whether the first line is a greeting with a name ("Hi Anna,", "张敏你好")."""
    first = next((line for line in text.strip().splitlines() if line.strip()), "")
    return bool(_GREETING.match(first) or _CN_GREETING.match(first))


def addressee_from_greeting(text: str, roster: Roster | None = None) -> str | None:
    """Who a mail's asks are for: "Hi Anna," or an opening "Anna, a reminder…" naming a team member."""
    for line in text.strip().splitlines()[:3]:
        if not line.strip():
            continue
        match = _GREETING.match(line) or _CN_GREETING.match(line)
        if match:
            return match.group(1)
        vocative = _VOCATIVE_OPENING.match(line + " ")
        if vocative and vocative.group(1).split()[0].lower() not in _NOT_NAMES | _GREETING_WORDS:
            return _joined(vocative.group(1))
        return None
    return None


_OWNER_PREFIX = re.compile(
    r"^\s*(?:@?([A-Z][\w'.-]+(?:\s[A-Z][\w'-]+)?)|([\u4e00-\u9fff]{2,4}))\s*(?:to|will|should|must|needs to|[:：]|负责|来)\s",  # noqa: E501
    re.UNICODE,
)
_OWNER_TAG = re.compile(
    r"[(\[（](?:owner[:：]\s*)?@?([A-Z][\w'.-]+(?:\s[A-Z][\w'-]+)?|[\u4e00-\u9fff]{2,4})[)\]）]\s*$"
)
_OWNER_FIELD = re.compile(r"\b(?:owner|assignee|who|负责人)\s*[:：=]\s*@?([\w'.-]+(?:\s[A-Z][\w'-]+)?)", re.I)
_NOT_NAMES = {"please", "action", "ai", "todo", "note", "notes", "task", "next", "follow", "we", "i", "you", "they",
              "the", "this", "that", "it", "also", "then", "all", "everyone", "team", "someone", "decision", "date",
              "re", "fw", "fwd", "subject", "agenda", "attendees", "update", "status", "owner", "due", "tbd"}  # fmt: skip  # noqa: E501


_ITEM_PREFIX = re.compile(
    r"^\s*(?:[-*•·]\s*)?(?:\[[ xX]?\]\s*)?(?:\d{1,2}[.)]\s*)?(?:(?:action(?: item)?|ai|todo|to-do)\s*[:：-]\s*)?", re.I
)
_OWNER_VERB_LINE = re.compile(
    r"^@?([A-Z][\w'.-]+(?:\s[A-Z][\w'-]+)?)\s*(?:-|–|—|:)?\s*(?:will|to|shall|should|must|needs to|[a-z]+s)(?=\s)"
)


def _cn_mentioned(sentence: str, known_names: Sequence[str]) -> str | None:
    """The person a Chinese @-mention names: the longest known name the run starts with, else two or three
    characters by `_CN_AFTER_NAME`."""
    mention = _CN_MENTION.search(sentence)
    if mention is None:
        return None
    run = mention.group(1)
    known = [name for name in known_names if run.startswith(name) and len(name) >= 2]
    if known:
        return max(known, key=len)
    return run[:2] if len(run) == 2 or run[2] in _CN_AFTER_NAME else run[:3]


def _cn_name_like(opening: str, known_names: Sequence[str]) -> bool:
    """Whether the Chinese word that opens a line is a person: an attendee (by full or given name) when the notes
    list them, otherwise any word that is not a common label."""
    if opening in _CN_LABELS:
        return False
    chinese_names = [name for name in known_names if re.fullmatch(r"[\u4e00-\u9fff]{2,4}", name)]
    return not chinese_names or any(opening in name for name in chinese_names)


def written_owner(sentence: str, known_names: Sequence[str] = ()) -> str | None:
    """A name written as the owner: "Alice to send…", "@bob: …", "… (Carol)", "owner: dave", "Raj - send…".
    `known_names` (a meeting's attendees) tell a Chinese name from the words written against it."""
    ai_owner = _AI_OWNER.match(sentence)
    if ai_owner:
        return ai_owner.group(1)
    sentence = _ITEM_PREFIX.sub("", sentence, count=1)
    for pattern in (_CN_RESPONSIBLE, _TRAILING_OWNER, _CN_HANDLE):
        found = pattern.search(sentence)
        if found and found.group(1).split()[0].lower() not in _NOT_NAMES:
            return _joined(found.group(1))
    handles = _CN_LEADING_HANDLES.match(sentence)
    if handles:
        return _joined("、".join(re.findall(r"@([\u4e00-\u9fff]{2,3})", handles.group(0))))
    mentioned = _cn_mentioned(sentence, known_names)
    if mentioned:
        return mentioned
    chinese = re.match(r"^([\u4e00-\u9fff]{2,4})(?:\s+|\s*负责|\s*[:：])", sentence)
    if chinese and _cn_name_like(chinese.group(1), known_names):
        return chinese.group(1)
    dash = re.match(r"^@?([A-Z][\w'.-]+(?:\s[A-Z][\w'-]+)?)\s*(?:-|–|—|:)\s+\S", sentence)
    if dash and dash.group(1).split()[0].lower() not in _NOT_NAMES:
        return dash.group(1)
    verb_line = _OWNER_VERB_LINE.match(sentence)
    if verb_line and verb_line.group(1).split()[0].lower() not in _NOT_NAMES:
        return verb_line.group(1)
    for pattern in (_OWNER_FIELD, _OWNER_TAG):
        match = pattern.search(sentence)
        if match and match.group(1).lower() not in _NOT_NAMES:
            return match.group(1)
    handle = _HANDLE.search(sentence)
    if handle:
        return handle.group(1)
    match = _OWNER_PREFIX.match(sentence)
    if match:
        name = match.group(1) or match.group(2)
        if name and name.split()[0].lower() not in _NOT_NAMES:
            return name
    inner = _INNER_OWNER.search(sentence)
    if inner and inner.group(1).split()[0].lower() not in _NOT_NAMES:
        return _joined(inner.group(1))
    group = _CN_GROUP.search(sentence)
    if group:
        return group.group(1).strip()
    assigned = assignment_owner(sentence)  # the decision layer's reading of "X will do Y"
    return _joined(assigned) if assigned else None


def resolve_assignee(
    sentence: str,
    *,
    roster: Roster,
    sender: str | None,
    recipients: Sequence[str],
    addressee: str | None,
    is_notes: bool,
    owner_hint: str | None = None,
    known_names: Sequence[str] = (),
) -> Assignee:
    """The rules in order: an owner written down, a vocative roster name, "I'll" → writer, "you" → addressee, "we" → none."""  # noqa: E501
    if owner_hint:
        return roster.resolve(owner_hint, 0.9, "owner column")
    written = written_owner(sentence, known_names)
    # Outside notes a capitalised first word is often not a person ("Production has…"): trust only roster names.
    if written and (is_notes or roster.find(written) is not None or "@" in sentence):
        return roster.resolve(written, 0.85, "named owner")
    vocative = _VOCATIVE_OPENING.match(sentence + " ")
    if vocative and not is_notes and _is_person(vocative.group(1), roster, recipients):
        return roster.resolve(_joined(vocative.group(1)), 0.8, "addressed by name")
    if _FIRST_PERSON.search(sentence):
        return roster.resolve(sender, 0.8, "writer commits") if sender else _UNRESOLVED
    if _WE_COMMIT.match(sentence) or (re.search(r"我们会|我们将|我们来", sentence) and "请" not in sentence):
        # The writer's "we" is the writer's commitment in mail; in notes nobody is named.
        if sender and not is_notes:
            return roster.resolve(sender, 0.65, "writer commits for us")
        return Assignee(None, None, 0.7, "we: unresolved")
    customer_need = re.search(r"\bwe (?:still |really |urgently )?need\b", sentence, re.I) and not roster.find(sender)
    # A question in mail is the reader's to answer, "we" in it included ("Are we responsible for the fees?").
    question = sentence.rstrip(" *_)").endswith(("?", "？"))
    if (_SECOND_PERSON.search(sentence) or customer_need or _READERS.search(sentence) or question) and not is_notes:
        target = addressee or _first_roster_recipient(roster, recipients) or (recipients[0] if recipients else None)
        if target:
            confidence = 0.75 if addressee or len(recipients) == 1 else 0.55
            return roster.resolve(target, confidence, "addressee")
    if _PLURAL.search(sentence):
        return Assignee(None, None, 0.7, "we: unresolved")
    if not is_notes and (addressee or recipients):
        target = addressee or _first_roster_recipient(roster, recipients) or recipients[0]
        return roster.resolve(target, 0.5, "imperative to addressee")
    return _UNRESOLVED


_GREETING_WORDS = frozenset({"hi", "hello", "hey", "dear", "good", "morning", "greetings", "thanks", "folks", "guys",
                             "gentlemen", "ladies", "cc", "to", "from", "sent", "attn"})  # fmt: skip


def _is_person(names: str, roster: Roster, recipients: Sequence[str]) -> bool:
    """Whether a sentence-opening "Separately," or "Don:" names someone: a roster member or one of the mail's
    recipients (by a word of their name or address), not an adverb or a header word."""
    first = names.split()[0]
    if first.lower() in _NOT_NAMES | _GREETING_WORDS:
        return False
    if roster.find(first) is not None:
        return True
    words = {w for r in recipients for w in re.split(r"[^a-z]+", r.lower()) if len(w) >= 2}
    return any(part.lower() in words for part in re.split(r"\s*(?:/|&|\band\b|\bor\b)\s*|\s+", names) if part)


def _first_roster_recipient(roster: Roster, recipients: Sequence[str]) -> str | None:
    for recipient in recipients:
        if roster.find(recipient):
            return recipient
    return None
