"""The review queue through HTTP: list, filter, get, edit, accept, reject; each correction a label (both stores)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from handoff.tasks.tables import task_labels
from tests.tasks.test_service import draft, record, seed_roster


def test_a_pm_reviews_suggested_tasks_and_every_correction_is_a_label(client, make_key, auth, parts) -> None:
    seed_roster(parts)
    ids = record(
        parts,
        [
            draft("Send revised SOW", evidence="Could you send the revised SOW to jane@acme.com?"),
            draft("Fix nightly export job"),
            draft("Thanks for the call"),
        ],
    ).created
    pm, sales = auth(make_key("pm")), auth(make_key("sales"))

    queue = client.get("/v1/tasks?status=suggested&account_id=acc_1", headers=pm)
    assert queue.status_code == 200, queue.text
    assert {t["id"] for t in queue.json()["tasks"]} == set(ids) and queue.json()["total"] == 3
    one_page = client.get("/v1/tasks?status=suggested&limit=1&offset=1", headers=pm).json()
    assert len(one_page["tasks"]) == 1 and one_page["total"] == 3
    assert client.get("/v1/tasks?account_id=someone-else", headers=pm).json() == {"tasks": [], "total": 0}
    first = client.get(f"/v1/tasks/{ids[0]}", headers=sales).json()
    assert datetime.fromisoformat(first["created_at"]).utcoffset() == timedelta(0)  # RFC 3339, UTC
    assert first["fields"]["title"]["evidence"] == "Could you send the revised SOW to jane@acme.com?"
    # A role without the contact-data right (a PM) sees the quoted mail with addresses masked.
    masked = client.get(f"/v1/tasks/{ids[0]}", headers=pm).json()
    assert "jane@acme.com" not in masked["evidence"] and "j***@acme.com" in masked["fields"]["title"]["evidence"]

    edited = client.patch(f"/v1/tasks/{ids[0]}", json={"due_date": "2026-03-06", "assignee_id": "u_anna"}, headers=pm)
    assert edited.status_code == 200, edited.text
    assert edited.json()["due_date"] == "2026-03-06" and edited.json()["assignee_id"] == "u_anna"
    assert client.post(f"/v1/tasks/{ids[0]}/accept", headers=pm).json()["status"] == "open"
    rejected = client.post(f"/v1/tasks/{ids[2]}/reject", json={"reason": "a thank-you"}, headers=pm)
    assert rejected.json()["status"] == "rejected"

    # Bad input gets a clear error, never a 500; a decided task cannot be decided again.
    assert client.patch(f"/v1/tasks/{ids[1]}", json={"priority": "whenever"}, headers=pm).status_code == 422
    assert client.patch(f"/v1/tasks/{ids[1]}", json={"colour": "red"}, headers=pm).status_code == 422
    unknown_account = client.patch(f"/v1/tasks/{ids[1]}", json={"account_id": "A-NOPE"}, headers=pm)
    assert unknown_account.status_code == 400 and "A-NOPE" in unknown_account.json()["detail"]
    assert client.get("/v1/tasks/nope", headers=pm).status_code == 404
    assert client.post(f"/v1/tasks/{ids[2]}/accept", headers=pm).status_code == 409

    with parts.sessions() as session:
        labels = session.execute(select(task_labels).where(task_labels.c.task_id.in_(ids))).all()
    by_action = {(row.task_id, row.action, row.field) for row in labels}
    assert (ids[0], "edit", "due") in by_action and (ids[0], "edit", "assignee") in by_action
    assert any(action == "accept" for task_id, action, _ in by_action if task_id == ids[0])
    assert any(action == "reject" for task_id, action, _ in by_action if task_id == ids[2])
    assert {row.reviewer for row in labels} == {f"key:{client.get('/v1/me', headers=pm).json()['key_id']}"}


def test_contact_details_in_tasks_are_masked_by_role_and_owner_and_whole_reads_are_audited(
    client, make_key, auth, parts
) -> None:
    from handoff.access import audit
    from handoff.store.crm_tables import CRM_TABLES
    from handoff.store.db import transaction

    seed_roster(parts)
    with transaction(parts.sessions) as session:
        session.execute(CRM_TABLES["accounts"].insert(), [{"id": "acc_1", "name": "Acme", "owner_id": "u_anna"}])
    quote = "Mail jörg@müller.de the contract, or call +49 170 5551212 before 2026-12-04."
    task_id = record(parts, [draft("Call jörg@müller.de back", evidence=quote)]).created[0]
    quiet_id = record(parts, [draft("Fix nightly export job")], ledger_id=2).created[0]

    def task(role: str, owner_id: str | None = None) -> dict:
        answer = client.get(f"/v1/tasks/{task_id}", headers=auth(make_key(role, owner_id)))
        assert answer.status_code == 200, answer.text
        return answer.json()

    def texts(view: dict) -> str:
        return " ".join(
            [view["title"], view["description"], view["evidence"]]
            + [str(found["value"]) + found["evidence"] for found in view["fields"].values()]
        )

    def audited() -> list[str]:
        with parts.sessions() as session:
            return [e.subject for e in audit.list_entries(session) if e.action == audit.READ_CONTACT_DATA]

    # Without the right (a PM): every address and number masked, in every text the task carries, the title and the
    # fields' values included; dates stay readable. An account owner on someone else's account does not see the task.
    other_owner = client.get(f"/v1/tasks/{task_id}", headers=auth(make_key("account_owner", "u_ben")))
    assert other_owner.status_code == 404
    for view in (task("pm"),):
        assert "jörg@müller.de" not in texts(view) and "5551212" not in texts(view)
        assert "j***@müller.de" in view["title"] and "+49 *** ** 12" in view["evidence"]
        assert "2026-12-04" in view["evidence"]
    assert audited() == []  # a masked read is no read of contact data

    # With it (sales; the account's own owner): whole, and each read is in the audit log.
    assert "jörg@müller.de" in task("sales")["title"]
    assert "+49 170 5551212" in task("account_owner", "u_anna")["evidence"]
    assert audited() == [f"task:{task_id}", f"task:{task_id}"]
    sales = auth(make_key("sales"))
    assert client.get("/v1/tasks", headers=sales).status_code == 200  # lists both; only one holds contact data
    assert audited().count(f"task:{task_id}") == 3 and f"task:{quiet_id}" not in audited()


def test_a_due_date_beyond_what_the_models_can_read_is_refused(client, make_key, auth, parts) -> None:
    seed_roster(parts)
    task_id = record(parts, [draft("Archive the contract")]).created[0]
    pm = auth(make_key("pm"))
    for far in ("9999-12-31", "0001-01-01"):
        answer = client.patch(f"/v1/tasks/{task_id}", json={"due_date": far}, headers=pm)
        assert answer.status_code == 422, answer.text
    assert client.patch(f"/v1/tasks/{task_id}", json={"due_date": "2031-01-31"}, headers=pm).status_code == 200


def test_values_the_database_cannot_hold_are_bad_input_on_both_stores(client, make_key, auth, parts) -> None:
    """PostgreSQL refuses NUL characters in text and values over a column's length; each once answered 500."""
    seed_roster(parts)
    task_id = record(parts, [draft("Send revised SOW")]).created[0]
    pm = auth(make_key("pm"))
    on_postgres = parts.engine.dialect.name == "postgresql"
    assert client.patch(f"/v1/tasks/{task_id}", json={"title": "t" * 300}, headers=pm).status_code == 422
    with_nul = client.patch(f"/v1/tasks/{task_id}", json={"description": "a\x00b"}, headers=pm)
    assert with_nul.status_code == (400 if on_postgres else 200), with_nul.text
    if on_postgres:
        assert with_nul.json()["error"] == "InvalidInput" and "NUL" in with_nul.json()["detail"]
    listed = client.get("/v1/tasks", params={"account_id": "acc\x001"}, headers=pm)
    assert listed.status_code == (400 if on_postgres else 200), listed.text
    kept = client.get(f"/v1/tasks/{task_id}", headers=pm).json()["description"]
    assert kept == ("Send revised SOW" if on_postgres else "a\x00b")  # refused whole, nothing half-written


