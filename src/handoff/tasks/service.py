"""Recording extracted tasks (create, link repeats, update threads) and the review queue that keeps labels."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from handoff.access.scope import EVERYTHING, AccountScope
from handoff.clock import naive_utcnow, utcnow
from handoff.errors import Conflict, InvalidInput, NotFound
from handoff.extraction.model import TaskDraft, TeamMember
from handoff.store.crm_tables import CRM_TABLES
from handoff.tasks.tables import task_extractions, task_labels, task_links

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.settings import Settings

tasks = CRM_TABLES["tasks"]
team_members = CRM_TABLES["team_members"]
ACTIVE = ("suggested", "open")
STATUSES = ("suggested", "open", "done", "rejected")
REVIEWED_FIELDS = ("title", "assignee", "due", "priority")
EDITABLE = {"title", "description", "assignee_id", "due_date", "priority", "project_id", "account_id"}
_FIELD_OF_COLUMN = {"title": "title", "assignee_id": "assignee", "due_date": "due", "priority": "priority"}
# A reply in the same thread restates an ask more loosely than a re-forward does: a lower bar inside a thread.
THREAD_SIMILARITY_MARGIN = 0.15
# A task is read in a list, not a copy of its message: a 2 MB note once became one task whose description made
# `GET /v1/tasks?limit=50` answer 11.9 MB. The whole message stays in the ledger's raw bytes.
MAX_DESCRIPTION_CHARS = 4_000
MAX_EVIDENCE_CHARS = 1_000  # the sentence a task came from; stored with the task, each field and each link


@dataclass
class RecordedTasks:
    """Task ids touched by one message: new, updated through their thread, linked as duplicates."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)


def load_roster(session: Session) -> list[TeamMember]:
    """Active team members, with their comma-separated aliases split."""
    rows = session.execute(select(team_members).where(func.coalesce(team_members.c.active, True).is_(True))).all()
    return [
        TeamMember(
            id=row.id,
            name=row.name,
            email=row.email,
            aliases=tuple(alias.strip() for alias in (row.aliases or "").split(",") if alias.strip()),
        )
        for row in rows
    ]


def assignee_names(session: Session, ids: Iterable[str | None]) -> dict[str, str]:
    """Team members' names by id, active or not (a task keeps the assignee who has since left), in one query."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = session.execute(select(team_members.c.id, team_members.c.name).where(team_members.c.id.in_(wanted)))
    return {row.id: row.name for row in rows}


def embed_titles(texts: Sequence[str]) -> np.ndarray:
    """The dedupe space: MiniLM on the task title (phrasings differ far more between mail and meeting than titles)."""
    from handoff.extraction.embeddings import encode

    return encode(list(texts))


def _vector(blob: bytes | None) -> np.ndarray | None:
    return np.frombuffer(blob, dtype=np.float32) if blob else None


@dataclass
class _Candidate:
    """An active task a draft may repeat or refine: one already stored, or one this message creates."""

    id: str
    thread_id: str | None
    account_id: str | None
    due_date: Any
    assignee_id: Any
    priority: Any


def _candidates(
    session: Session, *, account_id: str | None, thread_id: str | None
) -> tuple[list[_Candidate], np.ndarray]:
    conditions = [tasks.c.status.in_(ACTIVE)]
    scope = []
    if account_id:
        scope.append(task_extractions.c.account_id == account_id)
    if thread_id:
        scope.append(task_extractions.c.thread_id == thread_id)
    if not scope:
        return [], np.zeros((0, 0), dtype=np.float32)
    from sqlalchemy import or_

    query = (
        select(
            tasks.c.id,
            tasks.c.due_date,
            tasks.c.assignee_id,
            tasks.c.priority,
            task_extractions.c.thread_id,
            task_extractions.c.embedding,
            task_extractions.c.account_id.label("x_account"),
        )
        .join(task_extractions, task_extractions.c.task_id == tasks.c.id)
        .where(and_(*conditions), or_(*scope))
    )
    found, vectors = [], []
    for row in session.execute(query).all():
        vector = _vector(row.embedding)
        if vector is not None:
            found.append(_Candidate(row.id, row.thread_id, row.x_account, row.due_date, row.assignee_id, row.priority))
            vectors.append(vector)
    return found, (np.vstack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32))


def _source(session: Session, ledger_id: int | None, ledger_kind: str | None = None) -> str:
    """The task's source from its ledger row's kind; a caller that holds the row says the kind (no query)."""
    if ledger_kind is None and ledger_id is not None:
        from handoff.intake.tables import ledger

        ledger_kind = session.execute(select(ledger.c.kind).where(ledger.c.id == ledger_id)).scalar()
    return "meeting" if ledger_kind == "notes" else "email"


def bounded(text: str | None, limit: int) -> str | None:
    """Text cut to `limit` characters (an ellipsis marks the cut); a message's full text stays in its raw bytes."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def _fields(draft: TaskDraft) -> dict[str, dict[str, Any]]:
    def one(found: Any) -> dict[str, Any]:
        value = found.value.isoformat() if isinstance(found.value, date) else found.value
        evidence = bounded(found.evidence, MAX_EVIDENCE_CHARS)
        return {"value": value, "confidence": round(float(found.confidence), 4), "evidence": evidence}

    return {
        "title": one(draft.title),
        "assignee": one(draft.assignee),
        "due": one(draft.due),
        "priority": one(draft.priority),
    }


