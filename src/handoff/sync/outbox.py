"""The durable outbox: rows written with the acceptance, claimed one pusher at a time, pushed exactly once each."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from handoff.clock import Clock, as_utc, utcnow
from handoff.errors import ExternalFailure, InvalidInput, OutcomeUnknown, PermanentFailure
from handoff.redaction import redact, summarise_error
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.store.leases import claim_due
from handoff.sync.inbound import storable
from handoff.sync.mapping import destination
from handoff.sync.model import UPDATE_FIELDS, Connector, PushTask, RemoteLink
from handoff.sync.tables import task_sync

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pathlib import Path

    from handoff.extraction.model import TeamMember
    from handoff.settings import SyncSettings

log = logging.getLogger(__name__)
TARGETS = ("jira", "asana", "trello")
PUSHABLE = ("open", "done")  # a task rejected after its acceptance is not pushed
MAX_BACKOFF_S = 3600.0
FIRST_BACKOFF_S = 30.0
MAX_ERROR_CHARS = 500


def enqueue(session: Session, task_ids: Iterable[str], targets: Sequence[str], *, now: datetime | None = None) -> int:
    """One pending row per task and target that has none yet, in the caller's transaction; returns how many."""
    ids, wanted = list(dict.fromkeys(task_ids)), [target for target in targets if target in TARGETS]
    if not ids or not wanted:
        return 0
    found = session.execute(
        select(task_sync.c.task_id, task_sync.c.target).where(
            task_sync.c.task_id.in_(ids), task_sync.c.target.in_(wanted)
        )
    )
    existing = {(task_id, target) for task_id, target in found}
    moment = now or utcnow()
    rows = [
        {"task_id": task_id, "target": target, "status": "pending", "attempts": 0, "created_at": moment}
        for task_id in ids
        for target in wanted
        if (task_id, target) not in existing
    ]
    if rows:
        session.execute(task_sync.insert(), rows)
    return len(rows)


# A handoff change's column -> the field it changes in the tool (`model.UPDATE_FIELDS`). A new project or account
# is a new `place`: the item moves to where the mapping sends the task now.
_EDITED = {
    "title": "title",
    "due_date": "due_date",
    "assignee_id": "assignee",
    "priority": "priority",
    "status": "status",
    "project_id": "place",
    "account_id": "place",
}
_PLACE_COLUMNS = ("project_id", "account_id")


def mark_edited(session: Session, task_id: str, columns: Iterable[str], *, before: dict[str, Any] | None = None) -> int:
    """A handoff change to a task already in the outbox (an edit, a close, a reopen), in its transaction: each of
    its links (not skipped) gets the changed fields to send, and a sent one goes back to `pending`, due now;
    returns how many links.

    `pending_update.edit` counts the changes, so a push that read the task before this one knows its update is out
    of date and leaves the row pending (`_finish`). A link not created yet is marked too: its create may be in flight
    with the values from before the change. A move keeps `before`'s project and account (the first move's, until it
    is sent) as `pending_update.from`: where the item was mapped, which Asana takes it out of."""
    columns = list(columns)
    fields = [_EDITED[column] for column in columns if column in _EDITED]
    if not fields:
        return 0
    links = session.execute(
        select(task_sync.c.target, task_sync.c.pending_update, task_sync.c.status).where(
            task_sync.c.task_id == task_id, task_sync.c.status != "skipped"
        )
    ).all()
    for target, pending, status in links:
        pending = pending if isinstance(pending, dict) else {}
        merged = [name for name in UPDATE_FIELDS if name in {*pending.get("fields", []), *fields}]
        marked: dict[str, Any] = {"fields": merged, "edit": int(pending.get("edit", 0)) + 1}
        if "place" in fields or "from" in pending:
            moved_from = pending.get("from") or {column: (before or {}).get(column) for column in _PLACE_COLUMNS}
            marked["from"] = moved_from
        values: dict[str, Any] = {"pending_update": marked}
        if status == "sent":  # due again, now; a refused row still waits for a person (`--retry-failed`)
            values |= {"status": "pending", "next_attempt_at": None, "attempts": 0}
        session.execute(
            update(task_sync).where(task_sync.c.task_id == task_id, task_sync.c.target == target).values(**values)
        )
    return len(links)


