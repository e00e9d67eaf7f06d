"""Engines and sessions for SQLite (the embedded default) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

# PostgreSQL: lock_not_available, deadlock_detected, serialization_failure, query_canceled (lock/statement timeout).
_POSTGRES_BUSY_STATES = {"55P03", "40P01", "40001", "57014"}


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here, not the psycopg2 that SQLAlchemy assumes."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, busy_timeout_s: float = 30.0) -> Engine:
    """`busy_timeout_s`: how long a statement waits for a lock another connection holds before it raises (`is_busy`)."""
    url = normalise_url(url)
    timeout_ms = max(1, int(busy_timeout_s * 1000))
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy_timeout_s})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - runs on every connect
            cursor = dbapi_connection.cursor()
            # WAL lets the API read while the ingest worker writes; the ledger needs synchronous writes.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={timeout_ms}")
            cursor.close()

        return engine
    options = f"-c lock_timeout={timeout_ms}"  # a lock wait ends in LockNotAvailable (55P03), never hangs a request
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args={"options": options})


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def is_busy(error: BaseException) -> bool:
    """The database is busy, not broken: another writer held SQLite's lock past the busy timeout, a PostgreSQL lock
    or statement timed out, or no pooled connection came free. Trying again later succeeds; nothing was written."""
    if isinstance(error, PoolTimeout):
        return True
    if not isinstance(error, DBAPIError):
        return False
    original = error.orig
    if getattr(original, "sqlstate", None) in _POSTGRES_BUSY_STATES:
        return True
    message = str(original).lower()
    return type(original).__name__ == "OperationalError" and ("database is locked" in message or "busy" in message)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session
