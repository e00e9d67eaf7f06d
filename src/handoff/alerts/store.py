"""The nightly run's reads and writes: yesterday's scores, live alerts, owners, decisions, digests, deliveries, runs."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from handoff.alerts.channels import Delivery
from handoff.alerts.digest import Digest
from handoff.alerts.models import NightlyRun
from handoff.alerts.rules import Decision, LiveAlert, Score
from handoff.alerts.service import record_event
from handoff.alerts.tables import alert_deliveries, alert_digests, alert_runs, alert_scores, alerts
from handoff.clock import naive_utcnow
from handoff.store.crm_tables import CRM_TABLES

SYSTEM_ACTOR = "nightly"
_SCORE_ROWS_PER_INSERT = 5000

# account_id -> (owner_id, account name); owner_id -> (name, email)
AccountOwners = dict[str, tuple[str | None, str]]
Members = dict[str, tuple[str, str | None]]


def previous_scores(session: Session, run_date: date) -> dict[str, tuple[float, tuple[str, ...]]]:
    """The latest earlier run's score and drivers per account (empty before the first run)."""
    previous_date = session.execute(
        select(func.max(alert_scores.c.run_date)).where(alert_scores.c.run_date < run_date)
    ).scalar_one_or_none()
    if previous_date is None:
        return {}
    rows = session.execute(
        select(alert_scores.c.account_id, alert_scores.c.probability, alert_scores.c.drivers).where(
            alert_scores.c.run_date == previous_date
        )
    )
    return {row.account_id: (row.probability, tuple(row.drivers or ())) for row in rows}


def live_alerts(session: Session, *where: Any) -> dict[str, dict[str, LiveAlert]]:
    """Open and snoozed alerts, by account and cause (`where`: more conditions, e.g. an account-id range)."""
    live: dict[str, dict[str, LiveAlert]] = defaultdict(dict)
    rows = session.execute(select(alerts).where(alerts.c.status.in_(("open", "snoozed")), *where))
    for row in rows:
        live[row.account_id][row.cause] = LiveAlert(
            id=row.id,
            account_id=row.account_id,
            cause=row.cause,
            status=row.status,
            probability=row.probability,
            last_run_date=row.last_run_date,
            snoozed_until=row.snoozed_until,
            snoozed_probability=row.snoozed_probability,
        )
    return live


def owners(session: Session) -> tuple[AccountOwners, Members]:
    """account_id -> (owner_id, account name); owner_id -> (name, email)."""
    accounts, members = CRM_TABLES["accounts"], CRM_TABLES["team_members"]
    account_rows = session.execute(select(accounts.c.id, accounts.c.owner_id, accounts.c.name))
    by_account = {row.id: (row.owner_id or None, row.name or row.id) for row in account_rows}
    member_rows = session.execute(select(members.c.id, members.c.name, members.c.email))
    by_member = {row.id: (row.name or row.id, (row.email or "").strip() or None) for row in member_rows}
    return by_account, by_member


def write_decision(
    session: Session, decision: Decision, *, alert_id: str, score: Score, owner_id: str | None, run_date: date
) -> None:
    """An alert opened, re-opened or updated, with its event in the alert's history."""
    now = naive_utcnow()
    values = {
        "probability": score.probability,
        "previous_probability": score.previous_probability,
        "drivers": list(score.drivers),
        "changes": decision.changes,
        "last_run_date": run_date,
        "owner_id": owner_id,
        "updated_at": now,
    }
    detail = {"probability": round(score.probability, 4), "change": decision.changes["text"]}
    if decision.action == "open":
        session.execute(
            insert(alerts).values(
                id=alert_id,
                account_id=decision.account_id,
                cause=decision.cause,
                status="open",
                live_key=f"{decision.account_id}:{decision.cause}",
                opened_on=run_date,
                **values,
            )
        )
        record_event(session, alert_id, "opened", actor=SYSTEM_ACTOR, detail=detail, run_date=run_date)
    elif decision.action == "reopen":
        session.execute(
            update(alerts)
            .where(alerts.c.id == alert_id)
            .values(status="open", snoozed_until=None, snoozed_probability=None, **values)
        )
        detail["lifted"] = decision.changes.get("lifted")
        record_event(session, alert_id, "unsnoozed", actor=SYSTEM_ACTOR, detail=detail, run_date=run_date)
    elif decision.action == "update":
        session.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))
        record_event(session, alert_id, "updated", actor=SYSTEM_ACTOR, detail=detail, run_date=run_date)


