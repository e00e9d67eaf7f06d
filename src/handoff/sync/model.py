"""What a connector pushes and gets back, the marker that finds a pushed task again, and the one Connector interface."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.sync.inbound import RemoteState

MARKER_PREFIX = "handoff-"
# The fields a handoff change sends to an item already pushed (`outbox.mark_edited`), in the order they are sent:
# `status` closes or reopens the item, `place` moves it to the project or list its task is mapped to now.
UPDATE_FIELDS = ("title", "due_date", "assignee", "priority", "status", "place")
# Jira labels take no spaces, Asana external gids and Trello text take anything: one shape that all three accept.
_MARKER_SAFE = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")


def marker(task_id: str) -> str:
    """The handoff marker of a task (`handoff-tsk_…`): a Jira label, Asana's `external.gid`, a line in a Trello card.

    Ids that a label cannot hold (a CRM's "T 12/3") become a hash of the id, which is as unique and as stable."""
    if _MARKER_SAFE.match(task_id):
        return MARKER_PREFIX + task_id
    return MARKER_PREFIX + "h" + hashlib.sha256(task_id.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class PushTask:
    """An accepted task as a connector sees it: what the team needs to act, with its customer and evidence."""

    id: str
    title: str
    description: str | None = None
    due_date: date | None = None
    priority: str | None = None
    assignee_email: str | None = None
    assignee_name: str | None = None
    account_name: str | None = None
    project_name: str | None = None
    evidence: str | None = None
    source: str | None = None
    project_id: str | None = None
    account_id: str | None = None
    destination: str | None = None  # the mapped Jira project key, Asana project gid or Trello list; None: configured
    status: str = "open"  # open or done: a done task's item is closed in the tool
    # Where a moved task's item was mapped before the move (Asana takes it out of that project); None: configured.
    previous_destination: str | None = None

    @property
    def marker(self) -> str:
        return marker(self.id)


@dataclass(frozen=True)
class RemoteLink:
    """Where a task lives in the target: the target's own id, its human key (PROJ-12) when it has one, and a URL."""

    target: str
    remote_id: str
    url: str | None = None
    key: str | None = None
    note: str | None = None  # what the push could not carry (an assignee the tool does not know), shown on the link


class Connector(Protocol):
    """One project tool. `find` looks a task up by its marker (None: not there); `create` makes it once.

    Both raise `handoff.errors.PermanentFailure` when a retry cannot help (401/403/404), `OutcomeUnknown` when a
    create's answer was lost, and `ExternalFailure` for anything else worth trying again."""

    name: str

    def find(self, task: PushTask) -> RemoteLink | None: ...

    def create(self, task: PushTask) -> RemoteLink: ...

    def read(self, remote_id: str) -> RemoteState | None:
        """The item as the tool has it now (status, assignee, due date), None when it is gone."""
        ...

    def update(self, remote_id: str, task: PushTask, fields: Sequence[str]) -> str | None:
        """Sets `fields` (of `UPDATE_FIELDS`) of the item to the task's values now; the same call twice leaves the
        same item (values, never a relative change; a status change reads the item's status first), so a retry
        after a lost answer is safe. Returns a note like `create`'s, or one saying what the tool cannot do (Jira
        moves no issue to another project through its edit API)."""
        ...


def facts(task: PushTask) -> list[tuple[str, str]]:
    """The task's facts as (label, value) lines every vendor's description shows, in one order."""
    lines = [
        ("Customer", task.account_name),
        ("Project", task.project_name),
        ("Owner", task.assignee_name or task.assignee_email),
        ("Due", task.due_date.isoformat() if task.due_date else None),
        ("Priority", task.priority),
        ("Source", task.source),
    ]
    return [(label, value) for label, value in lines if value]


def plain_description(task: PushTask) -> str:
    """The description as plain text (Asana notes, Trello desc): facts, the text, the evidence, then the marker."""
    parts = [task.description.strip()] if task.description and task.description.strip() else []
    fact_lines = [f"{label}: {value}" for label, value in facts(task)]
    if fact_lines:
        parts.append("\n".join(fact_lines))
    if task.evidence:
        parts.append(f"Evidence: “{task.evidence.strip()}”")
    parts.append(f"handoff task {task.id} ({task.marker})")
    return "\n\n".join(parts)


def unknown_person(task: PushTask, tool: str, setting: str, *, kept: bool) -> str:
    """The note of a push whose assignee the tool does not know: who, why, and the setting that fixes it."""
    who = f"{task.assignee_name} <{task.assignee_email}>" if task.assignee_name else task.assignee_email
    where = "the assignee was left as it is" if kept else "it was left unassigned"
    return f"{tool} knows no user for {who}; {where}. Map them in {setting}"
