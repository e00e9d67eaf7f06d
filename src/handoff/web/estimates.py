"""The PM's estimate pages: a brief form or an open deal → the estimate with its three charts, saved estimates, and
the backtest of stored estimates against the actuals of finished projects.

Estimates come from the API's own service (`risk.service.estimate`, stored as `POST /v1/estimates` stores them), from
the champions loaded at start-up. Scope is the API's too (`access.scope`): an account owner given `estimates:read`
sees and makes estimates on their own accounts only, and another account's estimate answers as a missing one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import desc, select
from sqlalchemy.orm import Session

from handoff.access.keys import Principal
from handoff.access.scope import EVERYTHING, AccountScope, account_scope
from handoff.api.deps import SessionDep
from handoff.crm.dictionary import CONTRACT_TYPES, SEGMENTS
from handoff.errors import InvalidInput
from handoff.risk.schemas import Estimate, EstimateBrief
from handoff.store.crm_tables import CRM_TABLES
from handoff.web import charts
from handoff.web.i18n import N_
from handoff.web.pages import PersonDep, check_csrf, render, translator

router = APIRouter(prefix="/app", include_in_schema=False, dependencies=[Depends(check_csrf)])
PAGE_SIZE = 25
# What each model's factors are about, and the unit their bars are drawn in.
FACTOR_GROUPS = (("effort", N_("Effort"), N_("h")), ("duration", N_("Duration"), N_("days")),
                 ("overrun", N_("Budget overrun"), N_("pts")))  # fmt: skip
NUMBER_FIELDS = ("team_size", "scope_items", "planned_budget", "deal_amount", "sales_estimate_hours")
TEXT_FIELDS = ("deal_id", "account_id", "segment", "product", "contract_type", "planned_start", "description")


def open_deals(session: Session, limit: int = 200, scope: AccountScope = EVERYTHING) -> list[tuple[str, str]]:
    """(deal id, "deal name · account") of open deals on accounts `scope` sees, newest first: what a PM picks from."""
    deals, accounts = CRM_TABLES["deals"], CRM_TABLES["accounts"]
    rows = session.execute(
        select(deals.c.id, deals.c.name, accounts.c.name.label("account"))
        .join_from(deals, accounts, accounts.c.id == deals.c.account_id, isouter=True)
        .where(deals.c.stage == "open", scope.where(deals.c.account_id))
        .order_by(desc(deals.c.created_at), deals.c.id)
        .limit(limit)
    )
    return [(row.id, f"{row.name or row.id} · {row.account or '—'}") for row in rows]


def brief_from_form(form: dict[str, str]) -> EstimateBrief:
    """The form's filled fields as a brief; a wrong number or choice is a 400 naming the field, never a 500."""
    data: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = (form.get(name) or "").strip()
        if value:
            data[name] = value
    for name in NUMBER_FIELDS:
        value = (form.get(name) or "").strip().replace(",", "")
        if not value:
            continue
        try:
            number = float(value)
        except ValueError as error:
            raise InvalidInput(f"{name.replace('_', ' ')} must be a number, not {value!r}") from error
        data[name] = int(number) if name in ("team_size", "scope_items") and number.is_integer() else number
    try:
        return EstimateBrief(**data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])).replace('_', ' ')}: {e['msg']}" for e in error.errors())
        raise InvalidInput(f"the brief is not valid: {problems}") from error


@dataclass
class EstimateView:
    estimate: Estimate
    account: str | None
    deal: str | None
    intervals: Any
    factors: list[tuple[str, str, Any, list[Any]]]  # (group, unit, chart, factors)
    similar: Any
    similar_rows: list[Any]


def _name(session: Session, table: str, key: str | None) -> str | None:
    if not key:
        return None
    rows = CRM_TABLES[table]
    return session.execute(select(rows.c.name).where(rows.c.id == key)).scalar() or key


def estimate_view(session: Session, found: Estimate, _: Callable[[str], str] = str) -> EstimateView:
    """The three charts of one estimate: the two ranges, the factors as signed bars, similar projects' outcomes;
    their words in the page's language (`_`, the request's gettext)."""
    effort, duration = found.effort_hours, found.duration_days
    hours, days = _("h"), _("days")
    intervals = charts.intervals(
        "estimate-intervals",
        [
            charts.Interval(_("Effort"), effort.p10, effort.p50, effort.p90, hours),
            charts.Interval(_("Duration"), duration.p10, duration.p50, duration.p90, days),
        ],
        title=_("Effort {e10}–{e90} h (median {e50}); duration {d10}–{d90} days (median {d50}): 80 % intervals").format(
            e10=f"{effort.p10:,.0f}",
            e90=f"{effort.p90:,.0f}",
            e50=f"{effort.p50:,.0f}",
            d10=f"{duration.p10:,.0f}",
            d90=f"{duration.p90:,.0f}",
            d50=f"{duration.p50:,.0f}",
        ),  # fmt: skip
    )
    groups = []
    for key, label, unit in FACTOR_GROUPS:
        factors = found.factors.get(key, [])
        scale = 100.0 if unit == "pts" else 1.0  # overrun effects are probabilities: drawn in points
        bars = [(f.text, f.effect * scale) for f in factors]
        chart = charts.signed_bars(
            f"estimate-factors-{key}",
            bars,
            title=_("{label}: what raises (solid) and lowers (hatched) it").format(label=_(label)),
            unit=_(unit),
        )
        groups.append((label, unit, chart, factors))
    similar_rows = found.similar_projects
    similar = charts.planned_vs_actual(
        "estimate-similar",
        [(p.name or p.project_id, p.planned_hours, p.actual_hours) for p in similar_rows],
        title=_("The most similar past projects: planned (outlined) and actual (solid) hours"),
        unit=hours,
        words=(_("planned"), _("actual")),
    )
    return EstimateView(
        found,
        _name(session, "accounts", found.account_id),
        _name(session, "deals", found.deal_id),
        intervals,
        groups,
        similar,
        similar_rows,
    )


