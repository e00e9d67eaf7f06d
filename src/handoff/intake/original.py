"""The original message as a person reads it from the ledger: its headers, its text body as the intake read it
(bounded), and its attachments as metadata; pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from handoff.intake.deadline import NO_DEADLINE, Deadline
from handoff.intake.mime import Attachment, parse_mail

# A contact token cut by the bound must not be shown half-masked: the bound keeps this much more text for the masking
# to see, and `bounded` drops that much again from the (masked) end. An address is at most 64 + 1 + 253 characters
# and a phone number about 25, so a token cut at the window's edge lies wholly in the dropped tail.
TOKEN_MARGIN = 1024


@dataclass(frozen=True)
class Original:
    """What `read` found. `body` holds at most `limit + TOKEN_MARGIN` characters of a body of `body_chars`."""

    kind: str  # "email" or "notes"
    sender: str = ""
    to: str = ""
    cc: str = ""
    date: datetime | None = None
    date_as_written: str = ""
    subject: str = ""
    body: str = ""
    body_chars: int = 0
    limit: int = 0
    html_only: bool = False  # the mail had only an HTML body: `body` is its text (`intake.html`), never the markup
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    problem: str | None = None  # why the stored bytes could not be shown (set by `intake.service.read_original`)

    @property
    def truncated(self) -> bool:
        return self.body_chars > self.limit


def read(raw: bytes, kind: str, *, limit: int, deadline: Deadline = NO_DEADLINE) -> Original:
    """Raw ledger bytes (an RFC 822 mail, or meeting notes as UTF-8 text) as a person reads them."""
    if kind != "email":
        text = raw.decode("utf-8", "replace")
        return Original(kind=kind, body=text[: limit + TOKEN_MARGIN], body_chars=len(text), limit=limit)
    mail = parse_mail(raw, deadline)
    dates = mail.headers.get("date") or [""]
    return Original(
        kind=kind,
        sender=str(mail.sender) if mail.sender else "",
        to=", ".join(str(address) for address in mail.to),
        cc=", ".join(str(address) for address in mail.cc),
        date=mail.date,
        date_as_written=dates[0],
        subject=mail.subject,
        body=mail.text[: limit + TOKEN_MARGIN],
        body_chars=len(mail.text),
        limit=limit,
        html_only=mail.text_from_html,
        attachments=list(mail.attachments),
        defects=list(mail.defects),
    )


def bounded(text: str, original: Original) -> str:
    """`text` (the body, masked or whole) cut to the page's bound; when the body was longer than its window, the
    margin is dropped from the end, so a token the window cut in two is never shown."""
    if len(original.body) < original.body_chars:
        text = text[: max(0, len(text) - TOKEN_MARGIN)]
    return text[: original.limit]
