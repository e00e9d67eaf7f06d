"""Property-based run of the whole OpenAPI schema with an admin key: no input may produce a server error, every
status must be documented and every body must match its schema."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from handoff.access.keys import create_key
from handoff.api.app import create_app
from handoff.settings import Settings
from handoff.store.db import transaction
from handoff.wiring import Parts

pytestmark = pytest.mark.slow  # fuzzes every operation

ADMIN: dict[str, str] = {}


@schemathesis.serializer("message/rfc822")
def _rfc822(_context, value) -> bytes:
    """Generated raw-mail bodies go out as bytes, whatever Hypothesis made of the binary schema."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fuzz_app(request, tmp_path_factory: pytest.TempPathFactory, demo_frames, served_models) -> Iterator:
    """Each store with the tiny demo and trained models, an admin key, and the webhook on. PostgreSQL refuses what
    SQLite keeps (a NUL character, text over a column's length): fuzzing only SQLite missed those 500s."""
    from handoff.crm.loader import write_frames
    from tests.conftest import _create_postgres_database, _drop_postgres_database

    url = _create_postgres_database() if request.param == "postgresql" else None
    home = Path(tmp_path_factory.mktemp("fuzz")) / "home"
    parts = Parts(Settings(home=home, database_url=url, _env_file=None, inbox={"webhook_secret": "fuzz-secret"}))
    try:
        parts.migrate()
        write_frames(parts.engine, demo_frames, replace=False)
        with transaction(parts.sessions) as session:
            ADMIN["key"], _ = create_key(session, role="admin", name="fuzz")
        _seed_tasks_and_alerts(parts)
        app = create_app(parts=parts, models=served_models)
        with TestClient(app):  # runs the lifespan once; schemathesis' own client then finds `app.state` ready
            yield app
    finally:
        parts.close()
        if url is not None:
            _drop_postgres_database(url)


def _seed_tasks_and_alerts(parts: Parts) -> None:
    """Lists with something in them, so their answers are checked against the schema too (an empty list is not)."""
    from datetime import date, datetime

    from handoff.alerts.tables import alerts
    from tests.tasks.test_service import draft, record

    record(parts, [draft("Send revised SOW", due=date(2026, 3, 6)), draft("Fix nightly export job")])
    with transaction(parts.sessions) as session:
        session.execute(
            alerts.insert().values(
                id="al-fuzz", account_id="A-1", owner_id=None, cause="threshold", status="open",
                live_key="A-1:threshold", probability=0.7, drivers=["3 escalated tickets"], changes={},
                opened_on=date(2026, 1, 5), last_run_date=date(2026, 1, 5), updated_at=datetime(2026, 1, 5, 2),
            )
        )  # fmt: skip


def test_no_input_gives_a_server_error(fuzz_app) -> None:
    """Each operation gets up to 20 generated requests (schemathesis' strategies driven by Hypothesis);
    `HANDOFF_FUZZ_EXAMPLES` asks for more on a longer run."""
    from hypothesis import given

    api_schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    headers = {"Authorization": f"Bearer {ADMIN['key']}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=int(os.environ.get("HANDOFF_FUZZ_EXAMPLES", "20")),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        def run(case) -> None:
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
            )

        run()
