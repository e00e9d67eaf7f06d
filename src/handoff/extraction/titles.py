"""A task title as a short imperative: "Could you please send me the revised SOW by Friday?" → "Send revised SOW"."""

from __future__ import annotations

import re

from handoff.extraction.cues import IMPERATIVE_VERB, IMPERATIVE_VERBS, OBLIGED_PASSIVE, opens_with_imperative

_MARKERS = re.compile(
    r"^\s*(?:[-*•·]\s*)?(?:\[[ xX]?\]\s*)?(?:\d{1,2}[.)]\s*)?(?:(?:action(?: item)?|ai|todo|to-do|task|follow[- ]?up|"
    r"next step|行动项|待办)\s*[:：-]\s*)?",
    re.I,
)
_LEADING_OWNER = re.compile(
    r"^(?:@[\w.-]+\s*[:,-]?\s*|[A-Z][\w'.-]+(?:\s[A-Z][\w'-]+)?(?:\s*(?:&|and)\s*[A-Z][\w'-]+)*\s*"
    r"(?:to|will|should|must|needs to|is going to|are going to|volunteered to|agreed to|offered to|"
    r"(?:is|are) planning to|(?=(?:is|are) taking\b)(?:is|are)|[:：])\s+|"
    r"[A-Z][a-z]+\s*,\s+|[\u4e00-\u9fff]{2,4}\s*(?:负责|来|[:：])\s*)"
)
_POLITE = re.compile(
    r"^(?:(?:hi|hey|also|and|so|then|ok|okay|btw|oh|finally|lastly|one more thing)[,:]?\s+)*"
    r"(?:(?:could|can|would|will)\s+(?:you|u|someone|somebody|anyone|we)\s+(?:please\s+|kindly\s+|also\s+)?"
    r"(?:be able to\s+|possibly\s+)?|would you mind\s+|do you mind\s+|please\s+(?:could you\s+)?|pls\s+|kindly\s+|"
    r"i\s+(?:need|want|would like|'d like)\s+(?:you|someone)\s+to\s+|(?:we|you)\s+(?:need|have|must|should)\s+(?:to\s+)?|"  # noqa: E501
    r"(?:we|you)\s+must\s+|i'?ll\s+|i\s+will\s+|i'm going to\s+|i am going to\s+|i\s+can\s+|we'?ll\s+|we\s+will\s+|"
    r"let'?s\s+|don'?t forget to\s+|remember to\s+|make sure (?:to|you)\s+|it would be great if you could\s+|"
    r"i'?d appreciate it if you could\s+|i'?d be grateful if you could\s+|is it possible to\s+|"
    r"(?:also\s+)?please\s+)+",
    re.I,
)
_DEADLINE_TAIL = re.compile(
    r"\s*(?:,\s*)?\b(?:by|before|until|till|no later than|on|due|at the latest by|latest by|ahead of|no later|within|in|for)\s+"  # noqa: E501
    r"(?:the\s+)?(?:end of (?:the )?(?:day|week|month|next week|next month)|eod|eow|eom|cob|today|tonight|tomorrow|"
    r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}(?:/\d{2,4})?|q[1-4]|"
    r"(?:next|this)\s+(?:(?:\d+|two|three|four|five|six|few|couple of)\s+)?\w+|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|\w+\s+\d{1,2}(?:st|nd|rd|th)?(?:,?\s+\d{4})?|"
    r"\d{1,2}(?:st|nd|rd|th)?(?:\s+of)?(?:\s+\w+)?|"
    r"(?:\d+|a|one|two|three)\s+(?:days?|weeks?|months?))(?:\s+(?:at\s+)?\d{1,2}(?::\d{2})?\s*(?:am|pm)?)?\b",
    re.I,
)
_TIME_WORDS = re.compile(
    r"\s*\b(?:asap|as soon as possible|eod|eow|cob|today|tonight|tomorrow|this week|next week|urgently|immediately|right away|"  # noqa: E501
    r"at your earliest convenience|when you get a chance|if possible|for me|thanks|thank you|please|pls)\b[.!]?",
    re.I,
)
_CLAUSE_CUT = re.compile(
    r"\s+(?:so that|so we|because|since|as we|as i|in order to|if you|, which|, as|; |— | - |no later than|"
    r"not later than)\s*",
    re.I,
)
# What stands before a named owner's clause: "It was agreed that Robin will…", "Can be merged - Adrian is taking…".
_ASSIGNMENT_LEAD = re.compile(
    r"^(?:(?:it was )?(?:agreed|decided|resolved) that\s+|.{0,80}?\s[-–—]\s+(?=[A-Z][\w'.-]+(?:\s[A-Z][\w'-]+)?\s+"
    r"(?:will|to|is|are|needs)\b))",
    re.I,
)
_DETERMINERS = re.compile(r"\b(?:the|a|an|your|my|our)\s+", re.I)
_OBJECT_PRONOUN = re.compile(r"^(\w+)\s+(?:me|us|you|him|her|them)\s+(?=\w)", re.I)
_CN_POLITE = re.compile(r"^(?:请|麻烦|能否|可否|务必|记得|帮忙|帮我|你|您|我们|我来|我会|大家)+")
_CN_DEADLINE = re.compile(
    r"(?:在)?(?:(?:下下?|本|这)?(?:周|星期|礼拜)[一二三四五六日天1-7]|(?:下个?月|本月)?月底|明天|后天|今天|"
    r"下周|本周|\d{1,2}月\d{1,2}[日号]|\d{1,2}[日号])(?:之前|以前|前|截止)?"
)
_IRREGULAR_GERUNDS = {"making": "make", "taking": "take", "writing": "write", "having": "have", "giving": "give",
                      "sharing": "share", "scheduling": "schedule", "updating": "update", "preparing": "prepare",
                      "reviewing": "review", "sending": "send", "setting": "set", "putting": "put", "getting": "get",
                      "running": "run", "shipping": "ship", "closing": "close", "creating": "create",
                      "providing": "provide", "confirming": "confirm", "checking": "check", "looking": "look",
                      "moving": "move", "using": "use", "signing": "sign", "organizing": "organize", "calling": "call",
                      "forwarding": "forward", "fixing": "fix", "booking": "book", "adding": "add"}  # fmt: skip