def _auto_accepted(draft: TaskDraft, threshold: float | None) -> bool:
    if threshold is None:
        return False
    confidences = [draft.confidence, draft.title.confidence, draft.assignee.confidence, draft.due.confidence]
    return min(confidences + [draft.priority.confidence]) >= threshold


def _best(similarities: np.ndarray, eligible: np.ndarray) -> int | None:
    if not eligible.any():
        return None
    return int(np.argmax(np.where(eligible, similarities, -np.inf)))


def record_tasks(
    session: Session,
    *,
    ledger_id: int | None,
    drafts: list[TaskDraft],
    account_id: str | None,
    project_id: str | None,
    thread_id: str | None,
    settings: Settings,
    title_vectors: np.ndarray | None = None,
    ledger_kind: str | None = None,
) -> RecordedTasks:
    """Store a message's drafts: update the thread's matching task, link a repeat of an open task, or create one.

    Called inside the caller's write transaction, so it does no slow work there: the title embeddings come in as
    `title_vectors` (the worker embeds a whole batch's titles with `embed_titles` before opening the transaction;
    computed here only when absent), the open tasks to compare against are read once, and the new rows are written
    in one batch per table. `ledger_kind` is the ledger row's kind when the caller has it (read here otherwise)."""
    recorded = RecordedTasks()
    if not drafts:
        return recorded
    vectors = embed_titles([draft.title.value for draft in drafts]) if title_vectors is None else title_vectors
    vectors = np.asarray(vectors, dtype=np.float32)
    if len(vectors) != len(drafts):
        raise ValueError(f"{len(vectors)} title vectors for {len(drafts)} drafts")
    duplicate_bar = settings.extraction.duplicate_similarity
    thread_bar = duplicate_bar - THREAD_SIMILARITY_MARGIN
    source = _source(session, ledger_id, ledger_kind)
    now = utcnow()
    candidates, stored = _candidates(session, account_id=account_id, thread_id=thread_id)
    # The tasks this message creates are candidates for its later drafts too (the same ask twice is one task).
    pool = np.zeros((len(candidates) + len(drafts), vectors.shape[1]), dtype=np.float32)
    if candidates:
        pool[: len(candidates)] = stored
    in_thread = np.array([bool(thread_id) and c.thread_id == thread_id for c in candidates] + [False] * len(drafts))
    in_account = np.array([bool(account_id) and c.account_id == account_id for c in candidates] + [False] * len(drafts))
    new_tasks: list[dict[str, Any]] = []
    new_extractions: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    updates: dict[str, dict[str, Any]] = {}  # stored task id -> column changes from later messages in its thread
    pending: dict[str, dict[str, Any]] = {}  # task id -> the row this message inserts (refined in place)
    for draft, vector in zip(drafts, vectors, strict=True):
        size = len(candidates)
        similarities = pool[:size] @ vector
        evidence = bounded(draft.evidence, MAX_EVIDENCE_CHARS)
        best = _best(similarities, in_thread[:size] & (similarities >= thread_bar))
        if best is not None:
            target = candidates[best]
            changes = _refinements(target, draft)
            if changes:
                for name, value in changes.items():
                    setattr(target, name, value)
                (pending.get(target.id) or updates.setdefault(target.id, {})).update(changes)
            links.append(_link_row(target.id, ledger_id, "thread", float(similarities[best]), evidence, now))
            if target.id not in pending and target.id not in recorded.updated:
                recorded.updated.append(target.id)
            continue
        best = _best(similarities, in_account[:size] & (similarities >= duplicate_bar))
        if best is not None:
            target = candidates[best]
            links.append(_link_row(target.id, ledger_id, "duplicate", float(similarities[best]), evidence, now))
            if target.id not in recorded.linked:
                recorded.linked.append(target.id)
            continue
        task_id = f"tsk_{uuid.uuid4().hex[:16]}"
        status = "open" if _auto_accepted(draft, settings.extraction.auto_accept_confidence) else "suggested"
        notes = list(draft.notes)
        description = bounded(draft.description, MAX_DESCRIPTION_CHARS)
        if description != draft.description:
            notes.append(f"description cut at {MAX_DESCRIPTION_CHARS:,} characters; the full text is in the message")
        row = {
            "id": task_id,
            "project_id": project_id,
            "account_id": account_id,
            "title": draft.title.value[:255],
            "description": description,
            "assignee_id": draft.assignee_id,
            "due_date": draft.due.value,
            "priority": draft.priority.value,
            "status": status,
            "source": source,
            "created_at": now.replace(tzinfo=None),
        }
        new_tasks.append(row)
        pending[task_id] = row
        new_extractions.append(
            {
                "task_id": task_id,
                "ledger_id": ledger_id,
                "thread_id": thread_id,
                "account_id": account_id,
                "extractor": draft.extractor,
                "confidence": float(draft.confidence),
                "fields": _fields(draft),
                "assignee_name": draft.assignee.value if draft.assignee_id is None else None,
                "evidence": evidence,
                "notes": notes,
                "embedding": vector.tobytes(),
                "created_at": now,
                "updated_at": now,
            }
        )
        links.append(_link_row(task_id, ledger_id, "created", None, evidence, now))
        candidates.append(
            _Candidate(task_id, thread_id, account_id, row["due_date"], row["assignee_id"], row["priority"])
        )
        pool[size] = vector
        in_thread[size], in_account[size] = bool(thread_id), bool(account_id)
        recorded.created.append(task_id)
    # The write phase: a few batched statements, however many drafts there were.
    if new_tasks:
        session.execute(tasks.insert(), new_tasks)
        session.execute(task_extractions.insert(), new_extractions)
    for task_id, changes in sorted(updates.items()):  # one lock order for every worker: fewer deadlocks between them
        session.execute(tasks.update().where(tasks.c.id == task_id).values(**changes))
    touched = [c.id for c in candidates if c.id in recorded.updated]
    if touched:
        session.execute(task_extractions.update().where(task_extractions.c.task_id.in_(touched)).values(updated_at=now))
    if links:
        session.execute(task_links.insert(), links)
    accepted = [row["id"] for row in new_tasks if row["status"] == "open"]
    if accepted:  # auto-accepted: into the sync outbox in this same transaction, as a reviewer's accept is
        from handoff.sync.outbox import enqueue

        enqueue(session, accepted, settings.sync.targets(), now=now)
    if new_tasks:  # events out, in this same transaction (`events.outbox.emit`: nothing written without subscribers)
        suggested = [row["id"] for row in new_tasks if row["status"] == "suggested"]
        for event_type, ids in (("task.suggested", suggested), ("task.accepted", accepted)):
            if ids:
                emit_tasks(session, event_type, ids)
    return recorded


