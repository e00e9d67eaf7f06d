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
                postscript = _postscript_start(lines, i)
                if postscript is not None:  # "P.S. …" or "Wendi: Please add…" after the name: new text again
                    return lines[:i] + [""] + lines[postscript:], lines[i:postscript]
                return lines[:i], lines[i:]
    return lines, []


# A paragraph below the closer and its name that the writer added: "P.S. …", or an ask to someone by name.
_POSTSCRIPT = re.compile(
    r"^\s*(?:p\.?\s?s\.?[:\s]|[A-Z][a-z]+(?:\s[A-Z][a-z]+)?\s*[:,-]\s+(?:please|pls|could you|can you|would you)\b)",
    re.IGNORECASE,
)


def _postscript_start(lines: list[str], closer: int) -> int | None:
    """The first line of a postscript after the closer's block (set off by a blank line), if the writer added one."""
    seen_blank = False
    for index in range(closer + 1, len(lines)):
        if not lines[index].strip():
            seen_blank = True
        elif seen_blank and _POSTSCRIPT.match(lines[index]):
            return index
    return None


# A forwarder's note that only hands the mail on ("Can someone pick this up?", "FYI", "请处理一下") asks for nothing
# beyond what the forwarded mail asks: as a task of its own it would read "Pick this up". When it names who should
# take it ("Priya, can you pick this up?", "@priya please handle"), that person is the forwarded asks' addressee.
_HANDOFF_ACT = (
    r"(?:pick\s+(?:this|it)\s+up|take\s+(?:care\s+of\s+)?(?:this|it)(?:\s+one)?|handle(?:\s+(?:this|it))?|take\s+a\s+look|"
    r"look\s+(?:at|into)\s+(?:this|it)|deal\s+with\s+(?:this|it)|follow\s+up(?:\s+on\s+(?:this|it))?|"
    r"action\s+(?:this|it)|see\s+(?:below|the\s+(?:e-?mail|mail|message)\s+below)|fyi|for\s+your\s+information|"
    r"forwarding(?:\s+this)?(?:\s+to\s+you)?)"
    r"(?:\s+(?:for\s+me|please|asap|thanks|thank\s+you))*\s*[?.!:]*$"
)
_HANDOFF_ACT_CN = r"(?:处理一下|处理|跟进一下|跟进|看一下|看看)"
_HANDOFF = re.compile(
    r"^(?:(?:hi|hey|hello)?\s*(?:all|team|everyone|guys|folks)?[,!]?\s*)?(?:(?:can|could|would|will)\s+(?:someone|somebody|anyone|anybody|"
    r"you|one of you|the team)\s+(?:please\s+)?|please\s+|pls\s+|kindly\s+)?"
    + _HANDOFF_ACT
    + r"|^(?:请|麻烦)?(?:你|大家)?"
    + _HANDOFF_ACT_CN
    + r"(?:吧|，谢谢|,\s*谢谢)?[。！!？?]*$"
    r"|^(?:见下|见下文|见下方邮件|转发给你|供参考)[。！!：:]*$",
    re.IGNORECASE,
)
_NAMED_HANDOFF = re.compile(
    r"^(?:(?i:hi|hey|hello)\s+)?@?(?P<name>[A-Z][\w'.-]+(?:\s[A-Z][\w'.-]+)?)\s*[,:]?\s+(?:(?:can|could|would|will)\s+you\s+"
    r"(?:please\s+)?|please\s+|pls\s+)?"
    + _HANDOFF_ACT
    # A Chinese name has no capital to find it by: it needs an @ or the comma after it.
    + r"|^(?:@(?P<cn>[\u4e00-\u9fff]{2,4})\s*[，,:：]?|(?P<cn_comma>[\u4e00-\u9fff]{2,4})\s*[，,:：])"
    r"\s*(?:请|麻烦)?(?:你)?" + _HANDOFF_ACT_CN + r"[。！!？?]*$"
)
_NOT_NAMES = {"hi", "hey", "hello", "fyi", "please", "pls", "team", "all", "everyone", "guys", "folks", "someone"}
_NOT_NAMES |= {"麻烦", "请你", "大家", "各位", "你们", "同事们"}
_NOTE_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+")


@dataclass(frozen=True)
class ForwardNote:
    """A forwarder's note without its hand-off sentences, and whom it handed the mail to, when it says."""

    text: str
    delegate: str | None = None


def read_forward_note(note: str) -> ForwardNote:
    """Drops sentences that only pass the forwarded mail on; a named hand-off also names the delegate."""
    kept_lines, delegate = [], None
    for line in note.split("\n"):
        kept = []
        for sentence in (s.strip() for s in _NOTE_SENTENCE.split(line.strip())):
            named = _NAMED_HANDOFF.match(sentence)
            name = named and (named.group("name") or named.group("cn") or named.group("cn_comma"))
            if name and name.lower() not in _NOT_NAMES:
                delegate = delegate or name
            elif sentence and not _HANDOFF.match(sentence):
                kept.append(sentence)
        if kept or not line.strip():
            kept_lines.append(" ".join(kept))
    return ForwardNote("\n".join(kept_lines).strip(), delegate)