def links_of(session: Session, task_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Each task's sync rows as the API shows them (target, status, remote id, key and URL, last error)."""
    found: dict[str, list[dict[str, Any]]] = {}
    if not task_ids:
        return found
    query = select(task_sync).where(task_sync.c.task_id.in_(list(task_ids))).order_by(task_sync.c.target)
    for row in session.execute(query).all():
        sent_at = as_utc(row.sent_at)
        found.setdefault(row.task_id, []).append(
            {
                "target": row.target,
                "status": row.status,
                "remote_id": row.remote_id,
                "remote_key": row.remote_key,
                "url": row.remote_url,
                "attempts": row.attempts,
                "error": row.last_error,
                "sent_at": sent_at.isoformat() if sent_at else None,
            }
        )
    return found


def retry_failed(session: Session, *, target: str | None = None) -> int:
    """Failed rows back to pending (after the credentials or the project were fixed); returns how many."""
    query = update(task_sync).where(task_sync.c.status == "failed")
    if target:
        query = query.where(task_sync.c.target == target)
    done = cast(CursorResult, session.execute(query.values(status="pending", next_attempt_at=None, claimed_until=None)))
    return done.rowcount or 0


def claim(
    sessions: sessionmaker[Session], *, targets: Sequence[str], limit: int, lease_s: float, now: datetime
) -> list[tuple[str, str]]:
    """(task id, target) of the due pending rows this pusher now holds for `lease_s`, oldest first; two pushers (the
    service loop and `handoff sync push`) never push the same task at once (`store.leases`)."""
    held = claim_due(
        sessions,
        task_sync,
        ["task_id", "target"],
        order_by=["created_at", "task_id"],
        where=[task_sync.c.target.in_(list(targets))],
        limit=limit,
        lease_s=lease_s,
        now=now,
    )
    return [(task_id, target) for task_id, target in held]


_tasks = CRM_TABLES["tasks"]
_members = CRM_TABLES["team_members"]
_accounts = CRM_TABLES["accounts"]
_projects = CRM_TABLES["projects"]


def load_task(session: Session, task_id: str) -> tuple[str | None, PushTask | None]:
    """(status, what a connector pushes) of a task; (None, None) when it is gone."""
    from handoff.tasks.tables import task_extractions

    row = session.execute(
        select(
            _tasks,
            _members.c.email.label("member_email"),
            _members.c.name.label("member_name"),
            _accounts.c.name.label("account_name"),
            _projects.c.name.label("project_name"),
            task_extractions.c.evidence,
            task_extractions.c.assignee_name,
        )
        .outerjoin(_members, _members.c.id == _tasks.c.assignee_id)
        .outerjoin(_accounts, _accounts.c.id == _tasks.c.account_id)
        .outerjoin(_projects, _projects.c.id == _tasks.c.project_id)
        .outerjoin(task_extractions, task_extractions.c.task_id == _tasks.c.id)
        .where(_tasks.c.id == task_id)
    ).first()
    if row is None:
        return None, None
    return row.status, PushTask(
        id=row.id,
        title=row.title,
        description=row.description,
        due_date=row.due_date,
        priority=row.priority,
        assignee_email=row.member_email,
        assignee_name=row.member_name or row.assignee_name,
        account_name=row.account_name,
        project_name=row.project_name,
        evidence=row.evidence,
        source=row.source,
        project_id=row.project_id,
        account_id=row.account_id,
        status=row.status,
    )


def push_one(
    connector: Connector,
    task: PushTask,
    *,
    rounds: int = 3,
    settle_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[RemoteLink, bool]:
    """(link, created): the task's existing item when its marker is found, else one new item.

    A create whose answer was lost is never repeated blindly: after `settle_s` the marker is looked up again, and
    only an item still missing is created. Exactly once holds as long as the target's lookup sees its own writes
    (docs/sync.md says where that is not guaranteed)."""
    unknown: OutcomeUnknown | None = None
    for round_number in range(rounds):
        found = connector.find(task)
        if found is not None:
            return found, unknown is not None  # found after a lost answer: our create made it
        try:
            return connector.create(task), True
        except OutcomeUnknown as error:
            unknown = error
            if round_number + 1 < rounds:
                sleep(settle_s)
    assert unknown is not None
    raise unknown


def _deliver(
    connector: Connector, task: PushTask, claimed: _Claimed, *, settle_s: float, sleep: Callable[[float], None]
) -> tuple[RemoteLink, bool]:
    """(link, created) of one claimed row: the item made (or found) once, then the changes it does not hold yet.

    A create made now carries the task as it is, edits and place included, but is made open: a done task's new
    item is closed after. An item found by its marker (in the task's place now) gets the edited fields and its
    status; one linked before gets the changed fields, each with one `update` (values, so sending them again after a
    lost answer changes nothing)."""
    fields = list(claimed.fields)
    if claimed.remote_id is None:
        link, created = push_one(connector, task, settle_s=settle_s, sleep=sleep)
        fields = [] if created else [name for name in fields if name != "place"]
        if task.status == "done" and "status" not in fields:
            fields.append("status")
    else:
        link, created = RemoteLink(connector.name, claimed.remote_id), False
    if not fields:
        return link, created
    note = connector.update(link.remote_id, task, fields)
    return replace(link, note=note or link.note), created


@dataclass
class PushOutcome:
    task_id: str
    target: str
    status: str  # sent, pending (to try again), failed, skipped
    created: bool = False
    remote_id: str | None = None
    url: str | None = None
    error: str | None = None


@dataclass
class PushReport:
    outcomes: list[PushOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.count("sent"),
            "pending": self.count("pending"),
            "failed": self.count("failed"),
            "skipped": self.count("skipped"),
            "tasks": [outcome.__dict__ for outcome in self.outcomes],
        }


def pushed_state(task: PushTask, fields: Sequence[str] | None = None) -> dict[str, Any]:
    """What the tool holds after a push (`fields` None: a create, with the status, closed after when done) or an
    update of `fields`: the baseline the tool's own report of handoff's change is read against (no echo)."""
    email = task.assignee_email.lower() if task.assignee_email else None
    state: dict[str, Any] = {"status": task.status} if fields is None or "status" in fields else {}
    if fields is None or "assignee" in fields:
        state["assignee_email"] = email
    if fields is None or "due_date" in fields:
        state["due_date"] = task.due_date
    return storable(state)


@dataclass
class _Claimed:
    """A claimed row as the pusher read it: the link it has, and the edits still to send."""

    remote_id: str | None = None
    fields: list[str] = field(default_factory=list)
    edit: int = 0
    moved_from: dict[str, Any] | None = None  # the project and account of a moved task before its move


def _claimed(session: Session, task_id: str, target: str) -> _Claimed:
    row = session.execute(
        select(task_sync.c.remote_id, task_sync.c.pending_update).where(
            task_sync.c.task_id == task_id, task_sync.c.target == target
        )
    ).first()
    if row is None:
        return _Claimed()
    pending = row.pending_update if isinstance(row.pending_update, dict) else {}
    fields = [name for name in pending.get("fields", []) if name in UPDATE_FIELDS]
    moved_from = pending.get("from") if isinstance(pending.get("from"), dict) else None
    return _Claimed(row.remote_id, fields, int(pending.get("edit", 0)), moved_from)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** max(0, attempts - 1)))


