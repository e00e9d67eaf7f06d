"""Separates what a sender newly wrote from the quoted history and the signature below it (all three are kept)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from handoff.intake.forwards import find_header_blocks, strip_quote_prefix

# "On <date>, <name> wrote:" in the languages our customers write in; Gmail may wrap it over two lines.
_REPLY_HEADER = re.compile(
    r"^\s*(?:on\b.{0,200}\bwrote|le\b.{0,200}\ba écrit|am\b.{0,200}\bschrieb|el\b.{0,200}\bescribió|"
    r"在\s*.{0,200}\s*写道|於\s*.{0,200}\s*寫道|.{0,200}于\s*\d{4}.{0,100}写道)\s*[:：]?\s*$",
    re.IGNORECASE,
)
_REPLY_HEADER_START = re.compile(r"^\s*(?:on|le|am|el|在)\s.{5,}$", re.IGNORECASE)
_SIGNATURE_DELIMITER = re.compile(r"^(?:--|-- |—|__)\s*$")
_CLOSERS = re.compile(
    r"^\s*(?:best(?: regards| wishes)?|kind regards|warm regards|regards|many thanks|thanks(?: again| so much)?|"
    r"thank you|cheers|sincerely|yours(?: truly| sincerely)?|all the best|br|rgds|talk soon|"
    r"此致|敬礼|此致敬礼|谢谢|多谢|感谢|祝好|顺祝商祺|順頌商祺|祝商祺|谢谢！|best,)\s*[,，.!！。]?\s*$",
    re.IGNORECASE,
)
_MOBILE_FOOTERS = re.compile(
    r"^\s*(?:sent from my \w+.*|sent from (?:outlook|mail) for .*|get outlook for .*|发自我的\s?\w+.*|"
    r"从我的\s?\w+发送.*|來自我的\s?\w+.*)\s*$",
    re.IGNORECASE,
)
_DISCLAIMER = re.compile(
    r"^\s*(?:confidentiality notice|disclaimer|this (?:e-?mail|message) (?:and any|is confidential))", re.IGNORECASE
)
MAX_SIGNATURE_LINES = 8


@dataclass(frozen=True)
class CleanText:
    """A body split three ways: the new text (what extraction reads), the quoted history, the signature."""

    text: str
    quoted: str
    signature: str


def split_reply(body: str) -> CleanText:
    """Cut at the first quoted-history marker, then peel the signature off what is left."""
    lines = body.replace("\r\n", "\n").split("\n")
    cut = _history_start(lines)
    new_lines, quoted = lines[:cut], lines[cut:]
    new_lines, signature = _split_signature(new_lines)
    return CleanText(
        text="\n".join(new_lines).strip(),
        quoted="\n".join(quoted).strip(),
        signature="\n".join(signature).strip(),
    )


def reply_header_line(lines: list[str]) -> int | None:
    """The line where an "On <date>, <name> wrote:" header starts, if there is one."""
    for i, line in enumerate(lines):
        if _REPLY_HEADER.match(line):
            return i
        if (
            _REPLY_HEADER_START.match(line)
            and i + 1 < len(lines)
            and _REPLY_HEADER.match(line + " " + lines[i + 1].strip())
        ):
            return i
    return None


def _history_start(lines: list[str]) -> int:
    candidates = [len(lines)]
    blocks = find_header_blocks(lines)
    if blocks:
        candidates.append(blocks[0].start)
    reply_at = reply_header_line(lines)
    if reply_at is not None:
        candidates.append(reply_at)
    # A trailing run of '>' lines is history even without a header (top-posted clients that drop it).
    quoted_tail = len(lines)
    for i in range(len(lines) - 1, -1, -1):
        stripped = lines[i].strip()
        if not stripped:
            continue
        if strip_quote_prefix(lines[i])[1]:
            quoted_tail = i
        else:
            break
    candidates.append(quoted_tail)
    return min(candidates)


def _split_signature(lines: list[str]) -> tuple[list[str], list[str]]:
    # Trim trailing blank lines first so "the last N lines" means text.
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    lines = lines[:end]
    for i, line in enumerate(lines):
        if _SIGNATURE_DELIMITER.match(line) or _MOBILE_FOOTERS.match(line) or _DISCLAIMER.match(line):
            return lines[:i], lines[i:]
    nonblank = [i for i, line in enumerate(lines) if line.strip()]
    for i in nonblank[-(MAX_SIGNATURE_LINES + 1) :]:
        if _CLOSERS.match(lines[i]):
            tail = [line for line in lines[i + 1 :] if line.strip()]
            # A closer followed by a few short lines (name, title, phone) is where the signature starts.
            if len(tail) <= MAX_SIGNATURE_LINES - 1 and all(len(line.strip()) <= 80 for line in tail):
                return lines[:i], lines[i:]
    return lines, []


# A forwarder's note that only hands the mail on ("Can someone pick this up?", "FYI", "请处理一下") asks for nothing
# beyond what the forwarded mail asks: as a task of its own it would read "Pick this up". A note that names who
# should do it, or says anything more, is kept.
_HANDOFF = re.compile(
    r"^(?:hi(?: all| team| everyone)?[,!]?\s*)?(?:(?:can|could|would|will)\s+(?:someone|somebody|anyone|anybody|"
    r"you|one of you|the team)\s+(?:please\s+)?|please\s+|pls\s+|kindly\s+)?"
    r"(?:pick\s+(?:this|it)\s+up|take\s+(?:care\s+of\s+)?(?:this|it)(?:\s+one)?|handle(?:\s+(?:this|it))?|take\s+a\s+look|"
    r"look\s+(?:at|into)\s+(?:this|it)|deal\s+with\s+(?:this|it)|follow\s+up(?:\s+on\s+(?:this|it))?|"
    r"action\s+(?:this|it)|see\s+(?:below|the\s+(?:e-?mail|mail|message)\s+below)|fyi|for\s+your\s+information|"
    r"forwarding(?:\s+this)?(?:\s+to\s+you)?)"
    r"(?:\s+(?:for\s+me|please|asap|thanks|thank\s+you))*\s*[?.!:]*$"
    r"|^(?:请|麻烦)?(?:处理一下|处理|跟进一下|跟进|看一下|看看)(?:吧|，谢谢|,\s*谢谢)?[。！!？?]*$"
    r"|^(?:见下|见下文|见下方邮件|转发给你|供参考)[。！!：:]*$",
    re.IGNORECASE,
)
_NOTE_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+")


def drop_handoff_lines(note: str) -> str:
    """A forwarder's note without the sentences that only pass the forwarded mail on."""
    kept_lines = []
    for line in note.split("\n"):
        sentences = [s for s in _NOTE_SENTENCE.split(line.strip()) if s and not _HANDOFF.match(s.strip())]
        if sentences or not line.strip():
            kept_lines.append(" ".join(sentences))
    return "\n".join(kept_lines).strip()
