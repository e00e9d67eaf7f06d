"""Outbox rows taken under a lease: due pending rows claimed by a conditional UPDATE, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Table, and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from handoff.store.db import transaction


def claim_due(
    sessions: sessionmaker[Session],
    table: Table,
    key: Sequence[str],
    *,
    order_by: Sequence[str],
    limit: int,
    lease_s: float,
    now: datetime,
    where: Sequence[ColumnElement[bool]] = (),
) -> list[tuple[Any, ...]]:
    """The keys of the due pending rows this worker now holds for `lease_s`, in `order_by` order.

    The table has `status`, `next_attempt_at`, `claimed_until` and `attempts`. Each row is taken by an UPDATE that
    repeats the due condition, so two workers never hold one row at once; a row another worker holds is left to it."""
    columns = [table.c[name] for name in key]
    due = and_(
        table.c.status == "pending",
        *where,
        or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now),
        or_(table.c.claimed_until.is_(None), table.c.claimed_until < now),
    )
    held: list[tuple[Any, ...]] = []
    with transaction(sessions) as session:
        query = select(*columns).where(due).order_by(*(table.c[name] for name in order_by)).limit(limit)
        for row in session.execute(query).all():
            taken = session.execute(
                update(table)
                .where(*(column == value for column, value in zip(columns, row, strict=True)), due)
                .values(claimed_until=now + timedelta(seconds=lease_s), attempts=table.c.attempts + 1)
            )
            if cast(CursorResult, taken).rowcount == 1:
                held.append(tuple(row))
    return held
