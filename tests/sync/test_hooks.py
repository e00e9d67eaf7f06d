"""The webhooks, signed, wrongly signed and replayed, on SQLite and PostgreSQL; the mapping API and its use by push."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sync_vendors import JIRA_OTHER_PROJECT
from test_push import run_push

from handoff.access.keys import create_key
from handoff.api.app import create_app
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.sync.inbound import asana_signature, jira_signature, trello_signature
from handoff.sync.tables import sync_deliveries, sync_hook_secrets

PAYLOADS = json.loads((Path(__file__).parent / "hook_payloads.json").read_text(encoding="utf-8"))
JIRA_SECRET, TRELLO_SECRET = "jira-hook-secret-0123", "trello-app-secret-0123"
CALLBACK = "https://handoff.example/v1/hooks/trello"


@pytest.fixture
def client(sync_parts):
    sync = sync_parts.settings.sync
    sync.jira.webhook_secret = SecretStr(JIRA_SECRET)
    sync.trello.secret, sync.trello.callback_url = SecretStr(TRELLO_SECRET), CALLBACK
    with TestClient(create_app(parts=sync_parts, models={}, key_cache_ttl_s=0)) as running:
        yield running


def _body(name: str, **ids: str) -> bytes:
    text = json.dumps(PAYLOADS[name]["body"])
    for placeholder, value in ids.items():
        text = text.replace(placeholder, value)
    return text.encode()


def _status(parts, task_id: str) -> str:
    tasks = CRM_TABLES["tasks"]
    with parts.sessions() as session:
        return session.execute(select(tasks.c.status).where(tasks.c.id == task_id)).scalar_one()


def _count(parts, table) -> int:
    with parts.sessions() as session:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def test_jira_signed_wrongly_signed_replayed_and_stale(client, sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task(targets=("jira",))
    run_push(sync_parts)
    issue = vendors.items["jira"][0]
    body = _body("jira_issue_updated", ISSUE_ID=issue["id"], ISSUE_KEY=issue["key"])
    wrong = client.post("/v1/hooks/jira", content=body, headers={"X-Hub-Signature": jira_signature("guess", body)})
    unsigned = client.post("/v1/hooks/jira", content=body)
    assert wrong.status_code == unsigned.status_code == 401 and wrong.json()["error"] == "BadSignature"
    assert _status(sync_parts, task_id) == "open" and _count(sync_parts, sync_deliveries) == 0
    headers = {"X-Hub-Signature": jira_signature(JIRA_SECRET, body), "X-Atlassian-Webhook-Identifier": "d-1"}
    applied = client.post("/v1/hooks/jira", content=body, headers=headers)
    assert applied.status_code == 200 and applied.json() == {"outcome": "applied", "task_ids": [task_id]}
    assert _status(sync_parts, task_id) == "done"
    # The same delivery again, after a person reopened the task in handoff: recorded as a duplicate, nothing changes.
    with transaction(sync_parts.sessions) as session:
        session.execute(CRM_TABLES["tasks"].update().values(status="open"))
    again = client.post("/v1/hooks/jira", content=body, headers=headers)
    assert again.json()["outcome"] == "duplicate" and _status(sync_parts, task_id) == "open"
    # An older change delivered late (another delivery id) is stale.
    older = json.loads(body)
    older["issue"]["fields"] |= {"status": {"statusCategory": {"key": "new"}}, "updated": "2026-03-19T10:00:00.000Z"}
    late = json.dumps(older).encode()
    headers = {"X-Hub-Signature": jira_signature(JIRA_SECRET, late), "X-Atlassian-Webhook-Identifier": "d-0"}
    assert client.post("/v1/hooks/jira", content=late, headers=headers).json()["outcome"] == "stale"
    # Odd bodies, signed: a clear 4xx or ignored, never a 500.
    for odd in (b"not json", b"[]", b'{"webhookEvent": "jira:issue_updated", "issue": {"id": [1]}}', b"\xff"):
        answer = client.post(
            "/v1/hooks/jira", content=odd, headers={"X-Hub-Signature": jira_signature(JIRA_SECRET, odd)}
        )
        assert answer.status_code in (200, 400), answer.text
    assert _count(sync_parts, sync_deliveries) == 4  # d-1, d-0, and the two JSON odd bodies (ignored)


def test_asana_handshake_then_signed_events(client, sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task(targets=("asana",))
    run_push(sync_parts)
    gid = vendors.items["asana"][0]["gid"]
    secret = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81"
    shake = client.post("/v1/hooks/asana", content=b"", headers={"X-Hook-Secret": secret})
    assert shake.status_code == 200 and shake.headers["X-Hook-Secret"] == secret
    assert _count(sync_parts, sync_hook_secrets) == 1
    assert client.post("/v1/hooks/asana", content=b"", headers={"X-Hook-Secret": "other"}).status_code == 409
    vendors.change("asana", gid, completed=True)
    body = _body("asana_events", TASK_GID=gid)
    bad = client.post("/v1/hooks/asana", content=body, headers={"X-Hook-Signature": asana_signature("x", body)})
    assert bad.status_code == 401 and _status(sync_parts, task_id) == "open"
    headers = {"X-Hook-Signature": asana_signature(secret, body)}
    assert client.post("/v1/hooks/asana", content=body, headers=headers).json()["outcome"] == "applied"
    assert _status(sync_parts, task_id) == "done"
    assert client.post("/v1/hooks/asana", content=body, headers=headers).json()["outcome"] == "duplicate"
    beat = b'{"events": []}'  # Asana's heartbeat
    answer = client.post("/v1/hooks/asana", content=beat, headers={"X-Hook-Signature": asana_signature(secret, beat)})
    assert answer.json()["outcome"] == "ignored"


def test_trello_head_check_signed_wrongly_signed_and_replayed(client, sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task(targets=("trello",))
    run_push(sync_parts)
    assert client.head("/v1/hooks/trello").status_code == 200
    body = _body("trello_update_card", CARD_ID=vendors.items["trello"][0]["id"])
    wrong_url = trello_signature(TRELLO_SECRET, body, "https://elsewhere.example/hook")
    assert client.post("/v1/hooks/trello", content=body, headers={"X-Trello-Webhook": wrong_url}).status_code == 401
    assert _status(sync_parts, task_id) == "open"
    headers = {"X-Trello-Webhook": trello_signature(TRELLO_SECRET, body, CALLBACK)}
    assert client.post("/v1/hooks/trello", content=body, headers=headers).json()["outcome"] == "applied"
    assert _status(sync_parts, task_id) == "done"
    assert client.post("/v1/hooks/trello", content=body, headers=headers).json()["outcome"] == "duplicate"
    with sync_parts.sessions() as session:
        outcomes = dict(session.execute(select(sync_deliveries.c.delivery_id, sync_deliveries.c.outcome)).all())
    assert outcomes == {"59bc8e2ddbd7af0e1474fb0e": "applied"}


def test_the_mapping_api_is_for_admins_and_the_push_follows_it(client, sync_parts, vendors, accepted_task) -> None:
    with transaction(sync_parts.sessions) as session:
        admin, _ = create_key(session, role="admin", name="admin")
        pm, _ = create_key(session, role="pm", name="pm")
    as_admin, as_pm = ({"Authorization": f"Bearer {key}"} for key in (admin, pm))
    mapping = {"jira": {"accounts": {"acc_1": JIRA_OTHER_PROJECT}}}
    assert client.put("/v1/sync/mapping", json=mapping, headers=as_pm).status_code == 403
    assert client.get("/v1/sync/mapping", headers=as_pm).status_code == 403
    refused = client.put("/v1/sync/mapping", json={"jira": {"accounts": {"acc_1": "not a key"}}}, headers=as_admin)
    assert refused.status_code == 400 and "no jira destination" in refused.json()["detail"]
    saved = client.put("/v1/sync/mapping", json=mapping, headers=as_admin)
    assert saved.status_code == 200 and saved.json()["jira"] == mapping["jira"]
    assert client.get("/v1/sync/mapping", headers=as_admin).json()["jira"] == mapping["jira"]
    written = yaml.safe_load((sync_parts.settings.resolved_home / "sync.yaml").read_text())
    assert written == mapping
    accepted_task(targets=("jira",))  # on account acc_1
    from handoff.sync.mapping_file import mapping_path
    from handoff.sync.outbox import push

    push(sync_parts.sessions, sync_parts.settings.sync, mapping_path=mapping_path(sync_parts.settings))
    assert [issue["key"].split("-")[0] for issue in vendors.items["jira"]] == [JIRA_OTHER_PROJECT]


def test_a_jira_assignee_whose_email_is_hidden_comes_back_through_the_mapping(
    client, sync_parts, vendors, accepted_task
) -> None:
    from sync_vendors import JIRA_HIDDEN

    task_id = accepted_task(targets=("jira",))
    with transaction(sync_parts.sessions) as session:
        session.execute(
            CRM_TABLES["team_members"].insert(),
            [{"id": "tm_bo", "name": "Bo Tanaka", "email": "bo@ourco.example", "active": True}],
        )
    run_push(sync_parts)
    issue = vendors.items["jira"][0]
    payload = json.loads(_body("jira_issue_updated", ISSUE_ID=issue["id"], ISSUE_KEY=issue["key"]))
    payload["issue"]["fields"]["assignee"] = {"accountId": JIRA_HIDDEN["bo@ourco.example"]}  # no emailAddress
    payload["issue"]["fields"]["status"] = {"name": "To Do", "statusCategory": {"key": "new"}}
    body = json.dumps(payload).encode()

    def deliver(delivery: str) -> str:
        headers = {"X-Hub-Signature": jira_signature(JIRA_SECRET, body), "X-Atlassian-Webhook-Identifier": delivery}
        return client.post("/v1/hooks/jira", content=body, headers=headers).json()["outcome"]

    assignee = select(CRM_TABLES["tasks"].c.assignee_id).where(CRM_TABLES["tasks"].c.id == task_id)
    assert deliver("hidden-1") == "unchanged"  # unmapped: the assignee stays unknown, nothing changes
    sync_parts.settings.sync.jira.account_ids = {"bo@ourco.example": JIRA_HIDDEN["bo@ourco.example"]}
    assert deliver("hidden-2") == "applied"
    with sync_parts.sessions() as session:
        assert session.execute(assignee).scalar_one() == "tm_bo"


def test_an_edit_through_the_api_puts_the_pushed_links_back_in_the_outbox(
    client, sync_parts, vendors, accepted_task
) -> None:
    task_id = accepted_task()
    run_push(sync_parts)
    with transaction(sync_parts.sessions) as session:
        key, _ = create_key(session, role="pm", name="pm")
    headers = {"Authorization": f"Bearer {key}"}
    answer = client.patch(f"/v1/tasks/{task_id}", json={"due_date": "2026-06-30"}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert {entry["status"] for entry in answer.json()["sync"]} == {"pending"}
    run_push(sync_parts)
    shown = client.get(f"/v1/tasks/{task_id}", headers=headers).json()["sync"]
    assert {entry["status"] for entry in shown} == {"sent"} and all(entry["url"] for entry in shown)
    assert vendors.items["jira"][0]["fields"]["duedate"] == "2026-06-30"
    assert vendors.items["asana"][0]["due_on"] == "2026-06-30"
    assert vendors.items["trello"][0]["due"].startswith("2026-06-30T")


def test_a_trello_member_added_to_a_card_becomes_the_tasks_assignee(client, sync_parts, vendors, accepted_task) -> None:
    """A member action names the member, not the card's members after it: the card is read back, and its member
    matched to the roster by the board's names."""
    task_id = accepted_task(targets=("trello",))
    with transaction(sync_parts.sessions) as session:
        session.execute(
            CRM_TABLES["team_members"].insert(),
            [{"id": "tm_bo", "name": "Bo Tanaka", "email": "bo@ourco.example", "active": True}],
        )
    run_push(sync_parts)
    card = vendors.items["trello"][0]
    bo = "5f00000000000000000000bb"
    vendors.change("trello", card["id"], idMembers=bo)
    body = _body("trello_add_member", CARD_ID=card["id"], MEMBER_ID=bo)
    headers = {"X-Trello-Webhook": trello_signature(TRELLO_SECRET, body, CALLBACK)}
    assert client.post("/v1/hooks/trello", content=body, headers=headers).json()["outcome"] == "applied"
    assert client.post("/v1/hooks/trello", content=body, headers=headers).json()["outcome"] == "duplicate"
    tasks = CRM_TABLES["tasks"]
    with sync_parts.sessions() as session:
        assert session.execute(select(tasks.c.assignee_id).where(tasks.c.id == task_id)).scalar_one() == "tm_bo"
