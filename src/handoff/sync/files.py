"""Tasks as files for teams without API access: CSV for Jira's and Asana's importers out, their exports (and
Trello's JSON board export) read back into the states a webhook would bring."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from handoff.errors import InvalidInput
from handoff.sync.inbound import RemoteState, parse_day, parse_time, trello_state
from handoff.sync.jira import LABEL, summary_text
from handoff.sync.model import MARKER_PREFIX, PushTask, marker, plain_description

MAX_ROWS = 100_000
# "handoff task tsk_1 (handoff-tsk_1)": the line every description ends with; it names hashed markers' task ids.
_TASK_LINE = re.compile(r"handoff task (.+) \((" + re.escape(MARKER_PREFIX) + r"[A-Za-z0-9_.\-]+)\)\s*$", re.M)
_MARKER = re.compile(re.escape(MARKER_PREFIX) + r"[A-Za-z0-9_.\-]+")
_HASHED = re.compile(re.escape(MARKER_PREFIX) + r"h[0-9a-f]{24}$")  # `model.marker` of an id a label cannot hold

# Jira's CSV importer maps the header row to fields; repeated Labels columns are one multi-value field. Dates are
# written as yyyy-MM-dd, the format to give the importer's "date format" step.
JIRA_COLUMNS = ("Summary", "Issue Type", "Description", "Assignee", "Due Date", "Priority", "Labels", "Labels")
# Asana's CSV importer links these headers to task fields without mapping; Assignee is a user's email.
ASANA_COLUMNS = ("Name", "Description", "Assignee", "Due Date")


def _csv(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # the Microsoft Excel CSV dialect both importers name
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def jira_csv(
    tasks: Iterable[PushTask], *, issue_type: str = "Task", priorities: Mapping[str, str] | None = None
) -> str:
    """A file for Jira's CSV importer: one issue per task, the marker as a label (the API push's marker too)."""
    rows = (
        (
            summary_text(task),
            issue_type,
            plain_description(task),
            task.assignee_email or "",
            task.due_date.isoformat() if task.due_date else "",
            (priorities or {}).get(task.priority or "", ""),
            LABEL,
            task.marker,
        )
        for task in tasks
    )
    return _csv(JIRA_COLUMNS, rows)


def asana_csv(tasks: Iterable[PushTask]) -> str:
    """A file for Asana's CSV importer: one task per task; the description ends with the marker line."""
    rows = (
        (
            " ".join(task.title.split()),
            plain_description(task),
            task.assignee_email or "",
            task.due_date.isoformat() if task.due_date else "",
        )
        for task in tasks
    )
    return _csv(ASANA_COLUMNS, rows)


# ---- reading a tool's export back -----------------------------------------------------------------------------


def task_of(*texts: str | None) -> str | None:
    """The handoff task id that an item's labels or description name (None: not a handoff task)."""
    joined = "\n".join(text for text in texts if text)
    for task_id, found in _TASK_LINE.findall(joined):
        if marker(task_id) == found:
            return task_id
    for found in _MARKER.findall(joined):
        if not _HASHED.match(found):  # a hashed marker names its task only beside the task line
            return found[len(MARKER_PREFIX) :]
    return None


def _rows(text: str) -> tuple[list[str], list[list[str]]]:
    try:
        table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as error:
        raise InvalidInput(f"the file is not CSV: {error}") from None
    if not table:
        raise InvalidInput("the file is empty")
    if len(table) > MAX_ROWS + 1:
        raise InvalidInput(f"the file has over {MAX_ROWS} rows")
    return [name.strip() for name in table[0]], table[1:]


def _need(header: list[str], names: Iterable[str], tool: str) -> None:
    missing = [name for name in names if name not in header]
    if missing:
        raise InvalidInput(f"this is not a {tool} export: no column {', '.join(missing)}")


