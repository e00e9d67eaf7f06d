"""The ledger: raw bytes written durably and a row committed before any processing; claims, outcomes and retries."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handoff.access.scope import EVERYTHING, AccountScope
from handoff.clock import as_utc, utcnow
from handoff.errors import Conflict, InvalidInput, NotFound
from handoff.intake.tables import ledger

STATES = ("received", "parsed", "processed")
# spam: quarantined by the gate (kept, releasable by a person); bulk: list mail, no tasks (releasable too).
OUTCOMES = ("tasks_created", "threaded", "duplicate", "no_tasks", "rejected", "spam", "bulk", "failed")
RELEASABLE = ("spam", "bulk")
MAX_ATTEMPTS = 5  # a message that kills its worker this often is failed instead of crashing workers forever
_HEADER_END = re.compile(rb"\r?\n\r?\n")
MAX_ID = 2**31 - 1  # ledger ids are INTEGER columns: 32 bits on PostgreSQL, the smaller of the two stores
_MESSAGE_ID_HEADER = re.compile(rb"^message-id:[ \t]*((?:.*)(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
# Without a Message-ID a mail is known by who sent it, when, about what and its body: relays add trace headers but
# leave these alone, so a re-delivery still matches, and two mails that only share a body ("Thanks!") do not.
_IDENTITY_HEADERS = re.compile(rb"^(?:from|date|subject):.*(?:\r?\n[ \t].*)*", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger row as callers see it."""

    id: int
    source: str
    kind: str
    status: str
    outcome: str | None
    reason: str | None
    error: str | None
    message_id: str | None
    subject: str | None
    sender: str | None
    forwarded_by: str | None
    sent_at: datetime | None
    received_at: datetime
    thread_id: str | None
    contact_id: str | None
    account_id: str | None
    project_id: str | None
    attempts: int
    duplicate_of: int | None
    raw_size: int
    released_by: str | None = None
    released_at: datetime | None = None
    task_ids: list[str] = field(default_factory=list)
    links: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status == "processed"

    @property
    def display_status(self) -> str:
        """The outcome once processed, else the state (what `ingest --json` and `ledger list` show)."""
        return self.outcome or self.status

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["display_status"] = self.display_status
        return data


# Every field of a ledger entry that quotes the message or its sender, masked for readers without the right to
# contact data (`access.disclosure`): the reason can echo an attacker's header, a message id hold an address.
FREE_TEXT = ("sender", "forwarded_by", "subject", "links", "reason", "error", "message_id")


def entry_from_row(row: Any) -> LedgerEntry:
    sender = row.sender_email or None
    if row.sender_name and row.sender_email:
        sender = f"{row.sender_name} <{row.sender_email}>"
    elif row.sender_name:
        sender = row.sender_name
    return LedgerEntry(
        id=row.id,
        source=row.source,
        kind=row.kind,
        status=row.status,
        outcome=row.outcome,
        reason=row.reason,
        error=row.error,
        message_id=row.message_id,
        subject=row.subject,
        sender=sender,
        forwarded_by=row.forwarded_by,
        sent_at=as_utc(row.sent_at),
        received_at=as_utc(row.received_at),  # type: ignore[arg-type]
        thread_id=row.thread_id,
        contact_id=row.contact_id,
        account_id=row.account_id,
        project_id=row.project_id,
        attempts=row.attempts,
        duplicate_of=row.duplicate_of,
        raw_size=row.raw_size,
        released_by=row.released_by,
        released_at=as_utc(row.released_at),
        task_ids=list(row.task_ids or []),
        links=dict(row.links or {}),
        details=dict(row.details or {}),
    )


# --- raw bytes ------------------------------------------------------------------------------------------------------


def store_raw(raw_dir: Path, data: bytes, suffix: str = ".eml") -> str:
    """Content-addressed, fsynced write; returns the path relative to `raw_dir`. Same bytes, same file."""
    digest = hashlib.sha256(data).hexdigest()
    relative = f"{digest[:2]}/{digest}{suffix}"
    target = raw_dir / relative
    if target.exists() and target.stat().st_size == len(data):
        return relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself must survive a power cut, not only the bytes
    finally:
        os.close(directory)
    return relative


def load_raw(raw_dir: Path, relative: str) -> bytes:
    return (raw_dir / relative).read_bytes()


# --- identity for dedupe --------------------------------------------------------------------------------------------


def _sameness(kind: str, message_id: str | None) -> str:
    if kind != "email":
        return "same text, author and meeting time"
    return "same Message-ID and body" if message_id else "no Message-ID; same sender, date, subject and body"


