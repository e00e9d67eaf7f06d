"""`handoff demo-data` and `ensure_demo_data` against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from handoff.cli.main import build_app
from handoff.crm.loader import crm_row_counts
from handoff.crm.service import ensure_demo_data
from handoff.wiring import Parts


def _handoff(parts: Parts, *args: str):
    env = {
        "HANDOFF_HOME": str(parts.settings.resolved_home),
        "HANDOFF_DATABASE_URL": parts.settings.resolved_database_url,
    }
    return CliRunner().invoke(build_app(), list(args), env=env)


def test_demo_data_loads_refuses_to_mix_and_replaces(parts: Parts) -> None:
    first = _handoff(parts, "demo-data", "--accounts", "20", "--seed", "3", "--json")
    assert first.exit_code == 0, first.output
    counts = json.loads(first.stdout)
    assert counts["accounts"] == 20 and counts["team_members"] >= 40
    assert crm_row_counts(parts.engine) == counts

    refused = _handoff(parts, "demo-data", "--accounts", "20")
    assert refused.exit_code != 0
    assert "not empty" in str(refused.exception) and "--replace" in str(refused.exception)
    assert crm_row_counts(parts.engine) == counts

    replaced = _handoff(parts, "demo-data", "--accounts", "12", "--replace", "--json")
    assert replaced.exit_code == 0, replaced.output
    assert crm_row_counts(parts.engine)["accounts"] == 12


def test_ensure_demo_data_loads_only_into_an_empty_store(parts: Parts) -> None:
    assert ensure_demo_data(parts.engine, accounts=15) is True
    loaded = crm_row_counts(parts.engine)
    assert loaded["accounts"] == 15
    assert ensure_demo_data(parts.engine, accounts=15) is False
    assert crm_row_counts(parts.engine) == loaded
