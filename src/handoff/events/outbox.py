"""Subscriptions and the event outbox in the store: events written in the caller's transaction, one delivery each."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from pydantic_core import to_jsonable_python
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from handoff.clock import as_utc, utcnow
from handoff.errors import NotFound
from handoff.events.model import EVENT_TYPES, SECRET_PREFIX, check_target_url, wanted_events
from handoff.events.tables import hook_deliveries, hook_events, hook_subscriptions
from handoff.store.leases import claim_due

MAX_DELIVERIES_LISTED = 500


@dataclass(frozen=True)
class Resource:
    """One thing an event is about: its subject (`task:tsk_…`), the API's view of it, and its account."""

    subject: str
    data: dict[str, Any]
    account_id: str | None = None


def _subscribers(session: Session, event_type: str) -> list[str]:
    rows = session.execute(
        select(hook_subscriptions.c.id, hook_subscriptions.c.events).where(hook_subscriptions.c.status == "active")
    ).all()
    return [row.id for row in rows if event_type in (row.events or [])]


def emit(
    session: Session,
    event_type: str,
    resources: Callable[[], Iterable[Resource]],
    *,
    now: datetime | None = None,
) -> list[str]:
    """Record `event_type` for each resource, in the caller's transaction, with a pending delivery per subscriber.

    `resources` is called only when someone subscribes to the type, so an unsubscribed event costs one small read
    and writes nothing. Committed with the change or rolled back with it: no event for a change that did not happen,
    no change without its event."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    subscribers = _subscribers(session, event_type)
    if not subscribers:
        return []
    moment = now or utcnow()
    events, deliveries = [], []
    for resource in resources():
        event_id = f"evt_{uuid.uuid4().hex}"
        events.append(
            {
                "id": event_id,
                "type": event_type,
                "subject": resource.subject,
                "account_id": resource.account_id,
                "data": to_jsonable_python(resource.data),
                "created_at": moment,
            }
        )
        deliveries += [
            {"event_id": event_id, "subscription_id": sid, "status": "pending", "attempts": 0, "created_at": moment}
            for sid in subscribers
        ]
    if events:
        session.execute(hook_events.insert(), events)
        session.execute(hook_deliveries.insert(), deliveries)
    return [event["id"] for event in events]


# ---- subscriptions -------------------------------------------------------------------------------------------------


def _subscription_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "target_url": row.target_url,
        "events": list(row.events or []),
        "status": row.status,
        "removed_reason": row.removed_reason,
        "key_id": row.key_id,
        "created_at": as_utc(row.created_at),
        "removed_at": as_utc(row.removed_at),
    }


def create_subscription(
    session: Session, *, target_url: str, events: Sequence[str], key_id: str, now: datetime | None = None
) -> tuple[dict[str, Any], str]:
    """(the subscription, its signing secret): the secret is returned here once and never listed again.

    The address check against private networks needs DNS, so the caller (`delivery.check_reachable`) makes it."""
    check_target_url(target_url)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    row = {
        "id": f"sub_{uuid.uuid4().hex[:20]}",
        "target_url": target_url.strip(),
        "events": wanted_events(list(events)),
        "secret": secret,
        "key_id": key_id,
        "status": "active",
        "created_at": now or utcnow(),
    }
    session.execute(hook_subscriptions.insert().values(**row))
    return get_subscription(session, row["id"]), secret


def get_subscription(session: Session, subscription_id: str) -> dict[str, Any]:
    row = session.execute(select(hook_subscriptions).where(hook_subscriptions.c.id == subscription_id)).first()
    if row is None:
        raise NotFound(f"no subscription {subscription_id!r}")
    return _subscription_view(row)


def list_subscriptions(session: Session, *, include_removed: bool = False) -> list[dict[str, Any]]:
    query = select(hook_subscriptions).order_by(hook_subscriptions.c.created_at, hook_subscriptions.c.id)
    if not include_removed:
        query = query.where(hook_subscriptions.c.status == "active")
    return [_subscription_view(row) for row in session.execute(query).all()]


def remove_subscription(session: Session, subscription_id: str, *, reason: str, now: datetime | None = None) -> bool:
    """Active → removed, its undelivered events cancelled; False when it was not active (already removed or unknown)."""
    moment = now or utcnow()
    done = session.execute(
        update(hook_subscriptions)
        .where(hook_subscriptions.c.id == subscription_id, hook_subscriptions.c.status == "active")
        .values(status="removed", removed_reason=reason, removed_at=moment)
    )
    if cast(CursorResult, done).rowcount != 1:
        return False
    session.execute(
        update(hook_deliveries)
        .where(hook_deliveries.c.subscription_id == subscription_id, hook_deliveries.c.status == "pending")
        .values(status="cancelled", claimed_until=None, last_error=f"subscription removed: {reason}")
    )
    return True


def list_deliveries(session: Session, subscription_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The subscription's delivery log, newest first: each event, its attempts and the target's last answer."""
    get_subscription(session, subscription_id)
    query = (
        select(hook_deliveries, hook_events.c.type, hook_events.c.subject)
        .join(hook_events, hook_events.c.id == hook_deliveries.c.event_id)
        .where(hook_deliveries.c.subscription_id == subscription_id)
        .order_by(hook_deliveries.c.id.desc())
        .limit(min(limit, MAX_DELIVERIES_LISTED))
    )
    return [
        {
            "event_id": row.event_id,
            "type": row.type,
            "subject": row.subject,
            "status": row.status,
            "attempts": row.attempts,
            "last_status_code": row.last_status_code,
            "last_error": row.last_error,
            "created_at": as_utc(row.created_at),
            "last_attempt_at": as_utc(row.last_attempt_at),
            "next_attempt_at": as_utc(row.next_attempt_at) if row.status == "pending" else None,
            "sent_at": as_utc(row.sent_at),
        }
        for row in session.execute(query).all()
    ]


