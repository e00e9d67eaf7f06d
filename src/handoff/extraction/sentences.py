"""Sentence segmentation for mail and meeting notes, English and Chinese punctuation alike."""

from __future__ import annotations

import re
from dataclasses import dataclass

from handoff.extraction.cues import IMPERATIVE_VERB
from handoff.extraction.overlap import CJK_RUN

# Abbreviations whose period does not end a sentence.
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "inc", "ltd", "co", "corp",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "no", "approx", "fig",
    "mon", "tue", "wed", "thu", "fri", "sat", "sun", "a.m", "p.m", "u.s", "est", "pst", "cet",
}  # fmt: skip
_LIST_MARKER = re.compile(r"^\s*(?:[-*•·‣▪]|\d{1,2}[.)]|[a-z][.)]|\[[ xX]?\])\s+")
# An ellipsis run straight into a capital ends a sentence too: "THE MIGRATION TONIGHT...LOGOFF YOUR COMPUTERS".
_ENDERS = re.compile(r"([.!?。！？；;…]+[\"'”’)\]]*)(\s+|(?<=[。！？；])|(?:(?<=\.\.)|(?<=…))(?=[A-Z]))")
_GREETING_OR_SIGNOFF = re.compile(
    r"^(hi|hello|hey|dear|thanks|thank you|cheers|best|regards|best regards|kind regards|sincerely|br|"
    r"您好|你好|谢谢|此致|敬礼)\b[\s\w,.!-]{0,40}$",
    re.IGNORECASE,
)


_ASK_OPENING = re.compile(
    r"^(?:please\s+|pls\s+|kindly\s+|(?:could|can|would) you\s+(?:please\s+)?)?" + IMPERATIVE_VERB, re.I
)
# Where an ask joins a second one or a remark: "Please give me a call, and be advised that…", "Please review the
# attached and also forward it…", "Please review the job description -- also David, thanks for…".
_CLAUSE_JOIN = re.compile(
    r"(?:,\s*and\s+(?:also\s+)?|\s+and\s+also\s+|\s+--\s+)(?=(?:please\s+)?"
    + IMPERATIVE_VERB
    + r"|be advised\b|also\b)",
    re.I,
)


def _split_clauses(sentence: str) -> list[str]:
    """An ask and what the sentence joins to it, each its own sentence: one task each, its evidence its own clause."""
    if not _ASK_OPENING.match(sentence):
        return [sentence]
    found = _CLAUSE_JOIN.search(sentence)
    if not found or len(sentence[: found.start()].split()) < 3 or len(sentence[found.end() :].split()) < 3:
        return [sentence]
    return [sentence[: found.start()].rstrip(" ,"), *_split_clauses(sentence[found.end() :])]


@dataclass(frozen=True)
class Line:
    """A sentence with where it stood: its line in the message and whether that line was a list item."""

    text: str
    line_no: int
    list_item: bool


