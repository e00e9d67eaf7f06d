"""Changes from the tools onto handoff tasks: the link's baseline, the task, the account's timeline, deliveries seen."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from handoff.clock import Clock, as_utc, utcnow
from handoff.errors import ExternalFailure, InvalidInput
from handoff.redaction import redact, summarise_error
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.sync.inbound import LocalTask, RemoteState, decide, describe, storable, stored_fields
from handoff.sync.model import Connector
from handoff.sync.tables import sync_deliveries, sync_hook_secrets, task_sync

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.settings import SyncSettings

log = logging.getLogger(__name__)
_tasks = CRM_TABLES["tasks"]
_members = CRM_TABLES["team_members"]
_activities = CRM_TABLES["activities"]


def _naive(moment: datetime) -> datetime:
    """CRM tables hold naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def apply_remote(session: Session, state: RemoteState, *, now: datetime | None = None) -> tuple[str, str | None]:
    """(outcome, task id) of one tool's word on one item, in the caller's transaction.

    Outcomes: `applied` (the task changed, and its account's timeline says so), `unchanged`, `stale` (older than the
    change last applied; nothing is written), `unlinked` (no handoff task is linked to that item)."""
    moment = now or utcnow()
    link = session.execute(
        select(task_sync).where(task_sync.c.target == state.target, task_sync.c.remote_id == state.remote_id)
    ).first()
    if link is None:
        return "unlinked", None
    row = session.execute(
        select(_tasks, _members.c.email.label("member_email"))
        .outerjoin(_members, _members.c.id == _tasks.c.assignee_id)
        .where(_tasks.c.id == link.task_id)
    ).first()
    if row is None:
        return "unlinked", link.task_id
    local = LocalTask(row.status, (row.member_email or "").lower() or None, row.due_date)
    last_at = as_utc(link.remote_changed_at) if link.remote_changed_at else None
    decision = decide(state, last=stored_fields(link.remote_state), last_changed_at=last_at, task=local)
    if decision.outcome == "stale":
        return "stale", link.task_id
    values: dict[str, Any] = {}
    changes = dict(decision.changes)
    if "assignee_email" in changes:
        email = changes["assignee_email"]
        member = (
            session.execute(select(_members.c.id).where(func.lower(_members.c.email) == email)).scalar()
            if email
            else None
        )
        if email and member is None:
            changes.pop("assignee_email")  # someone handoff does not know: the tool's word is kept, the task not
        else:
            values["assignee_id"] = member
    if "due_date" in changes:
        values["due_date"] = changes["due_date"]
    when = decision.changed_at or moment
    if "status" in changes:
        values["status"] = changes["status"]
        values["completed_at"] = _naive(when) if changes["status"] == "done" else None
    if values:
        session.execute(update(_tasks).where(_tasks.c.id == row.id).values(**values))
    session.execute(
        update(task_sync)
        .where(task_sync.c.task_id == link.task_id, task_sync.c.target == link.target)
        .values(remote_state=storable(decision.remote_fields), remote_changed_at=decision.changed_at)
    )
    if not changes:
        return "unchanged", row.id
    if row.account_id:
        _timeline(session, row, state, changes, when, member_id=values.get("assignee_id", row.assignee_id))
    return "applied", row.id


def _timeline(session: Session, task: Any, state: RemoteState, changes: dict, when: datetime, member_id: Any) -> None:
    """An `event` activity on the task's account. Events are handoff's own notes: the risk features and the scoring
    day leave them out of "last contact" (`risk.features.NOT_CONTACT_KINDS`), so a status sync never looks like the
    customer was spoken to."""
    subject, body = describe(state.target, state.key or task.title, changes)
    seed = json.dumps([state.target, state.remote_id, when.isoformat(), storable(changes)], sort_keys=True)
    event_id = "syn-" + hashlib.sha256(seed.encode()).hexdigest()[:24]
    if session.execute(select(_activities.c.id).where(_activities.c.id == event_id)).first():
        return
    session.execute(
        insert(_activities).values(
            id=event_id,
            account_id=task.account_id,
            project_id=task.project_id,
            team_member_id=member_id,
            kind="event",
            occurred_at=_naive(when),
            subject=subject,
            body=body,
        )
    )


def first_delivery(session: Session, vendor: str, delivery_id: str, *, now: datetime | None = None) -> bool:
    """Records a delivery; False when it was seen before (a replay), and then the caller changes nothing."""
    try:
        with session.begin_nested():
            session.execute(
                insert(sync_deliveries).values(
                    vendor=vendor, delivery_id=delivery_id[:255], received_at=now or utcnow(), outcome="received"
                )
            )
    except IntegrityError:
        return False
    return True


