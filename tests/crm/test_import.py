"""CSV import through the CLI on SQLite and PostgreSQL: built-in mappings, idempotence, and the rejection report."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from crm_cli import FIXTURES, handoff, import_folder, rows

from handoff.crm.loader import crm_row_counts
from handoff.wiring import Parts

RAVENSTACK = "churn_saas_ravenstack_synthetic"


def test_ravenstack_imports_and_a_second_import_changes_nothing(parts: Parts, datasets_dir: Path) -> None:
    files = sorted(str(p) for p in (datasets_dir / RAVENSTACK).glob("ravenstack_*.csv"))
    assert len(files) == 5
    first = handoff(parts, "import", "--mapping", "ravenstack", *files, "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["ok"] is True
    inserted = {name: counts["inserted"] for name, counts in report["entities"].items()}
    assert inserted == {"accounts": 500, "subscriptions": 5000, "usage": 25000, "tickets": 2000, "churn_events": 600}
    counts = crm_row_counts(parts.engine)
    assert counts["usage"] == 25000 and counts["accounts"] == 500

    second = handoff(parts, "import", "--mapping", "ravenstack", *files, "--json")
    assert second.exit_code == 0, second.output
    again = json.loads(second.stdout)["entities"]
    assert all(c["inserted"] == 0 and c["updated"] == 0 for c in again.values())
    assert {name: c["unchanged"] for name, c in again.items()} == inserted
    assert crm_row_counts(parts.engine) == counts

    accounts = rows(parts, "accounts")
    assert accounts["A-2e4581"]["status"] == "active" and accounts["A-43a9e3"]["status"] == "churned"
    tickets = rows(parts, "tickets")
    assert set(t["priority"] for t in tickets.values()) <= {"low", "normal", "high", "urgent"}


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _planted(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "planted"
    folder.mkdir()
    accounts = _write(
        folder / "accounts.csv",
        "id,name,domain,segment,created_at,seats,status,favourite_colour\n"
        "A1,Acme,acme.com,smb,2024-01-05,10,active,blue\n"
        "A2,,beta.com,smb,2024-01-06,5,active,red\n"
        "A3,Gamma,gamma.com,huge,2024-01-07,5,active,green\n"
        "A4,Delta,delta.com,smb,2024-13-45,5,active,\n"
        "A5,Epsilon,eps.com,smb,2024-01-09,many,active,\n"
        "A1,Acme again,acme2.com,smb,2024-01-10,3,active,\n",
    )
    contacts = _write(
        folder / "contacts.csv",
        "id,account_id,first_name,email\nC1,A1,Ann,ann@acme.com\nC2,A404,Bob,bob@nowhere.com\n",
    )
    deals = _write(folder / "deals.csv", "id,account_id,name\nD1,A1,Café deal\n", encoding="latin-1")
    return [accounts, contacts, deals]


def test_planted_errors_are_all_reported_precisely_and_nothing_is_written(parts: Parts, tmp_path: Path) -> None:
    files = [str(p) for p in _planted(tmp_path)]
    result = handoff(parts, "import", "--mapping", "handoff", *files, "--json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False
    found = [(p["file"], p["row"], p["column"]) for p in report["problems"]]
    assert found == [
        ("accounts.csv", 1, "favourite_colour"),
        ("accounts.csv", 3, "name"),
        ("accounts.csv", 4, "segment"),
        ("accounts.csv", 5, "created_at"),
        ("accounts.csv", 6, "seats"),
        ("accounts.csv", 7, "id"),
        ("contacts.csv", 3, "account_id"),
        ("deals.csv", 2, None),
    ]
    reasons = [p["reason"] for p in report["problems"]]
    assert "unknown column" in reasons[0]
    assert "required" in reasons[1]
    assert "'huge' is not one of smb, mid_market, enterprise" in reasons[2]
    assert "not a date: '2024-13-45'" in reasons[3]
    assert "not a number: 'many'" in reasons[4]
    assert "duplicate key 'A1' (first at accounts.csv row 2)" in reasons[5]
    assert "'A404'" in reasons[6] and "no accounts row" in reasons[6]
    assert "not valid utf-8" in reasons[7] and "encoding" in reasons[7]
    assert not any(crm_row_counts(parts.engine).values())

    text = handoff(parts, "import", "--mapping", "handoff", *files)
    assert text.exit_code == 2
    lines = text.stderr.strip().splitlines()
    assert (
        lines[0]
        == "accounts.csv row 1 column 'favourite_colour': unknown column: map it to a field or list it under `ignore`"
    )
    assert lines[-1] == "error: import rejected: 8 problem(s); nothing was written"
    assert not any(crm_row_counts(parts.engine).values())


def test_references_may_point_at_rows_already_in_the_store(parts: Parts, tmp_path: Path) -> None:
    accounts = _write(tmp_path / "accounts.csv", "id,name\nA1,Acme\n")
    assert handoff(parts, "import", "--mapping", "handoff", str(accounts)).exit_code == 0
    contacts = _write(tmp_path / "contacts.csv", "id,account_id,email\nC1,A1,a@acme.com\nC2,A2,b@x.com\n")
    rejected = handoff(parts, "import", "--mapping", "handoff", str(contacts), "--json")
    assert rejected.exit_code == 2
    assert [(p["row"], p["column"]) for p in json.loads(rejected.stdout)["problems"]] == [(3, "account_id")]
    _write(contacts, "id,account_id,email\nC1,A1,a@acme.com\n")
    assert handoff(parts, "import", "--mapping", "handoff", str(contacts)).exit_code == 0
    assert crm_row_counts(parts.engine)["contacts"] == 1


def test_changed_rows_update_and_dry_run_writes_nothing(parts: Parts, tmp_path: Path) -> None:
    accounts = _write(tmp_path / "accounts.csv", "id,name,seats\nA1,Acme,10\nA2,Beta,5\n")
    assert handoff(parts, "import", "--mapping", "handoff", str(accounts)).exit_code == 0
    _write(accounts, "id,name,seats\nA1,Acme,12\nA2,Beta,5\nA3,Gamma,1\n")
    dry = handoff(parts, "import", "--mapping", "handoff", str(accounts), "--dry-run", "--json")
    assert json.loads(dry.stdout)["entities"]["accounts"] == {"inserted": 1, "updated": 1, "unchanged": 1}
    assert rows(parts, "accounts")["A1"]["seats"] == 10 and len(rows(parts, "accounts")) == 2
    real = handoff(parts, "import", "--mapping", "handoff", str(accounts), "--json")
    assert json.loads(real.stdout)["entities"]["accounts"] == {"inserted": 1, "updated": 1, "unchanged": 1}
    assert rows(parts, "accounts")["A1"]["seats"] == 12


@pytest.mark.parametrize(
    ("mapping", "rows_per_entity"),
    [("hubspot", {"team_members": 2, "accounts": 3, "contacts": 3, "deals": 3}),
     ("salesforce", {"team_members": 2, "accounts": 2, "contacts": 2, "deals": 2}),
     ("zoho", {"team_members": 2, "accounts": 2, "contacts": 2, "deals": 2}),
     ("dynamics365", {"team_members": 2, "accounts": 2, "contacts": 2, "deals": 2})],
)  # fmt: skip
def test_a_vendor_export_imports_with_a_report_and_a_second_import_changes_nothing(
    parts: Parts, mapping: str, rows_per_entity: dict[str, int]
) -> None:
    report = import_folder(parts, mapping, FIXTURES / mapping)
    assert report["exit"] == 0 and report["ok"] is True, report
    assert {name: c["inserted"] for name, c in report["entities"].items()} == rows_per_entity
    again = import_folder(parts, mapping, FIXTURES / mapping)
    assert again["exit"] == 0
    assert {name: (c["inserted"], c["updated"], c["unchanged"]) for name, c in again["entities"].items()} == {
        name: (0, 0, count) for name, count in rows_per_entity.items()
    }


def test_hubspot_export_imports_with_owner_and_company_lookups(parts: Parts) -> None:
    assert import_folder(parts, "hubspot", FIXTURES / "hubspot")["exit"] == 0
    accounts = rows(parts, "accounts")
    assert accounts["9001"]["domain"] == "acme-robotics.com"
    assert accounts["9001"]["owner_id"] == "501"
    assert accounts["9002"]["owner_id"] == "502"  # "omar haddad": names match case-insensitively
    assert accounts["9001"]["created_at"] == date(2023, 2, 14)
    assert (accounts["9001"]["status"], accounts["9002"]["status"], accounts["9003"]["status"]) == (
        "active",
        "prospect",
        None,
    )
    assert accounts["9003"]["name"] == "Cobalt & Sons, Ltd"
    contacts = rows(parts, "contacts")
    assert contacts["7002"]["account_id"] == "9002"  # by company name when the id column is empty
    assert contacts["7003"]["account_id"] == "9001"  # the first of several associated companies
    deals = rows(parts, "deals")
    assert (deals["3001"]["stage"], deals["3001"]["amount"], deals["3001"]["owner_id"]) == ("won", 48500.0, "501")
    assert deals["3002"]["stage"] == "open" and deals["3002"]["closed_at"] is None
    assert deals["3003"]["stage"] == "lost" and deals["3003"]["owner_id"] is None
    assert rows(parts, "team_members")["501"]["name"] == "Dana Whitfield"


def test_salesforce_export_imports(parts: Parts) -> None:
    assert import_folder(parts, "salesforce", FIXTURES / "salesforce")["exit"] == 0
    accounts = rows(parts, "accounts")
    northwind = accounts["0015g00000XyZ01"]
    assert (northwind["domain"], northwind["owner_id"], northwind["status"]) == (
        "northwind.example.com",
        "0055g00000AbCdE",
        "active",
    )
    assert northwind["created_at"] == date(2024, 1, 15)  # US report date
    assert accounts["0015g00000XyZ02"]["domain"] == "globex.example"
    assert rows(parts, "contacts")["0035g00000Ct002"]["account_id"] == "0015g00000XyZ02"
    deals = rows(parts, "deals")
    assert (deals["0065g00000Op001"]["stage"], deals["0065g00000Op001"]["amount"]) == ("won", 25000.0)
    assert deals["0065g00000Op002"]["stage"] == "open"
    team = rows(parts, "team_members")
    assert team["0055g00000FgHiJ"]["active"] is False


def test_an_unmatched_file_or_unknown_owner_is_rejected(parts: Parts, tmp_path: Path) -> None:
    stray = _write(tmp_path / "notes.csv", "a,b\n1,2\n")
    result = handoff(parts, "import", "--mapping", "hubspot", str(stray), "--json")
    assert result.exit_code == 2
    assert "no file pattern" in json.loads(result.stdout)["problems"][0]["reason"]
    companies = _write(tmp_path / "companies.csv", "Record ID,Company name,Company owner\n1,Acme,Nobody Known\n")
    result = handoff(parts, "import", "--mapping", "hubspot", str(companies), "--json")
    problem = json.loads(result.stdout)["problems"][0]
    assert (problem["row"], problem["column"]) == (2, "Company owner")
    assert "no team_members with name 'Nobody Known'" in problem["reason"]
    assert not any(crm_row_counts(parts.engine).values())


@pytest.mark.parametrize("mapping", ["no-such-mapping", "broken.yaml"])
def test_a_bad_mapping_is_one_clear_error(parts: Parts, tmp_path: Path, mapping: str) -> None:
    (tmp_path / "broken.yaml").write_text(
        "files:\n  - pattern: '*.csv'\n    entity: accounts\n    columns: {x: nope}\n"
    )
    data = _write(tmp_path / "accounts.csv", "id\nA1\n")
    target = str(tmp_path / mapping) if mapping.endswith(".yaml") else mapping
    result = handoff(parts, "import", "--mapping", target, str(data))
    assert result.exit_code != 0
    assert result.exception is not None and "mapping" in str(result.exception)