def mail_identity(raw: bytes) -> tuple[str | None, str]:
    """(Message-ID, normalised body hash) from a cheap scan that cannot hang on hostile input."""
    split = _HEADER_END.search(raw, 0, 262144)
    head, body = (raw[: split.start()], raw[split.end() :]) if split else (raw[:0], raw)
    match = _MESSAGE_ID_HEADER.search(head)
    message_id = None
    if match:
        value = re.sub(rb"\s+", b"", match.group(1)).decode("latin-1")[:255]
        message_id = value or None
    if message_id is None:
        identity = sorted(re.sub(rb"\s+", b" ", m.group(0)).lower() for m in _IDENTITY_HEADERS.finditer(head))
        return None, body_hash(b"\n".join([*identity, body]))
    return message_id, body_hash(body)


def header_summary(raw: bytes) -> dict[str, str | None]:
    """From and Subject as they arrived, so a row is recognisable before (or without) being parsed."""
    from email import message_from_bytes, policy

    from handoff.intake.mime import decode_header_value, parse_addresses

    split = _HEADER_END.search(raw, 0, 262144)
    if not split:
        return {}
    headers = message_from_bytes(raw[: split.start()] + b"\r\n\r\n", policy=policy.compat32)
    senders = parse_addresses([decode_header_value(v) for v in headers.get_all("from", [])])
    sender = senders[0] if senders else None
    return {
        "sender_email": sender.email[:255] if sender and sender.email else None,
        "sender_name": sender.name[:255] if sender and sender.name else None,
        "subject": decode_header_value(headers.get("subject")) or None,
    }


def body_hash(body: bytes | str) -> str:
    """Whitespace runs collapsed: a message re-delivered with other line endings or wrapping hashes the same."""
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return hashlib.sha256(re.sub(rb"\s+", b" ", data).strip()).hexdigest()


# --- arrival --------------------------------------------------------------------------------------------------------


def record_arrival(
    session: Session,
    *,
    raw_dir: Path,
    raw: bytes,
    source: str,
    kind: str = "email",
    max_bytes: int | None = None,
    notes_format: str | None = None,
    sent_at: datetime | None = None,
    author: str | None = None,
    message_id: str | None = None,
) -> LedgerEntry:
    """Store the raw bytes, then add the ledger row (a duplicate becomes a `duplicate` row, never an error).

    The caller commits; nothing is processed here."""
    now = utcnow()
    too_large = max_bytes is not None and len(raw) > max_bytes
    if kind == "email":
        found_id, digest = mail_identity(raw)
        message_id = message_id or found_id
    else:  # notes: the same text from another meeting or another author is another note
        stamp = as_utc(sent_at).isoformat() if sent_at else ""
        digest = body_hash(f"{stamp}\n{author or ''}\n" + raw.decode("utf-8", "replace").casefold())
    suffix = {"markdown": ".md", "vtt": ".vtt", "text": ".txt"}.get(notes_format or "", ".eml")
    values: dict[str, Any] = {
        "source": source,
        "kind": kind,
        "notes_format": notes_format,
        "received_at": now,
        "raw_path": None if too_large else store_raw(raw_dir, raw, suffix),
        "raw_size": len(raw),
        "raw_sha256": hashlib.sha256(raw).hexdigest(),
        "message_id": message_id,
        "message_key": (message_id or "")[:255],
        "body_hash": digest,
        "first_copy": True,
        "status": "received",
        "attempts": 0,
        "sent_at": as_utc(sent_at),
        "sender_name": (author or None) and author[:255],
        "updated_at": now,
    }
    if kind == "email" and not too_large:
        values.update(header_summary(raw))
    if too_large:
        values.update(
            status="processed",
            outcome="rejected",
            reason=f"too large: {len(raw)} bytes is over the {max_bytes}-byte limit",
            first_copy=None,
            processed_at=now,
        )
        return _insert(session, values)
    try:
        with session.begin_nested():
            return _insert(session, values)
    except IntegrityError:
        original = session.execute(
            select(ledger.c.id).where(
                ledger.c.message_key == values["message_key"],
                ledger.c.body_hash == digest,
                ledger.c.first_copy.is_(True),
            )
        ).scalar_one()
        values.update(
            first_copy=None,
            duplicate_of=original,
            status="processed",
            outcome="duplicate",
            reason=f"{_sameness(kind, message_id)} as ledger entry {original}",
            processed_at=now,
        )
        return _insert(session, values)


def _insert(session: Session, values: dict[str, Any]) -> LedgerEntry:
    new_id = session.execute(ledger.insert().values(**values).returning(ledger.c.id)).scalar_one()
    return get_entry(session, new_id)


