"""Recording extracted tasks (create, link repeats, update threads) and the review queue that keeps labels."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from handoff.errors import Conflict, InvalidInput, NotFound
from handoff.extraction.model import TaskDraft, TeamMember
from handoff.store.crm_tables import CRM_TABLES
from handoff.tasks.tables import task_extractions, task_labels, task_links

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.settings import Settings

tasks = CRM_TABLES["tasks"]
team_members = CRM_TABLES["team_members"]
ACTIVE = ("suggested", "open")
REVIEWED_FIELDS = ("title", "assignee", "due", "priority")
EDITABLE = {"title", "description", "assignee_id", "due_date", "priority", "project_id", "account_id"}
_FIELD_OF_COLUMN = {"title": "title", "assignee_id": "assignee", "due_date": "due", "priority": "priority"}
# A reply in the same thread restates an ask more loosely than a re-forward does: a lower bar inside a thread.
THREAD_SIMILARITY_MARGIN = 0.15


@dataclass
class RecordedTasks:
    """Task ids touched by one message: new, updated through their thread, linked as duplicates."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


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


def embed_titles(texts: Sequence[str]) -> np.ndarray:
    """The dedupe space: MiniLM on the task title (phrasings differ far more between mail and meeting than titles)."""
    from handoff.extraction.embeddings import encode

    return encode(list(texts))


def _vector(blob: bytes | None) -> np.ndarray | None:
    return np.frombuffer(blob, dtype=np.float32) if blob else None


def _candidates(session: Session, *, account_id: str | None, thread_id: str | None) -> list[tuple[Any, np.ndarray]]:
    conditions = [tasks.c.status.in_(ACTIVE)]
    scope = []
    if account_id:
        scope.append(task_extractions.c.account_id == account_id)
    if thread_id:
        scope.append(task_extractions.c.thread_id == thread_id)
    if not scope:
        return []
    from sqlalchemy import or_

    query = (
        select(
            tasks,
            task_extractions.c.thread_id,
            task_extractions.c.embedding,
            task_extractions.c.account_id.label("x_account"),
        )
        .join(task_extractions, task_extractions.c.task_id == tasks.c.id)
        .where(and_(*conditions), or_(*scope))
    )
    out = []
    for row in session.execute(query).all():
        vector = _vector(row.embedding)
        if vector is not None:
            out.append((row, vector))
    return out


def _source(session: Session, ledger_id: int | None) -> str:
    try:
        from handoff.intake.tables import ledger
    except ImportError:  # pragma: no cover - intake is part of the package
        return "email"
    if ledger_id is None:
        return "email"
    kind = session.execute(select(ledger.c.kind).where(ledger.c.id == ledger_id)).scalar()
    return "meeting" if kind == "notes" else "email"


def _fields(draft: TaskDraft) -> dict[str, dict[str, Any]]:
    def one(found: Any) -> dict[str, Any]:
        value = found.value.isoformat() if isinstance(found.value, date) else found.value
        return {"value": value, "confidence": round(float(found.confidence), 4), "evidence": found.evidence}

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
) -> RecordedTasks:
    """Store a message's drafts: update the thread's matching task, link a repeat of an open task, or create one.

    `title_vectors` are the drafts' `embed_titles` rows when the caller embedded a whole batch at once."""
    recorded = RecordedTasks()
    if not drafts:
        return recorded
    vectors = embed_titles([draft.title.value for draft in drafts]) if title_vectors is None else title_vectors
    if len(vectors) != len(drafts):
        raise ValueError(f"{len(vectors)} title vectors for {len(drafts)} drafts")
    duplicate_bar = settings.extraction.duplicate_similarity
    thread_bar = duplicate_bar - THREAD_SIMILARITY_MARGIN
    source = _source(session, ledger_id)
    now = _now()
    for draft, vector in zip(drafts, vectors, strict=True):
        best_thread, best_account = None, None
        for row, other in _candidates(session, account_id=account_id, thread_id=thread_id):
            similarity = float(np.dot(vector, other))
            in_thread = bool(thread_id) and row.thread_id == thread_id and similarity >= thread_bar
            if in_thread and (best_thread is None or similarity > best_thread[1]):
                best_thread = (row, similarity)
            same_account = bool(account_id) and row.x_account == account_id and similarity >= duplicate_bar
            if same_account and (best_account is None or similarity > best_account[1]):
                best_account = (row, similarity)
        if best_thread is not None:
            _update_from_thread(session, best_thread[0], draft, now)
            _link(session, best_thread[0].id, ledger_id, "thread", best_thread[1], draft.evidence, now)
            if best_thread[0].id not in recorded.updated:
                recorded.updated.append(best_thread[0].id)
            continue
        if best_account is not None:
            _link(session, best_account[0].id, ledger_id, "duplicate", best_account[1], draft.evidence, now)
            if best_account[0].id not in recorded.linked:
                recorded.linked.append(best_account[0].id)
            continue
        task_id = f"tsk_{uuid.uuid4().hex[:16]}"
        status = "open" if _auto_accepted(draft, settings.extraction.auto_accept_confidence) else "suggested"
        session.execute(
            tasks.insert().values(
                id=task_id,
                project_id=project_id,
                account_id=account_id,
                title=draft.title.value[:255],
                description=draft.description,
                assignee_id=draft.assignee_id,
                due_date=draft.due.value,
                priority=draft.priority.value,
                status=status,
                source=source,
                created_at=now.replace(tzinfo=None),
            )
        )
        session.execute(
            task_extractions.insert().values(
                task_id=task_id,
                ledger_id=ledger_id,
                thread_id=thread_id,
                account_id=account_id,
                extractor=draft.extractor,
                confidence=float(draft.confidence),
                fields=_fields(draft),
                assignee_name=draft.assignee.value if draft.assignee_id is None else None,
                evidence=draft.evidence,
                notes=list(draft.notes),
                embedding=np.asarray(vector, dtype=np.float32).tobytes(),
                created_at=now,
                updated_at=now,
            )
        )
        _link(session, task_id, ledger_id, "created", None, draft.evidence, now)
        recorded.created.append(task_id)
    return recorded


