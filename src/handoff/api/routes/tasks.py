"""Suggested tasks: list and filter, read, and review (accept, edit, reject; each correction kept as a label)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from handoff.access.disclosure import Disclosure
from handoff.api.deps import PartsDep, SessionDep
from handoff.api.errors import AUTHED, R400, R404, R409, R413
from handoff.api.schemas import examples
from handoff.api.security import Caller, View
from handoff.errors import InvalidInput
from handoff.schema_types import Day, UtcDateTime

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])

TASK_EXAMPLE: dict[str, Any] = {
    "id": "tsk_3f9a1c2e7b4d5a60",
    "title": "Send the kickoff agenda",
    "description": "Please send the kickoff agenda by Friday.",
    "assignee_id": "TM-007",
    "assignee_name": None,
    "assignee": "Maria Keller",
    "due_date": "2026-12-18",
    "priority": "high",
    "status": "suggested",
    "source": "email",
    "account_id": "A-00042",
    "project_id": "P-00087",
    "created_at": "2026-12-07T09:14:07Z",
    "confidence": 0.9,
    "extractor": "offline",
    "evidence": "Please send the kickoff agenda by Friday.",
    "fields": {
        "due_date": {"value": "2026-12-18", "confidence": 0.8, "evidence": "by Friday"},
        "priority": {"value": "high", "confidence": 0.7, "evidence": "urgent"},
    },
    "notes": [],
    "ledger_id": 1042,
    "thread_id": "thr_5c1e0a9b",
    "links": [{"ledger_id": 1051, "how": "thread", "similarity": 0.91, "at": "2026-12-08T08:30:00Z"}],
    "sync": [],
}


class TaskFieldPublic(BaseModel):
    """One extracted field: its value, how sure the extractor was, and the sentence it came from."""

    model_config = examples({"value": "2026-12-18", "confidence": 0.8, "evidence": "by Friday"})

    value: Any = None
    confidence: float | None = None
    evidence: str | None = None


class TaskLinkPublic(BaseModel):
    ledger_id: int | None
    how: str = Field(description="How a later message was tied to this task: thread update or duplicate link.")
    similarity: float | None
    at: UtcDateTime


class TaskSyncPublic(BaseModel):
    """Where the task was pushed: one entry per configured target, from the moment it was accepted."""

    model_config = examples(
        {
            "target": "jira",
            "status": "sent",
            "remote_id": "10231",
            "remote_key": "ACME-12",
            "url": "https://acme.atlassian.net/browse/ACME-12",
            "attempts": 1,
            "error": None,
            "sent_at": "2026-12-07T10:00:02Z",
        }
    )

    target: Literal["jira", "asana", "trello"]
    status: str = Field(description="pending (to push), sent (linked), failed (refused; see error), skipped.")
    remote_id: str | None = Field(None, description="The target's id of the issue, task or card.")
    remote_key: str | None = Field(None, description="The human key where the target has one (Jira's PROJ-12).")
    url: str | None = None
    attempts: int = 0
    error: str | None = Field(None, description="What the target answered last, secrets removed.")
    sent_at: UtcDateTime | None = None


class TaskPublic(BaseModel):
    model_config = examples(TASK_EXAMPLE)

    id: str
    title: str
    description: str | None = None
    assignee_id: str | None = None
    assignee_name: str | None = Field(None, description="The assignee as written, when not on the roster.")
    assignee: str | None = Field(
        None, description="Who does it, by name: the roster member's display name, else the name as written."
    )
    due_date: date | None = None
    priority: str | None = None
    status: str = Field(description="suggested (waiting for review), open, done or rejected.")
    source: str | None = None
    account_id: str | None = None
    project_id: str | None = None
    created_at: UtcDateTime | None = None
    confidence: float | None = None
    extractor: str | None = None
    evidence: str | None = None
    fields: dict[str, TaskFieldPublic] = Field(default_factory=dict)
    notes: list[Any] = Field(default_factory=list)
    ledger_id: int | None = None
    thread_id: str | None = None
    links: list[TaskLinkPublic] | None = None
    sync: list[TaskSyncPublic] = Field(default_factory=list, description="Its issue, task or card in each target.")


class TaskPagePublic(BaseModel):
    model_config = examples({"tasks": [TASK_EXAMPLE], "total": 1})

    tasks: list[TaskPublic]
    total: int = Field(description="Tasks matching the filters, across all pages.")


class TaskEditRequest(BaseModel):
    """Only the fields to change; each change is stored as a label (old, new, who, when)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"priority": "urgent", "due_date": "2026-12-16", "assignee_id": "TM-007"}]},
    )

    title: str | None = Field(None, min_length=1, max_length=255)  # the CRM column holds 255
    description: str | None = Field(None, max_length=20_000)
    assignee_id: str | None = Field(None, max_length=255)
    due_date: Day | None = None
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    project_id: str | None = Field(None, max_length=255)
    account_id: str | None = Field(None, max_length=255)


class TaskRejectRequest(BaseModel):
    model_config = examples({"reason": "A pleasantry, not a commitment."})

    reason: str | None = Field(None, max_length=2000, description="Why it is not a task; kept with the label.")


# Every text a task carries that can quote customer mail.
FREE_TEXT = ("title", "description", "evidence", "fields", "notes")