def get_entry(session: Session, entry_id: int, *, scope: AccountScope = EVERYTHING) -> LedgerEntry:
    """One entry; one outside `scope` answers in the words of a missing one, so a key cannot probe what exists."""
    row = session.execute(select(ledger).where(ledger.c.id == entry_id)).first()
    if row is None or not scope.sees(row.account_id):
        raise NotFound(f"no ledger entry {entry_id}")
    return entry_from_row(row)


def get_entries(session: Session, ids: list[int], chunk: int = 500) -> dict[int, LedgerEntry]:
    """Many rows by id (missing ids are left out), read in chunks that stay under SQLite's bound-parameter limit."""
    found: dict[int, LedgerEntry] = {}
    for start in range(0, len(ids), chunk):
        query = select(ledger).where(ledger.c.id.in_(ids[start : start + chunk]))
        found.update((row.id, entry_from_row(row)) for row in session.execute(query))
    return found


def raw_path_of(session: Session, entry_id: int) -> str | None:
    return session.execute(select(ledger.c.raw_path).where(ledger.c.id == entry_id)).scalar_one_or_none()


# --- claims ---------------------------------------------------------------------------------------------------------


def claim(session: Session, *, worker: str, limit: int, lease: timedelta, only: list[int] | None = None) -> list[int]:
    """Claim up to `limit` unfinished rows whose lease is free or expired; returns their ids (caller commits).

    PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent workers never wait on each other. SQLite has one writer at a
    time, so the UPDATE itself is the claim; the lease makes a killed worker's rows claimable again."""
    now = utcnow()
    unfinished = and_(
        ledger.c.status.in_(("received", "parsed")),
        or_(ledger.c.lease_until.is_(None), ledger.c.lease_until < now),
    )
    query = select(ledger.c.id, ledger.c.attempts).where(unfinished).order_by(ledger.c.id).limit(limit)
    if only is not None:
        query = query.where(ledger.c.id.in_(only))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = session.execute(query).all()
    claimed: list[int] = []
    for row in rows:
        if row.attempts >= MAX_ATTEMPTS:
            _set(
                session,
                row.id,
                status="processed",
                outcome="failed",
                error=f"gave up after {row.attempts} attempts: the worker stopped each time while processing it",
                claimed_by=None,
                lease_until=None,
                processed_at=now,
            )
            _emit_outcome(session, row.id, "failed")
            continue
        result = session.execute(
            update(ledger)
            .where(ledger.c.id == row.id, unfinished)
            .values(claimed_by=worker, lease_until=now + lease, attempts=ledger.c.attempts + 1, updated_at=now)
        )
        if result.rowcount == 1:
            claimed.append(row.id)
    return claimed


def renew(session: Session, entry_id: int, *, worker: str, lease: timedelta) -> bool:
    now = utcnow()
    result = session.execute(
        update(ledger)
        .where(ledger.c.id == entry_id, ledger.c.claimed_by == worker)
        .values(lease_until=now + lease, updated_at=now)
    )
    return result.rowcount == 1


def _set(session: Session, entry_id: int, *, worker: str | None = None, **values: Any) -> None:
    """Update one row; with `worker`, only while that worker still holds the claim (else the caller rolls back)."""
    values.setdefault("updated_at", utcnow())
    values = {key: as_utc(value) if isinstance(value, datetime) else value for key, value in values.items()}
    statement = update(ledger).where(ledger.c.id == entry_id)
    if worker is not None:
        statement = statement.where(ledger.c.claimed_by == worker)
    result = session.execute(statement.values(**values))
    if worker is not None and result.rowcount != 1:
        raise LostClaim(f"ledger entry {entry_id} is no longer claimed by {worker}")


class LostClaim(Exception):
    """Our lease expired and another worker took the row: this worker's work on it must be rolled back."""


def finish(
    session: Session,
    entry_id: int,
    *,
    worker: str | None,
    outcome: str,
    reason: str | None = None,
    error: str | None = None,
    **values: Any,
) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    _set(
        session,
        entry_id,
        worker=worker,
        status="processed",
        outcome=outcome,
        reason=reason,
        error=error,
        claimed_by=None,
        lease_until=None,
        processed_at=utcnow(),
        **values,
    )
    _emit_outcome(session, entry_id, outcome)


# A message that ended where a person must look at it: events out (`events.outbox.emit`), in the same transaction.
_OUTCOME_EVENTS = {"failed": "message.failed", "spam": "message.quarantined"}


