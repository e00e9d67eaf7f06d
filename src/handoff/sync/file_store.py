"""Files in and out against the store: accepted tasks written for a tool's importer, a tool's export applied."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from handoff.clock import utcnow
from handoff.errors import InvalidInput
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.sync import files
from handoff.sync.inbound import RemoteState
from handoff.sync.outbox import PUSHABLE, load_task
from handoff.sync.people import explicit, match_board_members
from handoff.sync.pullback import PullReport, apply_remote
from handoff.sync.tables import task_sync

if TYPE_CHECKING:  # pragma: no cover - typing only
    from sqlalchemy.orm import Session, sessionmaker

    from handoff.settings import SyncSettings

EXPORTS = ("jira", "asana")  # the tools with a CSV importer; Trello's cards come back from its JSON export only
IMPORTS = ("jira", "asana", "trello")


def export_tasks(sessions: sessionmaker[Session], settings: SyncSettings, target: str) -> tuple[str, int]:
    """(file text, how many tasks): every open task, for `target`'s importer."""
    if target not in EXPORTS:
        raise InvalidInput(f"no file export for {target!r} (exports: {', '.join(EXPORTS)})")
    tasks_table = CRM_TABLES["tasks"]
    with sessions() as session:
        ids = session.execute(
            select(tasks_table.c.id).where(tasks_table.c.status == "open").order_by(tasks_table.c.id)
        ).scalars()
        tasks = [task for task_id in ids if (task := load_task(session, task_id)[1]) is not None]
    if target == "jira":
        return files.jira_csv(tasks, issue_type=settings.jira.issue_type, priorities=settings.jira.priorities), len(
            tasks
        )
    return files.asana_csv(tasks), len(tasks)


def read_export(
    sessions: sessionmaker[Session], settings: SyncSettings, target: str, text: str
) -> list[tuple[str, RemoteState]]:
    """A tool's export as (task id, state), its people named like the API's readers name them."""
    if target == "jira":
        return files.read_jira_csv(text, people=explicit(settings.jira.account_ids).by_remote)
    if target == "asana":
        return files.read_asana_csv(text)
    if target == "trello":
        try:
            document = json.loads(text)
        except ValueError:
            raise InvalidInput("a Trello board export is JSON; this file is not") from None
        from handoff.sync.outbox import roster_of

        members = document.get("members") if isinstance(document, dict) else None
        people = match_board_members(
            [member for member in members or [] if isinstance(member, dict)],
            roster_of(sessions),
            settings.trello.member_ids,
        )
        return files.read_trello_json(document, done_list_id=settings.trello.done_list_id, people=people.by_remote)
    raise InvalidInput(f"no file import for {target!r} (imports: {', '.join(IMPORTS)})")


def _link(session: Session, task_id: str, state: RemoteState, now: datetime) -> bool:
    """The task's link to the item, made the first time its item comes back in a file (a task imported by hand
    has no outbox row); False when the task is gone, rejected, or linked to another item of that tool."""
    row = session.execute(
        select(task_sync.c.remote_id).where(task_sync.c.task_id == task_id, task_sync.c.target == state.target)
    ).first()
    if row is not None:
        return row.remote_id in (None, state.remote_id) and _claim(session, task_id, state, row.remote_id)
    status, _ = load_task(session, task_id)
    if status not in PUSHABLE:
        return False
    values: dict[str, Any] = {"task_id": task_id, "target": state.target, "status": "sent", "attempts": 0}
    values |= {"remote_id": state.remote_id, "remote_key": state.key, "created_at": now, "sent_at": now}
    session.execute(insert(task_sync).values(**values))
    return True


def _claim(session: Session, task_id: str, state: RemoteState, remote_id: str | None) -> bool:
    if remote_id is None:  # an outbox row never pushed: the file's item is the task's, so the push will find it
        session.execute(
            task_sync.update()
            .where(task_sync.c.task_id == task_id, task_sync.c.target == state.target)
            .values(remote_id=state.remote_id, remote_key=state.key, status="sent", sent_at=utcnow())
        )
    return True


def import_export(sessions: sessionmaker[Session], settings: SyncSettings, target: str, text: str) -> PullReport:
    """A tool's export applied like a pull: each handoff item's status, assignee and due date, once (the same file
    twice changes nothing the second time); items of no handoff task are not counted."""
    report = PullReport()
    now = utcnow()
    for task_id, state in read_export(sessions, settings, target, text):
        with transaction(sessions) as session:
            outcome = apply_remote(session, state, now=now)[0] if _link(session, task_id, state, now) else "unlinked"
        report.add(task_id, target, outcome)
    return report