def _refinements(row: _Candidate, draft: TaskDraft) -> dict[str, Any]:
    """A later message in the thread refines the task: new dates, owners and urgency win; nothing is blanked."""
    changes: dict[str, Any] = {}
    if draft.due.value is not None and draft.due.value != row.due_date:
        changes["due_date"] = draft.due.value
    if draft.assignee_id and draft.assignee_id != row.assignee_id:
        changes["assignee_id"] = draft.assignee_id
    if draft.priority.value != "normal" and draft.priority.value != row.priority:
        changes["priority"] = draft.priority.value
    return changes


def _link_row(
    task_id: str, ledger_id: int | None, how: str, similarity: float | None, evidence: str | None, now: datetime
) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "ledger_id": ledger_id,
        "how": how,
        "similarity": similarity,
        "evidence": evidence,
        "created_at": now,
    }


# ---- the review queue ------------------------------------------------------------------------------------------


def _view(row: Any, links: list[Any] | None = None) -> dict[str, Any]:
    view = {
        "id": row.id,
        "title": row.title,
        "description": row.description,
        "assignee_id": row.assignee_id,
        "assignee_name": row.assignee_name,
        "due_date": row.due_date.isoformat() if row.due_date else None,
        "priority": row.priority,
        "status": row.status,
        "source": row.source,
        "account_id": row.account_id,
        "project_id": row.project_id,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "confidence": row.confidence,
        "extractor": row.extractor,
        "evidence": row.evidence,
        "fields": row.fields or {},
        "notes": row.notes or [],
        "ledger_id": row.ledger_id,
        "thread_id": row.thread_id,
    }
    if links is not None:
        view["links"] = [
            {
                "ledger_id": link.ledger_id,
                "how": link.how,
                "similarity": link.similarity,
                "at": link.created_at.isoformat(),
            }
            for link in links
        ]
    return view


