"""What the API, the CLI and the sources call: receive a message into the ledger, process pending ones, list, retry."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from handoff.access import audit
from handoff.access.scope import EVERYTHING, AccountScope
from handoff.clock import utcnow
from handoff.errors import InvalidInput, NotFound, TooLarge
from handoff.intake import ledger as ledger_store
from handoff.intake.ledger import MAX_ID, LedgerEntry
from handoff.intake.notes import FORMATS, detect_format
from handoff.intake.original import Original
from handoff.intake.worker import TaskStage, Worker
from handoff.store.db import transaction
from handoff.wiring import Parts

ONLY_CHUNK = 512


def receive_raw(parts: Parts, raw: bytes, source: str, *, refuse_oversize: bool = False) -> LedgerEntry:
    """Store raw RFC 822 bytes and commit their ledger row; returns once the message is durable (nothing processed).

    Oversized input is ledgered as `rejected` (so every input has a status) unless `refuse_oversize`, where it raises
    `TooLarge` instead (HTTP answers 413 and nothing is stored)."""
    settings = parts.settings
    limit = settings.inbox.max_message_bytes
    if refuse_oversize and len(raw) > limit:
        raise TooLarge(f"message of {len(raw)} bytes is over the {limit}-byte limit")
    settings.ensure_home()
    with transaction(parts.sessions) as session:
        return ledger_store.record_arrival(
            session, raw_dir=settings.raw_mail_dir, raw=raw, source=source, max_bytes=limit
        )


def receive_raw_many(parts: Parts, raws: Sequence[bytes], source: str) -> list[LedgerEntry]:
    """`receive_raw` for several messages in one transaction (a file's messages): each raw file is stored and fsynced
    as before, and their rows commit together, so all of them or none are in the ledger when this returns."""
    settings = parts.settings
    settings.ensure_home()
    with transaction(parts.sessions) as session:
        return [
            ledger_store.record_arrival(
                session,
                raw_dir=settings.raw_mail_dir,
                raw=raw,
                source=source,
                max_bytes=settings.inbox.max_message_bytes,
            )  # fmt: skip
            for raw in raws
        ]


def receive_notes(
    parts: Parts,
    text: str,
    fmt: str | None = None,
    sent_at: datetime | None = None,
    author: str | None = None,
    *,
    source: str = "notes",
) -> LedgerEntry:
    """Meeting notes (plain text, Markdown or WebVTT) into the ledger; `fmt` None means detect it from the text."""
    if fmt is not None and fmt not in FORMATS:
        raise InvalidInput(f"notes format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if not text.strip():
        raise InvalidInput("meeting notes are empty")
    settings = parts.settings
    settings.ensure_home()
    raw = text.encode("utf-8")
    if len(raw) > settings.inbox.max_message_bytes:
        raise TooLarge(f"notes of {len(raw)} bytes are over the {settings.inbox.max_message_bytes}-byte limit")
    when = sent_at or utcnow()
    with transaction(parts.sessions) as session:
        return ledger_store.record_arrival(
            session,
            raw_dir=settings.raw_mail_dir,
            raw=raw,
            source=source,
            kind="notes",
            notes_format=fmt or detect_format(text),
            sent_at=when if when.tzinfo else when.replace(tzinfo=UTC),
            author=author,
        )


def process_pending(parts: Parts, limit: int | None = None, *, stage: TaskStage | None = None, **options: Any) -> int:
    """Process what is waiting in the ledger now; returns how many messages were finished."""
    return Worker(parts, stage, **options).process_pending(limit)


def process_entries(
    parts: Parts,
    ids: list[int],
    *,
    stage: TaskStage | None = None,
    on_progress: Callable[[int], None] | None = None,
    **options: Any,
) -> int:
    """Process these rows if they are still waiting (another worker may hold some; their lease decides).

    `on_progress(finished)` is called after each batch with how many of them this call has finished so far."""
    worker = Worker(parts, stage, **options)
    finished = 0
    for start in range(0, len(ids), ONLY_CHUNK):  # `only` becomes an IN list: chunks keep it small
        finished += worker.process_pending(
            only=ids[start : start + ONLY_CHUNK], on_progress=_offset(on_progress, finished)
        )
    return finished


def _offset(on_progress: Callable[[int], None] | None, base: int) -> Callable[[int], None] | None:
    return None if on_progress is None else (lambda done: on_progress(base + done))


def run_worker(parts: Parts, stop_event: threading.Event, *, stage: TaskStage | None = None, **options: Any) -> None:
    """The long-running ingest worker `make run` starts (in a thread or its own process) until `stop_event` is set."""
    Worker(parts, stage, **options).run(stop_event)


def get_entry(session: Session, entry_id: int, *, scope: AccountScope = EVERYTHING) -> LedgerEntry:
    return ledger_store.get_entry(session, entry_id, scope=scope)


def get_entries(session: Session, ids: list[int]) -> dict[int, LedgerEntry]:
    return ledger_store.get_entries(session, ids)


def read_original(session: Session, entry_id: int, *, raw_dir: Path, parse_timeout_s: float | None) -> Original | None:
    """The entry's message as a person reads it (`intake.original`), parsed as the worker parses it; None when its
    raw bytes were never kept (over the size limit). An unknown id raises `NotFound`; bytes gone from disk, or a
    message that does not parse within the time limit, come back as an `Original` whose `problem` says so."""
    from handoff.intake import original
    from handoff.intake.deadline import Deadline, ParseTimeout

    entry = ledger_store.get_entry(session, entry_id)
    relative = ledger_store.raw_path_of(session, entry_id)
    if relative is None:
        return None
    try:
        raw = ledger_store.load_raw(raw_dir, relative)
    except OSError as error:
        return Original(entry.kind, problem=f"the stored message cannot be read ({type(error).__name__})")
    try:
        return original.read(raw, entry.kind, deadline=Deadline(parse_timeout_s))
    except ParseTimeout as error:
        return Original(entry.kind, problem=f"the message could not be read: {error}")


@dataclass(frozen=True)
class Download:
    """Bytes of a message as they arrived, for a person to save: never shown in a page, never masked."""

    payload: bytes
    filename: str  # as the mail named it (attacker-written: the route writes it into a header safely)
    media_type: str


def _stored_bytes(session: Session, entry_id: int, raw_dir: Path) -> tuple[LedgerEntry, bytes]:
    entry = ledger_store.get_entry(session, entry_id)
    relative = ledger_store.raw_path_of(session, entry_id)
    if relative is None:
        raise NotFound(f"ledger entry {entry_id} kept no bytes: the message was over the size limit")
    try:
        return entry, ledger_store.load_raw(raw_dir, relative)
    except OSError as error:
        raise NotFound(
            f"the stored message of ledger entry {entry_id} cannot be read ({type(error).__name__})"
        ) from error


def download_original(session: Session, entry_id: int, *, raw_dir: Path, actor: str) -> Download:
    """The entry's bytes as they arrived (an RFC 822 mail as `.eml`, meeting notes as UTF-8 text), recorded in the
    audit log as a read of contact data (in the caller's transaction). Unknown, never kept or gone: `NotFound`."""
    entry, raw = _stored_bytes(session, entry_id, raw_dir)
    email_kind = entry.kind == "email"
    name = f"ledger-{entry_id}.eml" if email_kind else f"ledger-{entry_id}.txt"
    audit.record(session, actor, audit.READ_CONTACT_DATA, f"ledger:{entry_id}", {"download": "original"})
    return Download(raw, name, "message/rfc822" if email_kind else "text/plain; charset=utf-8")


def download_attachment(
    session: Session, entry_id: int, index: int, *, raw_dir: Path, parse_timeout_s: float | None, actor: str
) -> Download:
    """Attachment `index` (0-based, in the order the message page lists them) of the entry's mail, as
    `intake.mime.parse_mail` decoded it; audited like `download_original`. No such attachment: `NotFound`."""
    from handoff.intake import original
    from handoff.intake.deadline import Deadline, ParseTimeout
    from handoff.intake.mime import attachment_payload

    entry, raw = _stored_bytes(session, entry_id, raw_dir)
    deadline = Deadline(parse_timeout_s)
    try:
        listed = original.read(raw, entry.kind, deadline=deadline).attachments
        found = listed[index] if 0 <= index < len(listed) else None
        payload = attachment_payload(raw, found.sha256, deadline) if found is not None else None
    except ParseTimeout as error:
        raise NotFound(f"the message of ledger entry {entry_id} could not be read: {error}") from error
    if found is None or payload is None:
        raise NotFound(f"ledger entry {entry_id} has no attachment {index}")
    detail = {"download": "attachment", "index": index, "filename": found.filename}
    audit.record(session, actor, audit.READ_CONTACT_DATA, f"ledger:{entry_id}", detail)
    # Served as bytes whatever the mail declared: an attacker's text/html "invoice" must never render anywhere.
    return Download(payload, found.filename or f"attachment-{index}", "application/octet-stream")


def list_entries(
    session: Session, status: str | None = None, limit: int = 50, offset: int = 0, scope: AccountScope = EVERYTHING
) -> list[LedgerEntry]:
    """Newest first; `status` is a state (received, parsed, processed) or an outcome (failed, rejected, ...); only
    entries on accounts `scope` sees."""
    if limit < 1 or limit > 1000 or offset < 0:
        raise InvalidInput("limit must be 1-1000 and offset at least 0")
    return ledger_store.list_entries(session, status, limit, offset, scope)


def counts(session: Session, scope: AccountScope = EVERYTHING) -> dict[str, int]:
    return ledger_store.count_by_status(session, scope)


def retry(sessions: sessionmaker[Session], ids: list[int] | None = None) -> list[int]:
    """Send failed entries (these, or every failed one when `ids` is None) back to the worker; returns their ids."""
    outside = [i for i in ids or () if not 1 <= i <= MAX_ID]
    if outside:
        raise InvalidInput(f"ledger ids are whole numbers from 1 to {MAX_ID}, not {outside[0]}")
    with transaction(sessions) as session:
        return ledger_store.reset_for_retry(session, ids)


def release(session: Session, ids: list[int], *, actor: str) -> list[int]:
    """A person releases quarantined (`spam`) or `bulk` entries: they go back to the worker and are processed
    normally, without the gate; each release is audited with what the gate had said (the caller commits)."""
    outside = [i for i in ids if not 1 <= i <= MAX_ID]
    if outside or not ids:
        raise InvalidInput(f"give ledger ids from 1 to {MAX_ID}" + (f", not {outside[0]}" if outside else ""))
    released = ledger_store.release(session, list(dict.fromkeys(ids)), actor=actor)
    for entry in released:
        detail = {"outcome": entry.outcome, "reason": (entry.reason or "")[:500]}
        audit.record(session, actor, audit.RELEASE_FROM_GATE, f"ledger:{entry.id}", detail)
    return [entry.id for entry in released]
