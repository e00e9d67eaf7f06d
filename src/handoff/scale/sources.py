"""Where a partition's CRM rows come from: an account-id range of the database, or a Parquet partition."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import pandas as pd
from sqlalchemy import Engine, text

from handoff.crm.parquet import ParquetPartition

# What `account_features` reads: every account-keyed entity of the churn features.
FEATURE_ENTITIES = (
    "accounts",
    "subscriptions",
    "usage",
    "tickets",
    "surveys",
    "activities",
    "projects",
    "invoices",
    "churn_events",
)


@cache
def worker_engine(url: str, busy_timeout_s: float) -> Engine:
    """One engine (and pool) per worker process and database, made on the first partition that needs it."""
    from handoff.store.db import make_engine

    return make_engine(url, busy_timeout_s=busy_timeout_s)


@dataclass(frozen=True)
class DatabaseRange:
    """The accounts with `first_id <= id < end_id` (`end_id` None: to the last) and every row that names them.

    Text order of the database's own collation, for the bounds and the reads alike, so the ranges tile the
    accounts whatever the collation; each read is an index range scan on `account_id`.
    """

    url: str
    busy_timeout_s: float
    first_id: str
    end_id: str | None

    def _where(self, column: str) -> str:
        return f"{column} >= :first" + (f" AND {column} < :end" if self.end_id is not None else "")

    def read(self, entities: Iterable[str]) -> dict[str, pd.DataFrame]:
        params = {"first": self.first_id, "end": self.end_id}
        frames = {}
        with worker_engine(self.url, self.busy_timeout_s).connect() as connection:
            for name in entities:
                column = "id" if name == "accounts" else "account_id"
                sql = f'SELECT * FROM "{name}" WHERE {self._where(column)}'
                if name == "usage":
                    # A usage row may name only its subscription; the subscription says whose it is.
                    sql += (
                        " OR (account_id IS NULL AND subscription_id IN "
                        f"(SELECT id FROM subscriptions WHERE {self._where('account_id')}))"
                    )
                # Plain SQL as `risk.store.load_frames` reads: untyped values, typed by `normalise_frames`.
                frames[name] = pd.read_sql_query(text(sql), connection, params=params)
        return frames


def database_ranges(engine: Engine, url: str, busy_timeout_s: float, size: int) -> list[DatabaseRange]:
    """Ranges of about `size` accounts each: every `size`-th account id in the database's order starts one."""
    sql = text(
        "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS position FROM accounts) AS numbered "
        "WHERE (position - 1) % :size = 0 ORDER BY id"
    )
    with engine.connect() as connection:
        starts = [row[0] for row in connection.execute(sql, {"size": size})]
    ends: list[str | None] = [*starts[1:], None]
    return [DatabaseRange(url, busy_timeout_s, first, end) for first, end in zip(starts, ends, strict=True)]


def database_team(engine: Engine) -> pd.DataFrame:
    with engine.connect() as connection:
        return pd.read_sql_query(text('SELECT id, name, email FROM "team_members"'), connection)


Partition = DatabaseRange | ParquetPartition


def partition_bounds(partition: Partition) -> tuple[str, str | None, bool]:
    """(first id, last id, whether the last is included) of a partition, for reads keyed the same way."""
    if isinstance(partition, DatabaseRange):
        return partition.first_id, partition.end_id, False
    return partition.first_id, partition.last_id, True
