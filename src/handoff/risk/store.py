"""The risk models' reads of the CRM tables: whole tables, or one set of accounts' rows, as typed frames.

`features.py` computes from the frames these return and never reaches the database itself.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from handoff.crm.dictionary import ENTITIES_BY_NAME
from handoff.risk.features import normalise_frames
from handoff.store.crm_tables import CRM_TABLES


def load_frames(session: Session, entities: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """Whole CRM tables (all, or the named entities) as typed frames.

    The values come untyped and `normalise_frames` types them, so one unreadable cell (SQLite keeps "lots" in an
    integer column, "not-a-date" in a date) reads as unknown instead of failing every account's score.
    """
    names = list(entities) if entities is not None else list(ENTITIES_BY_NAME)
    connection = session.connection()
    # A plain SQL string reaches the driver without SQLAlchemy's column types; the names are our own tables.
    frames = {name: pd.read_sql_query(f'SELECT * FROM "{name}"', connection) for name in names}
    return normalise_frames(frames)


def load_account_frames(session: Session, entities: Iterable[str], account_ids: list[str]) -> dict[str, pd.DataFrame]:
    """CRM rows of some accounts only (usage also through their subscriptions); other entities come whole."""
    connection = session.connection()
    frames = {}
    for name in entities:
        table = CRM_TABLES[name]
        query = select(table)
        if name == "accounts":
            query = query.where(table.c.id.in_(account_ids))
        elif name == "usage":
            subscriptions = CRM_TABLES["subscriptions"]
            owned = select(subscriptions.c.id).where(subscriptions.c.account_id.in_(account_ids))
            query = query.where(or_(table.c.account_id.in_(account_ids), table.c.subscription_id.in_(owned)))
        elif "account_id" in table.c:
            query = query.where(table.c.account_id.in_(account_ids))
        frames[name] = pd.read_sql_query(query, connection)
    return normalise_frames(frames)