def public_tasks(view: Disclosure, tasks: list[dict[str, Any]]) -> list[TaskPublic]:
    """Addresses, phone numbers and contacts' bare local parts stay whole only for roles with `contact_data` (each
    such read audited); others see them masked (`access.disclosure`). Each carries its assignee's display name."""
    from handoff.tasks.service import assignee_names

    names = assignee_names(view.session, (task.get("assignee_id") for task in tasks))
    shown = []
    for task in tasks:
        named = {**task, "assignee": names.get(task.get("assignee_id") or "") or task.get("assignee_name")}
        shown.append(TaskPublic(**view.show(named, free_text=FREE_TEXT, subject=f"task:{task['id']}",
                                            account_id=task["account_id"])))  # fmt: skip
    return shown


def _one(view: Disclosure, task: dict[str, Any]) -> TaskPublic:
    return public_tasks(view, [task])[0]


@router.get(
    "",
    name="list_tasks",
    summary="Tasks, newest first; `status=suggested` is the review queue; account owners see their own accounts.",
    response_model=TaskPagePublic,
    responses={**AUTHED, **R400},
)
def list_tasks(
    session: SessionDep,
    caller: Caller,
    view: View,
    status: Annotated[Literal["suggested", "open", "done", "rejected"] | None, Query()] = None,
    account_id: Annotated[str | None, Query(max_length=255)] = None,
    project_id: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> TaskPagePublic:
    from handoff.tasks.service import count_tasks
    from handoff.tasks.service import list_tasks as find

    filters = {"status": status, "account_id": account_id, "project_id": project_id}
    filters["scope"] = view.scope  # account owners: their own accounts only
    found = find(session, **filters, limit=limit, offset=offset)
    return TaskPagePublic(tasks=public_tasks(view, found), total=count_tasks(session, **filters))


@router.get(
    "/{task_id}",
    name="get_task",
    summary="One task with its evidence and every message linked to it.",
    response_model=TaskPublic,
    responses={**AUTHED, **R404},
)
def get_task(task_id: str, session: SessionDep, view: View) -> TaskPublic:
    return _one(view, _visible(session, view, task_id))


def _visible(session: Any, view: Disclosure, task_id: str) -> dict[str, Any]:
    """The task if the caller's account scope holds it; 404 (as for a missing task) otherwise."""
    from handoff.tasks.service import get_task as find

    return find(session, task_id, scope=view.scope)


@router.post(
    "/{task_id}/accept",
    name="accept_task",
    summary="Accept a suggested task as it is (each field is labelled correct); it is queued for each sync target.",
    response_model=TaskPublic,
    responses={**AUTHED, **R413, **R404, **R409},
)
def accept_task(task_id: str, session: SessionDep, parts: PartsDep, caller: Caller, view: View) -> TaskPublic:
    from handoff.tasks.service import accept_task as accept

    _visible(session, view, task_id)
    return _one(view, accept(session, task_id, caller.actor, sync_targets=parts.settings.sync.targets()))


@router.patch(
    "/{task_id}",
    name="edit_task",
    summary="Correct fields of a task; each correction is stored as a label.",
    response_model=TaskPublic,
    responses={**AUTHED, **R413, **R400, **R404, **R409},
)
def edit_task(task_id: str, body: TaskEditRequest, session: SessionDep, caller: Caller, view: View) -> TaskPublic:
    from handoff.tasks.service import edit_task as edit

    _visible(session, view, task_id)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("account_id") is not None and not view.scope.sees(changes["account_id"]):
        raise InvalidInput(f"no account {changes['account_id']!r}")  # the words of an unknown account: no probing
    return _one(view, edit(session, task_id, changes, caller.actor))


@router.post(
    "/{task_id}/reject",
    name="reject_task",
    summary="Not a task: a negative label for the whole task.",
    response_model=TaskPublic,
    responses={**AUTHED, **R413, **R404, **R409},
)
def reject_task(
    task_id: str, session: SessionDep, caller: Caller, view: View, body: TaskRejectRequest | None = None
) -> TaskPublic:
    from handoff.tasks.service import reject_task as reject

    _visible(session, view, task_id)
    return _one(view, reject(session, task_id, caller.actor, body.reason if body else None))


@router.post(
    "/{task_id}/complete",
    name="complete_task",
    summary="Close an accepted task; its items in Jira, Asana and Trello are closed through the sync outbox.",
    response_model=TaskPublic,
    responses={**AUTHED, **R413, **R404, **R409},
)
def complete_task(task_id: str, session: SessionDep, view: View) -> TaskPublic:
    from handoff.tasks.service import set_task_status

    _visible(session, view, task_id)
    return _one(view, set_task_status(session, task_id, "done"))


@router.post(
    "/{task_id}/reopen",
    name="reopen_task",
    summary="Reopen a done task; its items in Jira, Asana and Trello are reopened through the sync outbox.",
    response_model=TaskPublic,
    responses={**AUTHED, **R413, **R404, **R409},
)
def reopen_task(task_id: str, session: SessionDep, view: View) -> TaskPublic:
    from handoff.tasks.service import set_task_status

    _visible(session, view, task_id)
    return _one(view, set_task_status(session, task_id, "open"))