def _select_views():
    return select(
        tasks,
        task_extractions.c.assignee_name,
        task_extractions.c.confidence,
        task_extractions.c.extractor,
        task_extractions.c.evidence,
        task_extractions.c.fields,
        task_extractions.c.notes,
        task_extractions.c.ledger_id,
        task_extractions.c.thread_id,
    ).outerjoin(task_extractions, task_extractions.c.task_id == tasks.c.id)


@dataclass(frozen=True)
class TaskFilter:
    """What a task list is narrowed to: `GET /v1/tasks`' filters and the tasks page's (assignee, due window).

    `assignee_id=NOBODY` lists tasks with no roster assignee; `due_from`/`due_to` are inclusive; `no_due` lists tasks
    without a due date."""

    status: str | None = None
    account_id: str | None = None
    project_id: str | None = None
    assignee_id: str | None = None
    due_from: date | None = None
    due_to: date | None = None
    no_due: bool = False


NOBODY = "-"  # the assignee filter's value for "no roster assignee"
ORDERS = ("newest", "due", "project", "assignee")


def list_tasks(
    session: Session,
    *,
    status: str | None = None,
    account_id: str | None = None,
    project_id: str | None = None,
    scope: AccountScope = EVERYTHING,
    limit: int = 50,
    offset: int = 0,
    narrow: TaskFilter | None = None,
    order: str = "newest",
) -> list[dict[str, Any]]:
    """Tasks newest first, or soonest due first (undated last), optionally grouped by project or assignee; the review
    queue is `status="suggested"`; only those on accounts `scope` sees. `narrow` adds the tasks page's filters."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be suggested, open, done or rejected, not {status!r}")
    if limit < 1 or limit > 500 or offset < 0:
        raise InvalidInput("limit must be 1-500 and offset >= 0")
    if order not in ORDERS:
        raise InvalidInput(f"order must be {' or '.join(ORDERS)}, not {order!r}")
    wanted = _merged(narrow, status=status, account_id=account_id, project_id=project_id)
    query = _where(_select_views(), wanted, scope=scope)
    soonest = (tasks.c.due_date.is_(None), tasks.c.due_date, tasks.c.created_at.desc(), tasks.c.id)
    if order == "newest":
        query = query.order_by(tasks.c.created_at.desc(), tasks.c.id)
    else:  # grouped by project or assignee (those without last), soonest due first inside
        group = {"project": (tasks.c.project_id,), "assignee": (tasks.c.assignee_id,), "due": ()}[order]
        query = query.order_by(*(part for column in group for part in (column.is_(None), column)), *soonest)
    query = query.limit(limit).offset(offset)
    return _with_sync(session, [_view(row) for row in session.execute(query).all()])


def tasks_of_messages(session: Session, ledger_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The tasks each of these messages created, oldest first, in one query (the inbox shows them per message)."""
    found: dict[int, list[dict[str, Any]]] = {}
    if not ledger_ids:
        return found
    # From the extractions (a few per message) to their tasks, not through every CRM task: the outer join of
    # `_select_views` made SQLite scan the whole tasks table (tens of thousands of project tasks in the demo).
    columns = _select_views().selected_columns
    query = (
        select(*columns)
        .select_from(task_extractions.join(tasks, tasks.c.id == task_extractions.c.task_id))
        .where(task_extractions.c.ledger_id.in_(list(ledger_ids)))
        .order_by(tasks.c.created_at)
    )
    for row in session.execute(query).all():
        found.setdefault(row.ledger_id, []).append(_view(row))
    return found


