"""Alembic environment: migrates the URL it is given against handoff's full schema."""

from __future__ import annotations

from alembic import context

from handoff.store.db import make_engine
from handoff.store.schema import full_metadata

config = context.config
target_metadata = full_metadata()


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,  # SQLite alters tables by copying them; batch mode does that for us
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