def _update_from_thread(session: Session, row: Any, draft: TaskDraft, now: datetime) -> None:
    """A later message in the thread refines the task: new dates, owners and urgency win; nothing is blanked."""
    changes: dict[str, Any] = {}
    if draft.due.value is not None and draft.due.value != row.due_date:
        changes["due_date"] = draft.due.value
    if draft.assignee_id and draft.assignee_id != row.assignee_id:
        changes["assignee_id"] = draft.assignee_id
    if draft.priority.value != "normal" and draft.priority.value != row.priority:
        changes["priority"] = draft.priority.value
    if changes:
        session.execute(tasks.update().where(tasks.c.id == row.id).values(**changes))
    session.execute(task_extractions.update().where(task_extractions.c.task_id == row.id).values(updated_at=now))


def _link(
    session: Session,
    task_id: str,
    ledger_id: int | None,
    how: str,
    similarity: float | None,
    evidence: str,
    now: datetime,
) -> None:
    session.execute(
        task_links.insert().values(
            task_id=task_id, ledger_id=ledger_id, how=how, similarity=similarity, evidence=evidence, created_at=now
        )
    )


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


def list_tasks(
    session: Session,
    *,
    status: str | None = None,
    account_id: str | None = None,
    project_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Tasks newest first; the review queue is `status="suggested"`."""
    if status is not None and status not in ("suggested", "open", "done", "rejected"):
        raise InvalidInput(f"status must be suggested, open, done or rejected, not {status!r}")
    if limit < 1 or limit > 500 or offset < 0:
        raise InvalidInput("limit must be 1-500 and offset >= 0")
    query = _where(_select_views(), status=status, account_id=account_id, project_id=project_id)
    query = query.order_by(tasks.c.created_at.desc(), tasks.c.id).limit(limit).offset(offset)
    return [_view(row) for row in session.execute(query).all()]


def count_tasks(
    session: Session, *, status: str | None = None, account_id: str | None = None, project_id: str | None = None
) -> int:
    """How many tasks `list_tasks` pages through with the same filters."""
    query = _where(select(func.count()).select_from(tasks), status=status, account_id=account_id, project_id=project_id)
    return int(session.execute(query).scalar_one())


def _where(query: Select, *, status: str | None, account_id: str | None, project_id: str | None) -> Select:
    for column, value in ((tasks.c.status, status), (tasks.c.account_id, account_id), (tasks.c.project_id, project_id)):
        if value:
            query = query.where(column == value)
    return query


def _row(session: Session, task_id: str) -> Any:
    row = session.execute(_select_views().where(tasks.c.id == task_id)).first()
    if row is None:
        raise NotFound(f"no task {task_id!r}")
    return row


def get_task(session: Session, task_id: str) -> dict[str, Any]:
    """One task with its extraction metadata and every message linked to it."""
    row = _row(session, task_id)
    links = session.execute(select(task_links).where(task_links.c.task_id == task_id).order_by(task_links.c.id)).all()
    return _view(row, links)


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
            created_at=_now(),
        )
    )


def _current_value(row: Any, field_name: str) -> Any:
    return {
        "title": row.title,
        "assignee": row.assignee_id or row.assignee_name,
        "due": row.due_date,
        "priority": row.priority,
    }[field_name]


def accept_task(session: Session, task_id: str, reviewer: str) -> dict[str, Any]:
    """Suggested → open; each field not corrected before counts as extracted right."""
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
            task_extractions.update().where(task_extractions.c.task_id == task_id).values(updated_at=_now())
        )
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
    return get_task(session, task_id)


def field_accuracy(session: Session) -> dict[str, dict[str, Any]]:
    """Share of reviewed values kept as extracted, per field ("task" = precision of accepted vs rejected)."""
    query = select(task_labels.c.field, func.count(), func.sum(task_labels.c.correct)).group_by(task_labels.c.field)
    out: dict[str, dict[str, Any]] = {}
    for name, count, correct in session.execute(query).all():
        correct = int(correct or 0)
        out[name] = {"labels": int(count), "correct": correct, "accuracy": round(correct / count, 4) if count else None}
    return out
