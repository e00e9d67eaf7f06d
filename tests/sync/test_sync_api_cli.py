"""The link on the task in the API, acceptance and the outbox in one transaction, and `handoff sync push`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from handoff.access.keys import create_key
from handoff.api.app import create_app
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.sync.mapping_file import mapping_path
from handoff.sync.outbox import push
from handoff.sync.tables import task_sync


def _outbox_rows(parts) -> int:
    with parts.sessions() as session:
        return int(session.execute(select(func.count()).select_from(task_sync)).scalar_one())


def _handoff_sync(parts, vendors, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`handoff sync COMMAND --json ARGS` in a subprocess on the parts' store, with only Trello configured."""
    trello = parts.settings.sync.trello
    env = {
        **os.environ,
        "HANDOFF_HOME": str(parts.settings.home),
        "HANDOFF_DATABASE_URL": parts.settings.resolved_database_url,
        "HANDOFF_SYNC__TRELLO__BASE_URL": vendors.url,
        "HANDOFF_SYNC__TRELLO__KEY": trello.key.get_secret_value(),
        "HANDOFF_SYNC__TRELLO__TOKEN": trello.token.get_secret_value(),
        "HANDOFF_SYNC__TRELLO__LIST_ID": trello.list_id,
    }
    line = [sys.executable, "-m", "handoff", "sync", command, "--json", *args]
    return subprocess.run(line, capture_output=True, text=True, env=env, timeout=120)


def test_the_api_accepts_into_the_outbox_and_shows_the_link_once_pushed(sync_parts, vendors, accepted_task) -> None:
    accepted_task()  # seeds the CRM rows; this task is pushed alongside
    with transaction(sync_parts.sessions) as session:
        session.execute(
            CRM_TABLES["tasks"].insert(), [{"id": "tsk_api", "title": "Book the kickoff", "status": "suggested"}]
        )
        key, _ = create_key(session, role="admin", name="test")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(parts=sync_parts, models={}, key_cache_ttl_s=0)) as client:
        answer = client.post("/v1/tasks/tsk_api/accept", headers=headers)
        assert answer.status_code == 200, answer.text
        assert [(s["target"], s["status"]) for s in answer.json()["sync"]] == [
            ("asana", "pending"),
            ("jira", "pending"),
            ("trello", "pending"),
        ]
        push(sync_parts.sessions, sync_parts.settings.sync, mapping_path=mapping_path(sync_parts.settings))
        shown = client.get("/v1/tasks/tsk_api", headers=headers).json()["sync"]
        listed = client.get("/v1/tasks?status=open", headers=headers).json()["tasks"]
    jira = next(entry for entry in shown if entry["target"] == "jira")
    assert (
        jira["status"] == "sent" and jira["remote_key"].startswith("HO-") and jira["url"].endswith(jira["remote_key"])
    )
    assert all(entry["status"] == "sent" and entry["url"] for entry in shown)
    assert {task["id"]: len(task["sync"]) for task in listed} == {"tsk_api": 3, "tsk_test0001": 3}
    assert len(vendors.items["jira"]) == 2


def test_an_acceptance_rolled_back_leaves_no_outbox_row(sync_parts, accepted_task) -> None:
    from handoff.tasks.service import accept_task

    accepted_task()
    before = _outbox_rows(sync_parts)
    with transaction(sync_parts.sessions) as session:
        session.execute(CRM_TABLES["tasks"].insert(), [{"id": "tsk_rb", "title": "Call back", "status": "suggested"}])
    try:
        with transaction(sync_parts.sessions) as session:
            accept_task(session, "tsk_rb", "reviewer", sync_targets=("jira",))
            raise RuntimeError("the request failed after the accept")
    except RuntimeError:
        pass
    assert _outbox_rows(sync_parts) == before
    with transaction(sync_parts.sessions) as session:
        accept_task(session, "tsk_rb", "reviewer", sync_targets=())  # no target configured: no row
    assert _outbox_rows(sync_parts) == before


@pytest.mark.slow  # the CLI in subprocesses
def test_handoff_sync_push_prints_json_and_exits_by_outcome(sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task(targets=("trello",))
    result = _handoff_sync(sync_parts, vendors, "push")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sent"] == 1 and report["tasks"][0]["task_id"] == task_id
    assert sync_parts.settings.sync.trello.token.get_secret_value() not in result.stdout + result.stderr
    again = _handoff_sync(sync_parts, vendors, "push", "--target", "jira")
    assert again.returncode == 2 and "not configured" in again.stderr
    assert len(vendors.items["trello"]) == 1


def test_an_auto_accepted_task_enters_the_outbox_with_its_creation(sync_parts) -> None:
    """Extraction above `auto_accept_confidence` makes the task open at once: it is queued like a reviewer's accept."""
    from datetime import date

    import numpy as np

    from handoff.extraction.model import Found, TaskDraft
    from handoff.tasks.service import record_tasks

    def draft(title: str, confidence: float) -> TaskDraft:
        return TaskDraft(
            title=Found(title, confidence, title),
            assignee=Found(None, confidence, ""),
            assignee_id=None,
            due=Found(date(2026, 4, 1), confidence, ""),
            priority=Found("normal", confidence, ""),
            description=title,
            confidence=confidence,
            evidence=title,
        )

    settings = sync_parts.settings.model_copy(deep=True)
    settings.extraction.auto_accept_confidence = 0.9
    vectors = np.eye(2, 8, dtype=np.float32)  # two unrelated titles: two tasks, no dedupe link
    with transaction(sync_parts.sessions) as session:
        recorded = record_tasks(
            session,
            ledger_id=None,
            drafts=[draft("Ship the pilot report", 0.95), draft("Maybe look at pricing", 0.5)],
            account_id=None,
            project_id=None,
            thread_id=None,
            settings=settings,
            title_vectors=vectors,
        )
    with sync_parts.sessions() as session:
        queued = {
            (task_id, target) for task_id, target in session.execute(select(task_sync.c.task_id, task_sync.c.target))
        }
    sure, unsure = recorded.created
    assert queued == {(sure, target) for target in ("jira", "asana", "trello")}
    assert all(task_id != unsure for task_id, _ in queued)


@pytest.mark.slow  # the CLI in subprocesses
def test_handoff_sync_pull_applies_what_changed_in_the_tool(sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task(targets=("trello",))
    push(sync_parts.sessions, sync_parts.settings.sync, mapping_path=mapping_path(sync_parts.settings))
    vendors.change("trello", vendors.items["trello"][0]["id"], dueComplete=True)
    result = _handoff_sync(sync_parts, vendors, "pull")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["applied"] == 1 and report["tasks"] == [
        {"task_id": task_id, "target": "trello", "outcome": "applied", "error": None}
    ]
    with sync_parts.sessions() as session:
        status = session.execute(
            select(CRM_TABLES["tasks"].c.status).where(CRM_TABLES["tasks"].c.id == task_id)
        ).scalar_one()
    assert status == "done"
    again = _handoff_sync(sync_parts, vendors, "pull", "--target", "jira")
    assert again.returncode == 2 and "not configured" in again.stderr
