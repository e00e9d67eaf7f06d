"""The audit log: who read contact data (a person through a key, or the AI reading a message), what, and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.access.tables import audit_log
from handoff.clock import naive_utcnow

READ_CONTACT_DATA = "read_contact_data"
RELEASE_FROM_GATE = "release_from_gate"  # a person let quarantined (spam) or bulk mail through to the tasks


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any] | None


def record(session: Session, actor: str, action: str, subject: str, detail: dict[str, Any] | None = None) -> None:
    """Adds one line in the caller's transaction, so the read and its record commit (or roll back) together.

    `actor` is `key:<id>` for API callers or `ai:<component>` (e.g. `ai:offline-extractor`) for the machine;
    `subject` names what was read, e.g. `ledger:12`, `contact:c-0001`, `account:a-7`.
    """
    session.execute(
        audit_log.insert().values(
            at=naive_utcnow(), actor=actor[:255], action=action[:64], subject=subject[:255], detail=detail
        )
    )


def list_entries(
    session: Session, *, actor: str | None = None, subject: str | None = None, limit: int = 100, offset: int = 0
) -> list[AuditEntry]:
    """Newest first."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if subject is not None:
        query = query.where(audit_log.c.subject == subject)
    return [AuditEntry(**row._mapping) for row in session.execute(query)]