def tasks_by_id(session: Session, task_ids: Sequence[str], *, scope: AccountScope = EVERYTHING) -> list[dict[str, Any]]:
    """These tasks as `list_tasks` shows them, in one query; ids outside `scope` or unknown are left out."""
    if not task_ids:
        return []
    query = _where(_select_views().where(tasks.c.id.in_(list(task_ids))), TaskFilter(), scope=scope)
    return _with_sync(session, [_view(row) for row in session.execute(query).all()])


def count_tasks(
    session: Session,
    *,
    status: str | None = None,
    account_id: str | None = None,
    project_id: str | None = None,
    scope: AccountScope = EVERYTHING,
    narrow: TaskFilter | None = None,
) -> int:
    """How many tasks `list_tasks` pages through with the same filters."""
    query = select(func.count()).select_from(tasks)
    wanted = _merged(narrow, status=status, account_id=account_id, project_id=project_id)
    return int(session.execute(_where(query, wanted, scope=scope)).scalar_one())


def _merged(narrow: TaskFilter | None, **given: str | None) -> TaskFilter:
    base = narrow or TaskFilter()
    return replace(base, **{name: value for name, value in given.items() if value is not None})


def _where(query: Select, wanted: TaskFilter, *, scope: AccountScope) -> Select:
    if wanted.status is not None and wanted.status not in STATUSES:
        raise InvalidInput(f"status must be suggested, open, done or rejected, not {wanted.status!r}")
    pairs = ((tasks.c.status, wanted.status), (tasks.c.account_id, wanted.account_id),
             (tasks.c.project_id, wanted.project_id))  # fmt: skip
    for column, value in pairs:
        if value:
            query = query.where(column == value)
    if wanted.assignee_id == NOBODY:
        query = query.where(tasks.c.assignee_id.is_(None))
    elif wanted.assignee_id:
        query = query.where(tasks.c.assignee_id == wanted.assignee_id)
    if wanted.no_due:
        query = query.where(tasks.c.due_date.is_(None))
    if wanted.due_from is not None:
        query = query.where(tasks.c.due_date >= wanted.due_from)
    if wanted.due_to is not None:
        query = query.where(tasks.c.due_date <= wanted.due_to)
    return query if scope.everything else query.where(scope.where(tasks.c.account_id))


def _row(session: Session, task_id: str) -> Any:
    row = session.execute(_select_views().where(tasks.c.id == task_id)).first()
    if row is None:
        raise NotFound(f"no task {task_id!r}")
    return row