def _emit_outcome(session: Session, entry_id: int, outcome: str) -> None:
    event_type = _OUTCOME_EVENTS.get(outcome)
    if event_type is None:
        return
    from handoff.events.outbox import Resource, emit

    def resources() -> list[Resource]:
        entry = get_entry(session, entry_id)
        data = entry.to_dict()
        data.pop("details", None)
        return [Resource(f"ledger:{entry_id}", data, entry.account_id)]

    emit(session, event_type, resources)


# --- reading and retrying -------------------------------------------------------------------------------------------


def list_entries(
    session: Session, status: str | None = None, limit: int = 50, offset: int = 0, scope: AccountScope = EVERYTHING
) -> list[LedgerEntry]:
    """Newest first; `status` is a state (received, parsed, processed) or an outcome (failed, rejected, ...); only
    entries linked to an account `scope` sees (a scoped caller sees no unlinked entry)."""
    query = select(ledger).order_by(ledger.c.id.desc()).limit(limit).offset(offset)
    if not scope.everything:
        query = query.where(scope.where(ledger.c.account_id))
    if status:
        if status in STATES:
            query = query.where(ledger.c.status == status)
        elif status in OUTCOMES:
            query = query.where(ledger.c.outcome == status)
        else:
            raise InvalidInput(f"unknown status {status!r}; use one of {', '.join(STATES + OUTCOMES)}")
    return [entry_from_row(row) for row in session.execute(query)]


def count_by_status(session: Session, scope: AccountScope = EVERYTHING) -> dict[str, int]:
    """Entries per status or outcome, of those `scope` sees (counts of other owners' mail would say how much came)."""
    label = func.coalesce(ledger.c.outcome, ledger.c.status)
    query = select(label, func.count()).group_by(label)
    if not scope.everything:
        query = query.where(scope.where(ledger.c.account_id))
    return {row[0]: row[1] for row in session.execute(query)}


def reset_for_retry(session: Session, ids: list[int] | None) -> list[int]:
    """Put failed rows (all of them when `ids` is None) back to `received`; others are left alone."""
    query = select(ledger.c.id, ledger.c.outcome).where(ledger.c.outcome == "failed")
    if ids is not None:
        found = {
            row.id: row.outcome
            for row in session.execute(select(ledger.c.id, ledger.c.outcome).where(ledger.c.id.in_(ids)))
        }
        missing = sorted(set(ids) - set(found))
        if missing:
            raise NotFound(f"no ledger entries {', '.join(map(str, missing))}")
        not_failed = sorted(i for i, outcome in found.items() if outcome != "failed")
        if not_failed:
            # A state clash, not bad input: the ids are fine, the entries are not in the state a retry needs.
            raise Conflict(f"only failed entries can be retried; not failed: {', '.join(map(str, not_failed))}")
        query = query.where(ledger.c.id.in_(ids))
    retried = [row.id for row in session.execute(query)]
    if retried:
        session.execute(
            update(ledger)
            .where(ledger.c.id.in_(retried))
            .values(status="received", outcome=None, attempts=0, claimed_by=None, lease_until=None, updated_at=utcnow())
        )
    return retried


def release(session: Session, ids: list[int], *, actor: str) -> list[LedgerEntry]:
    """A person's decision that quarantined (`spam`) or `bulk` mail is genuine: back to `received`, to be processed
    normally without the gate; nothing is deleted. Returns the entries as they were before (what was released)."""
    found = get_entries(session, ids)
    missing = sorted(set(ids) - set(found))
    if missing:
        raise NotFound(f"no ledger entries {', '.join(map(str, missing))}")
    held = sorted(i for i, entry in found.items() if entry.outcome not in RELEASABLE)
    if held:
        raise Conflict(f"only spam or bulk entries can be released; not spam or bulk: {', '.join(map(str, held))}")
    now = utcnow()
    for entry_id in ids:
        said = found[entry_id].reason or found[entry_id].outcome
        session.execute(
            update(ledger)
            .where(ledger.c.id == entry_id, ledger.c.outcome.in_(RELEASABLE))
            .values(
                status="received",
                outcome=None,
                reason=f"released by {actor}; the gate had said: {said}"[:2000],
                attempts=0,
                claimed_by=None,
                lease_until=None,
                released_by=actor[:255],
                released_at=now,
                updated_at=now,
            )
        )
    return [found[i] for i in ids]


def defer(session: Session, entry_id: int, *, worker: str, reason: str, until: datetime) -> None:
    """Give a claimed row back unprocessed until `until` (the spam filter is down): it stays `received`, the claim
    is dropped, and the next claim after `until` takes it again. Not an attempt: a filter outage never fails mail."""
    _set(
        session,
        entry_id,
        worker=worker,
        status="received",
        outcome=None,
        reason=reason,
        attempts=0,
        claimed_by=None,
        lease_until=until,
    )
