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


DEMO_ACCOUNTS = 80


@pytest.fixture(scope="session")
def demo_frames():
    """A tiny deterministic demo CRM history, generated once per test session."""
    from handoff.crm.demo import generate

    return generate(accounts=DEMO_ACCOUNTS, seed=7)


@pytest.fixture(scope="session")
def served_models(demo_frames) -> dict:
    """The four product models fitted on the tiny demo, served as the API serves champions (no MLflow round trip)."""
    from handoff.risk import features as feats
    from handoff.risk.registry import ServedModel
    from handoff.risk.training import churn_training_set, fit_bundle, history_end, project_training_sets

    frames = feats.normalise_frames(demo_frames)
    sets = {**project_training_sets(frames), "churn": churn_training_set(frames, history_end(frames))}
    return {name: ServedModel(name, "1", "test-run", fit_bundle(training)) for name, training in sets.items()}


@pytest.fixture
def demo_parts(parts: Parts, demo_frames) -> Parts:
    """`parts` with the tiny demo history written into the store."""
    from handoff.crm.loader import write_frames

    write_frames(parts.engine, demo_frames)
    return parts