def test_task_views_name_the_assignee_from_the_roster_or_as_written_and_the_queue_is_newest_first(
    client, make_key, auth, parts
) -> None:
    from dataclasses import replace

    from handoff.extraction.model import Found

    seed_roster(parts)
    on_roster = record(parts, [draft("Send revised SOW", assignee_id="u_anna")]).created[0]
    left = record(parts, [draft("Archive the old plan", assignee_id="u_old")]).created[0]  # no longer active
    written = replace(draft("Book the workshop"), assignee=Found("Dana from Acme", 0.7, "Dana from Acme books it"))
    as_written = record(parts, [written]).created[0]
    nobody = record(parts, [draft("Share the minutes")]).created[0]
    queue = client.get("/v1/tasks?status=suggested", headers=auth(make_key("pm"))).json()["tasks"]
    assert [task["id"] for task in queue] == [nobody, as_written, left, on_roster]  # newest first
    named = {task["id"]: (task["assignee_id"], task["assignee_name"], task["assignee"]) for task in queue}
    assert named == {
        on_roster: ("u_anna", None, "Anna Schmidt"),
        left: ("u_old", None, "Old Timer"),
        as_written: (None, "Dana from Acme", "Dana from Acme"),
        nobody: (None, None, None),
    }
    one = client.get(f"/v1/tasks/{on_roster}", headers=auth(make_key("sales"))).json()
    assert one["assignee"] == "Anna Schmidt"
