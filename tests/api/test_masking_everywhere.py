"""Masking covers every free text the API returns (titles, notes, reasons, message ids), after NFKC, and known
contacts' bare local parts; every whole read of contact data in any field is audited (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import update
from typer.testing import CliRunner

from handoff.access import audit
from handoff.access.masking import ContactMask, distinctive_local_parts, mask_contact_data_in
from handoff.cli.main import build_app
from handoff.intake.tables import ledger
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.tasks.tables import task_extractions
from tests.api.test_risk_and_alerts_routes import _alert
from tests.tasks.test_service import draft, record, seed_roster

FULL_WIDTH = "ｊｅｎｎｉｆｅｒ＠ｅｘａｍｐｌｅ．ｃｏｍ"
SECRETS = ("jennifer.liu", "jennifer@example", "ｊｅｎｎｉｆｅｒ", "5551212", "ann.lee@acme")


def _seed(parts) -> None:
    seed_roster(parts)
    with transaction(parts.sessions) as session:
        session.execute(CRM_TABLES["accounts"].insert(), [{"id": "acc_1", "name": "Acme", "owner_id": "u_anna"}])
        session.execute(
            CRM_TABLES["contacts"].insert(),
            [{"id": "c_1", "account_id": "acc_1", "first_name": "Jennifer", "email": "Jennifer.Liu@example.com"}],
        )


def _audited(parts) -> list[tuple[str, str]]:
    with parts.sessions() as session:
        return [(e.subject, e.actor) for e in audit.list_entries(session) if e.action == audit.READ_CONTACT_DATA]


def _leaks(answer: dict) -> list[str]:
    text = json.dumps(answer, ensure_ascii=False)
    return [secret for secret in SECRETS if secret in text]


def test_every_text_of_a_task_is_masked_and_whole_reads_are_audited(client, make_key, auth, parts) -> None:
    _seed(parts)
    title = "Also send SOW to jennifer.liu"
    task_id = record(parts, [draft(title, evidence=f"Mail it to {FULL_WIDTH} or call +49 170 5551212.")]).created[0]
    with transaction(parts.sessions) as session:  # a note quoting mail, as the extractor writes them
        session.execute(
            update(task_extractions)
            .where(task_extractions.c.task_id == task_id)
            .values(notes=["asked by ann.lee@acme.com", {"quote": "ring ＋４９ １７０ ５５５１２１２"}])
        )
    pm, sales = make_key("pm"), make_key("sales")

    for answer in (
        client.get(f"/v1/tasks/{task_id}", headers=auth(pm)).json(),
        client.get("/v1/tasks", headers=auth(pm)).json(),
    ):
        assert _leaks(answer) == [], answer
    masked = client.get(f"/v1/tasks/{task_id}", headers=auth(pm)).json()
    assert masked["title"] == "Also send SOW to j***"
    assert "j***@example.com" in masked["evidence"] and masked["notes"][0] == "asked by a***@acme.com"
    assert _audited(parts) == []  # a masked read is no read of contact data

    whole = client.get(f"/v1/tasks/{task_id}", headers=auth(sales)).json()
    assert whole["title"] == title and FULL_WIDTH in whole["evidence"]
    assert whole["notes"][0] == "asked by ann.lee@acme.com"
    assert [subject for subject, _ in _audited(parts)] == [f"task:{task_id}"]


def test_ledger_reasons_errors_and_message_ids_are_masked_and_audited(client, make_key, auth, parts) -> None:
    mail = (
        b"From: Eve <eve@evil.example>\r\nTo: tasks@handoff.local\r\nSubject: hi\r\n"
        b"Message-ID: <jennifer.liu.1@example.com>\r\n\r\nPlease send the plan.\r\n"
    )
    integration, admin = make_key("integration"), make_key("admin")
    entry_id = client.post(
        "/v1/emails", content=mail, headers={**auth(integration), "Content-Type": "message/rfc822"}
    ).json()["id"]
    with transaction(parts.sessions) as session:  # what the worker writes when it refuses a forged header
        session.execute(
            update(ledger)
            .where(ledger.c.id == entry_id)
            .values(
                reason="forward not trusted: the block names jennifer.liu@example.com",
                error="could not link ann.lee@acme.com (+49 170 5551212)",
            )
        )
    masked = client.get(f"/v1/ledger/{entry_id}", headers=auth(integration)).json()
    assert _leaks(masked) == [], masked
    assert masked["reason"] == "forward not trusted: the block names j***@example.com"
    assert masked["message_id"] == "<j***@example.com>"
    assert _leaks(client.get("/v1/ledger", headers=auth(integration)).json()) == []
    assert _audited(parts) == []
    whole = client.get(f"/v1/ledger/{entry_id}", headers=auth(admin)).json()
    assert "ann.lee@acme.com" in whole["error"] and whole["message_id"] == "<jennifer.liu.1@example.com>"
    assert [subject for subject, _ in _audited(parts)] == [f"ledger:{entry_id}"]


def test_snooze_reasons_and_resolution_notes_are_masked_and_whole_reads_audited(client, make_key, auth, parts):
    _seed(parts)
    _alert(parts, "al-1", "acc_1", "u_anna")
    owner, pm = make_key("account_owner", owner_id="u_anna"), make_key("pm")
    until = (date.today() + timedelta(days=7)).isoformat()
    reason = f"Jennifer is on leave, call jennifer.liu's deputy on +49 170 5551212 or {FULL_WIDTH}"
    snoozed = client.post("/v1/alerts/al-1/snooze", json={"until": until, "reason": reason}, headers=auth(owner))
    assert snoozed.status_code == 200, snoozed.text
    assert snoozed.json()["snooze_reason"] == reason  # the owner wrote it, on their own account: whole, audited
    assert [s for s, _ in _audited(parts)] == ["alert:al-1"]

    for path in ("/v1/alerts/al-1", "/v1/alerts"):
        answer = client.get(path, headers=auth(pm)).json()
        assert _leaks(answer) == [], answer
    assert [s for s, _ in _audited(parts)] == ["alert:al-1"]  # the PM's masked reads are not audited

    resolved = client.post(
        "/v1/alerts/al-1/resolve", json={"note": "sorted with ann.lee@acme.com"}, headers=auth(owner)
    )
    assert resolved.json()["resolution_note"] == "sorted with ann.lee@acme.com"
    assert client.get("/v1/alerts/al-1", headers=auth(pm)).json()["resolution_note"] == "sorted with a***@acme.com"
    assert [s for s, _ in _audited(parts)] == ["alert:al-1", "alert:al-1"]


def test_masking_matches_after_nfkc_and_keeps_the_rest_as_written() -> None:
    assert mask_contact_data_in(f"Ｈｉ — write {FULL_WIDTH}!") == "Ｈｉ — write j***@example.com!"
    assert mask_contact_data_in("call ＋４９ １７０ ５５５１２１２ now") == "call +49 *** ** 12 now"
    assert mask_contact_data_in("jennifer [at] example [dot] com") == "j***@example.com"
    assert mask_contact_data_in("o'brien@acme.com and jose\u0301@acme.com") == "o***@acme.com and j***@acme.com"
    known = ContactMask(distinctive_local_parts(["Jennifer.Liu@example.com", "info@acme.com", None]))
    # A plain word that is also someone's local part ("info") stays: only distinctive ones are masked.
    assert known.text("Send to JENNIFER.LIU. Ask the info desk.") == "Send to J***. Ask the info desk."
    assert known.text("jennifer.liu@example.com") == "j***@example.com"
    assert not known.finds("Ask the info desk on 2026-12-04") and known.finds(["x", {"y": "jennifer.liu"}])


def _cli(parts, *args: str):
    env = {"HANDOFF_HOME": str(parts.settings.home), "HANDOFF_DATABASE_URL": parts.settings.resolved_database_url}
    result = CliRunner().invoke(build_app(), list(args), env=env)
    assert result.exit_code == 0, result.output
    return result


def test_the_cli_ledger_listing_masks_as_the_api_does_and_audits_a_whole_read(client, make_key, auth, parts):
    _seed(parts)  # a known contact, so the bare "jennifer.liu" is masked too
    mail = (
        b"From: Jennifer Liu <jennifer.liu@example.com>\r\nTo: tasks@handoff.local\r\nSubject: call +49 170 5551212\r\n"
        b"Message-ID: <jennifer.liu.1@example.com>\r\n\r\nPlease send the plan.\r\n"
    )
    raw = {**auth(make_key("integration")), "Content-Type": "message/rfc822"}
    entry_id = client.post("/v1/emails", content=mail, headers=raw).json()["id"]
    with transaction(parts.sessions) as session:
        session.execute(
            update(ledger)
            .where(ledger.c.id == entry_id)
            .values(
                outcome="spam",
                status="processed",
                reason=f"forgery: the block names jennifer.liu, {FULL_WIDTH}",
                details={"forward_not_trusted": {"claimed_sender": "ann.lee@acme.com"}},
            )
        )
    api = client.get(f"/v1/ledger/{entry_id}", headers=raw).json()

    listed = json.loads(_cli(parts, "ledger", "list", "--json").stdout)
    entry = listed["entries"][0]
    assert _leaks(listed) == [], listed
    assert {name: entry[name] for name in ("sender", "subject", "reason", "message_id")} == {
        name: api[name] for name in ("sender", "subject", "reason", "message_id")
    }
    assert entry["details"] == {"forward_not_trusted": {"claimed_sender": "a***@acme.com"}}
    table = _cli(parts, "ledger", "list").output
    assert "j***@example.com" in table and _leaks({"table": table}) == []
    assert _audited(parts) == []  # masked reads are no reads of contact data

    whole = json.loads(_cli(parts, "ledger", "list", "--json", "--show-contact-data", "--actor", "ops").stdout)
    assert whole["entries"][0]["message_id"] == "<jennifer.liu.1@example.com>"
    assert whole["entries"][0]["details"]["forward_not_trusted"]["claimed_sender"] == "ann.lee@acme.com"
    assert _audited(parts) == [(f"ledger:{entry_id}", "cli:ops")]

    released = _cli(parts, "ledger", "release", str(entry_id), "--no-process", "--json").stdout
    assert _leaks(json.loads(released)) == [], released


def test_the_cli_alert_listing_masks_as_the_api_does_and_audits_a_whole_read(client, make_key, auth, parts):
    _seed(parts)
    _alert(parts, "al-1", "acc_1", "u_anna")
    until = (date.today() + timedelta(days=7)).isoformat()
    reason = f"Jennifer is on leave, call jennifer.liu's deputy on +49 170 5551212 or {FULL_WIDTH}"
    snoozed = _cli(parts, "alerts", "snooze", "al-1", "--until", until, "--reason", reason, "--json").stdout
    assert _leaks(json.loads(snoozed)) == [], snoozed
    api = client.get("/v1/alerts/al-1", headers=auth(make_key("pm"))).json()

    listed = json.loads(_cli(parts, "alerts", "list", "--json").stdout.splitlines()[0])
    assert listed["snooze_reason"] == api["snooze_reason"] != reason and _leaks(listed) == []
    assert _audited(parts) == []
    whole = json.loads(_cli(parts, "alerts", "list", "--json", "--show-contact-data").stdout.splitlines()[0])
    assert whole["snooze_reason"] == reason
    assert _audited(parts) == [("alert:al-1", "cli:cli")]

    resolved = _cli(parts, "alerts", "resolve", "al-1", "--note", "sorted with ann.lee@acme.com", "--json").stdout
    assert json.loads(resolved)["resolution_note"] == "sorted with a***@acme.com"
