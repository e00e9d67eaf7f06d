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
    assert client.get("/v1/tasks/nope", headers=pm).status_code == 404
    assert client.post(f"/v1/tasks/{ids[2]}/accept", headers=pm).status_code == 409

    with parts.sessions() as session:
        labels = session.execute(select(task_labels).where(task_labels.c.task_id.in_(ids))).all()
    by_action = {(row.task_id, row.action, row.field) for row in labels}
    assert (ids[0], "edit", "due") in by_action and (ids[0], "edit", "assignee") in by_action
    assert any(action == "accept" for task_id, action, _ in by_action if task_id == ids[0])
    assert any(action == "reject" for task_id, action, _ in by_action if task_id == ids[2])
    assert {row.reviewer for row in labels} == {f"key:{client.get('/v1/me', headers=pm).json()['key_id']}"}
