"""One message read end to end without I/O: MIME, screening, the spam and bulk gate's header verdict, forwards
unwrapped (when one of the team sent them), reply and signature split off."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from handoff.clock import utcnow
from handoff.extraction.model import MessageText
from handoff.intake.cleaning import read_forward_note, reply_header_line, split_reply
from handoff.intake.deadline import NO_DEADLINE, Deadline
from handoff.intake.forwards import ForwardHop, find_forward, is_forward_subject, parse_printed_address
from handoff.intake.gate import OPEN_POLICY, Authentication, GatePolicy, Verdict, authentication, check
from handoff.intake.mime import TOO_DEEP, Address, Attachment, ParsedMail, parse_mail
from handoff.intake.notes import parse_notes
from handoff.intake.screening import rejection_reason
from handoff.intake.team import NOBODY, Team


@dataclass
class Reading:
    """A message as the rest of the pipeline needs it: who really wrote it, when, and the new text to extract from."""

    kind: str  # "email" or "notes"
    message_id: str | None
    subject: str  # the original subject for forwarded mail
    sender: Address | None  # the original author (the customer), not the forwarder
    sent_at: datetime
    text: str  # new text only: forwarders' notes, then the original body, quotes and signatures removed
    quoted: str = ""
    signature: str = ""
    forwarded_by: Address | None = None
    hops: list[ForwardHop] = field(default_factory=list)
    recipients: tuple[str, ...] = ()
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    attachments: list[Attachment] = field(default_factory=list)
    rejection: str | None = None
    defects: list[str] = field(default_factory=list)
    envelope_subject: str = ""  # the subject of the mail as it arrived (e.g. "FW: ...")
    delegate: str | None = None  # whom a forwarder handed the mail to ("Priya, can you pick this up?")
    # Why a forward block was not believed ("forward not trusted: outer sender eve@evil.example is not on the team"),
    # and whom it claimed as the author; the mail is then credited to whoever sent it.
    forward_refused: str | None = None
    claimed_sender: Address | None = None
    # The gate's verdict from the message's own headers (spam or bulk); None: go on.
    verdict: Verdict | None = None
    # The content classifier's P(spam) (None: not asked); the worker judges it once it knows who sent the mail.
    content_score: float | None = None
    # The parsed mail while the content classifier has yet to score it (`read_email(score_later=True)`): the worker
    # scores a batch's mail in one vectorised pass, a third of the cost of one call per mail.
    unscored: ParsedMail | None = None
    # The header From, the envelope sender and the receivers' SPF/DKIM/DMARC results (for the forgery check).
    authentication: Authentication | None = None

    @property
    def forwarded(self) -> bool:
        return bool(self.hops)


def read_email(
    raw: bytes,
    *,
    received_at: datetime | None = None,
    own_addresses: Iterable[str] = (),
    deadline: Deadline = NO_DEADLINE,
    team: Team = NOBODY,
    gate: GatePolicy | None = OPEN_POLICY,
    score_later: bool = False,
) -> Reading:
    """Read raw RFC 822 bytes; a message that must not become tasks comes back with `rejection` set, one the gate
    stops (spam, bulk) with `verdict` set. `gate=None` skips the gate (a person released the message).
    `score_later` leaves the content classifier's score to the caller: the mail it would score is in `unscored`.

    A forward (inline block or attached message) credits its original sender only when `team` includes the person who
    forwarded it: anyone can paste "From: customer@..." into a body. Otherwise the sender is the author."""
    mail = parse_mail(raw, deadline)
    fallback_time = mail.date or received_at or utcnow()
    reading = Reading(
        kind="email",
        message_id=mail.message_id,
        subject=mail.subject,
        sender=mail.sender,
        sent_at=fallback_time,
        text="",
        recipients=tuple(str(a) for a in (*mail.to, *mail.cc)),
        in_reply_to=mail.in_reply_to,
        references=mail.references,
        attachments=list(mail.attachments),
        defects=list(mail.defects),
        envelope_subject=mail.subject,
    )
    reading.authentication = authentication(mail)
    reading.rejection = TOO_DEEP if mail.too_deep else rejection_reason(mail, own_addresses)
    if not reading.rejection and gate is not None:  # auto-replies and bounces keep their own reason
        reading.verdict = check(mail)
        if not reading.verdict and gate.content_score is not None:
            if score_later:
                reading.unscored = mail
            else:
                reading.content_score = gate.content_score(mail)
    if reading.rejection or reading.verdict:
        reading.text = split_reply(mail.text).text
        return reading
    deadline.check()
    _unwrap(reading, mail, deadline, team)
    return reading


def _refusal(forwarder: Address | None, outermost: bool) -> str:
    who = "outer sender" if outermost else "forwarder"
    address = (forwarder.email or forwarder.name) if forwarder else "unknown"
    return f"forward not trusted: {who} {address or 'unknown'} is not on the team"


def _unwrap(reading: Reading, mail: ParsedMail, deadline: Deadline, team: Team, outermost: bool = True) -> None:
    zone = mail.date.tzinfo if mail.date else UTC
    history_start = reply_header_line(mail.text.split("\n"))
    forward = find_forward(mail.text, mail.subject, zone, history_start=history_start)
    deadline.check()
    if forward is not None:
        # Each hop is believed only if whoever forwarded it is one of the team: Sam forwarding Priya forwarding a
        # customer credits the customer; Sam forwarding what Eve "forwarded" credits Eve, never the customer Eve named.
        forwarder, believed = mail.sender, 0
        while believed < len(forward.hops) and team.includes(forwarder):
            forwarder = forward.hops[believed].sender
            believed += 1
        if believed < len(forward.hops):
            reading.forward_refused = _refusal(forwarder, outermost=outermost and believed == 0)
            reading.claimed_sender = forward.hops[-1].sender
        cleaned = split_reply(forward.body)
        notes = [read_forward_note(split_reply(note).text) for note in forward.notes]
        # Whoever is credited, the text is the same: the notes and the forwarded body (an outsider's pasted block is
        # their own text, read for tasks on their behalf, never on the account it names).
        reading.text = "\n\n".join(part for part in (*(n.text for n in notes), cleaned.text) if part)
        reading.quoted, reading.signature = cleaned.quoted, cleaned.signature
        if believed:
            author = forward.hops[believed - 1]
            reading.hops = list(forward.hops[:believed])
            reading.forwarded_by = mail.sender
            reading.sender = author.sender or mail.sender
            reading.subject = author.subject or mail.subject
            reading.sent_at = author.date or reading.sent_at
            # Notes come outermost first: the last person to forward the mail decides who takes it.
            reading.delegate = next((n.delegate for n in notes[:believed] if n.delegate), None)
        return
    cleaned = split_reply(mail.text)
    if mail.attached_messages and (is_forward_subject(mail.subject) or len(cleaned.text) < 400):
        # Forwarded as an attachment (Outlook "Forward as Attachment", Apple "Forward as Attachment").
        attached = mail.attached_messages[0]
        inner = Reading(kind="email", message_id=None, subject="", sender=None, sent_at=reading.sent_at, text="")
        inner.sent_at = attached.date or reading.sent_at
        inner.sender, inner.subject = attached.sender, attached.subject
        _unwrap(inner, attached, deadline, team, outermost=False)
        reading.text = "\n\n".join(part for part in (cleaned.text, inner.text) if part)
        reading.quoted, reading.signature = inner.quoted, inner.signature or cleaned.signature
        if not team.includes(mail.sender):
            reading.forward_refused = _refusal(mail.sender, outermost)
            reading.claimed_sender = inner.claimed_sender or inner.sender
            return
        reading.hops = [ForwardHop(attached.sender, attached.date, attached.subject, attached.to, "attachment")]
        reading.hops += inner.hops
        reading.forwarded_by = mail.sender
        reading.sender = inner.sender or mail.sender
        reading.subject = inner.subject or mail.subject
        reading.sent_at = inner.sent_at
        reading.forward_refused, reading.claimed_sender = inner.forward_refused, inner.claimed_sender
        return
    reading.text, reading.quoted, reading.signature = cleaned.text, cleaned.quoted, cleaned.signature


def read_notes(text: str, fmt: str | None, sent_at: datetime, author: str | None = None) -> Reading:
    """Meeting notes: no forwards or quotes to strip; the author (if any) is the sender."""
    notes = parse_notes(text, fmt)
    sender = parse_printed_address(author) if author else None
    return Reading(
        kind="notes",
        message_id=None,
        subject=notes.title or "meeting notes",
        sender=sender,
        sent_at=sent_at if sent_at.tzinfo else sent_at.replace(tzinfo=UTC),
        text=notes.text,
        recipients=notes.attendees,
        envelope_subject=notes.title or "",
    )


def message_text(reading: Reading) -> MessageText:
    """What extraction reads of a message: its new text, and whom dates and names resolve against."""
    return MessageText(
        text=reading.text,
        sent_at=reading.sent_at,
        kind="notes" if reading.kind == "notes" else "email",
        sender=str(reading.sender) if reading.sender else None,
        recipients=tuple(reading.recipients),
        subject=reading.subject or None,
        delegate=reading.delegate,
    )
