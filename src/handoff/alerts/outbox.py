"""The digest outbox: stored digests with each channel's delivery state, and an owner's digest as it reads now."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handoff.alerts.digest import Digest, DigestItem, group_digests
from handoff.alerts.tables import alert_deliveries, alert_digests, alerts
from handoff.errors import InvalidInput
from handoff.store.crm_tables import CRM_TABLES


@dataclass(frozen=True)
class DeliveryState:
    channel: str
    status: str  # sent or failed; on the `outbox` channel, sent means kept in the outbox
    attempts: int
    last_error: str | None
    sent_at: datetime | None


@dataclass(frozen=True)
class OutboxDigest:
    id: str
    run_date: date
    owner_id: str
    owner_name: str
    recipient: str | None
    subject: str
    body: str
    created_at: datetime
    alerts: int
    deliveries: list[DeliveryState] = field(default_factory=list)


def _owner_names(session: Session, owner_ids: list[str]) -> dict[str, str]:
    members = CRM_TABLES["team_members"]
    if not owner_ids:
        return {}
    rows = session.execute(select(members.c.id, members.c.name).where(members.c.id.in_(owner_ids)))
    return {row.id: row.name or row.id for row in rows}


def count_digests(session: Session, *, owner_id: str | None = None) -> int:
    query = select(func.count()).select_from(alert_digests)
    if owner_id is not None:
        query = query.where(alert_digests.c.owner_id == owner_id)
    return int(session.execute(query).scalar_one())


def list_digests(
    session: Session, *, owner_id: str | None = None, limit: int = 25, offset: int = 0
) -> list[OutboxDigest]:
    """Newest run date first; each digest with its deliveries (the outbox channel included)."""
    if not 1 <= limit <= 500 or offset < 0:
        raise InvalidInput("limit must be 1..500 and offset >= 0")
    query = select(alert_digests).order_by(alert_digests.c.run_date.desc(), alert_digests.c.owner_id)
    if owner_id is not None:
        query = query.where(alert_digests.c.owner_id == owner_id)
    rows = session.execute(query.limit(limit).offset(offset)).all()
    deliveries: dict[str, list[DeliveryState]] = {row.id: [] for row in rows}
    if rows:
        found = session.execute(
            select(alert_deliveries)
            .where(alert_deliveries.c.digest_id.in_(list(deliveries)))
            .order_by(alert_deliveries.c.channel)
        )
        for d in found:
            deliveries[d.digest_id].append(DeliveryState(d.channel, d.status, d.attempts, d.last_error, d.sent_at))
    names = _owner_names(session, sorted({row.owner_id for row in rows}))
    return [
        OutboxDigest(
            id=row.id,
            run_date=row.run_date,
            owner_id=row.owner_id,
            owner_name=names.get(row.owner_id, row.payload.get("owner_name") or row.owner_id),
            recipient=row.recipient,
            subject=row.subject,
            body=row.body,
            created_at=row.created_at,
            alerts=len(row.payload.get("alerts", [])),
            deliveries=deliveries[row.id],
        )
        for row in rows
    ]


def owners_with_live_alerts(session: Session) -> list[tuple[str, str]]:
    """(owner id, name) of every owner holding an open alert, by name: whose digest can be previewed."""
    members = CRM_TABLES["team_members"]
    query = (
        select(alerts.c.owner_id, func.max(members.c.name).label("name"))
        .join_from(alerts, members, members.c.id == alerts.c.owner_id, isouter=True)
        .where(alerts.c.status == "open", alerts.c.owner_id.is_not(None))
        .group_by(alerts.c.owner_id)
    )
    return sorted(((row.owner_id, row.name or row.owner_id) for row in session.execute(query)), key=lambda p: p[1])


def preview_digest(session: Session, owner_id: str, run_date: date) -> Digest:
    """The digest this owner would get if every open alert of theirs were announced today (composed as the nightly
    run composes it, `group_digests`); it sends and stores nothing."""
    accounts, members = CRM_TABLES["accounts"], CRM_TABLES["team_members"]
    member = session.execute(select(members.c.name, members.c.email).where(members.c.id == owner_id)).first()
    rows = session.execute(
        select(alerts, accounts.c.name.label("account_name"))
        .join_from(alerts, accounts, accounts.c.id == alerts.c.account_id, isouter=True)
        .where(alerts.c.owner_id == owner_id, alerts.c.status == "open")
    ).all()
    items = [
        DigestItem(
            alert_id=row.id,
            account_id=row.account_id,
            account_name=row.account_name or row.account_id,
            cause=row.cause,
            why="opened" if row.opened_on == row.last_run_date else "riskier",
            probability=row.probability,
            previous_probability=row.previous_probability,
            drivers=tuple(row.drivers or ()),
            change=(row.changes or {}).get("text", ""),
        )
        for row in rows
    ]
    name, email = (member.name or owner_id, member.email) if member else (owner_id, None)
    composed = group_digests(run_date, {owner_id: items}, {owner_id: (name, email)})
    return composed[0] if composed else Digest(run_date, owner_id, name, email, ())
