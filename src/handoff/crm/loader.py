"""Bulk-writes CRM DataFrames into the store: one transaction, chunked Core executemany, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, func, select

from handoff.crm.dictionary import ENTITIES, entity
from handoff.store.crm_tables import CRM_TABLES

CHUNK_ROWS = 5_000


def _python_values(series: pd.Series, field_type: str, *, dates_as_text: bool = False) -> list:
    """A column as plain Python values the DB drivers accept, with None for every kind of missing.

    With `dates_as_text`, dates and datetimes become the ISO text SQLAlchemy itself stores in SQLite
    ('2024-01-15', '2024-01-15 10:23:00.000000'), so rows written here read back as `date`/`datetime`.
    """
    missing = series.isna().to_numpy()
    if field_type in ("date", "datetime"):
        if dates_as_text:
            fmt = "%Y-%m-%d" if field_type == "date" else "%Y-%m-%d %H:%M:%S.%f"
            text = series.dt.strftime(fmt).tolist()
            return [None if gone else value for value, gone in zip(text, missing, strict=True)]
        moments = series.astype(object).tolist()
        if field_type == "date":
            return [None if gone else value.date() for value, gone in zip(moments, missing, strict=True)]
        return [None if gone else value.to_pydatetime() for value, gone in zip(moments, missing, strict=True)]
    if field_type == "int":
        values = series.astype("float64").to_numpy()
        return [None if gone else int(value) for value, gone in zip(values, missing, strict=True)]
    if field_type == "float":
        return [None if gone else value for value, gone in zip(series.astype("float64").tolist(), missing, strict=True)]
    if field_type == "bool":
        return [None if gone else bool(value) for value, gone in zip(series.tolist(), missing, strict=True)]
    return [None if gone else str(value) for value, gone in zip(series.tolist(), missing, strict=True)]


def _insert_statement(conn, table, names: tuple[str, ...]) -> str:
    """A positional INSERT in the driver's own parameter style (qmark for sqlite3, format for psycopg)."""
    quote = conn.dialect.identifier_preparer.quote
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    columns = ", ".join(quote(name) for name in names)
    return f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({', '.join([marker] * len(names))})"


def _frame_tuples(name: str, frame: pd.DataFrame, *, dates_as_text: bool) -> list[tuple]:
    """Rows in table-column order, every field present (missing columns are NULL)."""
    ent = entity(name)
    unknown = set(frame.columns) - set(ent.field_names)
    if unknown:
        raise ValueError(f"{name}: columns not in the data dictionary: {sorted(unknown)}")
    empty = [None] * len(frame)
    columns = [
        _python_values(frame[f.name], f.type, dates_as_text=dates_as_text) if f.name in frame.columns else empty
        for f in ent.fields
    ]
    return list(zip(*columns, strict=True))


def crm_row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            e.name: conn.execute(select(func.count()).select_from(CRM_TABLES[e.name])).scalar_one() for e in ENTITIES
        }


def write_frames(
    engine: Engine,
    frames: Mapping[str, pd.DataFrame],
    *,
    replace: bool = False,
    on_progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Inserts every frame (keyed by entity name) in one transaction; returns rows written per entity.

    With `replace`, every CRM table is emptied first (inside the same transaction, so a failure leaves the old
    data in place). Without it, rows are added and a clashing key fails the whole write.
    `on_progress(entity, rows)` is called after each chunk.
    """
    unknown = set(frames) - set(CRM_TABLES)
    if unknown:
        raise ValueError(f"not CRM entities: {sorted(unknown)}")
    written: dict[str, int] = {}
    with engine.begin() as conn:
        if replace:
            for ent in reversed(ENTITIES):
                conn.execute(delete(CRM_TABLES[ent.name]))
        for ent in ENTITIES:  # dictionary order is dependency order
            if ent.name not in frames:
                continue
            table = CRM_TABLES[ent.name]
            # Driver-level executemany: SQLAlchemy's per-row parameter processing cost more than the inserts.
            records = _frame_tuples(ent.name, frames[ent.name], dates_as_text=conn.dialect.name == "sqlite")
            statement = _insert_statement(conn, table, ent.field_names)
            for start in range(0, len(records), CHUNK_ROWS):
                chunk = records[start : start + CHUNK_ROWS]
                conn.exec_driver_sql(statement, chunk)
                if on_progress is not None:
                    on_progress(ent.name, len(chunk))
            written[ent.name] = len(records)
    return written


def total_rows(frames: Mapping[str, pd.DataFrame]) -> int:
    return int(np.sum([len(frame) for frame in frames.values()]))