def _split_line(line: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in _ENDERS.finditer(line):
        end = match.end(1)
        candidate = line[start:end].strip()
        word = re.search(r"([\w.]+)\.$", candidate)
        # "Mr." or "e.g." or a decimal "3." before a digit do not end a sentence.
        if match.group(1) == "." and word and word.group(1).lower().rstrip(".") in _ABBREVIATIONS:
            continue
        if match.group(1) == "." and re.fullmatch(r"\d+\.", candidate):
            continue  # a numbered list marker on its own
        if candidate:
            pieces.extend(_split_clauses(candidate))
        start = match.end()
    rest = line[start:].strip()
    if rest:
        pieces.extend(_split_clauses(rest))
    return pieces


_TABLE_GAP = re.compile(r"\S {3,}\S")
_OPEN_ENDING = re.compile(
    r"(?:[,(/&+-]|\b(?:and|or|but|the|a|an|to|of|for|with|in|on|at|by|from|your|our|my|is|are))$", re.I
)
_CJK_ITEM_START = re.compile(r"^(?:\d{1,2}\s*[、.，,)）]|[-—–>]{1,3}|[（(]\d{1,2}[)）])")
_PRESENTER = r"[^\s\-—–:：,，。;；()（）]{1,12}"
# "… -- 吴峰光", "…   ------李雪生、梁伟光", "…——陈一雄": a line's closing owner or presenter, after its dashes.
PRESENTER_TAIL = re.compile(
    rf"[-—–]{{1,6}}\s*{_PRESENTER}(?:\s*[、&/,，和]\s*{_PRESENTER})*\s*(?:[(（][^)）]*[)）])?\s*[;；]?\s*$"
)
SHORT_LINE = 40  # characters: mail wraps at 70 to 80, so a line this short ended where its writer pressed Enter


def _line_break_ends_sentence(previous: str, line: str) -> bool:
    """Hard-wrapped prose joins its lines; a table row, or a short line followed by a new capitalised one, does not
    ("Lifetime Low   +64" then "Please have your estimates in by 2:00": the ask is a sentence of its own)."""
    cjk = bool(CJK_RUN.search(previous + line))
    if cjk and (_CJK_ITEM_START.match(line) or PRESENTER_TAIL.search(previous)):
        return True  # Chinese is not hard-wrapped: a numbered or dashed line starts an item, a named owner ends one
    if cjk or re.search(r"[.!?。！？；;:]$", previous):
        return False
    if _TABLE_GAP.search(previous) or _TABLE_GAP.search(line):
        return True
    return len(previous) < SHORT_LINE and line[:1].isupper() and not _OPEN_ENDING.search(previous)


_ITEM_TEXT = re.compile(r"^(\s*)(?:[-*•·‣▪]|\d{1,2}[.)]|[a-z][.)]|\[[ xX]?\])\s+")
_BLOCK_START = re.compile(r"^\s*(?:#|\||>|```)")


def join_wrapped_items(text: str) -> str:
    """A list item hard-wrapped over several lines, as one line: the lines that continue it (indented under its text,
    or an unfinished line followed by a lower-case one) join it and are left blank, so every line keeps its number.

    Minutes written in a plain-text editor wrap at ~70 columns ("- Kate asked everybody to read the latest spec to
    see if it" / "    is clear."); read line by line, the ask lost its end and its end became a sentence of its own.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    item: int | None = None  # the line of the list item being continued
    text_column = 0
    for number, line in enumerate(lines):
        stripped = line.strip()
        marker = _ITEM_TEXT.match(line)
        if not stripped or _BLOCK_START.match(line):
            item = None
        elif marker:
            item, text_column = number, marker.end()
        elif item is not None:
            indent = len(line) - len(line.lstrip())
            unfinished = not re.search(r"[.!?。！？:：]$", lines[item].rstrip())
            if indent >= text_column or (unfinished and stripped[:1].islower()):
                lines[item] = f"{lines[item].rstrip()} {stripped}"
                lines[number] = ""
            else:
                item = None
    return "\n".join(lines)


def split_lines(text: str) -> list[Line]:
    """Sentences of a body, in order; list items and headings stay one unit each, prose is split on enders."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[Line] = []
    paragraph: list[tuple[int, str]] = []

    def flush() -> None:
        if not paragraph:
            return
        joined = " ".join(part for _, part in paragraph)
        for sentence in _split_line(joined):
            out.append(Line(sentence, paragraph[0][0], False))
        paragraph.clear()

    for number, raw in enumerate(lines):
        stripped = raw.strip()
        if not stripped:
            flush()
            continue
        is_item = bool(_LIST_MARKER.match(stripped)) or stripped.startswith("|") or stripped.endswith(":")
        looks_like_header = len(stripped) < 60 and not re.search(r"[.!?。！？]$", stripped) and paragraph == []
        if is_item:
            flush()
            for sentence in _split_line(stripped) if not stripped.startswith("|") else [stripped]:
                out.append(Line(sentence, number, True))
            continue
        if looks_like_header and _GREETING_OR_SIGNOFF.match(stripped):
            out.append(Line(stripped, number, False))
            continue
        if paragraph and _line_break_ends_sentence(paragraph[-1][1], stripped):
            flush()
        paragraph.append((number, stripped))
    flush()
    return out


def split_sentences(text: str) -> list[str]:
    """Just the sentence texts of `split_lines`."""
    return [line.text for line in split_lines(text)]
