"""Forwarded-block detection (Gmail, Outlook in English and Chinese, Apple Mail, Thunderbird, nested): who really wrote
the mail, when, and about what, so that the customer, not the colleague who forwarded it, gets the credit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo

from handoff.intake.dates import parse_loose_date
from handoff.intake.mime import Address, parse_addresses

# A marker that only ever introduces a forward.
_FORWARD_MARKERS = re.compile(
    r"^\s*(?:-{3,}|_{3,}|={3,})?\s*"
    r"(?:forwarded message|forwarded message follows|forwarded message from .*|forwarded e-?mail|"
    r"转发的邮件|轉寄的郵件|转发邮件|转发的消息|轉寄的訊息|"
    r"message transféré|weitergeleitete nachricht|mensaje reenviado)"
    r"\s*(?:-{3,}|_{3,}|={3,})?\s*[:：]?\s*$",
    re.IGNORECASE,
)
_APPLE_MARKER = re.compile(
    r"^\s*(?:begin forwarded message|anfang der weitergeleiteten nachricht|début du message réexpédié|"
    r"以下为转发的邮件|以下是转发的邮件|转发的邮件如下|下面是被转发的邮件)\s*[:：]?\s*$",
    re.IGNORECASE,
)
# Markers Outlook and old Thunderbird print for replies and forwards alike: a forward only with a forward subject.
_AMBIGUOUS_MARKERS = re.compile(
    r"^\s*(?:-{3,}\s*(?:original message|原始邮件|原始郵件|ursprüngliche nachricht|message d'origine)\s*-{3,}"
    r"|_{10,}|-{10,})\s*$",
    re.IGNORECASE,
)
_FORWARD_SUBJECT = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?(?:fwd?|fw|tr|wg|rv|转发|轉寄|转寄|转)\s*[:：]", re.IGNORECASE)

_FIELD = re.compile(r"^\s*[*_]{0,2}([^\s:：*_][^:：*]{0,24}?)[*_]{0,2}\s*[:：][*_]{0,2}\s*(.*?)\s*$")
_KEYS = {
    "from": "from", "发件人": "from", "寄件者": "from", "寄件人": "from", "de": "from", "von": "from", "van": "from",
    "date": "date", "sent": "date", "发送时间": "date", "日期": "date", "时间": "date", "傳送時間": "date",
    "寄件日期": "date", "envoyé": "date", "gesendet": "date", "datum": "date", "sent date": "date",
    "to": "to", "收件人": "to", "收件者": "to", "à": "to", "an": "to",
    "cc": "cc", "抄送": "cc", "副本": "cc", "抄送人": "cc",
    "subject": "subject", "主题": "subject", "主旨": "subject", "标题": "subject", "objet": "subject",
    "betreff": "subject", "reply-to": "reply-to",
}  # fmt: skip


@dataclass(frozen=True)
class HeaderBlock:
    """A "From: / Date: / To: / Subject:" block printed into a body, and where it sits in the lines."""

    start: int  # first line of the block, its marker line included
    end: int  # first line after the block
    fields: dict[str, str]
    marker: str  # "forward", "apple", "ambiguous" or "bare"


@dataclass(frozen=True)
class ForwardHop:
    """One forwarded message's header: the original sender, date and subject as the forwarder's client printed them."""

    sender: Address | None
    date: datetime | None
    subject: str | None
    to: tuple[Address, ...]
    style: str


@dataclass
class Forward:
    """A forwarded mail unwrapped: the forwarders' own notes, every hop outermost first, and the original body."""

    notes: list[str]
    hops: list[ForwardHop]
    body: str
    quoted: bool = False

    @property
    def original(self) -> ForwardHop:
        return self.hops[-1]


_QUOTE_PREFIX = re.compile(r"^((?:\s?>)+)\s?")


def strip_quote_prefix(line: str) -> tuple[str, int]:
    match = _QUOTE_PREFIX.match(line)
    if not match:
        return line, 0
    return line[match.end() :], match.group(1).count(">")


def _field(line: str) -> tuple[str, str] | None:
    if ":" not in line and "：" not in line:  # every field has its colon: most lines of a body are ruled out here
        return None
    match = _FIELD.match(line)
    if not match:
        return None
    key = _KEYS.get(match.group(1).strip().lower())
    return (key, match.group(2)) if key else None


def find_header_blocks(lines: list[str]) -> list[HeaderBlock]:
    """Every printed header block in `lines` (quote prefixes ignored), in order."""
    # Each line unquoted and read as a field once: the scan below looks at most lines several times (a long list
    # mail cost ~6 ms a call when each look stripped and matched again).
    texts = [strip_quote_prefix(line)[0] for line in lines]
    found = [_field(text) for text in texts]
    blocks: list[HeaderBlock] = []
    i = 0
    while i < len(lines):
        text = texts[i]
        marker = None
        if _FORWARD_MARKERS.match(text):
            marker = "forward"
        elif _APPLE_MARKER.match(text):
            marker = "apple"
        elif _AMBIGUOUS_MARKERS.match(text):
            marker = "ambiguous"
        first = i + 1 if marker else i
        j = first
        while j < len(lines) and not texts[j].strip() and j - first < 3:
            j += 1  # clients leave blank lines between the marker and the fields
        if j >= len(lines) or found[j] is None:  # no field where a block would start: `_read_fields` finds none
            i += 1
            continue
        fields, end = _read_fields(texts, found, j)
        if "from" in fields and ("date" in fields or "subject" in fields):
            blocks.append(HeaderBlock(i, end, fields, marker or "bare"))
            i = end
            continue
        if marker == "forward" and fields:  # a forward marker with a partial header: still a forward
            blocks.append(HeaderBlock(i, end, fields, marker))
            i = end
            continue
        i += 1
    return blocks