def settle_delivery(session: Session, vendor: str, delivery_id: str, outcome: str, task_id: str | None) -> None:
    session.execute(
        update(sync_deliveries)
        .where(sync_deliveries.c.vendor == vendor, sync_deliveries.c.delivery_id == delivery_id[:255])
        .values(outcome=outcome, task_id=task_id)
    )


def hook_secret(session: Session, vendor: str) -> str | None:
    return session.execute(select(sync_hook_secrets.c.secret).where(sync_hook_secrets.c.vendor == vendor)).scalar()


def store_hook_secret(session: Session, vendor: str, secret: str, *, now: datetime | None = None) -> None:
    """Asana's handshake secret, durably: a restart must still check the signatures of its later deliveries."""
    if not secret or len(secret) > 1024:
        raise InvalidInput("the X-Hook-Secret header is empty or too long")
    existing = session.execute(select(sync_hook_secrets.c.vendor).where(sync_hook_secrets.c.vendor == vendor)).first()
    values = {"secret": secret, "created_at": now or utcnow()}
    if existing:
        session.execute(update(sync_hook_secrets).where(sync_hook_secrets.c.vendor == vendor).values(**values))
    else:
        session.execute(insert(sync_hook_secrets).values(vendor=vendor, **values))


# ---- polling ---------------------------------------------------------------------------------------------------


@dataclass
class PullReport:
    counts: dict[str, int] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, task_id: str, target: str, outcome: str, error: str | None = None) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        self.items.append({"task_id": task_id, "target": target, "outcome": outcome, "error": error})

    def as_dict(self) -> dict[str, Any]:
        return {**{name: 0 for name in PULL_OUTCOMES}, **self.counts, "tasks": self.items}


PULL_OUTCOMES = ("applied", "unchanged", "stale", "gone", "failed")


def pull_linked(
    sessions: sessionmaker[Session],
    connectors: dict[str, Connector],
    *,
    target: str | None = None,
    clock: Clock = utcnow,
) -> PullReport:
    """Reads every linked item back through its connector and applies it like a webhook would: the fallback for
    deliveries a tool never made. One short transaction per item; no transaction is held over the network."""
    if target is not None and target not in connectors:
        known = ", ".join(connectors) or "none"
        raise InvalidInput(f"target {target!r} is not configured (configured: {known})")
    targets = [target] if target else list(connectors)
    report = PullReport()
    if not targets:
        return report
    with sessions() as session:
        links = session.execute(
            select(task_sync.c.task_id, task_sync.c.target, task_sync.c.remote_id)
            .where(task_sync.c.target.in_(targets), task_sync.c.status == "sent", task_sync.c.remote_id.is_not(None))
            .order_by(task_sync.c.task_id, task_sync.c.target)
        ).all()
    for task_id, name, remote_id in links:
        try:
            state = connectors[name].read(remote_id)
        except ExternalFailure as error:
            report.add(task_id, name, "failed", redact(str(error))[:500])
            continue
        except Exception as error:  # one connector's bug must not stop the others
            log.exception("sync pull of %s from %s failed", task_id, name)
            report.add(task_id, name, "failed", summarise_error(error))
            continue
        if state is None:
            report.add(task_id, name, "gone")
            continue
        with transaction(sessions) as session:
            outcome, _ = apply_remote(session, state, now=clock())
        report.add(task_id, name, outcome)
    return report


def pull(sessions: sessionmaker[Session], settings: SyncSettings, *, target: str | None = None) -> PullReport:
    """What `handoff sync pull` and the service loop run."""
    from handoff.sync.outbox import close_connectors, configured_connectors, roster_of

    connectors = configured_connectors(settings, roster=roster_of(sessions))
    try:
        return pull_linked(sessions, connectors, target=target)
    finally:
        close_connectors(connectors)


def run_puller(sessions: sessionmaker[Session], settings: SyncSettings, stop_event: threading.Event) -> None:
    """The loop `handoff up` runs beside the pusher: read every linked item back, then wait `pull_interval_s`."""
    interval = settings.pull_interval_s
    while not stop_event.wait(interval):
        try:
            report = pull(sessions, settings)
            if report.counts:
                log.info("sync pull: %s", report.counts)
        except Exception as error:  # the store or a tool may be down; the next round tries again
            log.warning("sync pull failed: %s", summarise_error(error))
