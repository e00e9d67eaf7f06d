"""`handoff ingest`, `handoff ledger list|retry` and `handoff inbox --help`: the contracts scripts rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from intake_support import CORPUS
from typer.testing import CliRunner

from handoff.cli.main import build_app

MAILS = sorted(p.name for p in CORPUS.glob("*.eml"))
NOTES = sorted(p.name for p in CORPUS.glob("*") if p.suffix in (".md", ".txt", ".vtt"))
MBOX_MESSAGES = 3


def _cli(home: Path, *args: str):
    return CliRunner().invoke(build_app(), list(args), env={"HANDOFF_HOME": str(home), "HANDOFF_DATABASE_URL": ""})


def _handoff(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HANDOFF_HOME": str(home)}
    env.pop("HANDOFF_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "handoff", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("HANDOFF_DATABASE_URL", raising=False)
    return tmp_path / "home"


def test_the_whole_corpus_ingests_with_every_message_accounted_for(home: Path, expected: dict) -> None:
    result = _cli(home, "ingest", str(CORPUS), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == {"total", "by_status", "messages", "skipped"}
    # What the corpus folder holds besides mail and notes is listed, not silently dropped.
    assert {Path(s["path"]).name: s["reason"].split(":")[0] for s in document["skipped"]} == {
        "expected.json": "neither mail nor notes",
        "make_corpus.py": "neither mail nor notes",
    }
    assert document["total"] == len(MAILS) + len(NOTES) + MBOX_MESSAGES == len(document["messages"])
    assert sum(document["by_status"].values()) == document["total"]
    by_path = {Path(m["path"]).name: m for m in document["messages"]}
    for message in document["messages"]:
        assert set(message) >= {"path", "message_id", "status", "reason"}
        assert message["status"] in ("tasks_created", "threaded", "duplicate", "no_tasks", "rejected", "bulk")
    for name, want in expected.items():
        got = by_path[name]
        if want["status"] in ("rejected", "bulk"):
            assert got["status"] == want["status"] and want["reason_contains"] in got["reason"], (name, got)
        else:
            assert got["status"] in ("tasks_created", "threaded", "no_tasks", "duplicate"), (name, got)
    # The mbox holds a message twice, and the same message again as a file: one first copy, the rest duplicates.
    assert [by_path[f"exported.mbox#{i}"]["status"] for i in (2, 3)] == ["duplicate", "duplicate"]
    assert by_path["reply_quote_signature.eml"]["status"] == "duplicate"
    assert by_path["gmail_forward_en.eml"]["message_id"] == "<CAGmail-fwd-0001@mail.gmail.com>"
    # Forwarded asks became tasks credited to the customer (the rest of the credit is checked in test_pipeline).
    assert by_path["outlook_forward_zh_gbk.eml"]["status"] == "tasks_created"

    # Ingesting the same folder again fires nothing twice.
    again = json.loads(_cli(home, "ingest", str(CORPUS), "--json").stdout)
    assert again["by_status"] == {"duplicate": document["total"]}

    listed = _cli(home, "ledger", "list", "--status", "rejected", "--limit", "100", "--json")
    assert listed.exit_code == 0, listed.output
    rejected = json.loads(listed.stdout)
    assert len(rejected["entries"]) == sum(1 for w in expected.values() if w["status"] == "rejected")
    assert all(entry["outcome"] == "rejected" and entry["reason"] for entry in rejected["entries"])
    assert rejected["counts"]["rejected"] == len(rejected["entries"])


@pytest.mark.slow  # the CLI in subprocesses
def test_ledger_retry_and_bad_input_are_one_line_errors(home: Path) -> None:
    nothing = _handoff(home, "ledger", "retry")
    assert (
        nothing.returncode == 2 and nothing.stderr.strip() == "error: give ledger ids or --all-failed (one of the two)"
    )
    missing = _handoff(home, "ledger", "retry", "42")
    assert missing.returncode == 1 and missing.stderr.strip() == "error: no ledger entries 42"
    status = _handoff(home, "ledger", "list", "--status", "exploded")
    assert status.returncode == 2 and "unknown status 'exploded'" in status.stderr
    none = _handoff(home, "ingest", str(home / "nowhere.eml"))
    assert none.returncode == 2 and "no such file or folder" in none.stderr
    assert (
        _handoff(home, "ledger", "retry", "--all-failed", "--json").stdout.strip() == '{"retried": [], "entries": []}'
    )


def test_inbox_commands_are_registered() -> None:
    result = CliRunner().invoke(build_app(), ["inbox", "--help"])
    assert result.exit_code == 0 and "smtp" in result.stdout and "imap" in result.stdout