def _read_fields(texts: list[str], found: list[tuple[str, str] | None], start: int) -> tuple[dict[str, str], int]:
    """The fields of a block starting at `start`, given each line unquoted (`texts`) and read as a field (`found`)."""
    fields: dict[str, str] = {}
    j = start
    last: str | None = None
    while j < len(texts) and j - start < 12:
        text, field = texts[j], found[j]
        if field and field[0] not in fields:
            fields[field[0]] = field[1].strip()
            last = field[0]
        elif last in ("to", "cc") and text.strip() and text.startswith((" ", "\t")) and fields:
            fields[last] += " " + text.strip()  # a wrapped recipient list
        elif not text.strip() and fields and j + 1 < len(texts) and found[j + 1]:
            pass  # Apple Mail leaves a blank line between some fields
        else:
            break
        j += 1
    return fields, j


def is_forward_subject(subject: str | None) -> bool:
    return bool(subject and _FORWARD_SUBJECT.match(subject))


def find_forward(
    text: str,
    subject: str | None,
    default_tz: tzinfo | None = None,
    max_hops: int = 100,  # a bound against pathological input only: real chains are far shorter
    history_start: int | None = None,
) -> Forward | None:
    """The forward in `text`, following nested forwards down to the first author; None when it is not a forward.

    A block at or after `history_start` (an "On ... wrote:" reply header line) is quoted history, not a forward."""
    notes: list[str] = []
    hops: list[ForwardHop] = []
    body = text
    current_subject = subject
    quoted = False
    for _ in range(max_hops):
        lines = body.split("\n")
        block = next((b for b in find_header_blocks(lines) if _is_forward(b, current_subject, lines)), None)
        if block is None or (not hops and history_start is not None and block.start >= history_start):
            break
        notes.append("\n".join(lines[: block.start]).strip())
        hop = _hop(block, default_tz)
        hops.append(hop)
        rest = lines[block.end :]
        depth = min((strip_quote_prefix(line)[1] for line in rest if line.strip()), default=0)
        if depth:  # the whole forwarded block is quoted: unquote one level per hop
            quoted = True
            rest = [_unquote(line, depth) for line in rest]
        body = "\n".join(rest).strip("\n")
        current_subject = hop.subject
    if not hops:
        return None
    return Forward(notes=notes, hops=hops, body=body.strip(), quoted=quoted)


def _is_forward(block: HeaderBlock, subject: str | None, lines: list[str]) -> bool:
    if block.marker in ("forward", "apple"):
        return True
    # Outlook prints the same block under replies; only the subject tells a forward apart, or a body that is
    # nothing but the block (a forward sent without a note).
    if is_forward_subject(subject):
        return True
    before = "\n".join(lines[: block.start]).strip()
    return not before and block.marker == "ambiguous" and is_forward_subject(block.fields.get("subject"))


def _unquote(line: str, depth: int) -> str:
    for _ in range(depth):
        line = re.sub(r"^\s?>\s?", "", line, count=1)
    return line


def _hop(block: HeaderBlock, default_tz: tzinfo | None) -> ForwardHop:
    fields = block.fields
    style = {"forward": "forwarded-marker", "apple": "apple-mail", "ambiguous": "outlook", "bare": "outlook"}[
        block.marker
    ]
    return ForwardHop(
        sender=parse_printed_address(fields.get("from", "")),
        date=parse_loose_date(fields.get("date"), default_tz),
        subject=fields.get("subject"),
        to=tuple(a for a in (parse_printed_address(p) for p in re.split(r"[;,](?![^<]*>)", fields.get("to", ""))) if a),
        style=style,
    )


_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def parse_printed_address(value: str) -> Address | None:
    """'Name <a@b>', 'Name [mailto:a@b]', '"Name" a@b', 'a@b' or a bare name, as a forwarding client printed it."""
    value = value.strip().replace("*", "")
    if not value:
        return None
    found = _EMAIL.search(value)
    if not found:
        return Address(value.strip(" \"'"), "")
    address = found.group(0).lower().rstrip(".")
    name = (value[: found.start()] + value[found.end() :]).replace("mailto:", "")
    name = re.sub(r"[<>\[\]()\"']", " ", name)
    name = re.sub(r"\s+", " ", name).strip(" ,;")
    if name.lower() == address:
        name = ""
    parsed = parse_addresses([f'"{name}" <{address}>']) if name else (Address("", address),)
    return parsed[0] if parsed else Address(name, address)
