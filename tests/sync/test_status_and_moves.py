"""A task closed, reopened or moved in handoff closes, reopens or moves its items once, through the outbox; the
tools' own report of that change back is no change (no echo); Jira, which moves nothing, says so on the link."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sync_vendors import (
    ASANA_OTHER_PROJECT,
    JIRA_OTHER_PROJECT,
    JIRA_STATUSES,
    TRELLO_DONE_LIST,
    TRELLO_LIST,
    TRELLO_OTHER_LIST,
    Fault,
)
from test_push import ALL, rows, run_push

from handoff.access.keys import create_key
from handoff.api.app import create_app
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.sync.outbox import close_connectors, configured_connectors, push_pending, roster_of
from handoff.sync.pullback import pull_linked
from handoff.tasks.service import edit_task, set_task_status

TRANSITIONS = "/rest/api/3/issue/{}/transitions"


def _status(parts, task_id: str, status: str) -> None:
    with transaction(parts.sessions) as session:
        set_task_status(session, task_id, status)


def _task_status(parts, task_id: str) -> str:
    with parts.sessions() as session:
        tasks = CRM_TABLES["tasks"]
        return session.execute(tasks.select().where(tasks.c.id == task_id)).one().status


def _remote_done(vendors, vendor: str) -> bool:
    item = vendors.items[vendor][0]
    if vendor == "jira":
        return item["fields"].get("status", JIRA_STATUSES["11"])["statusCategory"]["key"] == "done"
    if vendor == "asana":
        return item.get("completed") is True
    return item.get("dueComplete") in (True, "true")


def _pull(parts):
    connectors = configured_connectors(parts.settings.sync, roster=roster_of(parts.sessions))
    try:
        return pull_linked(parts.sessions, connectors)
    finally:
        close_connectors(connectors)


def _push_mapped(parts, mapping: dict):
    connectors = configured_connectors(parts.settings.sync, roster=roster_of(parts.sessions))
    try:
        return push_pending(parts.sessions, connectors, settle_s=0.0, sleep=lambda _: None, mapping=mapping)
    finally:
        close_connectors(connectors)


def test_closing_and_reopening_reach_every_tool_once_without_echo(sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task()
    run_push(sync_parts)
    _status(sync_parts, task_id, "done")
    assert {row["status"] for row in rows(sync_parts, task_id).values()} == {"pending"}
    report = run_push(sync_parts)
    assert sorted((o.target, o.status) for o in report.outcomes) == [(t, "sent") for t in sorted(ALL)]
    assert vendors.violations == []
    assert [_remote_done(vendors, vendor) for vendor in ALL] == [True, True, True]
    issue = vendors.items["jira"][0]
    assert vendors.count("jira", "POST", TRANSITIONS.format(issue["id"])) == 1
    assert all(row["remote_state"]["status"] == "done" for row in rows(sync_parts, task_id).values())
    # The tools' own report of the close is handoff's change coming back: nothing changes, nothing is sent.
    pulled = _pull(sync_parts)
    assert pulled.counts.get("applied", 0) == 0 and _task_status(sync_parts, task_id) == "done"
    assert run_push(sync_parts).outcomes == []
    # The same status again is no change; a reopen reopens each item once.
    _status(sync_parts, task_id, "done")
    assert {row["status"] for row in rows(sync_parts, task_id).values()} == {"sent"}
    _status(sync_parts, task_id, "open")
    run_push(sync_parts)
    assert [_remote_done(vendors, vendor) for vendor in ALL] == [False, False, False]
    assert issue["fields"]["status"]["statusCategory"]["key"] == "new"  # To Do, not In Progress
    assert vendors.count("jira", "POST", TRANSITIONS.format(issue["id"])) == 2
    assert _pull(sync_parts).counts.get("applied", 0) == 0 and _task_status(sync_parts, task_id) == "open"
    assert vendors.violations == []


def test_a_task_closed_before_its_first_push_is_made_then_closed(sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task()
    _status(sync_parts, task_id, "done")
    report = run_push(sync_parts)
    assert [(o.status, o.created) for o in report.outcomes] == [("sent", True)] * 3
    assert [len(vendors.items[vendor]) for vendor in ALL] == [1, 1, 1]
    assert [_remote_done(vendors, vendor) for vendor in ALL] == [True, True, True]
    assert vendors.violations == []


@pytest.mark.parametrize("vendor", ALL)
def test_a_close_whose_answer_is_lost_is_not_made_twice(sync_parts, vendors, accepted_task, vendor) -> None:
    task_id = accepted_task(targets=(vendor,))
    run_push(sync_parts)
    item = vendors.items[vendor][0]
    where = {
        "jira": ("POST", TRANSITIONS.format(item.get("id"))),
        "asana": ("PUT", f"/api/1.0/tasks/{item.get('gid')}"),
        "trello": ("PUT", f"/1/cards/{item.get('id')}"),
    }[vendor]
    vendors.fail(vendor, Fault(drop=True, after=True), method=where[0], path=where[1])
    _status(sync_parts, task_id, "done")
    first = run_push(sync_parts)
    if vendor == "jira":  # a POST whose answer is lost waits for the next round, which reads the status first
        assert [o.status for o in first.outcomes] == ["pending"]
        run_push(sync_parts, at=first_retry(sync_parts, task_id, vendor))
    assert rows(sync_parts, task_id)[vendor]["status"] == "sent"
    assert _remote_done(vendors, vendor)
    if vendor == "jira":
        assert vendors.count("jira", *where) == 1  # the second round found it done and made no transition
    assert vendors.violations == []


def first_retry(parts, task_id: str, vendor: str):
    from handoff.clock import as_utc

    return as_utc(rows(parts, task_id)[vendor]["next_attempt_at"])


def test_a_jira_workflow_without_a_done_transition_is_refused_by_name(sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task(targets=("jira",))
    run_push(sync_parts)
    vendors.jira_transitions.pop("31")
    _status(sync_parts, task_id, "done")
    report = run_push(sync_parts)
    assert [o.status for o in report.outcomes] == ["failed"]
    assert "no transition" in report.outcomes[0].error and "--retry-failed" in report.outcomes[0].error
    assert not _remote_done(vendors, "jira")


def test_a_close_in_the_tool_still_comes_back_and_is_not_sent_out_again(sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task(targets=("asana",))
    run_push(sync_parts)
    vendors.change("asana", vendors.items["asana"][0]["gid"], completed=True)
    assert _pull(sync_parts).counts.get("applied") == 1
    assert _task_status(sync_parts, task_id) == "done"
    assert rows(sync_parts, task_id)["asana"]["status"] == "sent"  # the tool's change is not an edit to send
    assert run_push(sync_parts).outcomes == []


def test_a_moved_task_moves_its_asana_and_trello_items_and_jira_says_it_cannot(
    sync_parts, vendors, accepted_task
) -> None:
    with transaction(sync_parts.sessions) as session:
        session.execute(CRM_TABLES["projects"].insert(), [{"id": "prj_2", "account_id": "acc_1", "name": "Rollout"}])
    task_id = accepted_task()
    mapping = {
        "jira": {"projects": {"prj_2": JIRA_OTHER_PROJECT}},
        "asana": {"projects": {"prj_2": ASANA_OTHER_PROJECT}},
        "trello": {"projects": {"prj_2": TRELLO_OTHER_LIST}},
    }
    _push_mapped(sync_parts, mapping)
    with transaction(sync_parts.sessions) as session:
        edit_task(session, task_id, {"project_id": "prj_2"}, "reviewer@ourco.example")
    assert {row["status"] for row in rows(sync_parts, task_id).values()} == {"pending"}
    report = _push_mapped(sync_parts, mapping)
    assert sorted((o.target, o.status, o.created) for o in report.outcomes) == [(t, "sent", False) for t in sorted(ALL)]
    assert vendors.violations == []
    assert [len(vendors.items[vendor]) for vendor in ALL] == [1, 1, 1]  # moved, never made again
    assert vendors.items["asana"][0]["projects"] == [ASANA_OTHER_PROJECT]
    assert vendors.items["trello"][0]["idList"] == TRELLO_OTHER_LIST
    links = rows(sync_parts, task_id)
    assert links["jira"]["last_error"].startswith("Jira does not move an issue to another project")
    assert vendors.items["jira"][0]["fields"]["project"]["key"] == "HO"
    assert links["asana"]["last_error"] is None and links["trello"]["last_error"] is None
    assert all(row["pending_update"] is None for row in links.values())
    # Sent once: the next push has nothing to do.
    assert _push_mapped(sync_parts, mapping).outcomes == []


def test_trello_with_a_done_list_moves_the_card_there_and_back(tmp_path, vendors, database_url) -> None:
    from handoff.settings import Settings
    from handoff.wiring import Parts

    sync = {**vendors.targets(), "timeout_s": 3.0, "backoff_s": 0.01, "settle_s": 0.0}
    sync["trello"] = {**sync["trello"], "done_list_id": TRELLO_DONE_LIST}
    del sync["jira"], sync["asana"]
    parts = Parts(Settings(home=tmp_path / "home", database_url=database_url, sync=sync, _env_file=None))
    parts.migrate()
    try:
        task_id = _accepted(parts)
        run_push(parts)
        _status(parts, task_id, "done")
        run_push(parts)
        card = vendors.items["trello"][0]
        assert (card["idList"], card["dueComplete"]) == (TRELLO_DONE_LIST, "true")
        assert _pull(parts).counts.get("applied", 0) == 0
        _status(parts, task_id, "open")
        run_push(parts)
        assert (card["idList"], card["dueComplete"]) == (TRELLO_LIST, "false")
        assert _pull(parts).counts.get("applied", 0) == 0 and _task_status(parts, task_id) == "open"
        assert vendors.violations == []
    finally:
        parts.close()


def _accepted(parts) -> str:
    from datetime import date

    from handoff.tasks.service import accept_task

    with transaction(parts.sessions) as session:
        session.execute(CRM_TABLES["accounts"].insert(), [{"id": "acc_1", "name": "Globex Ltd"}])
        session.execute(
            CRM_TABLES["tasks"].insert(),
            [{"id": "tsk_t1", "title": "Send the SOW", "account_id": "acc_1", "due_date": date(2026, 3, 31),
              "status": "suggested", "source": "email"}],
        )  # fmt: skip
        accept_task(session, "tsk_t1", "reviewer@ourco.example", sync_targets=parts.settings.sync.targets())
    return "tsk_t1"


def test_the_api_closes_and_reopens_and_refuses_what_is_not_accepted(sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task(targets=("asana",))
    with transaction(sync_parts.sessions) as session:
        key, _ = create_key(session, role="pm", name="pm")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(parts=sync_parts, models={}, key_cache_ttl_s=0)) as client:
        closed = client.post(f"/v1/tasks/{task_id}/complete", headers=headers)
        assert closed.status_code == 200 and closed.json()["status"] == "done"
        assert client.post("/v1/tasks/nope/complete", headers=headers).status_code == 404
        reopened = client.post(f"/v1/tasks/{task_id}/reopen", headers=headers)
        assert reopened.status_code == 200 and reopened.json()["status"] == "open"
        assert reopened.json()["sync"][0]["status"] == "pending"
        with transaction(sync_parts.sessions) as session:
            tasks = CRM_TABLES["tasks"]
            session.execute(tasks.update().where(tasks.c.id == task_id).values(status="rejected"))
        assert client.post(f"/v1/tasks/{task_id}/complete", headers=headers).status_code == 409


def test_jiras_webhook_for_handoffs_own_close_does_not_undo_a_reopen(sync_parts, vendors, accepted_task) -> None:
    from pathlib import Path

    from pydantic import SecretStr

    from handoff.sync.inbound import jira_signature

    payloads = json.loads((Path(__file__).parent / "hook_payloads.json").read_text(encoding="utf-8"))
    sync_parts.settings.sync.jira.webhook_secret = SecretStr("jira-hook-secret-0123")
    task_id = accepted_task(targets=("jira",))
    run_push(sync_parts)
    _status(sync_parts, task_id, "done")
    run_push(sync_parts)
    issue = vendors.items["jira"][0]
    body = json.loads(
        json.dumps(payloads["jira_issue_updated"]["body"])
        .replace("ISSUE_ID", issue["id"])
        .replace("ISSUE_KEY", issue["key"])
    )
    body["issue"]["fields"] |= {"status": issue["fields"]["status"], "updated": issue["fields"]["updated"]}
    raw = json.dumps(body).encode()
    # Reopened in handoff before Jira's report of the close arrives: the report is handoff's own change, which must
    # not undo the reopen.
    _status(sync_parts, task_id, "open")
    headers = {"X-Hub-Signature": jira_signature("jira-hook-secret-0123", raw), "X-Atlassian-Webhook-Identifier": "e1"}
    with TestClient(create_app(parts=sync_parts, models={}, key_cache_ttl_s=0)) as client:
        answer = client.post("/v1/hooks/jira", content=raw, headers=headers)
    assert answer.status_code == 200 and answer.json()["outcome"] == "unchanged"
    assert _task_status(sync_parts, task_id) == "open"
    assert rows(sync_parts, task_id)["jira"]["status"] == "pending"  # the reopen still goes out
    run_push(sync_parts)
    assert not _remote_done(vendors, "jira") and _task_status(sync_parts, task_id) == "open"
    assert run_push(sync_parts).outcomes == []
