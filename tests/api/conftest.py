"""API fixtures: an app over migrated parts (SQLite and PostgreSQL), and keys of every role."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from handoff.access.keys import create_key
from handoff.api.app import create_app
from handoff.store.db import transaction
from handoff.wiring import Parts

KeyMaker = Callable[..., str]


@pytest.fixture
def make_key(parts: Parts) -> KeyMaker:
    def make(role: str = "admin", owner_id: str | None = None) -> str:
        with transaction(parts.sessions) as session:
            key, _ = create_key(session, role=role, name=f"test-{role}", owner_id=owner_id)
        return key

    return make


@pytest.fixture
def client(parts: Parts) -> Iterator[TestClient]:
    """No champion models: risk routes answer 503 until a test passes its own."""
    app = create_app(parts=parts, models={}, key_cache_ttl_s=0)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def auth() -> Callable[[str], dict[str, str]]:
    """Headers for a key: `client.get(url, headers=auth(key))`."""
    return bearer
