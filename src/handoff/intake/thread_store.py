"""Threads in the store: finds the thread a message belongs to under the rules in `threads`, or opens a new one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from handoff.clock import as_utc, utcnow
from handoff.intake.linking import Link
from handoff.intake.reading import Reading
from handoff.intake.tables import ledger, threads
from handoff.intake.threads import (
    ThreadCandidate,
    customer_key,
    may_join_by_reference,
    may_join_by_subject,
    normalise_subject,
)


@dataclass(frozen=True)
class ThreadChoice:
    thread_id: str
    joined: bool  # True when the message joined an existing thread
    how: str  # "reference", "subject", "new", or "new: <why a match was refused>"


def _candidate(row) -> ThreadCandidate:
    return ThreadCandidate(row.id, row.customer, row.account_id, row.subject_key, as_utc(row.last_at))


def assign_thread(
    session: Session, *, ledger_id: int, reading: Reading, link: Link, internal_domains: frozenset[str]
) -> ThreadChoice:
    customer = customer_key(reading.sender.email if reading.sender else None)
    subject_key = normalise_subject(reading.subject)[:255]
    sent_at = as_utc(reading.sent_at)
    refused = ""
    references = [ref[:255] for ref in (*reading.in_reply_to, *reading.references)]
    if references:
        rows = session.execute(
            select(threads)
            .join(ledger, ledger.c.thread_id == threads.c.id)
            .where(ledger.c.message_key.in_(references), ledger.c.id != ledger_id)
            .order_by(ledger.c.id.desc())
            .limit(5)
        ).all()
        for row in rows:
            candidate = _candidate(row)
            if may_join_by_reference(candidate, customer, link.account_id, internal_domains):
                return _join(session, candidate, link, sent_at, "reference")
            refused = f"new: reply headers point at thread {candidate.thread_id} of another customer"
    if subject_key:
        conditions = [threads.c.customer == customer] if customer else []
        if link.account_id:
            conditions.append(threads.c.account_id == link.account_id)
        if conditions:
            rows = session.execute(
                select(threads)
                .where(threads.c.subject_key == subject_key, or_(*conditions))
                .order_by(threads.c.last_at.desc())
                .limit(5)
            ).all()
            for row in rows:
                candidate = _candidate(row)
                if may_join_by_subject(candidate, subject_key, customer, link.account_id, sent_at, internal_domains):
                    return _join(session, candidate, link, sent_at, "subject")
    thread_id = f"th_{uuid.uuid4().hex[:20]}"
    when = sent_at or utcnow()
    session.execute(
        threads.insert().values(
            id=thread_id,
            subject_key=subject_key,
            customer=customer,
            account_id=link.account_id,
            project_id=link.project_id,
            first_ledger_id=ledger_id,
            created_at=utcnow(),
            last_at=when,
        )
    )
    return ThreadChoice(thread_id, False, refused or "new")


def _join(session: Session, thread: ThreadCandidate, link: Link, sent_at: datetime | None, how: str) -> ThreadChoice:
    values: dict = {}
    if sent_at and (thread.last_at is None or sent_at > thread.last_at):
        values["last_at"] = sent_at
    if thread.account_id is None and link.account_id:
        values["account_id"] = link.account_id
    if values:
        session.execute(update(threads).where(threads.c.id == thread.thread_id).values(**values))
    return ThreadChoice(thread.thread_id, True, how)
