"""Property-based run of the whole OpenAPI schema with an admin key: no input may produce a server error, every
status must be documented and every body must match its schema."""

from __future__ import annotations

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

ADMIN: dict[str, str] = {}


@schemathesis.serializer("message/rfc822")
def _rfc822(_context, value) -> bytes:
    """Generated raw-mail bodies go out as bytes, whatever Hypothesis made of the binary schema."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, demo_frames, served_models) -> Iterator:
    """One SQLite store with the tiny demo and trained models, an admin key, and the webhook on."""
    from handoff.crm.loader import write_frames

    home = Path(tmp_path_factory.mktemp("fuzz")) / "home"
    parts = Parts(Settings(home=home, _env_file=None, inbox={"webhook_secret": "fuzz-secret"}))
    parts.migrate()
    write_frames(parts.engine, demo_frames, replace=False)
    with transaction(parts.sessions) as session:
        ADMIN["key"], _ = create_key(session, role="admin", name="fuzz")
    app = create_app(parts=parts, models=served_models)
    with TestClient(app):  # runs the lifespan once; schemathesis' own client then finds `app.state` ready
        yield app
    parts.close()


def test_no_input_gives_a_server_error(fuzz_app) -> None:
    """Each operation gets up to 20 generated requests (schemathesis' strategies driven by Hypothesis)."""
    from hypothesis import given

    api_schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    headers = {"Authorization": f"Bearer {ADMIN['key']}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case) -> None:
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
            )

        run()