def get_task(session: Session, task_id: str, *, scope: AccountScope = EVERYTHING) -> dict[str, Any]:
    """One task with its extraction metadata and every message linked to it.

    A task on an account outside `scope` is not found, with the same words as a missing one: a key cannot probe
    which tasks exist on other owners' accounts."""
    row = _row(session, task_id)
    if not scope.sees(row.account_id):
        raise NotFound(f"no task {task_id!r}")
    links = session.execute(select(task_links).where(task_links.c.task_id == task_id).order_by(task_links.c.id)).all()
    return _with_sync(session, [_view(row, links)])[0]


def _with_sync(session: Session, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each task with where it was pushed (Jira, Asana, Trello): one query for the whole page."""
    from handoff.sync.outbox import links_of

    found = links_of(session, [view["id"] for view in views])
    for view in views:
        view["sync"] = found.get(view["id"], [])
    return views


def emit_tasks(session: Session, event_type: str, task_ids: Sequence[str]) -> None:
    """`event_type` for each task, with the task as `GET /v1/tasks/{id}` shows it, in the caller's transaction."""
    from handoff.events.outbox import Resource, emit

    def resources() -> list[Resource]:
        views = [get_task(session, task_id) for task_id in task_ids]  # with its links, as `GET` shows it
        return [Resource(f"task:{view['id']}", view, view["account_id"]) for view in views]

    emit(session, event_type, resources)


def _label(
    session: Session,
    row: Any,
    *,
    action: str,
    field_name: str,
    old: Any,
    new: Any,
    correct: bool,
    reviewer: str,
    reason: str | None = None,
) -> None:
    session.execute(
        task_labels.insert().values(
            task_id=row.id,
            action=action,
            field=field_name,
            old_value=None if old is None else str(old),
            new_value=None if new is None else str(new),
            correct=1 if correct else 0,
            extractor=row.extractor,
            reviewer=reviewer,
            reason=reason,
            created_at=utcnow(),
        )
    )


def _current_value(row: Any, field_name: str) -> Any:
    return {
        "title": row.title,
        "assignee": row.assignee_id or row.assignee_name,
        "due": row.due_date,
        "priority": row.priority,
    }[field_name]


def accept_task(session: Session, task_id: str, reviewer: str, *, sync_targets: Sequence[str] = ()) -> dict[str, Any]:
    """Suggested → open; each field not corrected before counts as extracted right. The task goes into the sync
    outbox of each of `sync_targets` (`settings.sync.targets()`) in the same transaction: accepted means pushed."""
    row = _row(session, task_id)
    if row.status not in ("suggested",):
        raise Conflict(f"task {task_id} is {row.status}, only suggested tasks can be accepted")
    edited = set(
        session.execute(
            select(task_labels.c.field).where(task_labels.c.task_id == task_id, task_labels.c.action == "edit")
        ).scalars()
    )
    for name in REVIEWED_FIELDS:
        if name not in edited:
            value = _current_value(row, name)
            _label(
                session, row, action="accept", field_name=name, old=value, new=value, correct=True, reviewer=reviewer
            )
    _label(
        session, row, action="accept", field_name="task", old=row.status, new="open", correct=True, reviewer=reviewer
    )
    session.execute(tasks.update().where(tasks.c.id == task_id).values(status="open"))
    if sync_targets:
        from handoff.sync.outbox import enqueue

        enqueue(session, [task_id], sync_targets)
    emit_tasks(session, "task.accepted", [task_id])
    return get_task(session, task_id)


def _coerce(column: str, value: Any) -> Any:
    if value is None:
        if column == "title":
            raise InvalidInput("title cannot be empty")
        return None
    if column == "due_date":
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError as error:
            raise InvalidInput(f"due_date must be YYYY-MM-DD, not {value!r}") from error
    if column == "priority" and value not in ("low", "normal", "high", "urgent"):
        raise InvalidInput(f"priority must be low, normal, high or urgent, not {value!r}")
    if column == "title" and not str(value).strip():
        raise InvalidInput("title cannot be empty")
    return str(value).strip() if isinstance(value, str) else value


# Edits that point a task elsewhere must point at something: the CRM row is checked first.
_REFERENCES = {
    "assignee_id": (team_members, "team member"),
    "account_id": (CRM_TABLES["accounts"], "account"),
    "project_id": (CRM_TABLES["projects"], "project"),
}


def edit_task(session: Session, task_id: str, changes: dict[str, Any], reviewer: str) -> dict[str, Any]:
    """Apply a reviewer's corrections; each changed field becomes a label (old, new, who, when)."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise InvalidInput(f"cannot edit {sorted(unknown)}; editable: {sorted(EDITABLE)}")
    row = _row(session, task_id)
    if row.status == "rejected":
        raise Conflict(f"task {task_id} was rejected")
    for column, (entity, what) in _REFERENCES.items():
        key = changes.get(column)
        if key is not None and session.execute(select(entity.c.id).where(entity.c.id == key)).scalar() is None:
            raise InvalidInput(f"no {what} {key!r}")
    values = {}
    for column, raw in changes.items():
        new = _coerce(column, raw)
        old = getattr(row, column)
        if new == old:
            continue
        values[column] = new
        field_name = _FIELD_OF_COLUMN.get(column, column)
        old_label = (row.assignee_id or row.assignee_name) if column == "assignee_id" else old
        _label(
            session, row, action="edit", field_name=field_name, old=old_label, new=new, correct=False, reviewer=reviewer
        )
    if values:
        session.execute(tasks.update().where(tasks.c.id == task_id).values(**values))
        session.execute(
            task_extractions.update().where(task_extractions.c.task_id == task_id).values(updated_at=utcnow())
        )
        from handoff.sync.outbox import mark_edited

        # Already pushed: the tools get the edit, in this transaction; a move says where the task was mapped.
        before = {column: getattr(row, column) for column in ("project_id", "account_id")}
        mark_edited(session, task_id, values, before=before)
    return get_task(session, task_id)


def set_task_status(session: Session, task_id: str, status: str) -> dict[str, Any]:
    """A person closes (`done`) or reopens (`open`) an accepted task; its items in the tools follow through the sync
    outbox, in this transaction. The same status again changes nothing and sends nothing."""
    if status not in ("open", "done"):
        raise InvalidInput(f"status must be open or done, not {status!r}")
    row = _row(session, task_id)
    if row.status not in ("open", "done"):
        raise Conflict(f"task {task_id} is {row.status}; only an accepted task is closed or reopened")
    if row.status != status:
        completed = naive_utcnow() if status == "done" else None  # CRM tables hold naive UTC
        session.execute(tasks.update().where(tasks.c.id == task_id).values(status=status, completed_at=completed))
        from handoff.sync.outbox import mark_edited

        mark_edited(session, task_id, ["status"])
    return get_task(session, task_id)


def reject_task(session: Session, task_id: str, reviewer: str, reason: str | None = None) -> dict[str, Any]:
    """Not a task (or not ours): a negative label for the whole task."""
    row = _row(session, task_id)
    if row.status == "rejected":
        raise Conflict(f"task {task_id} is already rejected")
    _label(
        session,
        row,
        action="reject",
        field_name="task",
        old=row.status,
        new="rejected",
        correct=False,
        reviewer=reviewer,
        reason=reason,
    )
    session.execute(tasks.update().where(tasks.c.id == task_id).values(status="rejected"))
    emit_tasks(session, "task.rejected", [task_id])
    return get_task(session, task_id)


def field_accuracy(session: Session) -> dict[str, dict[str, Any]]:
    """Share of reviewed values kept as extracted, per field ("task" = precision of accepted vs rejected)."""
    query = select(task_labels.c.field, func.count(), func.sum(task_labels.c.correct)).group_by(task_labels.c.field)
    out: dict[str, dict[str, Any]] = {}
    for name, count, correct in session.execute(query).all():
        correct = int(correct or 0)
        out[name] = {"labels": int(count), "correct": correct, "accuracy": round(correct / count, 4) if count else None}
    return out


# ---- possible duplicates -----------------------------------------------------------------------------------------


@dataclass
class PossibleDuplicate:
    """An earlier active task on the same account whose title is close to a suggestion's, and how close."""

    task_id: str
    target_id: str
    similarity: float


def possible_duplicates(
    session: Session, task_ids: Sequence[str], *, bar: float, scope: AccountScope = EVERYTHING
) -> dict[str, PossibleDuplicate]:
    """For each of these tasks, the most similar older active task on its account with a title similarity of at least
    `bar` (the dedupe space of `record_tasks`, which links a repeat above `duplicate_similarity` by itself; the review
    queue offers the ones a little below it to a person). Only targets `scope` sees."""
    if not task_ids:
        return {}
    columns = (tasks.c.id, tasks.c.created_at, task_extractions.c.account_id, task_extractions.c.embedding)
    joined = select(*columns).join(task_extractions, task_extractions.c.task_id == tasks.c.id)
    asked = [row for row in session.execute(joined.where(tasks.c.id.in_(list(task_ids)))).all() if row.account_id]
    accounts = sorted({row.account_id for row in asked})
    if not accounts:
        return {}
    query = joined.where(tasks.c.status.in_(ACTIVE), task_extractions.c.account_id.in_(accounts))
    if not scope.everything:
        query = query.where(scope.where(tasks.c.account_id))
    pool: dict[str, list[Any]] = {}
    for row in session.execute(query).all():
        if row.embedding:
            pool.setdefault(row.account_id, []).append(row)
    found: dict[str, PossibleDuplicate] = {}
    for row in asked:
        vector = _vector(row.embedding)
        others = [
            o
            for o in pool.get(row.account_id, [])
            if o.id != row.id and (o.created_at, o.id) < (row.created_at, row.id)
        ]
        if vector is None or not others:
            continue
        similarities = np.vstack([_vector(o.embedding) for o in others]) @ vector
        best = int(np.argmax(similarities))
        if similarities[best] >= bar:
            found[row.id] = PossibleDuplicate(row.id, others[best].id, round(float(similarities[best]), 4))
    return found


def link_as_duplicate(
    session: Session, task_id: str, target_id: str, reviewer: str, *, scope: AccountScope = EVERYTHING
) -> dict[str, Any]:
    """A reviewer says a suggestion repeats an active task: the suggestion is closed as rejected (its label says
    `duplicate`, kept as a correct ask) and its message is linked to the target as `record_tasks` links a repeat."""
    if task_id == target_id:
        raise InvalidInput("a task cannot be a duplicate of itself")
    asked = get_task(session, task_id, scope=scope)
    target = get_task(session, target_id, scope=scope)
    if asked["status"] != "suggested":
        raise Conflict(f"task {task_id} is {asked['status']}, only suggested tasks can be linked as duplicates")
    if target["status"] not in ACTIVE:
        raise Conflict(f"task {target_id} is {target['status']}; link only to a suggested or open task")
    similarity = None
    vectors = dict(
        session.execute(
            select(task_extractions.c.task_id, task_extractions.c.embedding).where(
                task_extractions.c.task_id.in_([task_id, target_id])
            )
        ).all()
    )
    if vectors.get(task_id) and vectors.get(target_id):
        similarity = float(_vector(vectors[task_id]) @ _vector(vectors[target_id]))
    row = _row(session, task_id)
    # The ask was real (a correct task for the extractor's precision); it is closed because it is already tracked.
    _label(session, row, action="duplicate", field_name="task", old=row.status, new="rejected", correct=True,
           reviewer=reviewer, reason=f"duplicate of {target_id}")  # fmt: skip
    session.execute(tasks.update().where(tasks.c.id == task_id).values(status="rejected"))
    emit_tasks(session, "task.rejected", [task_id])
    session.execute(
        task_links.insert(),
        [_link_row(target_id, asked["ledger_id"], "duplicate", similarity, asked["evidence"], utcnow())],
    )
    return get_task(session, target_id)
