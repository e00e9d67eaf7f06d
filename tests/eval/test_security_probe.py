"""The adversarial probe stays working: its detectors catch what they are for, and a tiny run against a real
`handoff up` finds nothing (the committed numbers come from `python -m eval.security.probe`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eval.security import probe
from handoff.testing.http_receiver import HttpReceiver, ReceivedRequest, Reply

ROOT = Path(__file__).resolve().parents[2]


def test_an_undocumented_500_and_a_broken_connection_are_findings_and_a_promised_503_is_not() -> None:
    findings = probe.Findings()

    def answer(request: ReceivedRequest) -> Reply:
        return Reply(int(request.path.rsplit("/", 1)[1]), {"detail": "x"})

    with HttpReceiver() as server:
        server.check = answer
        http = probe.Http(server.url("").rstrip("/"), findings)
        documented = {"documented": {"200", "503"}, "path": "/status/{code}"}
        for status in (200, 404, 503, 500, 502):
            http.send(documented, "POST", f"/status/{status}", payload=str(status))
    http.send(documented, "GET", f"http://127.0.0.1:{probe._free_port()}/gone", payload="closed port")
    assert [e["status"] for e in findings.server_errors] == [500, 502, None]
    assert findings.requests == 6 and findings.documented_503 == {"POST /status/{code}": 1}


def test_a_lost_a_stuck_and_a_twice_processed_mail_are_each_counted(parts) -> None:
    from sqlalchemy import insert

    from handoff.intake import ledger as ledger_store
    from handoff.store.db import transaction
    from handoff.tasks.tables import task_links

    raw = probe._message("<seen@probe.example>", probe.STRANGER, "Fwd", "Please wire the refund.\n")
    with transaction(parts.sessions) as session:
        entry = ledger_store.record_arrival(session, raw_dir=parts.settings.raw_mail_dir, raw=raw, source="smtp")
        # What a second attempt at the same message leaves: its task link written again, row for row.
        link = {
            "task_id": "T-1",
            "ledger_id": entry.id,
            "how": "created",
            "evidence": "Please wire the refund.",
            "created_at": datetime.now(UTC),
        }
        session.execute(insert(task_links), [link, link])
    findings = probe.Findings()
    seen = probe.Mail("forged forward", probe.STRANGER, raw, "<seen@probe.example>", claimed_account=None)
    lost = probe.Mail("customer ask", "a@b.example", b"", "<never-stored@probe.example>", expected_account="A-1")
    probe.check_mails(parts, [seen, lost], findings)
    assert findings.lost == ["<never-stored@probe.example>"]
    assert [f["message_id"] for f in findings.failed_outcomes] == ["<seen@probe.example>"]  # not processed yet
    assert findings.duplicates == ["<seen@probe.example>: 1 task links written twice"]


def test_a_planted_secret_is_found_wherever_it_lands() -> None:
    findings = probe.Findings()
    probe.scan_secrets({"llm_key": "sk-live-abc"}, {"log": b"... Bearer sk-live-abc ...", "db": b"clean"}, findings)
    assert findings.secret_hits == [{"secret": "llm_key", "where": "log"}]


@pytest.mark.slow
@pytest.mark.services  # `handoff up` in a subprocess, killed with SIGKILL and restarted
@pytest.mark.timeout(900)
def test_a_tiny_probe_of_a_running_service_finds_nothing(tmp_path) -> None:
    results = tmp_path / "probe.json"
    sizes = {"FUZZ": "2", "MAILS": "15", "CRASH_MAILS": "30", "BIG_MAIL": "0", "TRAIN": "0", "RESULTS": str(results)}
    env = {**os.environ, **{f"HANDOFF_PROBE_{name}": value for name, value in sizes.items()}}
    done = subprocess.run([sys.executable, "-m", "eval.security.probe"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=880)  # fmt: skip
    result = json.loads(results.read_text())
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    counts = result["counts"]
    assert counts["requests"] > 300 and counts["mails_accepted"] > 15, counts
    assert result["checks"]["web_requests"] > 50 and result["checks"]["web_statuses"].get("200", 0) > 0  # signed in
    crash = result["crash"]
    assert 0 < crash["accepted_before_kill"] < crash["burst"], crash  # the kill really came mid-burst
    assert {k: counts[k] for k in ("5xx_not_documented", "role_matrix_mismatches", "lost", "duplicates",
            "misattributed", "secret_hits")} == dict.fromkeys(("5xx_not_documented", "role_matrix_mismatches",
            "lost", "duplicates", "misattributed", "secret_hits"), 0)  # fmt: skip
    # The planted secrets really were sent where they could leak from, so 0 hits means something.
    assert result["checks"]["llm_asked_with_key"] and result["checks"]["slack_called_on_secret_path"]
