"""Persistence: SQLAlchemy tables, engines and sessions, Alembic migrations (SQLite and PostgreSQL alike)."""
