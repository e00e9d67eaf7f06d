"""The tasks page (accepted work by project, assignee and due date, with filters) and the review queue's actions on
many or on a repeat: bulk accept of the selected cards, and "link to the open task instead" for a possible duplicate.

Everything goes through `tasks.service` with the caller's account scope and shows tasks through `/v1/tasks`' own
masking (`web.views.shown_tasks`), so a page shows a role exactly what the API shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.access.keys import Principal
from handoff.access.scope import account_scope
from handoff.api.deps import SessionDep
from handoff.errors import InvalidInput
from handoff.store.crm_tables import CRM_TABLES
from handoff.web.pages import PersonDep, check_csrf, render
from handoff.web.views import Options

router = APIRouter(prefix="/app", include_in_schema=False, dependencies=[Depends(check_csrf)])
PAGE_SIZE = 50
STATUSES = ("open", "suggested", "done", "rejected", "all")
DUE_WINDOWS = ("overdue", "week", "month", "none")
GROUPS = ("due", "project", "assignee")
MAX_SELECTED = 100  # one review page holds 20 cards; more than this is not a person's selection


@dataclass
class TaskRow:
    task: Any  # TaskPublic, masked for the caller
    assignee: str | None
    account: str | None
    project: str | None
    overdue: bool
    group: str | None  # the project's or assignee's name when the list is grouped


@dataclass
class TasksPage:
    rows: list[TaskRow]
    filters: dict[str, str]
    roster: list[tuple[str, str]]
    accounts: list[tuple[str, str]]
    page: int
    pages: int
    total: int
    today: date

    def account_options(self) -> Markup:
        return Options(self.accounts).html(self.filters.get("account"))

    def link(self, **changes: object) -> str:
        """This page's address with some filters changed (empty ones left out)."""
        query = {**self.filters, **{k: str(v) for k, v in changes.items()}}
        return "/app/tasks?" + urlencode({k: v for k, v in query.items() if v})


def due_window(window: str | None, today: date) -> dict[str, Any]:
    """The service filter for a due window: overdue (before today), the next 7 or 30 days, or no due date."""
    if not window:
        return {}
    if window not in DUE_WINDOWS:
        raise InvalidInput(f"due must be one of {', '.join(DUE_WINDOWS)}, not {window!r}")
    return {
        "overdue": {"due_to": today - timedelta(days=1)},
        "week": {"due_from": today, "due_to": today + timedelta(days=7)},
        "month": {"due_from": today, "due_to": today + timedelta(days=30)},
        "none": {"no_due": True},
    }[window]


ACCOUNT_CHOICES_TTL_S = 60.0


