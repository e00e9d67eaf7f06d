"""Zoho CRM and Dynamics 365 exports through the CLI on SQLite and PostgreSQL: owners and accounts resolved by name,
and a file with one bad row rejected whole (nothing written, every problem listed). Their reports and re-imports are
in test_import.py, with every vendor's."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from crm_cli import FIXTURES, import_folder, rows

from handoff.crm.loader import crm_row_counts
from handoff.wiring import Parts


def test_zoho_export_imports_owners_and_accounts_by_name(parts: Parts) -> None:
    assert import_folder(parts, "zoho", FIXTURES / "zoho")["exit"] == 0
    accounts = rows(parts, "accounts")
    tata = accounts["zcrm_5725767000000412001"]
    assert (tata["domain"], tata["owner_id"], tata["status"], tata["seats"]) == (
        "tatatextiles.example", "zcrm_5725767000000212001", "active", 420,
    )  # fmt: skip
    assert tata["created_at"] == date(2024, 1, 15)
    assert accounts["zcrm_5725767000000412002"]["status"] == "prospect"
    assert rows(parts, "contacts")["zcrm_5725767000000512002"]["account_id"] == "zcrm_5725767000000412002"
    deals = rows(parts, "deals")
    won = deals["zcrm_5725767000000612001"]
    assert (won["stage"], won["amount"], won["closed_at"]) == ("won", 48000.0, date(2024, 3, 1))
    assert deals["zcrm_5725767000000612002"]["stage"] == "open"
    assert rows(parts, "team_members")["zcrm_5725767000000212002"]["active"] is False


def test_dynamics_365_export_imports_owners_and_accounts_by_name(parts: Parts) -> None:
    assert import_folder(parts, "dynamics365", FIXTURES / "dynamics365")["exit"] == 0
    contoso = rows(parts, "accounts")["8a7b0c1d-1111-ee11-9cbd-000d3a1b2c11"]
    assert (contoso["domain"], contoso["owner_id"], contoso["status"], contoso["country"]) == (
        "contoso.example", "3f1c6a2e-6b2d-ee11-9cbd-000d3a1b2c01", "active", "United States",
    )  # fmt: skip
    assert contoso["created_at"] == date(2024, 1, 15)  # "1/15/2024 10:32 AM"
    claire = rows(parts, "contacts")["c0ffee00-2222-ee11-9cbd-000d3a1b2c22"]
    assert claire["account_id"] == "8a7b0c1d-1111-ee11-9cbd-000d3a1b2c12" and claire["title"] == "CTO"
    deals = rows(parts, "deals")
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
    report = import_folder(parts, mapping, folder)
    assert report["exit"] == 2 and report["ok"] is False
    [problem] = report["problems"]
    row = 2 if column == "Created On" else 3  # the header is row 1
    assert (problem["file"], problem["row"], problem["column"]) == (file_name, row, column), problem
    assert not any(crm_row_counts(parts.engine).values())  # all or nothing: not even the good files
