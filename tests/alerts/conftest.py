"""Fixtures for the alerts tests: a small CRM of owners and accounts, a scripted scorer, loopback servers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pandas as pd
import pytest
from sqlalchemy import insert

from handoff.settings import Settings
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.testing.http_receiver import HttpReceiver
from handoff.testing.smtp_capture import SmtpCapture
from handoff.wiring import Parts

OWNERS = [
    {"id": "tm1", "name": "Ann Lee", "email": "ann@example.com", "role": "account_owner"},
    {"id": "tm2", "name": "Bo Chen", "email": "bo@example.com", "role": "account_owner"},
    {"id": "tm3", "name": "Cy NoMail", "email": None, "role": "account_owner"},
]
ACCOUNTS = [
    {"id": "a1", "name": "Acme", "owner_id": "tm1"},
    {"id": "a2", "name": "Globex", "owner_id": "tm1"},
    {"id": "a3", "name": "Initech", "owner_id": "tm2"},
    {"id": "a4", "name": "Umbrella", "owner_id": None},
    {"id": "a5", "name": "Hooli", "owner_id": "tm3"},
    {"id": "a6", "name": "Stark", "owner_id": "tm2"},
]


@pytest.fixture
def crm(parts: Parts) -> Parts:
    with transaction(parts.sessions) as session:
        session.execute(insert(CRM_TABLES["team_members"]), OWNERS)
        session.execute(
            insert(CRM_TABLES["accounts"]),
            [{**a, "status": "active", "created_at": date(2024, 1, 1)} for a in ACCOUNTS],
        )
    return parts


class ScriptedScorer:
    """Stands in for the champion only where a test must dictate exact probabilities (rule edges)."""

    version = "scripted-1"

    def __init__(self, by_date: dict[date, dict[str, float]]) -> None:
        self.by_date = by_date

    def score(self, as_of: date, timings: dict[str, float]) -> pd.DataFrame:
        probabilities = self.by_date[as_of]
        frame = pd.DataFrame({"probability": pd.Series(probabilities, dtype="float64")})
        frame["drivers"] = [(f"usage fell ({p:.0%})", "two urgent tickets") for p in frame["probability"]]
        return frame


@pytest.fixture
def scripted() -> type[ScriptedScorer]:
    return ScriptedScorer


@pytest.fixture
def smtp() -> Iterator[SmtpCapture]:
    with SmtpCapture() as server:
        yield server


@pytest.fixture
def hooks() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


@dataclass(frozen=True)
class Champion:
    """A real churn champion trained once per test session on a small demo history."""

    tracking_uri: str
    frames: dict[str, pd.DataFrame]
    version: str


@pytest.fixture(scope="session")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Champion:
    from handoff.crm.demo import generate
    from handoff.crm.loader import write_frames
    from handoff.risk.training import train_all

    home = tmp_path_factory.mktemp("champion-home")
    frames = generate(accounts=300, seed=3)
    parts = Parts(Settings(home=home, _env_file=None))
    parts.migrate()
    write_frames(parts.engine, frames, replace=True)
    result = train_all(parts, source="database", models=("churn",), cards_dir=home / "cards")
    parts.close()
    assert result["models"]["churn"]["promoted"]
    return Champion(parts.settings.resolved_tracking_uri, frames, str(result["models"]["churn"]["version"]))


def _with_demo(parts: Parts, champion: Champion) -> Iterator[Parts]:
    from handoff.crm.loader import write_frames

    write_frames(parts.engine, champion.frames, replace=True)
    built = Parts(parts.settings.model_copy(update={"mlflow_tracking_uri": champion.tracking_uri}))
    yield built
    built.close()


@pytest.fixture
def demo(parts: Parts, champion: Champion) -> Iterator[Parts]:
    """`parts` (SQLite or PostgreSQL) holding the demo CRM, and reading the session's champion."""
    yield from _with_demo(parts, champion)


@pytest.fixture
def demo_sqlite(sqlite_parts: Parts, champion: Champion) -> Iterator[Parts]:
    """The same on the embedded default only, for tests that are not about the store (the CLI)."""
    yield from _with_demo(sqlite_parts, champion)
