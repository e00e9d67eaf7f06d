"""Files for teams without API access: CSV for Jira's and Asana's importers out, each tool's export read back
(Jira and Asana CSV, Trello's board JSON), round-tripped through the shapes each tool documents."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from handoff.errors import InvalidInput
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.sync import files
from handoff.sync.file_store import export_tasks, import_export
from handoff.sync.model import marker
from handoff.sync.tables import task_sync


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _task(parts, task_id: str):
    tasks = CRM_TABLES["tasks"]
    with parts.sessions() as session:
        return session.execute(select(tasks).where(tasks.c.id == task_id)).one()


def _link(parts, task_id: str, target: str):
    with parts.sessions() as session:
        return session.execute(
            select(task_sync).where(task_sync.c.task_id == task_id, task_sync.c.target == target)
        ).first()


def _add_bo(parts) -> None:
    with transaction(parts.sessions) as session:
        session.execute(
            CRM_TABLES["team_members"].insert(),
            [{"id": "tm_bo", "name": "Bo Tanaka", "email": "bo@ourco.example", "active": True}],
        )


def test_jira_csv_out_and_its_export_back(sync_parts, accepted_task) -> None:
    task_id = accepted_task(targets=())  # no API target: the team imports the file by hand
    text, count = export_tasks(sync_parts.sessions, sync_parts.settings.sync, "jira")
    assert count == 1 and text.splitlines()[0] == ",".join(files.JIRA_COLUMNS)
    row = list(csv.reader(io.StringIO(text)))[1]
    assert row[:2] == ["Send the revised SOW to Globex", "Task"] and row[3:8] == [
        "ana@ourco.example",
        "2026-03-31",
        "High",
        "handoff",
        marker(task_id),
    ]
    assert "Customer: Globex Ltd" in row[2]
    # What Jira's "Export → CSV (all fields)" gives back once the team has worked the issue: repeated Labels,
    # the site's default date format, an Assignee Id beside the display name.
    exported = io.StringIO()
    writer = csv.writer(exported)
    header = ["Summary", "Issue key", "Issue id", "Status", "Status Category", "Resolution", "Assignee"]
    header += ["Assignee Id", "Due date", "Updated", "Labels", "Labels", "Description"]
    writer.writerow(header)
    writer.writerow(
        [row[0], "HO-7", "10007", "Done", "Done", "Done", "Ana Lima", "5b10ac8d82e05b22cc7d4ef5", "02/Apr/26 12:00 AM"]
        + ["20/Mar/26 10:00 AM", "handoff", marker(task_id), row[2]]
    )
    writer.writerow(["Someone else's issue", "HO-8", "10008", "To Do", "To Do", "", "", "", "", "", "", "", ""])
    sync_parts.settings.sync.jira.account_ids = {"ana@ourco.example": "5b10ac8d82e05b22cc7d4ef5"}
    report = import_export(sync_parts.sessions, sync_parts.settings.sync, "jira", exported.getvalue())
    assert report.counts == {"applied": 1}
    task = _task(sync_parts, task_id)
    assert task.status == "done" and task.due_date.isoformat() == "2026-04-02" and task.assignee_id == "tm_ana"
    link = _link(sync_parts, task_id, "jira")
    assert (link.remote_id, link.remote_key, link.status) == ("10007", "HO-7", "sent")
    again = import_export(sync_parts.sessions, sync_parts.settings.sync, "jira", exported.getvalue())
    assert again.counts == {"unchanged": 1}


def test_asana_csv_out_and_its_export_back(sync_parts, accepted_task) -> None:
    task_id = accepted_task(targets=())
    text, _ = export_tasks(sync_parts.sessions, sync_parts.settings.sync, "asana")
    (row,) = _rows(text)
    assert (row["Name"], row["Assignee"], row["Due Date"]) == (
        "Send the revised SOW to Globex",
        "ana@ourco.example",
        "2026-03-31",
    )
    assert f"({marker(task_id)})" in row["Description"]
    # Asana's project export: Task ID, Completed At, Assignee Email, Due Date, Notes (the imported Description).
    exported = io.StringIO()
    writer = csv.DictWriter(
        exported,
        ["Task ID", "Created At", "Completed At", "Last Modified", "Name", "Assignee", "Assignee Email", "Due Date"]
        + ["Notes"],
    )
    writer.writeheader()
    writer.writerow(
        {
            "Task ID": "1207000000000001",
            "Created At": "2026-03-10",
            "Completed At": "2026-03-25",
            "Last Modified": "2026-03-25",
            "Name": row["Name"],
            "Assignee": "Ana Lima",
            "Assignee Email": "ana@ourco.example",
            "Due Date": "2026-03-28",
            "Notes": row["Description"],
        }
    )
    report = import_export(sync_parts.sessions, sync_parts.settings.sync, "asana", exported.getvalue())
    assert report.counts == {"applied": 1}
    task = _task(sync_parts, task_id)
    assert task.status == "done" and task.due_date.isoformat() == "2026-03-28"
    assert _link(sync_parts, task_id, "asana").remote_id == "1207000000000001"


def test_a_trello_board_export_comes_back_with_its_members_matched(sync_parts, accepted_task) -> None:
    _add_bo(sync_parts)
    task_id = accepted_task(targets=())
    desc = f"They asked for the revised SOW.\n\nhandoff task {task_id} ({marker(task_id)})"
    board = {
        "id": "5f00000000000000000000b0",
        "members": [{"id": "5f00000000000000000000bb", "username": "bo_t", "fullName": "Bo Tanaka"}],
        "lists": [{"id": "5f0000000000000000000001", "name": "To do"}],
        "cards": [
            {"id": "6a0000000000000000000001", "desc": desc, "due": "2026-04-03T17:00:00.000Z", "dueComplete": True}
            | {"idMembers": ["5f00000000000000000000bb"], "idList": "5f0000000000000000000001", "closed": False}
            | {"dateLastActivity": "2026-03-30T09:00:00.000Z"},
            {"id": "6a0000000000000000000002", "desc": "no marker", "dueComplete": True, "closed": False},
            {"id": "6a0000000000000000000003", "desc": desc, "dueComplete": False, "closed": True},  # archived
        ],
    }
    report = import_export(sync_parts.sessions, sync_parts.settings.sync, "trello", json.dumps(board))
    assert report.counts == {"applied": 1}
    task = _task(sync_parts, task_id)
    assert (task.status, task.assignee_id, task.due_date.isoformat()) == ("done", "tm_bo", "2026-04-03")
    assert _link(sync_parts, task_id, "trello").remote_id == "6a0000000000000000000001"


def test_a_hashed_marker_is_read_back_through_its_task_line() -> None:
    task_id = "T 12/3"
    tag = marker(task_id)
    assert tag.startswith("handoff-h")
    assert files.task_of(f"Notes\n\nhandoff task {task_id} ({tag})\n") == task_id
    assert files.task_of("handoff task tsk_9 (handoff-tsk_9)") == "tsk_9"
    assert files.task_of("labels: handoff handoff-tsk_10") == "tsk_10"
    assert files.task_of(tag) is None  # a hashed marker alone names no task
    assert files.task_of(f"handoff task T 12/4 ({tag})") is None  # nor a task line whose id does not hash to it


@pytest.mark.parametrize(
    ("target", "text", "words"),
    [
        ("jira", "Name,Other\nx,y\n", "not a Jira export: no column Summary, Issue id"),
        ("asana", "", "the file is empty"),
        ("trello", "not json", "Trello board export is JSON"),
        ("trello", "[1, 2]", "not a Trello board export"),
        ("monday", "a,b", "no file import for 'monday'"),
    ],
)
def test_a_file_that_is_not_the_tools_export_is_refused_clearly(sync_parts, target, text, words) -> None:
    with pytest.raises(InvalidInput, match=words):
        import_export(sync_parts.sessions, sync_parts.settings.sync, target, text)


@pytest.mark.slow  # the CLI in subprocesses
def test_handoff_sync_export_and_import_as_processes(sync_parts, accepted_task, tmp_path) -> None:
    task_id = accepted_task(targets=())
    env = {
        **os.environ,
        "HANDOFF_HOME": str(sync_parts.settings.home),
        "HANDOFF_DATABASE_URL": sync_parts.settings.resolved_database_url,
    }
    out = tmp_path / "asana.csv"
    line = [sys.executable, "-m", "handoff", "sync"]
    done = subprocess.run(
        [*line, "export", "--target", "asana", "--out", str(out)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "1 task(s) written" in done.stderr and marker(task_id) in out.read_text(encoding="utf-8")
    (row,) = _rows(out.read_text(encoding="utf-8"))
    back = tmp_path / "asana-export.csv"
    back.write_text(f'Task ID,Name,Completed At,Notes\n1207000000000009,x,2026-03-25,"{row["Description"]}"\n')
    done = subprocess.run(
        [*line, "import", str(back), "--target", "asana", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["applied"] == 1 and _task(sync_parts, task_id).status == "done"
    refused = subprocess.run(
        [*line, "export", "--target", "trello"], capture_output=True, text=True, env=env, timeout=120
    )
    assert refused.returncode == 2 and "no file export for 'trello'" in refused.stderr