def _finish(
    sessions: sessionmaker[Session],
    outcome: PushOutcome,
    link: RemoteLink | None,
    now: datetime,
    task: PushTask | None = None,
    claimed: _Claimed | None = None,
) -> None:
    key = (task_sync.c.task_id == outcome.task_id, task_sync.c.target == outcome.target)
    claimed = claimed or _Claimed()
    with transaction(sessions) as session:
        row = session.execute(
            select(task_sync.c.attempts, task_sync.c.pending_update, task_sync.c.remote_state).where(*key)
        ).first()
        values: dict[str, Any] = {"status": outcome.status, "claimed_until": None, "last_error": outcome.error}
        if link is not None:
            values |= {"remote_id": link.remote_id, "sent_at": now}
            values |= {name: value for name, value in (("remote_key", link.key), ("remote_url", link.url)) if value}
            if task is not None:  # what the tool holds now: the baseline its later changes are read against
                if outcome.created or claimed.remote_id is None:
                    values["remote_state"] = pushed_state(task)
                else:
                    before = row.remote_state if row is not None and isinstance(row.remote_state, dict) else {}
                    values["remote_state"] = {**before, **pushed_state(task, claimed.fields)}
        if outcome.status == "sent" and row is not None:
            pending = row.pending_update if isinstance(row.pending_update, dict) else {}
            if int(pending.get("edit", 0)) == claimed.edit:
                values["pending_update"] = None
            else:  # edited again while this push ran: what was sent is out of date, so the row stays due
                values |= {"status": "pending", "next_attempt_at": None}
        if outcome.status == "pending":
            values["next_attempt_at"] = now + _backoff((row.attempts if row is not None else 0) or 1)
        session.execute(update(task_sync).where(*key).values(**values))
        if outcome.status == "sent":
            from handoff.tasks.service import emit_tasks

            emit_tasks(session, "task.synced", [outcome.task_id])


