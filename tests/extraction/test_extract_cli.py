"""`handoff extract` through the real CLI: the contract's input and output lines, and no store written."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from handoff.cli.main import build_app

RAW = (
    "From: Dana Wu <dana@acme.example>\nTo: anna@ourco.example\nSubject: plan\n"
    "Date: Wed, 04 Mar 2026 09:00:00 +0000\nMessage-ID: <x1@acme.example>\n\n"
    "Hi Anna,\n\nplease send me the project plan by EOD.\n\nDana\n"
)


def run(tmp_path: Path, *args: str):
    env = {"HANDOFF_HOME": str(tmp_path / "home"), "HANDOFF_LLM__BASE_URL": ""}
    return CliRunner().invoke(build_app(), ["extract", *args], env=env)


def test_jsonl_in_json_lines_out_and_nothing_stored(tmp_path: Path) -> None:
    roster = tmp_path / "team.yaml"
    roster.write_text("- {id: u_anna, name: Anna Schmidt, email: anna@ourco.example}\n", "utf-8")
    lines = [
        {"id": "text", "kind": "email", "text": "Hi Anna,\n\nCould you please send me the revised SOW by Friday?",
         "sent_at": "2026-03-04T09:00:00+00:00", "sender": "Dana <dana@acme.example>", "recipients": ["anna@ourco.example"]},  # noqa: E501
        {"id": "raw", "kind": "email", "raw": RAW},
        {"id": "notes", "kind": "notes", "text": "Sync\n\nAction items:\n- Ben to fix the export by Monday",
         "sent_at": "2026-03-04T09:00:00+00:00"},
        {"id": "bad", "kind": "fax", "text": "x", "sent_at": "2026-03-04"},
    ]  # fmt: skip
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n", "utf-8")
    result = run(tmp_path, "--jsonl", str(source), "--roster", str(roster))
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["id"] for line in out] == ["text", "raw", "notes", "bad"]
    (sow,) = out[0]["tasks"]
    assert sow == {
        "title": "Send revised SOW", "assignee": "u_anna", "due": "2026-03-06", "priority": "normal",
        "confidence": sow["confidence"], "evidence": "Could you please send me the revised SOW by Friday?",
    }  # fmt: skip
    assert 0.5 < sow["confidence"] <= 1.0
    assert out[1]["tasks"][0]["due"] == "2026-03-04" and out[1]["tasks"][0]["assignee"] == "u_anna"
    assert out[2]["tasks"][0]["assignee"] == "Ben" and out[2]["tasks"][0]["due"] == "2026-03-09"
    assert out[3]["tasks"] == [] and "kind" in out[3]["error"]
    assert not (tmp_path / "home" / "handoff.db").exists()


def test_files_eml_and_notes(tmp_path: Path) -> None:
    mail = tmp_path / "mail.eml"
    mail.write_text(RAW, "utf-8")
    notes = tmp_path / "notes.md"
    notes.write_text("Sync\n\nACTION: Anna to send the deck by Friday\n", "utf-8")
    result = run(tmp_path, str(mail), str(notes), "--sent-at", "2026-03-04T10:00:00+00:00")
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [Path(line["id"]).name for line in out] == ["mail.eml", "notes.md"]
    assert out[1]["tasks"][0]["title"] == "Send deck" and out[1]["tasks"][0]["due"] == "2026-03-06"


def test_no_input_is_an_error(tmp_path: Path) -> None:
    assert run(tmp_path).exit_code != 0


def test_one_odd_line_gets_its_own_error_and_the_run_goes_on(tmp_path: Path) -> None:
    """Each of these once ended the whole run with an "unexpected" error, losing the lines after it."""
    good = {"id": "good", "text": "Could you please send me the revised SOW by Friday?", "sent_at": "2026-03-04"}
    lines = [
        json.dumps({"id": "far", "text": "Please do it within 3000000 days.", "sent_at": "2026-03-04"}).encode(),
        json.dumps({"id": "recipients", "text": "Send it.", "sent_at": "2026-03-04", "recipients": 5}).encode(),
        b'{"id": "latin1", "text": "Caf\xe9 plan by Friday, please.", "sent_at": "2026-03-04"}',
        json.dumps(good).encode(),
    ]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    result = run(tmp_path, "--jsonl", str(source))
    assert result.exit_code == 0, result.output
    out = {line["id"]: line for line in map(json.loads, result.stdout.splitlines()) if line}
    assert list(out) == ["far", "recipients", "latin1", "good"]
    assert [task["due"] for task in out["far"]["tasks"]] in ([], [None])
    assert "recipients must be a list" in out["recipients"]["error"]
    assert out["good"]["tasks"][0]["title"] == "Send revised SOW"
