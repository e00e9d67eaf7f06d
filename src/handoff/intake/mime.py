"""RFC 822/MIME bytes to a `ParsedMail`: decoded headers, the best text body, attachments as metadata; never raises
on bad input (defects are listed instead)."""

from __future__ import annotations

import email
import email.message
import email.parser
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.header import decode_header
from email.utils import getaddresses, parsedate_to_datetime

from handoff.intake.charsets import decode_bytes
from handoff.intake.deadline import NO_DEADLINE, Deadline
from handoff.intake.html import html_to_text

MAX_NESTING = 4  # attached messages inside attached messages: deeper ones are kept as attachments only
# Multipart inside multipart: real clients nest 3-5 levels (mixed > related > alternative). Far deeper is a crafted
# message, and Python's own parser recurses once per level (1,000 levels: RecursionError), so it is refused.
MAX_PART_DEPTH = 50
TOO_DEEP = f"too deeply nested: more than {MAX_PART_DEPTH} levels of MIME parts"
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


@dataclass(frozen=True)
class Address:
    """One mailbox: the display name as written and the lower-cased address (either may be empty)."""

    name: str
    email: str

    @property
    def domain(self) -> str:
        return self.email.rsplit("@", 1)[1] if "@" in self.email else ""

    def __str__(self) -> str:
        if self.name and self.email:
            return f"{self.name} <{self.email}>"
        return self.email or self.name


@dataclass(frozen=True)
class Attachment:
    """An attachment kept as metadata; its bytes stay in the raw message in the ledger."""

    filename: str | None
    content_type: str
    size: int
    sha256: str
    inline: bool = False
    note: str | None = None  # e.g. why a winmail.dat was not expanded


@dataclass
class ParsedMail:
    """What the rest of intake reads from one message."""

    message_id: str | None
    subject: str
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    headers: dict[str, list[str]]  # lower-case name -> decoded values
    content_type: str
    text: str  # the text/plain body, or the HTML body as text when there is no plain part
    html: str | None
    text_from_html: bool = False  # no plain part: `text` is the HTML body as text (`intake.html`)
    attachments: list[Attachment] = field(default_factory=list)
    attached_messages: list[ParsedMail] = field(default_factory=list)  # message/rfc822 parts (forward-as-attachment)
    defects: list[str] = field(default_factory=list)
    has_headers: bool = True
    too_deep: bool = False  # parts nested past MAX_PART_DEPTH: the body was not read (see `TOO_DEEP`)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


def decode_header_value(value: object) -> str:
    """RFC 2047 words and raw 8-bit header bytes to text, tolerating unknown charsets and broken encodings."""
    if value is None:
        return ""
    raw = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in raw):  # raw 8-bit bytes smuggled through surrogateescape
        raw = decode_bytes(raw.encode("ascii", "surrogateescape"))[0]
    if "=?" not in raw:
        return _unfold(raw)
    # Adjacent encoded words are joined without the whitespace between them (RFC 2047 section 6.2).
    raw = re.sub(r"(\?=)\s+(=\?)", r"\1\2", raw)
    pieces: list[str] = []
    try:
        chunks = decode_header(raw)
    except Exception:  # a broken word: decode the words we can, leave the rest as written
        return _unfold(_ENCODED_WORD.sub(lambda m: decode_header_value(m.group(0).replace(" ", "")), raw))
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            pieces.append(decode_bytes(chunk, charset)[0])
        else:
            pieces.append(chunk)
    return _unfold("".join(pieces))


def _unfold(text: str) -> str:
    return re.sub(r"\r?\n[ \t]+", " ", text).replace("\x00", "").strip()  # NUL: see `charsets.decode_bytes`