def push_pending(
    sessions: sessionmaker[Session],
    connectors: dict[str, Connector],
    *,
    target: str | None = None,
    limit: int = 50,
    lease_s: float = 600.0,
    settle_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Clock = utcnow,
    mapping: dict | None = None,
) -> PushReport:
    """Push every due pending row of the configured targets (or only `target`), one at a time, no transaction held
    open over the network; a failure is recorded on its row and never stops the others."""
    if target is not None and target not in connectors:
        known = ", ".join(connectors) or "none"
        raise InvalidInput(f"target {target!r} is not configured (configured: {known})")
    targets = [target] if target else list(connectors)
    report = PushReport()
    if not targets:
        return report
    for task_id, name in claim(sessions, targets=targets, limit=limit, lease_s=lease_s, now=clock()):
        with sessions() as session:
            status, task = load_task(session, task_id)
            claimed = _claimed(session, task_id, name)
        outcome = PushOutcome(task_id, name, "skipped")
        link: RemoteLink | None = None
        if task is None or status not in PUSHABLE:
            outcome.error = "the task is gone" if task is None else f"the task is {status}, not pushed"
        else:
            place = destination(mapping or {}, name, project_id=task.project_id, account_id=task.account_id)
            task = replace(task, destination=place)
            if claimed.moved_from is not None:
                before = claimed.moved_from
                task = replace(
                    task,
                    previous_destination=destination(
                        mapping or {}, name, project_id=before.get("project_id"), account_id=before.get("account_id")
                    ),
                )
            try:
                link, outcome.created = _deliver(connectors[name], task, claimed, settle_s=settle_s, sleep=sleep)
                outcome.status, outcome.remote_id, outcome.url = "sent", link.remote_id, link.url
                outcome.error = link.note
            except PermanentFailure as error:
                outcome.status, outcome.error = "failed", redact(str(error))[:MAX_ERROR_CHARS]
            except ExternalFailure as error:
                outcome.status, outcome.error = "pending", redact(str(error))[:MAX_ERROR_CHARS]
            except Exception as error:  # a bug in one connector must not lose the others' results
                log.exception("sync push of %s to %s failed", task_id, name)
                outcome.status, outcome.error = "pending", summarise_error(error)
        _finish(sessions, outcome, link, clock(), task, claimed)
        report.outcomes.append(outcome)
    return report


