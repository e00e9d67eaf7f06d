"""Shared fixtures: isolated settings, real SQLite and PostgreSQL databases, the shared datasets."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from handoff.settings import Settings
from handoff.wiring import Parts

POSTGRES_ADMIN_URL = os.environ.get("HANDOFF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects, so `-m "not services"` sees these marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every PostgreSQL test (a `postgresql` parameter or the `postgres_url` fixture) is also a `services` test."""
    for item in items:
        if "postgres_url" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("postgres"):
            item.add_marker(pytest.mark.postgres)
        if item.get_closest_marker("postgres"):
            item.add_marker(pytest.mark.services)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with all state in a temporary HANDOFF_HOME and no outside endpoints."""
    return Settings(home=tmp_path / "home", _env_file=None)


@pytest.fixture
def datasets_dir() -> Path:
    """The shared datasets; their absence fails the test (it never skips silently)."""
    path = Settings(_env_file=None).datasets_dir
    if not path.is_dir():
        pytest.fail(f"datasets not found at {path}; set HANDOFF_DATASETS_DIR")
    return path


def _create_postgres_database() -> str:
    import psycopg

    name = f"handoff_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({error}); .ci/run starts it")
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_postgres_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    url = _create_postgres_database()
    try:
        yield url
    finally:
        _drop_postgres_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Runs a store test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url = _create_postgres_database()
    try:
        yield url
    finally:
        _drop_postgres_database(url)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated once per session: each test's SQLite parts start from a copy of it (running the
    migrations costs ~0.3 s, most of a small store test). `tests/store` still migrates for real."""
    from handoff.store.migrate import upgrade

    path = tmp_path_factory.mktemp("migrated") / "store.db"
    upgrade(f"sqlite:///{path}")
    return path


def _migrated(built: Parts, template: Path) -> Parts:
    """The parts' store made current: a copy of the migrated template for SQLite, the migrations for PostgreSQL."""
    url = built.settings.resolved_database_url
    if url.startswith("sqlite:///"):
        built.settings.ensure_home()
        shutil.copyfile(template, url.removeprefix("sqlite:///"))
    else:
        built.migrate()
    return built


@pytest.fixture
def parts(settings: Settings, database_url: str, migrated_sqlite: Path) -> Iterator[Parts]:
    """Migrated parts on each database backend."""
    built = _migrated(Parts(settings.model_copy(update={"database_url": database_url})), migrated_sqlite)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def sqlite_parts(settings: Settings, migrated_sqlite: Path) -> Iterator[Parts]:
    """Migrated parts on the embedded default only, for tests that are not about the store."""
    built = _migrated(Parts(settings), migrated_sqlite)
    try:
        yield built
    finally:
        built.close()