def parse_addresses(values: list[str]) -> tuple[Address, ...]:
    """Mailboxes from header values as they arrived: split into name and address first, then each name decoded.

    Decoding RFC 2047 words before splitting would let an encoded display name (`=?utf-8?b?...?=`) carry its own
    `<address>`, comma or CRLF into the parse and change the sender; decoded afterwards it can only be a name."""
    found: list[Address] = []
    for raw_name, raw_addr in getaddresses([_unfold(value) for value in values]):
        addr = decode_header_value(raw_addr).strip().strip("<>").lower()
        name = " ".join(decode_header_value(raw_name).split()).strip('"').strip()  # CR, LF, tabs: one space
        if "@" not in addr and not name:
            name, addr = addr, ""
        if name or addr:
            found.append(Address(name, addr))
    return tuple(found)


def parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:  # "31 Dec 9999 -1200" parses, but lies past the last UTC date: a broken clock, not a date
        parsed.astimezone(UTC)
    except OverflowError:
        return None
    return parsed


def message_ids(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    found = _MESSAGE_ID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [f"<{value.strip().strip('<>')}>"]  # some senders omit the angle brackets
    return tuple(found)


def parse_mail(raw: bytes, deadline: Deadline = NO_DEADLINE, _depth: int = 0) -> ParsedMail:
    """Parse any bytes as a mail message; garbage comes back as a message without headers, never as an error."""
    try:
        message = email.message_from_bytes(raw, policy=policy.compat32)
    except RecursionError:  # multiparts nested about a thousand deep: read the headers only, refuse the body
        message = email.parser.BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
        parsed = _from_message(message, deadline, _depth, read_body=False)
        parsed.too_deep = True
        return parsed
    return _from_message(message, deadline, _depth)


def _from_message(
    message: email.message.Message, deadline: Deadline, depth: int, *, read_body: bool = True
) -> ParsedMail:
    deadline.check()
    headers: dict[str, list[str]] = {}
    raw_headers: dict[str, list[str]] = {}  # as they arrived: addresses are split before their names are decoded
    for name, value in message.raw_items():  # raw: 8-bit header bytes survive as surrogates for our decoder
        headers.setdefault(name.lower(), []).append(decode_header_value(value))
        raw_headers.setdefault(name.lower(), []).append(str(value))
    defects = [type(defect).__name__ for defect in message.defects]

    def first(name: str) -> str | None:
        values = headers.get(name)
        return values[0] if values else None

    senders = parse_addresses(raw_headers.get("from", []))
    message_id = (message_ids(first("message-id")) or (None,))[0]
    parsed = ParsedMail(
        message_id=message_id,
        subject=first("subject") or "",
        sender=senders[0] if senders else None,
        to=parse_addresses(raw_headers.get("to", [])),
        cc=parse_addresses(raw_headers.get("cc", [])),
        date=parse_date(first("date")),
        in_reply_to=message_ids(first("in-reply-to")),
        references=message_ids(" ".join(headers.get("references", []))),
        headers=headers,
        content_type=message.get_content_type(),
        text="",
        html=None,
        defects=defects,
        has_headers=any(name in headers for name in ("from", "subject", "date", "message-id", "to")),
    )
    if not read_body:
        return parsed
    plain: list[str] = []
    html: list[str] = []
    _walk(message, parsed, plain, html, deadline, depth)
    parsed.html = "\n".join(html) if html else None
    if plain and any(p.strip() for p in plain):
        parsed.text = "\n".join(plain).strip()
    elif html:
        parsed.text = html_to_text(parsed.html or "", deadline)
        parsed.text_from_html = True
    return parsed


def _walk(
    part: email.message.Message,
    parsed: ParsedMail,
    plain: list[str],
    html: list[str],
    deadline: Deadline,
    depth: int,
    level: int = 0,
) -> None:
    deadline.check()
    if level > MAX_PART_DEPTH:
        parsed.too_deep = True
        return
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        _attached_message(part, parsed, deadline, depth)
        return
    if content_type in ("message/delivery-status", "text/rfc822-headers"):
        return  # parts of a bounce report: the screening reads the top-level type instead
    if part.is_multipart():
        children = part.get_payload()
        if not isinstance(children, list):
            return
        if content_type == "multipart/alternative":
            # Read the richest part the body needs once: plain text when present, else the HTML.
            plains = [c for c in children if c.get_content_type() == "text/plain" and not _is_attachment(c)]
            htmls = [c for c in children if c.get_content_type() == "text/html" and not _is_attachment(c)]
            others = [c for c in children if c not in plains and c not in htmls]
            for child in plains[:1]:
                plain.append(_text_of(child, parsed))
            for child in htmls[:1]:
                html.append(_text_of(child, parsed))
            for child in others:
                _walk(child, parsed, plain, html, deadline, depth, level + 1)
            return
        for child in children:
            _walk(child, parsed, plain, html, deadline, depth, level + 1)
        return
    if content_type in ("text/plain", "text/html") and not _is_attachment(part):
        (plain if content_type == "text/plain" else html).append(_text_of(part, parsed))
        return
    payload = _payload_bytes(part, parsed.defects)
    filename = _filename(part)
    note = None
    if content_type == "application/ms-tnef" or (filename or "").lower() == "winmail.dat":
        note = "TNEF (winmail.dat) kept as an attachment; its contents are not expanded"
    parsed.attachments.append(
        Attachment(
            filename=filename,
            content_type=content_type,
            size=len(payload),
            sha256=hashlib.sha256(payload).hexdigest(),
            inline=(part.get("Content-Disposition") or "").strip().lower().startswith("inline"),
            note=note,
        )
    )


def _attached_message(part: email.message.Message, parsed: ParsedMail, deadline: Deadline, depth: int) -> None:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if isinstance(inner, email.message.Message):
        raw = inner.as_bytes(policy=policy.compat32) if depth < MAX_NESTING else b""
    else:
        raw = _payload_bytes(part, parsed.defects)
    parsed.attachments.append(
        Attachment(
            filename=_filename(part) or "forwarded.eml",
            content_type="message/rfc822",
            size=len(raw),
            sha256=hashlib.sha256(raw).hexdigest(),
        )
    )
    if depth < MAX_NESTING and raw:
        try:
            inner_mail = parse_mail(raw, deadline, depth + 1)
            parsed.attached_messages.append(inner_mail)
            parsed.too_deep = parsed.too_deep or inner_mail.too_deep
        except RecursionError:
            parsed.defects.append("NestingTooDeep")


def attachment_payload(raw: bytes, sha256: str, deadline: Deadline = NO_DEADLINE) -> bytes | None:
    """The bytes of the attachment that `parse_mail` listed with this `Attachment.sha256` (decoded as it decoded
    them, an attached message as its bytes), or None when no part of `raw` has them."""
    try:
        message = email.message_from_bytes(raw, policy=policy.compat32)
        parts = list(message.walk())
    except RecursionError:  # parse_mail read no body of such a message, so it listed no attachment either
        return None
    for part in parts:
        deadline.check()
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(inner, email.message.Message):
                candidate = inner.as_bytes(policy=policy.compat32)
            else:
                candidate = _payload_bytes(part, [])
        elif part.is_multipart():
            continue
        else:
            candidate = _payload_bytes(part, [])
        if hashlib.sha256(candidate).hexdigest() == sha256:
            return candidate
    return None


def _is_attachment(part: email.message.Message) -> bool:
    disposition = (part.get("Content-Disposition") or "").strip().lower()
    return disposition.startswith("attachment")


def _payload_bytes(part: email.message.Message, defects: list[str]) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception as error:  # broken base64/quoted-printable: keep the undecoded text
        defects.append(f"PayloadDecodeError: {type(error).__name__}")
        payload = None
    if payload is None:
        raw = part.get_payload()
        if isinstance(raw, str):
            return raw.encode("utf-8", "surrogateescape")
        return b""
    return payload


def _text_of(part: email.message.Message, parsed: ParsedMail) -> str:
    payload = _payload_bytes(part, parsed.defects)
    text, codec = decode_bytes(payload, part.get_content_charset())
    if codec.endswith("?"):
        parsed.defects.append(f"LossyDecode: {codec[:-1]}")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _filename(part: email.message.Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name is None:
        name = part.get_param("name")
        if isinstance(name, tuple):  # RFC 2231 triple
            name = email.utils.collapse_rfc2231_value(name)
    return decode_header_value(name) if name else None