MAX_WORDS = 10
_DANGLING_TEXT = "no by to the a an of and or for with at on in from that which who as if but so than"
_DANGLING = frozenset(_DANGLING_TEXT.split())


def _gerund_to_base(word: str) -> str:
    lowered = word.lower()
    if lowered in _IRREGULAR_GERUNDS:
        return _IRREGULAR_GERUNDS[lowered]
    if lowered.endswith("ing") and len(lowered) > 5:
        return lowered[:-3]
    return word


_PASSIVE_OBLIGATION = re.compile(
    r"^(?P<object>[A-Za-z][\w' /&-]{2,60}?)\s+"
    + OBLIGED_PASSIVE
    + r"(?P<participle>[a-z]+(?:ed|en|nt))\b(?P<rest>.*)$",
    re.I,
)
_IRREGULAR_PARTICIPLES = {"sent": "send", "done": "do", "made": "make", "given": "give", "taken": "take",
                          "written": "write", "paid": "pay", "held": "hold", "brought": "bring", "kept": "keep",
                          "told": "tell", "chosen": "choose", "driven": "drive", "spent": "spend"}  # fmt: skip


# The imperative verbs, and some more that are asked for mostly in the passive ("should be copied by Friday").
_ACTION_VERBS = frozenset(IMPERATIVE_VERBS) | {
    "copy", "log", "enter", "apply", "register", "renew", "transfer", "save", "store", "migrate", "approve", "execute",
    "process", "release",
}  # fmt: skip


def _base_of_participle(word: str) -> str | None:
    """ "copied" → "copy", "completed" → "complete", "submitted" → "submit": the imperative verb it comes from."""
    lowered = word.lower()
    if lowered in _IRREGULAR_PARTICIPLES:
        return _IRREGULAR_PARTICIPLES[lowered]
    stem = lowered[:-2] if lowered.endswith("ed") else None
    if stem is None:
        return None
    for verb in (stem, stem + "e", stem[:-1] + "y" if stem.endswith("i") else "", stem[:-1]):
        if verb in _ACTION_VERBS:
            return verb
    return None


def _active_voice(text: str) -> str:
    """ "All clean up should be completed by …" → "Complete all clean up by …"; other sentences as they are."""
    found = _PASSIVE_OBLIGATION.match(text)
    verb = _base_of_participle(found.group("participle")) if found else None
    if not found or verb is None:
        return text
    subject = found.group("object")
    subject = subject[0].lower() + subject[1:] if not subject[:2].isupper() else subject
    return f"{verb} {subject}{found.group('rest')}"


_LINK = re.compile(r"\[([^\]]+)\]\((?:https?://|www\.)[^)\s]*\)")
_ADDRESS = re.compile(r"\(\s*(?:https?://|www\.)[^)]*\)|<(?:https?://|www\.)[^>]*>|(?:https?://|www\.)\S+")