def store_scores(
    session: Session, run_date: date, scores: pd.DataFrame, model_version: str | None, *where: Any
) -> None:
    """Every account's score of the run (replacing an earlier run of the date; `where`: only that run's scores of
    these accounts, e.g. one partition's range): tomorrow's run compares with it."""
    session.execute(delete(alert_scores).where(alert_scores.c.run_date == run_date, *where))
    rows = [
        {
            "run_date": run_date,
            "account_id": account_id,
            "probability": float(probability),
            "drivers": list(drivers),
            "model_version": model_version,
        }
        for account_id, probability, drivers in zip(scores.index, scores["probability"], scores["drivers"], strict=True)
    ]
    for start in range(0, len(rows), _SCORE_ROWS_PER_INSERT):
        session.execute(insert(alert_scores), rows[start : start + _SCORE_ROWS_PER_INSERT])


def owners_with_a_digest(session: Session, run_date: date) -> set[str]:
    return {
        row.owner_id
        for row in session.execute(select(alert_digests.c.owner_id).where(alert_digests.c.run_date == run_date))
    }


def add_digest(session: Session, run_date: date, digest: Digest) -> None:
    session.execute(
        insert(alert_digests).values(
            id=uuid.uuid4().hex,
            run_date=run_date,
            owner_id=digest.owner_id,
            recipient=digest.recipient,
            payload=digest.as_payload(),
            subject=digest.subject,
            body=digest.text,
            created_at=naive_utcnow(),
        )
    )


def digests_of(session: Session, run_date: date) -> list[Any]:
    """Every stored digest row of the date, new or from an earlier attempt."""
    return list(session.execute(select(alert_digests).where(alert_digests.c.run_date == run_date)).all())


def sent_deliveries(session: Session, digest_ids: Iterable[str]) -> set[tuple[str, str]]:
    """(digest id, channel) pairs that reached their channel already."""
    return {
        (row.digest_id, row.channel)
        for row in session.execute(
            select(alert_deliveries.c.digest_id, alert_deliveries.c.channel).where(
                alert_deliveries.c.digest_id.in_(list(digest_ids)), alert_deliveries.c.status == "sent"
            )
        )
    }


def record_delivery(session: Session, digest: Any, delivery: Delivery) -> None:
    """A delivery's latest attempt (one row per digest and channel) and, when it went out, its `digest.sent` event."""
    session.execute(
        delete(alert_deliveries).where(
            alert_deliveries.c.digest_id == digest.id, alert_deliveries.c.channel == delivery.channel
        )
    )
    session.execute(
        insert(alert_deliveries).values(
            digest_id=digest.id,
            channel=delivery.channel,
            status="sent" if delivery.ok else "failed",
            attempts=delivery.attempts,
            last_error=delivery.error,
            sent_at=naive_utcnow() if delivery.ok else None,
        )
    )
    if delivery.ok:
        _emit_digest_sent(session, digest, delivery.channel)


def _emit_digest_sent(session: Session, row: Any, channel: str) -> None:
    """`digest.sent` once per digest and channel it reached, in the transaction that records the delivery."""
    from handoff.events.outbox import Resource, emit

    payload = row.payload or {}
    data = {
        "id": row.id,
        "run_date": row.run_date,
        "owner_id": row.owner_id,
        "owner_name": payload.get("owner_name"),
        "recipient": row.recipient,
        "channel": channel,
        "subject": row.subject,
        "alerts": payload.get("alerts", []),
    }
    emit(session, "digest.sent", lambda: [Resource(f"digest:{row.id}", data)])


def record_run(session: Session, run: NightlyRun) -> None:
    session.execute(insert(alert_runs).values(run.model_dump(exclude={"id"}) | {"id": run.id}))
