"""Churn alerts: list (account owners see only their own accounts), snooze with a reason, resolve."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from handoff.access.disclosure import Disclosure
from handoff.alerts.models import FREE_TEXT, Alert
from handoff.api.deps import SessionDep
from handoff.api.errors import AUTHED, R400, R404, R409, R413
from handoff.api.schemas import ResolveRequest, SnoozeRequest, examples
from handoff.api.security import Caller, View
from handoff.errors import NotFound
from handoff.schema_types import UtcDateTime

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

ALERT_EXAMPLE: dict[str, Any] = {
    "id": "5e0d7a3c9b2f4e1a8c6d4b2a0f9e8d7c",
    "account_id": "A-00042",
    "account_name": "Acme Logistics",
    "owner_id": "TM-007",
    "cause": "jump",
    "status": "open",
    "probability": 0.31,
    "previous_probability": 0.17,
    "drivers": ["9 support tickets in 90 days (+8.4 pts)", "Renewal in 41 days (+3.1 pts)"],
    "changes": {"text": "Risk rose from 17% to 31% since the last run.", "delta": 0.14},
    "opened_on": "2026-12-07",
    "last_run_date": "2026-12-07",
    "updated_at": "2026-12-07T02:10:44Z",
    "snoozed_until": None,
    "snooze_reason": None,
    "resolved_at": None,
    "resolved_by": None,
    "resolution_note": None,
}


class AlertPublic(Alert):
    """An open, snoozed or resolved churn alert on one account and cause."""

    model_config = examples(ALERT_EXAMPLE)

    updated_at: UtcDateTime
    resolved_at: UtcDateTime | None = None


class AlertPagePublic(BaseModel):
    model_config = examples({"alerts": [ALERT_EXAMPLE], "total": 1})

    alerts: list[AlertPublic]
    total: int


def _shown(view: Disclosure, alert: Alert) -> AlertPublic:
    data = view.show(alert.model_dump(), free_text=FREE_TEXT, subject=f"alert:{alert.id}", account_id=alert.account_id)
    return AlertPublic(**data)


def _visible(session, view: Disclosure, alert_id: str) -> Alert:
    from handoff.alerts.service import get_alert

    alert = get_alert(session, alert_id)
    if not view.scope.sees_owner(alert.owner_id):
        # Same answer as a missing alert, so a key cannot probe which alerts exist on other owners' accounts.
        raise NotFound(f"alert {alert_id} not found")
    return alert


@router.get(
    "",
    name="list_alerts",
    summary="Alerts, riskiest first; account owners see only their own accounts.",
    response_model=AlertPagePublic,
    responses={**AUTHED, **R400},
)
def list_alerts(
    session: SessionDep,
    view: View,
    status: Annotated[str | None, Query(description="open, snoozed or resolved.", max_length=16)] = None,
    account_id: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AlertPagePublic:
    from handoff.alerts.service import count_alerts
    from handoff.alerts.service import list_alerts as find

    owner = view.scope.owner_id  # account owners: the alerts raised for them; others: all
    found = find(session, owner_id=owner, status=status, account_id=account_id, limit=limit, offset=offset)
    total = count_alerts(session, owner_id=owner, status=status, account_id=account_id)
    return AlertPagePublic(alerts=[_shown(view, alert) for alert in found], total=total)


@router.get(
    "/{alert_id}",
    name="get_alert",
    summary="One alert.",
    response_model=AlertPublic,
    responses={**AUTHED, **R404},
)
def get_alert(alert_id: str, session: SessionDep, view: View) -> AlertPublic:
    return _shown(view, _visible(session, view, alert_id))


@router.post(
    "/{alert_id}/snooze",
    name="snooze_alert",
    summary="Quiet an alert until a date, with a reason; a jump in risk lifts the snooze early.",
    response_model=AlertPublic,
    responses={**AUTHED, **R413, **R400, **R404, **R409},
)
def snooze_alert(alert_id: str, body: SnoozeRequest, session: SessionDep, caller: Caller, view: View) -> AlertPublic:
    from handoff.alerts.service import snooze_alert as snooze

    _visible(session, view, alert_id)
    alert = snooze(session, alert_id, until=body.until, reason=body.reason, actor=caller.actor)
    return _shown(view, alert)


@router.post(
    "/{alert_id}/resolve",
    name="resolve_alert",
    summary="Close an alert; the account can raise a new one on a later run.",
    response_model=AlertPublic,
    responses={**AUTHED, **R413, **R404, **R409},
)
def resolve_alert(
    alert_id: str, session: SessionDep, caller: Caller, view: View, body: ResolveRequest | None = None
) -> AlertPublic:
    from handoff.alerts.service import resolve_alert as resolve

    _visible(session, view, alert_id)
    alert = resolve(session, alert_id, actor=caller.actor, note=body.note if body else None)
    return _shown(view, alert)