@dataclass
class Backtest:
    rows: list[dict[str, Any]]
    coverage: float | None
    mae: float | None
    overrun_rate: float | None
    mean_overrun_probability: float | None
    chart: Any


def backtest_view(session: Session, _: Callable[[str], str] = str, scope: AccountScope = EVERYTHING) -> Backtest:
    """Stored estimates `scope` sees beside their finished projects' actuals (`risk.service.estimate_backtest`)."""
    from handoff.risk.service import estimate_backtest

    frame = estimate_backtest(session, scope)
    rows = frame.to_dict("records")
    if not rows:
        empty = charts.scatter(
            "backtest-scatter",
            [],
            title=_("No finished project has a stored estimate"),
            unit=_("h"),
            words=(_("estimated P50"), _("actual")),
        )
        return Backtest([], None, None, None, None, empty)
    errors = (frame["actual_hours"] - frame["effort_p50"]).abs()
    known = frame["actual_cost"].notna() & frame["planned_budget"].notna()
    chart = charts.scatter(
        "backtest-scatter",
        [(r["effort_p50"], r["actual_hours"], bool(r["effort_inside_80"])) for r in rows],
        title=_("Estimated median against actual effort for {count} finished projects").format(count=len(rows)),
        unit=_("h"),
        words=(_("estimated P50"), _("actual")),
    )
    return Backtest(
        rows,
        float(frame["effort_inside_80"].mean()),
        float(errors.mean()),
        float(frame.loc[known, "overran"].mean()) if known.any() else None,
        float(frame["overrun_probability"].mean()),
        chart,
    )


@dataclass
class CoverageOverTime:
    rows: list[tuple[str, float, int]]  # (month the estimates were made, share inside their 80 % interval, how many)
    chart: Any


def coverage_over_time(session: Session, _: Callable[[str], str] = str) -> CoverageOverTime:
    """The effort interval's 80 % coverage by the month its estimates were made, over the stored estimates whose
    projects have finished (`risk.service.estimate_backtest`): whether the intervals keep their word as time passes."""
    import pandas as pd

    from handoff.risk.service import estimate_backtest

    frame = estimate_backtest(session)
    if frame.empty:
        return CoverageOverTime([], None)
    months = pd.to_datetime(frame["created_at"]).dt.strftime("%Y-%m")
    grouped = frame.groupby(months)["effort_inside_80"].agg(["mean", "size"]).sort_index()
    rows = [(str(month), float(row["mean"]), int(row["size"])) for month, row in grouped.iterrows()]
    chart = charts.trend(
        "coverage-over-time",
        [(month, share) for month, share, _n in rows],
        title=_("80 % interval coverage by the month the estimates were made"),
        threshold=0.8,
        alert_words=_("target {level}"),
    )
    return CoverageOverTime(rows, chart)


@router.get("/estimates", name="web_estimates")
def estimates(
    request: Request,
    session: SessionDep,
    person: PersonDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    from handoff.risk.service import list_estimates

    scope = account_scope(session, person)
    saved, total = list_estimates(session, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, scope=scope)
    return render(
        request,
        "estimates.html",
        deals=open_deals(session, scope=scope),
        saved=saved,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        segments=SEGMENTS,
        contract_types=CONTRACT_TYPES,
        ready=all(request.app.state.models.get(name) for name in ("effort", "duration", "overrun")),
    )


@router.post("/estimates", name="web_estimate_create")
async def create_estimate(request: Request, person: PersonDep) -> Response:
    """The brief form (or a picked deal) → an estimate stored like `POST /v1/estimates`, then its page."""
    from handoff.api.deps import in_scoring_lane

    form = await request.form()
    fields = {name: str(form.get(name) or "")[:50_000] for name in (*TEXT_FIELDS, *NUMBER_FIELDS)}
    brief = brief_from_form(fields)
    state = request.app.state
    estimate_id = await in_scoring_lane(request, _estimate, state.parts.sessions, state.models, brief, person)
    return RedirectResponse(f"/app/estimates/{estimate_id}", status_code=303)


def _estimate(sessions: Any, models: dict, brief: EstimateBrief, person: Principal) -> str:
    from handoff.risk.service import estimate
    from handoff.store.db import transaction

    with transaction(sessions) as session:
        # As `POST /v1/estimates`: a deal, project or account outside the caller's scope is not found.
        return estimate(session, models, brief, scope=account_scope(session, person)).id


@router.get("/estimates/backtest", name="web_backtest")
def backtest(request: Request, session: SessionDep, person: PersonDep) -> Response:
    view = backtest_view(session, translator(request), account_scope(session, person))
    return render(request, "backtest.html", view=view)


@router.get("/estimates/{estimate_id}", name="web_estimate")
def estimate_page(request: Request, estimate_id: str, session: SessionDep, person: PersonDep) -> Response:
    from handoff.risk.service import get_estimate, within_scope

    scope = account_scope(session, person)  # another owner's estimate answers as a missing one
    found = within_scope(get_estimate(session, estimate_id, scope=scope), scope)
    view = estimate_view(session, found, translator(request))
    return render(request, "estimate.html", view=view, finite=math.isfinite)
