"""Helpers shared by the CRM import tests: the real CLI on a parts' database, its rows, a vendor export imported."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from handoff.cli.main import build_app
from handoff.store.crm_tables import CRM_TABLES
from handoff.wiring import Parts

FIXTURES = Path(__file__).parent / "fixtures"


def handoff(parts: Parts, *args: str) -> Result:
    """Runs the real CLI against the parts' database."""
    env = {
        "HANDOFF_HOME": str(parts.settings.resolved_home),
        "HANDOFF_DATABASE_URL": parts.settings.resolved_database_url,
    }
    return CliRunner().invoke(build_app(), list(args), env=env)


def rows(parts: Parts, table: str) -> dict[str, dict]:
    with parts.engine.connect() as conn:
        return {row["id"]: dict(row) for row in conn.execute(select(CRM_TABLES[table])).mappings()}


def import_folder(parts: Parts, mapping: str, folder: Path) -> dict:
    """`handoff import --json` of every CSV in the folder: the report, with the exit code under `exit`."""
    files = sorted(str(path) for path in folder.glob("*.csv"))
    result = handoff(parts, "import", "--mapping", mapping, *files, "--json")
    return {"exit": result.exit_code, **json.loads(result.stdout)}
