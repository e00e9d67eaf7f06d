"""The one set of migrations builds the same schema as the code on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from handoff.crm.dictionary import ENTITIES
from handoff.store.db import make_engine
from handoff.store.migrate import downgrade, upgrade
from handoff.store.schema import full_metadata


def test_migrations_match_the_code(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), full_metadata())
    engine.dispose()
    assert diff == [], f"schema drifted from the migrations; run `make migration`: {diff}"


def test_every_dictionary_entity_is_a_table(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {entity.name for entity in ENTITIES} <= tables


def test_downgrade_then_upgrade_round_trips(database_url: str) -> None:
    upgrade(database_url)
    downgrade(database_url, "base")
    engine = make_engine(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(database_url)
