"""The account owner's pages: accounts at risk from the nightly scores, one account's page, alert snooze and resolve
forms, and the digest outbox with a preview of any owner's digest.

Scope and masking are the API's: an account owner sees only their own accounts (`access.scope`; another's answers
as not found), alerts are shown through `/v1/alerts`' free-text masking, and snooze/resolve go through
`alerts.service` like `POST /v1/alerts/{id}/snooze`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import desc, func, select
from sqlalchemy.orm import Session

from handoff.access.keys import Principal
from handoff.access.scope import AccountScope, account_scope
from handoff.alerts.rules import Score, describe_changes
from handoff.alerts.tables import alert_scores
from handoff.api.deps import SessionDep
from handoff.clock import today
from handoff.errors import InvalidInput, NotFound
from handoff.store.crm_tables import CRM_TABLES
from handoff.web import charts
from handoff.web.pages import PersonDep, _safe_next, check_csrf, render, translator

router = APIRouter(prefix="/app", include_in_schema=False, dependencies=[Depends(check_csrf)])
PAGE_SIZE = 25
TREND_RUNS = 30  # nightly runs drawn on the list's trend lines
HISTORY_RUNS = 180  # on one account's page
LIVE = ("open", "snoozed")


def shown_alerts(session: Session, caller: Principal, found: list[Any]) -> list[Any]:
    """Alerts exactly as `GET /v1/alerts` shows them to this caller (the API's free-text fields, masked or audited)."""
    from handoff.api.routes.alerts import FREE_TEXT, AlertPublic
    from handoff.web.views import disclosure

    view = disclosure(session, caller)
    return [
        AlertPublic(**view.show(a.model_dump(), free_text=FREE_TEXT, subject=f"alert:{a.id}", account_id=a.account_id))
        for a in found
    ]


def _run_dates(session: Session, limit: int) -> list[date]:
    """The nightly runs that stored scores, newest first."""
    query = select(alert_scores.c.run_date).distinct().order_by(desc(alert_scores.c.run_date)).limit(limit)
    return list(session.scalars(query))


def _history(session: Session, account_ids: list[str], since: date | None) -> dict[str, list[tuple[date, float]]]:
    out: dict[str, list[tuple[date, float]]] = {a: [] for a in account_ids}
    if not account_ids:
        return out
    query = select(alert_scores.c.account_id, alert_scores.c.run_date, alert_scores.c.probability).where(
        alert_scores.c.account_id.in_(account_ids)
    )
    if since is not None:
        query = query.where(alert_scores.c.run_date >= since)
    for row in session.execute(query.order_by(alert_scores.c.run_date)):
        out[row.account_id].append((row.run_date, row.probability))
    return out


def _live_alerts(session: Session, caller: Principal, scope: AccountScope, account_ids: list[str]) -> dict[str, list]:
    from handoff.alerts.service import list_alerts

    out: dict[str, list] = {a: [] for a in account_ids}
    if not account_ids:
        return out
    found = []
    for status in LIVE:
        found += list_alerts(session, owner_id=scope.owner_id, status=status, account_ids=account_ids, limit=1000)
    for alert in shown_alerts(session, caller, [a for a in found if scope.sees_owner(a.owner_id)]):
        out[alert.account_id].append(alert)
    return out


@dataclass
class RiskRow:
    account_id: str
    name: str
    owner: str | None
    probability: float
    drivers: list[str]
    change: dict
    trend: Any  # Markup: the sparkline
    points: list[tuple[date, float]]
    alerts: list[Any] = field(default_factory=list)


@dataclass
class RiskPage:
    rows: list[RiskRow]
    run_date: date | None
    previous_date: date | None
    threshold: float
    page: int
    pages: int
    total: int
    today: date


def _owner_names(session: Session, ids: set[str | None]) -> dict[str, str]:
    from handoff.web.views import names

    return names(session, "team_members", ids)


def accounts_at_risk(
    session: Session,
    caller: Principal,
    *,
    page: int,
    threshold: float,
    today: date,
    _: Callable[[str], str] = str,
) -> RiskPage:
    """The caller's accounts scored by the latest nightly run, riskiest first, with trend, drivers and changes."""
    scope = account_scope(session, caller)
    dates = _run_dates(session, TREND_RUNS)
    if not dates:
        return RiskPage([], None, None, threshold, 1, 1, 0, today)
    latest, previous_date = dates[0], (dates[1] if len(dates) > 1 else None)
    accounts = CRM_TABLES["accounts"]
    matching = (alert_scores.c.run_date == latest, scope.where(alert_scores.c.account_id))
    total = int(session.execute(select(func.count()).select_from(alert_scores).where(*matching)).scalar_one())
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = session.execute(
        select(alert_scores, accounts.c.name, accounts.c.owner_id)
        .join_from(alert_scores, accounts, accounts.c.id == alert_scores.c.account_id, isouter=True)
        .where(*matching)
        .order_by(alert_scores.c.probability.desc(), alert_scores.c.account_id)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    ids = [row.account_id for row in rows]
    previous: dict[str, Any] = {}
    if previous_date is not None and ids:
        found = session.execute(
            select(alert_scores).where(alert_scores.c.run_date == previous_date, alert_scores.c.account_id.in_(ids))
        )
        previous = {row.account_id: row for row in found}
    history = _history(session, ids, dates[-1])
    live = _live_alerts(session, caller, scope, ids)
    owners = _owner_names(session, {row.owner_id for row in rows})
    out = []
    for n, row in enumerate(rows):
        before = previous.get(row.account_id)
        change = describe_changes(
            Score(
                row.account_id,
                row.probability,
                tuple(row.drivers or ()),
                before.probability if before is not None else None,
                tuple(before.drivers or ()) if before is not None else (),
            )
        )
        points = history[row.account_id]
        spark = charts.trend(
            f"trend-{n}",
            [(d.isoformat(), p) for d, p in points],
            title=_("{name}: churn risk over the last {count} runs").format(
                name=row.name or row.account_id, count=len(points)
            ),
            threshold=threshold,
            width=140,
            height=36,
            small=True,
        )
        out.append(
            RiskRow(
                account_id=row.account_id,
                name=row.name or row.account_id,
                owner=owners.get(row.owner_id or "", row.owner_id),
                probability=row.probability,
                drivers=list(row.drivers or ()),
                change=change,
                trend=spark,
                points=points,
                alerts=live[row.account_id],
            )
        )
    return RiskPage(out, latest, previous_date, threshold, page, pages, total, today)


@dataclass
class AccountPage:
    account: dict
    owner: str | None
    history: list[tuple[date, float]]
    chart: Any
    latest: Any  # the latest alert_scores row, or None
    change: dict | None
    alerts: list[Any]
    projects: list[dict]
    tasks: list[Any]
    tickets: list[dict]
    surveys: list[dict]
    threshold: float
    today: date


def account_page(
    session: Session,
    caller: Principal,
    account_id: str,
    *,
    threshold: float,
    today: date,
    _: Callable[[str], str] = str,
) -> AccountPage:
    from handoff.alerts.service import list_alerts
    from handoff.tasks.service import list_tasks
    from handoff.web.views import disclosure, shown_tasks

    scope = account_scope(session, caller)
    account = session.execute(select(CRM_TABLES["accounts"]).where(CRM_TABLES["accounts"].c.id == account_id)).first()
    if account is None or not scope.sees(account_id):  # another owner's account answers as a missing one
        raise NotFound(f"account {account_id!r} not found")
    dates = _run_dates(session, HISTORY_RUNS)
    history = _history(session, [account_id], dates[-1] if dates else None)[account_id]
    scores = session.execute(
        select(alert_scores).where(alert_scores.c.account_id == account_id).order_by(desc(alert_scores.c.run_date))
    ).all()
    latest = scores[0] if scores else None
    change = None
    if latest is not None:
        before = scores[1] if len(scores) > 1 else None
        change = describe_changes(
            Score(
                account_id,
                latest.probability,
                tuple(latest.drivers or ()),
                before.probability if before is not None else None,
                tuple(before.drivers or ()) if before is not None else (),
            )
        )
    chart = charts.trend(
        "account-trend",
        [(d.isoformat(), p) for d, p in history],
        title=_("{name}: 90-day churn risk at each nightly run").format(name=account.name),
        alert_words=_("alert at {level}"),
        threshold=threshold,
        width=640,
        height=200,
    )
    found = [a for a in list_alerts(session, account_id=account_id, limit=100) if scope.sees_owner(a.owner_id)]
    crm = CRM_TABLES
    projects = [
        dict(r._mapping)
        for r in session.execute(
            select(crm["projects"])
            .where(crm["projects"].c.account_id == account_id)
            .order_by(desc(crm["projects"].c.planned_start))
        )
    ]
    tasks = shown_tasks(session, caller, list_tasks(session, account_id=account_id, scope=scope, limit=100))
    tickets = [
        dict(r._mapping)
        for r in session.execute(
            select(crm["tickets"])
            .where(crm["tickets"].c.account_id == account_id)
            .order_by(desc(crm["tickets"].c.opened_at))
            .limit(50)
        )
    ]
    view = disclosure(session, caller)
    surveys = [
        view.show(dict(r._mapping), free_text=("comment",), subject=f"survey:{r.id}", account_id=account_id)
        for r in session.execute(
            select(crm["surveys"])
            .where(crm["surveys"].c.account_id == account_id)
            .order_by(desc(crm["surveys"].c.responded_at))
            .limit(50)
        )
    ]
    owner = _owner_names(session, {account.owner_id}).get(account.owner_id or "", account.owner_id)
    return AccountPage(
        dict(account._mapping),
        owner,
        history,
        chart,
        latest,
        change,
        shown_alerts(session, caller, found),
        projects,
        tasks,
        tickets,
        surveys,
        threshold,
        today,
    )


@router.get("/accounts", name="web_accounts")
def accounts_list(
    request: Request,
    session: SessionDep,
    person: PersonDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    threshold = request.app.state.parts.settings.alerts.churn_threshold
    view = accounts_at_risk(session, person, page=page, threshold=threshold, today=today(), _=translator(request))
    return render(request, "accounts.html", view=view)


@router.get("/accounts/{account_id}", name="web_account")
def account(request: Request, account_id: str, session: SessionDep, person: PersonDep) -> Response:
    threshold = request.app.state.parts.settings.alerts.churn_threshold
    view = account_page(session, person, account_id, threshold=threshold, today=today(), _=translator(request))
    return render(request, "account.html", view=view)


def _visible_alert(session: Session, caller: Principal, alert_id: str) -> Any:
    from handoff.alerts.service import get_alert

    alert = get_alert(session, alert_id)
    if not account_scope(session, caller).sees_owner(alert.owner_id):  # as /v1: the same answer as a missing alert
        raise NotFound(f"alert {alert_id} not found")
    return alert


def _back_to(alert: Any, back: str | None) -> Response:
    """After a snooze or resolve: the page the form came from (else the alert's account), at the alert's card."""
    target = _safe_next(back)
    page = target if target != "/app" else f"/app/accounts/{alert.account_id}"
    return RedirectResponse(f"{page}#alert-{alert.id}", status_code=303)


@router.post("/alerts/{alert_id}/snooze", name="web_alert_snooze")
def snooze(
    request: Request,
    alert_id: str,
    session: SessionDep,
    person: PersonDep,
    until: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(max_length=2000)] = "",
    back: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    from handoff.alerts.service import snooze_alert

    alert = _visible_alert(session, person, alert_id)
    try:
        day = date.fromisoformat(until.strip())
    except ValueError as error:
        raise InvalidInput(f"snooze until must be a date (YYYY-MM-DD), not {until!r}") from error
    snooze_alert(session, alert_id, until=day, reason=reason, actor=person.actor)
    return _back_to(alert, back)


@router.post("/alerts/{alert_id}/resolve", name="web_alert_resolve")
def resolve(
    request: Request,
    alert_id: str,
    session: SessionDep,
    person: PersonDep,
    note: Annotated[str, Form(max_length=2000)] = "",
    back: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    from handoff.alerts.service import resolve_alert

    alert = _visible_alert(session, person, alert_id)
    resolve_alert(session, alert_id, actor=person.actor, note=note.strip() or None)
    return _back_to(alert, back)


@router.get("/outbox", name="web_outbox")
def outbox(
    request: Request,
    session: SessionDep,
    person: PersonDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    owner: Annotated[str | None, Query(max_length=255)] = None,
) -> Response:
    """Every digest the nightly run composed and where each went; an owner's digest as it would read today. An
    account owner sees only their own."""
    from handoff.alerts.outbox import count_digests, list_digests, owners_with_live_alerts, preview_digest

    scope = account_scope(session, person)
    mine = scope.owner_id  # None: every owner
    total = count_digests(session, owner_id=mine)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    digests = list_digests(session, owner_id=mine, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    owners = owners_with_live_alerts(session)
    if mine is not None:
        owners = [(o, n) for o, n in owners if o == mine]
        owner = mine
    preview = preview_digest(session, owner, today()) if owner else None
    return render(
        request,
        "outbox.html",
        digests=digests,
        owners=owners,
        preview=preview,
        owner=owner,
        page=page,
        pages=pages,
        total=total,
        smtp=request.app.state.parts.settings.alerts.smtp_host,
    )