def configured_connectors(
    settings: SyncSettings, *, roster: list[TeamMember] | None = None, **http_options: Any
) -> dict[str, Connector]:
    """A connector per configured target, each with its own client; `roster` is what Trello's board members are
    matched to (`load_roster`); `http_options` reach `VendorHttp` (tests)."""
    from handoff.sync.asana import AsanaConnector
    from handoff.sync.http import RetryPolicy, VendorHttp
    from handoff.sync.jira import JiraConnector
    from handoff.sync.people import explicit
    from handoff.sync.trello import TrelloConnector

    retry = RetryPolicy(
        max_attempts=settings.max_attempts, backoff_s=settings.backoff_s, max_retry_after_s=settings.max_retry_after_s
    )
    common: dict[str, Any] = {"timeout_s": settings.timeout_s, "retry": retry, **http_options}
    connectors: dict[str, Connector] = {}
    jira = settings.jira
    if jira.configured:
        assert jira.base_url and jira.email and jira.api_token and jira.project_key
        token = jira.api_token.get_secret_value()
        http = VendorHttp(
            "Jira",
            jira.base_url,
            auth=(jira.email, token),
            secrets=[token],
            auth_hint="HANDOFF_SYNC__JIRA__EMAIL and __API_TOKEN",
            where_hint="HANDOFF_SYNC__JIRA__BASE_URL and __PROJECT_KEY",
            **common,
        )
        connectors["jira"] = JiraConnector(
            http,
            jira.base_url,
            jira.project_key,
            jira.issue_type,
            people=explicit(jira.account_ids),
            priorities=dict(jira.priorities),
        )
    asana = settings.asana
    if asana.configured:
        assert asana.token and asana.project_gid
        token = asana.token.get_secret_value()
        http = VendorHttp(
            "Asana",
            asana.base_url,
            headers={"Authorization": f"Bearer {token}"},
            secrets=[token],
            auth_hint="HANDOFF_SYNC__ASANA__TOKEN",
            where_hint="HANDOFF_SYNC__ASANA__PROJECT_GID",
            **common,
        )
        connectors["asana"] = AsanaConnector(http, asana.project_gid)
    trello = settings.trello
    if trello.configured:
        assert trello.key and trello.token and trello.list_id
        key, token = trello.key.get_secret_value(), trello.token.get_secret_value()
        http = VendorHttp(
            "Trello",
            trello.base_url,
            params={"key": key, "token": token},
            secrets=[key, token],
            auth_hint="HANDOFF_SYNC__TRELLO__KEY and __TOKEN",
            where_hint="HANDOFF_SYNC__TRELLO__LIST_ID",
            **common,
        )
        connectors["trello"] = TrelloConnector(
            http, trello.list_id, trello.done_list_id, member_ids=dict(trello.member_ids), roster=roster
        )
    return connectors


def roster_of(sessions: sessionmaker[Session]) -> list[TeamMember]:
    """The team roster the tools' people are matched to."""
    from handoff.tasks.service import load_roster

    with sessions() as session:
        return load_roster(session)


def close_connectors(connectors: dict[str, Connector]) -> None:
    for connector in connectors.values():
        http = getattr(connector, "http", None)
        if http is not None:
            http.close()


def push(
    sessions: sessionmaker[Session],
    settings: SyncSettings,
    *,
    mapping_path: Path,
    target: str | None = None,
    limit: int | None = None,
) -> PushReport:
    """What `handoff sync push` and the service loop run: every configured target's due rows, once.

    The mapping is read from `mapping_path` (`mapping_file.mapping_path(settings)`) on every call, so an edit made
    through the API applies from the next push on."""
    from handoff.sync.mapping_file import read_mapping

    mapping = read_mapping(mapping_path)
    connectors = configured_connectors(settings, roster=roster_of(sessions))
    try:
        return push_pending(
            sessions,
            connectors,
            target=target,
            limit=limit or settings.batch_size,
            lease_s=settings.lease_s,
            settle_s=settings.settle_s,
            mapping=mapping,
        )
    finally:
        close_connectors(connectors)


def run_pusher(
    sessions: sessionmaker[Session], settings: SyncSettings, mapping_path: Path, stop_event: threading.Event
) -> None:
    """The loop `handoff up` runs beside the worker while a target is configured: push, then wait."""
    interval = settings.push_interval_s
    while not stop_event.is_set():
        try:
            report = push(sessions, settings, mapping_path=mapping_path)
            if report.outcomes:
                log.info("sync: %s", {k: v for k, v in report.as_dict().items() if k != "tasks"})
        except Exception as error:  # the store may be busy or down; the rows wait, the loop goes on
            log.warning("sync push failed: %s", summarise_error(error))
        stop_event.wait(interval)