# Jira's CSV export writes dates in the site's format; its default is dd/MMM/yy h:mm a (20/Mar/26 10:00 AM).
_JIRA_FORMATS = ("%d/%b/%y %I:%M %p", "%d/%b/%y", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def _jira_moment(value: str) -> datetime | None:
    """A Jira CSV date: ISO 8601, else the default export format (read as UTC, the export gives no zone)."""
    if not value:
        return None
    if (moment := parse_time(value)) is not None:
        return moment
    for pattern in _JIRA_FORMATS:
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def read_jira_csv(text: str, *, people: Mapping[str, str] | None = None) -> list[tuple[str, RemoteState]]:
    """(task id, state) of each handoff issue in a Jira CSV export (Export → CSV, all fields): done when its
    Status Category is Done (else when it has a Resolution); the assignee from `Assignee Id` through `people`
    (accountId → email; Jira's CSV shows display names, not emails); `Due date`; `Updated`."""
    header, rows = _rows(text)
    _need(header, ("Summary", "Issue id"), "Jira")
    found: list[tuple[str, RemoteState]] = []
    for row in rows:
        cells: dict[str, list[str]] = {}
        for name, value in zip(header, row, strict=False):
            cells.setdefault(name, []).append(value.strip())

        def one(name: str, cells: dict[str, list[str]] = cells) -> str:
            return next((value for value in cells.get(name, []) if value), "")

        task_id = task_of(" ".join(cells.get("Labels", [])), one("Description"))
        if task_id is None or not one("Issue id"):
            continue
        said: dict[str, Any] = {}
        category = one("Status Category")
        if category:
            said["status"] = "done" if category.lower() == "done" else "open"
        elif "Resolution" in cells:
            said["status"] = "done" if one("Resolution") else "open"
        if "Assignee Id" in cells:
            account = one("Assignee Id")
            email = (people or {}).get(account) if account else None
            if not account or email:
                said["assignee_email"] = email.lower() if email else None
        due = one("Due date") or one("Due Date")
        if "Due date" in cells or "Due Date" in cells:
            moment = _jira_moment(due)
            said["due_date"] = moment.date() if moment else None
        changed = _jira_moment(one("Updated"))
        found.append((task_id, RemoteState("jira", one("Issue id"), changed, said, one("Issue key") or None)))
    return found


def read_asana_csv(text: str) -> list[tuple[str, RemoteState]]:
    """(task id, state) of each handoff task in an Asana project's CSV export: done when `Completed At` is set;
    `Assignee Email`; `Due Date`; `Last Modified`."""
    header, rows = _rows(text)
    _need(header, ("Task ID", "Name"), "Asana")
    found: list[tuple[str, RemoteState]] = []
    for row in rows:
        cells = {name: value.strip() for name, value in zip(header, row, strict=False)}
        task_id = task_of(cells.get("Notes"), cells.get("Description"))
        if task_id is None or not cells.get("Task ID"):
            continue
        said: dict[str, Any] = {}
        if "Completed At" in cells:
            said["status"] = "done" if cells["Completed At"] else "open"
        if "Assignee Email" in cells:
            said["assignee_email"] = cells["Assignee Email"].lower() or None
        if "Due Date" in cells:
            said["due_date"] = parse_day(cells["Due Date"]) if cells["Due Date"] else None
        changed = parse_time(cells.get("Last Modified"))
        found.append((task_id, RemoteState("asana", cells["Task ID"], changed, said)))
    return found


def read_trello_json(
    document: Any, *, done_list_id: str | None = None, people: Mapping[str, str] | None = None
) -> list[tuple[str, RemoteState]]:
    """(task id, state) of each handoff card in a Trello board's JSON export (Menu → Print and export → JSON),
    read like `GET /1/cards/{id}`; archived cards are left out."""
    if not isinstance(document, dict) or not isinstance(document.get("cards"), list):
        raise InvalidInput("this is not a Trello board export: no cards list")
    found: list[tuple[str, RemoteState]] = []
    for card in document["cards"][:MAX_ROWS]:
        if not isinstance(card, dict) or card.get("closed") is True:
            continue
        task_id = task_of(card.get("desc") if isinstance(card.get("desc"), str) else None)
        state = trello_state(card, done_list_id=done_list_id, people=people)
        if task_id is not None and state is not None:
            found.append((task_id, state))
    return found