# "Couldn't find a good link (Jeff will take this as a TODO)": what could not be done is what is left to do.
_COULD_NOT = re.compile(
    r"^(?:(?:i|we)\s+)?(?:couldn'?t|could not|can'?t|cannot|(?:was|were) unable to|failed to)\s+"
    r"(?=(?:" + IMPERATIVE_VERB + r"))",
    re.I,
)


def make_title(sentence: str, *, strip_owner: bool = True) -> str:
    """Short imperative title; falls back to the trimmed sentence when no rule applies."""
    text = _MARKERS.sub("", sentence.strip(), count=1)
    text = _LINK.sub(r"\1", text)  # a Markdown link says what it is in its text; its address says nothing to do
    text = _ADDRESS.sub("", text)
    text = _active_voice(text)
    text = _ASSIGNMENT_LEAD.sub("", text, count=1)
    if re.search(r"[\u4e00-\u9fff]", text):
        return _chinese_title(text)
    if strip_owner:
        text = _LEADING_OWNER.sub("", text, count=1)
    text = re.sub(r"^(?:would|do) you mind\s+", "", text, flags=re.I)
    text = _POLITE.sub("", text, count=1)
    text = _COULD_NOT.sub("", text, count=1)
    if re.match(r"^(?:would|do) you mind\b", sentence, re.I) or re.match(r"^\w+ing\b", text):
        first, _, rest = text.partition(" ")
        text = f"{_gerund_to_base(first)} {rest}".strip()
    text = re.sub(r"\s*\(.*?\)\s*$", "", text)  # trailing "(Carol)" owner tags
    text = re.sub(r"\s*@[\w.-]+", "", text)
    text = _DEADLINE_TAIL.sub("", text)
    text = _TIME_WORDS.sub("", text)
    cut = _CLAUSE_CUT.search(text)
    if cut and len(text[: cut.start()].split()) >= 2:
        text = text[: cut.start()]
    text = re.split(r"\s+(?:and let me know|and get back|and tell me|and confirm)\b", text, maxsplit=1, flags=re.I)[0]
    text = _OBJECT_PRONOUN.sub(r"\1 ", text)
    text = _DETERMINERS.sub("", text)
    text = re.sub(r"\s+", " ", text).strip(" ,.;:!?-–—\"'")
    words = text.split()
    if not words:
        return sentence.strip()[:80]
    if len(words) > MAX_WORDS:
        words = words[:MAX_WORDS]
        while len(words) > 2 and words[-1].lower().strip(",;:") in _DANGLING:
            words.pop()  # a cut that ends on "… to UBSWE environment no" ends on the last word that says something
    title = " ".join(words)
    return title[0].upper() + title[1:]


_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|fwd?|fw|aw|tr|wg|sv|rv)\s*(?:\[\d+\])?\s*[:：]\s*|\[[^\]]*\]\s*)+", re.I)


def views_title(subject: str | None) -> str:
    """The title of a "Thoughts?" ask: the reader's view of what the mail is about, which its subject names."""
    topic = _REPLY_PREFIX.sub("", subject or "").strip(" .:-")
    return f"Send your thoughts on {topic}" if topic else "Send your thoughts"


def requested_title(title: str) -> str:
    """A thing asked for by a lead-in ("Copy of transcript for field of study"), as the act of sending it."""
    if not title or opens_with_imperative(title) or re.search(r"[\u4e00-\u9fff]", title):
        return title
    return f"Send {title[0].lower()}{title[1:]}" if not title[:2].isupper() else f"Send {title}"


_ANAPHORIC_END = re.compile(r"\b(?:this|that|it|these|those|them)$", re.I)


def with_antecedent(title: str, before: str | None) -> str:
    """A title whose object is a pronoun ("Work with legal on this", "Have someone look into it") names what the line
    before was about: "Work with legal on this: Enable pseudonymity for EasyCLA"."""
    if not before or not _ANAPHORIC_END.search(title):
        return title
    about = make_title(before)
    return f"{title}: {about}" if about and about.lower() != title.lower() else title


def _chinese_title(text: str) -> str:
    text = re.sub(r"^[\u4e00-\u9fff]{2,4}\s*(?:负责|来|[:：])\s*", "", text)
    text = _CN_POLITE.sub("", text.strip())
    text = _CN_DEADLINE.sub("", text)
    text = re.sub(r"(?:尽快|马上|立即|一下|好吗|可以吗|吗|吧|谢谢|，谢谢)", "", text)
    text = re.sub(r"^(?:在|于)", "", text)
    text = text.strip(" ，,。.？?！!；;：:")
    return text[:40] or "待办"
