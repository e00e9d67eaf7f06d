"""The original message as a person reads it from the ledger: its headers, its text body as the intake read it
(bounded), and its attachments as metadata; pure, no I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from handoff.clock import as_utc
from handoff.intake.deadline import NO_DEADLINE, Deadline
from handoff.intake.mime import Attachment, parse_mail

# A contact token cut in two by the bound must not be shown half-masked (`jennifer.liu@ac` matches no mask): `bounded`
# masks this much more than it shows and drops that much from the masked end. An address is at most 64 + 1 + 253
# characters and a phone number about 25, so a token cut at the window's edge lies wholly in the dropped tail.
TOKEN_MARGIN = 1024


@dataclass(frozen=True)
class Original:
    """What `read` found: the headers decoded, the whole text body (the page shows it through `bounded`)."""

    kind: str  # "email" or "notes"
    sender: str = ""
    to: str = ""
    cc: str = ""
    date: datetime | None = None
    date_as_written: str = ""
    subject: str = ""
    body: str = ""
    html_only: bool = False  # the mail had only an HTML body: `body` is its text (`intake.html`), never the markup
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    problem: str | None = None  # why the stored bytes could not be shown (set by `intake.service.read_original`)


def read(raw: bytes, kind: str, *, deadline: Deadline = NO_DEADLINE) -> Original:
    """Raw ledger bytes (an RFC 822 mail, or meeting notes as UTF-8 text) as a person reads them."""
    if kind != "email":
        return Original(kind=kind, body=raw.decode("utf-8", "replace"))
    mail = parse_mail(raw, deadline)
    dates = mail.headers.get("date") or [""]
    return Original(
        kind=kind,
        sender=str(mail.sender) if mail.sender else "",
        to=", ".join(str(address) for address in mail.to),
        cc=", ".join(str(address) for address in mail.cc),
        date=as_utc(mail.date),  # the page writes times in UTC, as it says
        date_as_written=dates[0],
        subject=mail.subject,
        body=mail.text,
        html_only=mail.text_from_html,
        attachments=list(mail.attachments),
        defects=list(mail.defects),
    )


def bounded(body: str, limit: int, show: Callable[[str], str], *, rounds: int = 8) -> str:
    """At most `limit` characters of `body` as `show` (the caller's masking, or none) gives them, masking only a
    window of it: a 25 MB mail is not masked whole to show its first page. Masking shortens text (`j***@acme.com`),
    so a window that came out short is widened and masked again, up to `rounds` times."""
    size = limit + TOKEN_MARGIN
    for _ in range(rounds):
        shown = show(body[:size])
        if size >= len(body):
            return shown[:limit]
        usable = len(shown) - TOKEN_MARGIN
        if usable >= limit:
            break
        size += limit - usable + TOKEN_MARGIN
    return shown[: max(0, min(limit, len(shown) - TOKEN_MARGIN))]
