"""Alert operations the API and CLI share: list, read, snooze and resolve, each one recorded in the history."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from handoff.alerts.models import Alert, AlertEvent, NightlyRun
from handoff.alerts.tables import alert_events, alert_runs, alerts
from handoff.clock import naive_utcnow
from handoff.errors import Conflict, InvalidInput, NotFound
from handoff.store.crm_tables import CRM_TABLES

STATUSES = ("open", "snoozed", "resolved")


def _alert(row) -> Alert:
    data = dict(row._mapping)
    data.pop("live_key", None)
    data.pop("snoozed_probability", None)
    return Alert(**data)


def _select_alerts():
    accounts = CRM_TABLES["accounts"]
    return select(alerts, accounts.c.name.label("account_name")).join_from(
        alerts, accounts, accounts.c.id == alerts.c.account_id, isouter=True
    )


def _matching(
    owner_id: str | None, status: str | None, account_id: str | None, account_ids: Iterable[str] | None = None
) -> list[Any]:
    """The filters a page of alerts and its total share, so the total always counts what the page lists."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown alert status {status!r}; use one of {', '.join(STATUSES)}")
    wanted = {alerts.c.owner_id: owner_id, alerts.c.status: status, alerts.c.account_id: account_id}
    conditions = [column == value for column, value in wanted.items() if value is not None]
    if account_ids is not None:
        conditions.append(alerts.c.account_id.in_(sorted(set(account_ids))))
    return conditions


def list_alerts(
    session: Session,
    *,
    owner_id: str | None = None,
    status: str | None = None,
    account_id: str | None = None,
    account_ids: Iterable[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Alert]:
    """Riskiest first; `status` filters to open, snoozed or resolved (default: all); `account_ids` to some accounts
    (a page of them)."""
    if not 1 <= limit <= 1000 or offset < 0:
        raise InvalidInput("limit must be 1..1000 and offset >= 0")
    query = _select_alerts().where(*_matching(owner_id, status, account_id, account_ids))
    query = query.order_by(alerts.c.probability.desc(), alerts.c.id).limit(limit).offset(offset)
    return [_alert(row) for row in session.execute(query)]


def count_alerts(
    session: Session, *, owner_id: str | None = None, status: str | None = None, account_id: str | None = None
) -> int:
    query = select(func.count()).select_from(alerts).where(*_matching(owner_id, status, account_id))
    return int(session.execute(query).scalar_one())


def get_alert(session: Session, alert_id: str) -> Alert:
    row = session.execute(_select_alerts().where(alerts.c.id == alert_id)).first()
    if row is None:
        raise NotFound(f"alert {alert_id} not found")
    return _alert(row)


def alert_history(session: Session, alert_id: str) -> list[AlertEvent]:
    get_alert(session, alert_id)
    rows = session.execute(select(alert_events).where(alert_events.c.alert_id == alert_id).order_by(alert_events.c.id))
    return [AlertEvent(**{k: v for k, v in row._mapping.items() if k != "id"}) for row in rows]


def record_event(
    session: Session, alert_id: str, kind: str, *, actor: str, detail: dict, run_date: date | None = None
) -> None:
    session.execute(
        alert_events.insert().values(
            alert_id=alert_id, at=naive_utcnow(), run_date=run_date, kind=kind, actor=actor, detail=detail
        )
    )
    from handoff.events.outbox import Resource, emit

    def resources() -> list[Resource]:
        alert = get_alert(session, alert_id)
        return [Resource(f"alert:{alert_id}", alert.model_dump(), alert.account_id)]

    # Every change of an alert passes here: opened by the nightly run; updated, snoozed, unsnoozed or resolved.
    emit(session, "alert.opened" if kind == "opened" else "alert.updated", resources)


def snooze_alert(session: Session, alert_id: str, *, until: date, reason: str, actor: str) -> Alert:
    """Quiet until `until` (inclusive); a jump of the risk above today's level lifts it early."""
    current = get_alert(session, alert_id)
    if current.status == "resolved":
        raise Conflict(f"alert {alert_id} is resolved; it cannot be snoozed")
    if not reason or not reason.strip():
        raise InvalidInput("a snooze needs a reason")
    if until < naive_utcnow().date():
        raise InvalidInput(f"snooze end {until.isoformat()} is in the past")
    session.execute(
        update(alerts)
        .where(alerts.c.id == alert_id)
        .values(
            status="snoozed",
            snoozed_until=until,
            snooze_reason=reason.strip(),
            snoozed_probability=current.probability,
            updated_at=naive_utcnow(),
        )
    )
    record_event(session, alert_id, "snoozed", actor=actor, detail={"until": until.isoformat(), "reason": reason})
    return get_alert(session, alert_id)


def resolve_alert(session: Session, alert_id: str, *, actor: str, note: str | None = None) -> Alert:
    """Closes the alert; the account can raise a new one for the same cause on a later run."""
    current = get_alert(session, alert_id)
    if current.status == "resolved":
        raise Conflict(f"alert {alert_id} is already resolved")
    now = naive_utcnow()
    session.execute(
        update(alerts)
        .where(alerts.c.id == alert_id)
        .values(
            status="resolved", live_key=None, resolved_at=now, resolved_by=actor, resolution_note=note, updated_at=now
        )
    )
    record_event(session, alert_id, "resolved", actor=actor, detail={"note": note})
    return get_alert(session, alert_id)


def list_runs(session: Session, *, limit: int = 20) -> list[NightlyRun]:
    rows = session.execute(select(alert_runs).order_by(alert_runs.c.started_at.desc()).limit(limit))
    return [run_from_row(row) for row in rows]


def run_from_row(row) -> NightlyRun:
    return NightlyRun(**dict(row._mapping))