def _accounts_with_tasks(session: Session, scope: Any, cache: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The account filter's choices: accounts with tasks that `scope` sees. For unscoped callers they are kept for a
    minute in `cache` (the app's): the list spans every account with tasks, and reading it was a fifth of the page."""
    import time

    if cache is not None and scope.everything:
        kept = cache.get("task_accounts")
        if kept is not None and time.monotonic() - kept[0] < ACCOUNT_CHOICES_TTL_S:
            return kept[1]
    found = _read_accounts_with_tasks(session, scope)
    if cache is not None and scope.everything:
        cache["task_accounts"] = (time.monotonic(), found)
    return found


def _read_accounts_with_tasks(session: Session, scope: Any) -> list[tuple[str, str]]:
    tasks, accounts = CRM_TABLES["tasks"], CRM_TABLES["accounts"]
    query = (
        select(accounts.c.id, accounts.c.name)
        .where(accounts.c.id.in_(select(tasks.c.account_id).where(tasks.c.account_id.is_not(None)).distinct()))
        .where(scope.where(accounts.c.id))
        .order_by(accounts.c.name)
    )
    return [(row.id, row.name or row.id) for row in session.execute(query)]


def tasks_page(
    session: Session,
    caller: Principal,
    *,
    filters: dict[str, str],
    page: int,
    today: date,
    cache: dict[str, Any] | None = None,
) -> TasksPage:
    from handoff.tasks.service import NOBODY, TaskFilter, count_tasks, list_tasks, load_roster
    from handoff.web.views import names, shown_tasks

    status, group = filters.get("status") or "open", filters.get("group") or "due"
    if status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    if group not in GROUPS:
        raise InvalidInput(f"group must be one of {', '.join(GROUPS)}, not {group!r}")
    scope = account_scope(session, caller)
    roster = sorted(((m.id, m.name) for m in load_roster(session)), key=lambda pair: pair[1].lower())
    assignee = filters.get("assignee") or None
    if assignee and assignee != NOBODY and assignee not in dict(roster):
        raise InvalidInput(f"no team member {assignee!r} on the roster")
    narrow = TaskFilter(
        status=None if status == "all" else status,
        account_id=filters.get("account") or None,
        assignee_id=assignee,
        **due_window(filters.get("due"), today),
    )
    total = count_tasks(session, scope=scope, narrow=narrow)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    views = list_tasks(session, scope=scope, narrow=narrow, order=group, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    shown = shown_tasks(session, caller, views)
    people = dict(roster)
    people.update(names(session, "team_members", (t.assignee_id for t in shown if t.assignee_id not in people)))
    accounts = names(session, "accounts", (t.account_id for t in shown))
    projects = names(session, "projects", (t.project_id for t in shown))
    rows = []
    for task in shown:
        assignee_name = people.get(task.assignee_id or "", task.assignee_id) or task.assignee_name
        project = projects.get(task.project_id or "", task.project_id)
        rows.append(
            TaskRow(
                task=task,
                assignee=assignee_name,
                account=accounts.get(task.account_id or "", task.account_id),
                project=project,
                overdue=bool(task.due_date and task.due_date < today and task.status in ("open", "suggested")),
                group={"project": project, "assignee": assignee_name}.get(group),
            )
        )
    shown_filters = {
        "status": status,
        "group": group,
        **{k: filters.get(k) or "" for k in ("assignee", "account", "due")},
    }
    return TasksPage(
        rows, shown_filters, roster, _accounts_with_tasks(session, scope, cache), page, pages, total, today
    )


@router.get("/tasks", name="web_tasks")
def tasks(
    request: Request,
    session: SessionDep,
    person: PersonDep,
    status: Annotated[str | None, Query(max_length=16)] = None,
    assignee: Annotated[str | None, Query(max_length=255)] = None,
    account: Annotated[str | None, Query(max_length=255)] = None,
    due: Annotated[str | None, Query(max_length=16)] = None,
    group: Annotated[str | None, Query(max_length=16)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    from handoff.clock import today

    filters = {"status": status, "assignee": assignee, "account": account, "due": due, "group": group}
    chosen = {k: v for k, v in filters.items() if v}
    cache = request.app.state.web.extra
    view = tasks_page(session, person, filters=chosen, page=page, today=today(), cache=cache)
    return render(request, "tasks.html", view=view)


@router.post("/review/bulk/accept", name="web_review_bulk")
async def accept_selected(request: Request, person: PersonDep) -> Response:
    """Accepts every selected card as it stands (edits not saved on a card are not applied: accept it on its own),
    in one transaction through `accept_task`; a card decided meanwhile (in another tab) is counted, not an error."""
    form = await request.form()
    ids = list(dict.fromkeys(str(value) for value in form.getlist("task_id") if value))
    page = str(form.get("page") or "1")
    if not ids:
        raise InvalidInput("select at least one task (the box on each card) before pressing Accept selected")
    if len(ids) > MAX_SELECTED or any(len(task_id) > 64 for task_id in ids):
        raise InvalidInput(f"select at most {MAX_SELECTED} tasks at once")
    from starlette.concurrency import run_in_threadpool

    accepted, skipped = await run_in_threadpool(_accept_all, request, person, ids)
    query = urlencode({"page": page if page.isdigit() else "1", "accepted": accepted, "skipped": skipped})
    return RedirectResponse(f"/app/review?{query}", status_code=303)


def _accept_all(request: Request, person: Principal, ids: list[str]) -> tuple[int, int]:
    from handoff.store.db import transaction
    from handoff.tasks.service import accept_task, get_task

    targets = request.app.state.parts.settings.sync.targets()
    accepted = skipped = 0
    with transaction(request.app.state.parts.sessions) as session:
        scope = account_scope(session, person)
        for task_id in ids:
            task = get_task(session, task_id, scope=scope)  # another owner's task: not found, nothing accepted
            if task["status"] != "suggested":
                skipped += 1
                continue
            accept_task(session, task_id, person.actor, sync_targets=targets)
            accepted += 1
    return accepted, skipped


@router.post("/review/{task_id}/duplicate", name="web_review_duplicate")
def link_duplicate(
    task_id: str,
    session: SessionDep,
    person: PersonDep,
    target_id: Annotated[str, Form(max_length=64)],
    page: Annotated[int, Form(ge=1, le=1_000_000)] = 1,
) -> Response:
    """The card's "link instead": the suggestion closes as a duplicate of the open task, its message linked there."""
    from handoff.tasks.service import link_as_duplicate

    if len(task_id) > 64:
        raise InvalidInput("that is not a task id")
    link_as_duplicate(session, task_id, target_id, person.actor, scope=account_scope(session, person))
    return RedirectResponse(f"/app/review?{urlencode({'page': page, 'linked': task_id})}", status_code=303)