# ---- claims (the deliverer) ----------------------------------------------------------------------------------------


def claim(sessions: sessionmaker[Session], *, limit: int, lease_s: float, now: datetime) -> list[int]:
    """Due pending deliveries this deliverer now holds for `lease_s`, oldest first; two deliverers never send one
    row at once (`store.leases`)."""
    held = claim_due(sessions, hook_deliveries, ["id"], order_by=["id"], limit=limit, lease_s=lease_s, now=now)
    return [delivery_id for (delivery_id,) in held]


@dataclass(frozen=True)
class Claimed:
    """What one attempt needs: the delivery, its event, and the subscription it goes to."""

    delivery_id: int
    attempts: int
    event_id: str
    event_type: str
    subject: str
    account_id: str | None
    data: dict[str, Any]
    created_at: datetime
    subscription_id: str
    subscription_status: str
    target_url: str
    secret: str
    key_id: str


def load_claimed(session: Session, delivery_id: int) -> Claimed:
    row = session.execute(
        select(
            hook_deliveries.c.id,
            hook_deliveries.c.attempts,
            hook_events.c.id.label("event_id"),
            hook_events.c.type,
            hook_events.c.subject,
            hook_events.c.account_id,
            hook_events.c.data,
            hook_events.c.created_at,
            hook_subscriptions.c.id.label("subscription_id"),
            hook_subscriptions.c.status,
            hook_subscriptions.c.target_url,
            hook_subscriptions.c.secret,
            hook_subscriptions.c.key_id,
        )
        .join(hook_events, hook_events.c.id == hook_deliveries.c.event_id)
        .join(hook_subscriptions, hook_subscriptions.c.id == hook_deliveries.c.subscription_id)
        .where(hook_deliveries.c.id == delivery_id)
    ).one()
    return Claimed(
        delivery_id=row.id,
        attempts=row.attempts,
        event_id=row.event_id,
        event_type=row.type,
        subject=row.subject,
        account_id=row.account_id,
        data=row.data,
        created_at=as_utc(row.created_at) or utcnow(),
        subscription_id=row.subscription_id,
        subscription_status=row.status,
        target_url=row.target_url,
        secret=row.secret,
        key_id=row.key_id,
    )


def finish(
    session: Session,
    delivery_id: int,
    *,
    status: str,
    now: datetime,
    status_code: int | None = None,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
) -> None:
    values: dict[str, Any] = {
        "status": status,
        "claimed_until": None,
        "last_status_code": status_code,
        "last_error": error,
        "last_attempt_at": now,
        "next_attempt_at": next_attempt_at,
    }
    if status == "sent":
        values["sent_at"] = now
    session.execute(update(hook_deliveries).where(hook_deliveries.c.id == delivery_id).values(**values))
