"""The pure side of import: mapping parsing, cell conversion and row checks, without a store."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from handoff.crm.dictionary import entity
from handoff.crm.mapping import BUILT_IN, MappingError, load_mapping, parse_mapping
from handoff.crm.validation import Problem, apply_transform, check_import, convert, parse_file


@pytest.mark.parametrize("name", BUILT_IN)
def test_built_in_mappings_load(name: str) -> None:
    mapping = load_mapping(name)
    assert mapping.files and all(f.entity for f in mapping.files)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"files": [{"pattern": "*.csv", "entity": "customers", "columns": {"a": "id"}}]}, "entity 'customers'"),
        ({"files": [{"pattern": "*.csv", "entity": "accounts", "columns": {"a": "idd"}}]}, "'idd' is not a field"),
        ({"files": [{"pattern": "*.csv", "entity": "accounts", "columns": {"a": "name"}}]}, "key field 'id'"),
        (
            {
                "files": [
                    {
                        "pattern": "*.csv",
                        "entity": "accounts",
                        "columns": {
                            "a": "id",
                            "b": {"field": "name", "lookup": {"entity": "team_members", "by": "name"}},
                        },
                    }
                ]
            },
            "name does not reference team_members",
        ),
        (
            {"files": [{"pattern": "*.csv", "entity": "accounts", "encoding": "klingon", "columns": {"a": "id"}}]},
            "unknown encoding",
        ),
        ({"files": []}, "non-empty `files`"),
    ],
)
def test_mapping_mistakes_name_their_place(document: dict, message: str) -> None:
    with pytest.raises(MappingError, match="mapping test"):
        parse_mapping(document, "test")
    with pytest.raises(MappingError) as raised:
        parse_mapping(document, "test")
    assert message in str(raised.value)


def test_missing_mapping_file_is_an_error(tmp_path) -> None:
    with pytest.raises(MappingError, match="neither a built-in"):
        load_mapping(str(tmp_path / "none.yaml"))


def test_cells_convert_to_field_types() -> None:
    accounts, deals, tickets = entity("accounts"), entity("deals"), entity("tickets")
    assert convert(" 12 ", accounts.field("seats"), None) == 12
    assert convert("12.0", accounts.field("seats"), None) == 12
    assert convert("1,234.50", deals.field("amount"), None) == 1234.5
    assert convert("", deals.field("amount"), None) is None
    assert convert("Yes", tickets.field("escalated"), None) is True
    assert convert("0", tickets.field("escalated"), None) is False
    assert convert("2024-01-15 10:23", accounts.field("created_at"), None) == date(2024, 1, 15)
    assert convert("1/15/2024", accounts.field("created_at"), None) == date(2024, 1, 15)
    assert convert("2024-01-15T10:00:00Z", tickets.field("opened_at"), None) == datetime(2024, 1, 15, 10)
    assert convert("2024-01-15T12:00:00+02:00", tickets.field("opened_at"), None) == datetime(2024, 1, 15, 10)
    assert convert("2023-07-28 3:00", tickets.field("closed_at"), None) == datetime(2023, 7, 28, 3)
    assert convert("15.01.2024", accounts.field("created_at"), "%d.%m.%Y") == date(2024, 1, 15)
    for raw, target, reason in (
        ("1.5", accounts.field("seats"), "not a whole number"),
        ("3000000000", accounts.field("seats"), "out of range"),
        ("a\x00b", accounts.field("name"), "NUL"),
        ("ten", accounts.field("seats"), "not a number"),
        ("nan", deals.field("amount"), "not a finite number"),
        ("maybe", tickets.field("escalated"), "not true/false"),
        ("15/01/2024", accounts.field("created_at"), "not a date"),
        ("huge", accounts.field("segment"), "not one of"),
        ("x" * 256, accounts.field("name"), "longer than 255"),
    ):
        with pytest.raises(ValueError, match=reason):
            convert(raw, target, None)


def test_domain_transform() -> None:
    assert apply_transform("domain", "https://www.Acme.com/about?x=1") == "acme.com"
    assert apply_transform("domain", "acme.io") == "acme.io"
    assert apply_transform("lower", " ABC ") == "abc"


def test_declared_encoding_is_used_and_missing_one_is_reported() -> None:
    document = {"files": [{"pattern": "*.csv", "entity": "accounts", "columns": {"id": "id", "name": "name"}}]}
    data = "id,name\nA1,Café Müller\n".encode("cp1252")
    _, problems = parse_file("a.csv", data, parse_mapping(document, "t").files[0])
    assert [(p.row, p.column) for p in problems] == [(2, None)]
    assert "byte 0xe9" in problems[0].reason
    document["files"][0]["encoding"] = "cp1252"
    parsed, problems = parse_file("a.csv", data, parse_mapping(document, "t").files[0])
    assert problems == [] and parsed.rows[0].values["name"] == "Café Müller"


def test_value_maps_compose_and_first_filled_column_win() -> None:
    document = {
        "files": [
            {
                "pattern": "*.csv",
                "entity": "usage",
                "compose": {"id": {"columns": ["uid", "sub"], "separator": "/"}},
                "columns": {"sub": "subscription_id", "day": "day", "feat": "feature", "alt": "feature"},
            }
        ]
    }
    mapping = parse_mapping(document, "t").files[0]
    parsed, problems = parse_file(
        "u.csv", b"uid,sub,day,feat,alt\nU1,S1,2024-02-01,,b\nU1,S2,2024-02-02,a,b\n", mapping
    )
    assert problems == []
    assert [r.values["id"] for r in parsed.rows] == ["U1/S1", "U1/S2"]
    assert [r.values["feature"] for r in parsed.rows] == ["b", "a"]


def test_ragged_rows_and_duplicate_headers_are_reported() -> None:
    mapping = load_mapping("handoff").file_for("accounts.csv")
    _, problems = parse_file("accounts.csv", b"id,name,name\nA1,x\n", mapping)
    assert [(p.row, p.column) for p in problems] == [(1, "name"), (2, None)]


def test_lookup_ambiguity_is_a_problem() -> None:
    mapping = load_mapping("hubspot").file_for("companies.csv")
    parsed, problems = parse_file("companies.csv", b"Record ID,Company name,Company owner\n1,Acme,Sam Lee\n", mapping)
    assert problems == []
    found = check_import(
        [parsed],
        known_ids=lambda entity_name, keys: set(keys),
        store_lookup=lambda entity_name, field_name: {"sam lee": ["TM-1", "TM-2"]},
    )
    assert found == [
        Problem("companies.csv", 2, "Company owner", "'Sam Lee' matches 2 team_members by name: TM-1, TM-2")
    ]


def test_problem_reads_as_one_line() -> None:
    assert str(Problem("a.csv", 3, "Amount", "not a number: 'x'")) == "a.csv row 3 column 'Amount': not a number: 'x'"
    assert str(Problem("a.csv", None, None, "empty file")) == "a.csv: empty file"


def test_blank_lines_keep_row_numbers_as_in_the_file() -> None:
    mapping = load_mapping("handoff").file_for("accounts.csv")
    parsed, problems = parse_file("accounts.csv", b"id,name,seats\nA1,x,1\n\nA2,y,two\n", mapping)
    assert [(p.row, p.column) for p in problems] == [(4, "seats")]
    assert [r.row for r in parsed.rows] == [2, 4]


def test_a_bad_default_in_the_mapping_is_reported() -> None:
    document = {
        "files": [
            {
                "pattern": "*.csv",
                "entity": "accounts",
                "columns": {"id": "id", "name": "name"},
                "defaults": {"seats": "x"},
            }
        ]
    }
    _, problems = parse_file("a.csv", b"id,name\nA1,x\n", parse_mapping(document, "t").files[0])
    assert [p.reason for p in problems] == ["mapping default for seats: not a number: 'x'"]
