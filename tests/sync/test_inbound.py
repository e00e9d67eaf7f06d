"""Changes from the tools onto the task: what the vendors say, stale changes refused, the timeline, pull."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from test_push import run_push

from handoff.risk.features import account_features
from handoff.risk.store import load_frames
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.sync.inbound import LocalTask, RemoteState, asana_state, decide, jira_state, parse_time, trello_state
from handoff.sync.outbox import close_connectors, configured_connectors
from handoff.sync.pullback import apply_remote, pull_linked
from handoff.sync.tables import task_sync

OPEN = LocalTask("open", "ana@ourco.example", date(2026, 3, 31))


def test_vendor_items_read_as_status_assignee_and_due() -> None:
    issue = {
        "id": "10001",
        "key": "HO-1",
        "fields": {
            "status": {"name": "Erledigt", "statusCategory": {"key": "done"}},
            "assignee": {"accountId": "5b10", "emailAddress": "Bo@OurCo.example"},
            "duedate": "2026-04-02",
            "updated": "2026-03-01T10:00:00.000+0100",
        },
    }
    state = jira_state(issue)
    assert state.fields == {"status": "done", "assignee_email": "bo@ourco.example", "due_date": date(2026, 4, 2)}
    assert state.changed_at == datetime(2026, 3, 1, 9, 0, tzinfo=UTC) and state.key == "HO-1"
    hidden = jira_state({"id": "1", "fields": {"assignee": {"accountId": "5b10"}}})  # email hidden by privacy
    assert "assignee_email" not in hidden.fields
    asana = asana_state({"gid": "12", "completed": True, "assignee": None, "due_on": None, "modified_at": "x"})
    assert asana.fields == {"status": "done", "assignee_email": None, "due_date": None} and asana.changed_at is None
    card = trello_state({"id": "c1", "idList": "done", "dueComplete": False}, done_list_id="done")
    assert card.fields == {"status": "done"}
    assert parse_time(1536083559131) == datetime(2018, 9, 4, 17, 52, 39, 131000, tzinfo=UTC)
    for odd in (None, [], {"id": None}, {"id": True}, "text"):
        assert jira_state(odd) is None and asana_state(odd) is None and trello_state(odd) is None


def test_only_what_the_tool_changed_reaches_the_task_and_older_changes_are_stale() -> None:
    t1, t2 = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)
    done = RemoteState("jira", "1", t2, {"status": "done", "due_date": date(2026, 3, 31)})
    first = decide(done, last=None, last_changed_at=None, task=OPEN)
    assert first.outcome == "applied" and first.changes == {"status": "done"} and first.changed_at == t2
    # An older change arriving after it is refused, even though it says something different.
    older = RemoteState("jira", "1", t1, {"status": "open", "due_date": date(2026, 5, 1)})
    assert decide(older, last=first.remote_fields, last_changed_at=t2, task=OPEN).outcome == "stale"
    # The tool still says the old due date while handoff moved it: handoff's edit stands.
    moved = LocalTask("done", "ana@ourco.example", date(2026, 4, 15))
    again = decide(done, last=first.remote_fields, last_changed_at=t2, task=moved)
    assert again.outcome == "unchanged"
    # Reopened in the tool: open again in handoff. A rejected task is never touched.
    reopened = RemoteState("jira", "1", t2, {"status": "open"})
    assert decide(reopened, last=first.remote_fields, last_changed_at=t2, task=moved).changes == {"status": "open"}
    rejected = LocalTask("rejected", None, None)
    assert decide(done, last=None, last_changed_at=None, task=rejected).outcome == "unchanged"


def _task(parts, task_id: str):
    with parts.sessions() as session:
        return session.execute(select(CRM_TABLES["tasks"]).where(CRM_TABLES["tasks"].c.id == task_id)).first()


def _events(parts) -> list:
    activities = CRM_TABLES["activities"]
    with parts.sessions() as session:
        return session.execute(select(activities).where(activities.c.kind == "event")).all()


def test_a_task_done_in_jira_is_done_in_handoff_and_on_the_accounts_timeline(
    sync_parts, vendors, accepted_task
) -> None:
    task_id = accepted_task(targets=("jira",))
    run_push(sync_parts)
    issue = vendors.items["jira"][0]
    done = {"name": "Done", "statusCategory": {"key": "done"}}
    state = jira_state(vendors.change("jira", issue["id"], at="2026-03-20T10:00:00.000+0000", status=done))
    with transaction(sync_parts.sessions) as session:
        assert apply_remote(session, state) == ("applied", task_id)
    task = _task(sync_parts, task_id)
    assert task.status == "done" and task.completed_at == datetime(2026, 3, 20, 10, 0)
    (event,) = _events(sync_parts)
    assert event.account_id == "acc_1" and event.subject.startswith(f"Jira {issue['key']}: done")
    # The same word again changes nothing and adds no second timeline entry; an older one is stale.
    with transaction(sync_parts.sessions) as session:
        assert apply_remote(session, state)[0] == "unchanged"
        older = RemoteState("jira", issue["id"], datetime(2026, 3, 19, tzinfo=UTC), {"status": "open"})
        assert apply_remote(session, older)[0] == "stale"
        assert apply_remote(session, RemoteState("jira", "99999", None, {"status": "done"}))[0] == "unlinked"
    assert _task(sync_parts, task_id).status == "done" and len(_events(sync_parts)) == 1
    with sync_parts.sessions() as session:
        link = session.execute(select(task_sync).where(task_sync.c.task_id == task_id)).first()
    assert link.remote_state["status"] == "done" and link.remote_changed_at is not None
    # The sync's timeline entry is no customer contact: the last contact stays the last real one.
    with transaction(sync_parts.sessions) as session:
        session.execute(CRM_TABLES["accounts"].update().values(created_at=datetime(2025, 1, 1), status="active"))
        session.execute(
            CRM_TABLES["activities"].insert(),
            [
                {
                    "id": "act_mail",
                    "account_id": "acc_1",
                    "kind": "email",
                    "direction": "inbound",
                    "occurred_at": datetime(2026, 1, 1),
                }
            ],
        )
    with sync_parts.sessions() as session:
        features = account_features(load_frames(session), date(2026, 4, 1))
    assert features.loc["acc_1", "days_since_last_contact"] == 90.0


def test_pull_reads_every_linked_item_back_through_the_connectors(sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task()
    run_push(sync_parts)
    vendors.change("asana", vendors.items["asana"][0]["gid"], completed=True, due_on="2026-04-10")
    vendors.change("trello", vendors.items["trello"][0]["id"], due="2026-04-20T17:00:00.000Z")
    connectors = configured_connectors(sync_parts.settings.sync)
    try:
        report = pull_linked(sync_parts.sessions, connectors)
        task = _task(sync_parts, task_id)
        assert report.counts == {"unchanged": 1, "applied": 2}, report.items
        # Jira still holds what was pushed: it changes nothing, although Asana moved the due date meanwhile.
        assert task.status == "done" and task.due_date == date(2026, 4, 20)
        again = pull_linked(sync_parts.sessions, connectors)
    finally:
        close_connectors(connectors)
    assert again.counts == {"unchanged": 3} and len(_events(sync_parts)) == 2
    assert vendors.violations == []
