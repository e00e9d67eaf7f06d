"""Zoho CRM and Dynamics 365 exports through the CLI on SQLite and PostgreSQL: imported with a report, owners and
accounts resolved by name, and a file with one bad row rejected whole (nothing written, every problem listed)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from handoff.cli.main import build_app
from handoff.crm.loader import crm_row_counts
from handoff.store.crm_tables import CRM_TABLES
from handoff.wiring import Parts

FIXTURES = Path(__file__).parent / "fixtures"


def _handoff(parts: Parts, *args: str):
    env = {
        "HANDOFF_HOME": str(parts.settings.resolved_home),
        "HANDOFF_DATABASE_URL": parts.settings.resolved_database_url,
    }
    return CliRunner().invoke(build_app(), list(args), env=env)


def _rows(parts: Parts, table: str) -> dict[str, dict]:
    with parts.engine.connect() as conn:
        return {row["id"]: dict(row) for row in conn.execute(select(CRM_TABLES[table])).mappings()}


def _import(parts: Parts, mapping: str, folder: Path) -> dict:
    files = sorted(str(path) for path in folder.glob("*.csv"))
    result = _handoff(parts, "import", "--mapping", mapping, *files, "--json")
    return {"exit": result.exit_code, **json.loads(result.stdout)}


def test_zoho_export_imports_with_a_report(parts: Parts) -> None:
    report = _import(parts, "zoho", FIXTURES / "zoho")
    assert report["exit"] == 0 and report["ok"] is True, report
    assert {name: c["inserted"] for name, c in report["entities"].items()} == {
        "team_members": 2, "accounts": 2, "contacts": 2, "deals": 2,
    }  # fmt: skip
    accounts = _rows(parts, "accounts")
    tata = accounts["zcrm_5725767000000412001"]
    assert (tata["domain"], tata["owner_id"], tata["status"], tata["seats"]) == (
        "tatatextiles.example", "zcrm_5725767000000212001", "active", 420,
    )  # fmt: skip
    assert tata["created_at"] == date(2024, 1, 15)
    assert accounts["zcrm_5725767000000412002"]["status"] == "prospect"
    assert _rows(parts, "contacts")["zcrm_5725767000000512002"]["account_id"] == "zcrm_5725767000000412002"
    deals = _rows(parts, "deals")
    won = deals["zcrm_5725767000000612001"]
    assert (won["stage"], won["amount"], won["closed_at"]) == ("won", 48000.0, date(2024, 3, 1))
    assert deals["zcrm_5725767000000612002"]["stage"] == "open"
    assert _rows(parts, "team_members")["zcrm_5725767000000212002"]["active"] is False
    again = _import(parts, "zoho", FIXTURES / "zoho")["entities"]
    assert all(c["inserted"] == c["updated"] == 0 for c in again.values())


def test_dynamics_365_export_imports_with_a_report(parts: Parts) -> None:
    report = _import(parts, "dynamics365", FIXTURES / "dynamics365")
    assert report["exit"] == 0 and report["ok"] is True, report
    assert {name: c["inserted"] for name, c in report["entities"].items()} == {
        "team_members": 2, "accounts": 2, "contacts": 2, "deals": 2,
    }  # fmt: skip
    contoso = _rows(parts, "accounts")["8a7b0c1d-1111-ee11-9cbd-000d3a1b2c11"]
    assert (contoso["domain"], contoso["owner_id"], contoso["status"], contoso["country"]) == (
        "contoso.example", "3f1c6a2e-6b2d-ee11-9cbd-000d3a1b2c01", "active", "United States",
    )  # fmt: skip
    assert contoso["created_at"] == date(2024, 1, 15)  # "1/15/2024 10:32 AM"
    claire = _rows(parts, "contacts")["c0ffee00-2222-ee11-9cbd-000d3a1b2c22"]
    assert claire["account_id"] == "8a7b0c1d-1111-ee11-9cbd-000d3a1b2c12" and claire["title"] == "CTO"
    deals = _rows(parts, "deals")
    won = deals["0bb00000-3333-ee11-9cbd-000d3a1b2c31"]
    assert (won["stage"], won["amount"], won["closed_at"]) == ("won", 25000.0, date(2024, 2, 27))
    assert deals["0bb00000-3333-ee11-9cbd-000d3a1b2c32"]["owner_id"] == "3f1c6a2e-6b2d-ee11-9cbd-000d3a1b2c02"


@pytest.mark.parametrize(
    ("mapping", "file_name", "old", "new", "column"),
    [
        ("zoho", "Deals_2026_11_30.csv", "Negotiation/Review", "Haggling", "Stage"),
        ("zoho", "Accounts_2026_11_30.csv", "Tom Becker", "Nobody Known", "Account Owner"),
        ("dynamics365", "Open Opportunities 11-30-2026 9-00-00 AM.csv", "Fabrikam Inc,3/31", "Unknown Co,3/31",
         "Potential Customer"),
        ("dynamics365", "Active Accounts 11-30-2026 9-00-00 AM.csv", "1/15/2024", "15/45/2024", "Created On"),
    ],
)  # fmt: skip
def test_one_bad_row_rejects_the_whole_import(
    parts: Parts, tmp_path: Path, mapping: str, file_name: str, old: str, new: str, column: str
) -> None:
    folder = tmp_path / mapping
    shutil.copytree(FIXTURES / mapping, folder)
    path = folder / file_name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    report = _import(parts, mapping, folder)
    assert report["exit"] == 2 and report["ok"] is False
    [problem] = report["problems"]
    row = 2 if column == "Created On" else 3  # the header is row 1
    assert (problem["file"], problem["row"], problem["column"]) == (file_name, row, column), problem
    assert not any(crm_row_counts(parts.engine).values())  # all or nothing: not even the good files
