"""Lexical cues of an ask or a commitment: requests, imperatives, promises, deadlines; features for the classifier."""

from __future__ import annotations

import re

import numpy as np

IMPERATIVE_VERBS = (
    "send", "review", "check", "call", "email", "update", "prepare", "schedule", "book", "confirm", "share", "provide",
    "fix", "set", "add", "remove", "let", "make", "forward", "sign", "approve", "draft", "write", "submit", "finish",
    "complete", "arrange", "organize", "organise", "follow", "reach", "contact", "ping", "ask", "get", "give", "look",
    "find", "create", "deploy", "test", "investigate", "upload", "deliver", "circulate", "coordinate", "plan",
    "reply", "respond", "pay", "file", "print", "bring", "attend", "join", "fill", "complete", "install", "clean",
    "merge", "ship", "escalate", "verify", "validate", "double-check", "resend", "move", "change", "cancel", "note",
    "hold", "keep", "remember", "advise", "tell", "inform", "notify", "put", "take", "do", "start", "try", "include",
    "return", "post", "publish", "order", "invite", "research", "analyze", "analyse", "estimate", "quote", "revise",
    "propose", "discuss", "open", "close", "lead", "help", "document", "announce", "vote", "raise", "talk",
    "setup", "circle", "meet", "finalise", "finalize", "handle", "drive", "present", "summarize", "summarise",
    "collect", "gather", "sync", "establish", "reflect", "swing", "nominate", "recruit",
)  # fmt: skip
IMPERATIVE_VERB = r"(?:" + "|".join(IMPERATIVE_VERBS) + r")\b"  # one of them, as a regex piece
_IMPERATIVE_START = re.compile(r"^(?:please\s+|pls\s+|kindly\s+)?(" + IMPERATIVE_VERB + r")", re.I)
_REQUEST = re.compile(
    r"\b(could|can|would|will)\s+(you|u|someone|somebody|anyone|we)\b|\bplease\b|\bpls\b|\bkindly\b|"
    r"\bneed(s)? (you|to)\b|\bwould (like|appreciate)\b|\bi'?d (like|appreciate)\b|\bmake sure\b|\bdon'?t forget\b|"
    r"\bremember to\b|\blet me know\b|\blet'?s\b|\bwe should\b|\byou should\b|\bmust\b|\bhave to\b|\bask(ing)? you\b",
    re.I,
)
_COMMIT = re.compile(
    r"\b(i'?ll|i will|i'm going to|i am going to|we'?ll|we will|i can|i shall|will do|i'?ll take care)\b", re.I
)
_DEADLINE = re.compile(
    r"\b(by|before|until|due|no later than|deadline|eod|eow|cob|asap|tomorrow|tonight|today|next week|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|end of (the )?(day|week|month)|"
    r"q[1-4]|\d{1,2}(st|nd|rd|th)|\d{1,2}/\d{1,2})\b",
    re.I,
)
_URGENT = re.compile(r"\b(asap|urgent(ly)?|immediately|critical|blocker|right away|top priority|high priority)\b", re.I)
_CHINESE_REQUEST = re.compile(r"(请|麻烦|能否|可以.*吗|需要|务必|尽快|记得|帮忙|负责|跟进|确认|提供|发送|安排)")
_CHINESE_DEADLINE = re.compile(
    r"(前|之前|截止|月底|周[一二三四五六日天]|星期[一二三四五六日天]|明天|今天|下周|本周|号)"
)
_MARKER = re.compile(r"^\s*(?:action(?: item)?s?|ai|todo|to-do|task|follow[- ]?up)\s*[:：-]|^\s*[-*]?\s*\[ \]", re.I)
_NOISE = re.compile(
    r"(^(hi|hello|hey|dear|thanks|thank you|cheers|regards|best|sincerely)\b)|unsubscribe|click here|\$\d|"
    r"https?://|^\W*$|^(from|to|sent|cc|subject|date):",
    re.I,
)
_FIRST_PERSON_PAST = re.compile(r"\b(i|we) (sent|did|have|had|was|were|finished|completed|talked|met)\b", re.I)

CUE_NAMES = (
    "imperative_start", "request", "commitment", "deadline", "question", "urgent", "chinese_request",
    "chinese_deadline", "marker", "noise", "first_person_past", "short", "long", "you", "we_plural",
)  # fmt: skip


def cue_vector(sentence: str) -> np.ndarray:
    """One 0/1 (or scaled) value per `CUE_NAMES`, in that order."""
    text = sentence.strip()
    words = text.split()
    body = re.sub(r"^\s*(?:[-*•]|\d+[.)]|\[[ xX]?\])\s*", "", text)
    values = (
        bool(_IMPERATIVE_START.match(body)),
        bool(_REQUEST.search(text)),
        bool(_COMMIT.search(text)),
        bool(_DEADLINE.search(text)),
        text.rstrip().endswith(("?", "？")),
        bool(_URGENT.search(text)),
        bool(_CHINESE_REQUEST.search(text)),
        bool(_CHINESE_DEADLINE.search(text)),
        bool(_MARKER.search(text)),
        bool(_NOISE.search(text)),
        bool(_FIRST_PERSON_PAST.search(text)),
        len(words) <= 3,
        len(words) >= 40,
        bool(re.search(r"\byou(r)?\b|你|您", text, re.I)),
        bool(re.search(r"\b(we|us|our)\b|我们", text, re.I)),
    )
    return np.asarray(values, dtype=np.float32)


def cue_matrix(sentences: list[str]) -> np.ndarray:
    if not sentences:
        return np.zeros((0, len(CUE_NAMES)), dtype=np.float32)
    return np.vstack([cue_vector(s) for s in sentences])


def opens_with_imperative(sentence: str) -> bool:
    """Whether the sentence starts with one of `IMPERATIVE_VERBS` ("please" before it allowed)."""
    return bool(_IMPERATIVE_START.match(sentence.strip()))


# "should be completed", "must be sent": an obligation in the passive, a regex piece (the participle follows).
OBLIGED_PASSIVE = r"(?:should|must|needs? to|has to|have to|are to|is to)\s+be\s+"


def has_marker(sentence: str) -> bool:
    return bool(_MARKER.search(sentence))


# "Thoughts?", "Any comments?", "What do you think?": the writer asks for the reader's view of what the mail is about.
_VIEWS_ASKED = re.compile(
    r"^(?:(?:so|and|any|your|other|further)[,\s]+)*(?:thoughts|comments|feedback|input|views|reactions|objections)"
    r"(?:\s+(?:on this|anyone|please))?\s*[?？]\s*$|"
    r"^what do you (?:all |guys )?think\s*(?:of (?:this|it))?\s*[?？]\s*$",
    re.I,
)


def asks_for_views(sentence: str) -> bool:
    """A short question asking the reader's view ("Thoughts?"): too short to be read as an ask, yet one."""
    return bool(_VIEWS_ASKED.match(sentence.strip()))
