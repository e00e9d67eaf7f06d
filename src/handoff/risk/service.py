"""Kickoff estimates and churn scores from the champions: read the CRM, predict, explain, store the estimate.

Callers own the session and commit it; `models` maps short names (`effort`, `duration`, `overrun`, `churn`) to
`registry.ServedModel`s, loaded once (`registry.load_champions(settings)`).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, func, insert, literal_column, select
from sqlalchemy.orm import Session

from handoff.access.scope import EVERYTHING, AccountScope
from handoff.clock import naive_utcnow, today
from handoff.crm.dictionary import ENTITIES_BY_NAME
from handoff.errors import InvalidInput, NoChampion, NotFound
from handoff.risk import explain, kickoff, similar
from handoff.risk import features as feats
from handoff.risk.registry import ServedModel, registered_name
from handoff.risk.schemas import ChurnScore, Estimate, EstimateBrief
from handoff.risk.store import load_account_frames
from handoff.risk.tables import risk_estimates
from handoff.store.crm_tables import CRM_TABLES

ESTIMATE_MODELS = ("effort", "duration", "overrun")


def require_models(models: Mapping[str, ServedModel], names: Iterable[str]) -> None:
    """`NoChampion` naming every registered model in `names` that has no loaded champion."""
    missing = [name for name in names if models.get(name) is None]
    if missing:
        names_text = ", ".join(registered_name(n) for n in missing)
        raise NoChampion(f"no champion model for {names_text}; run `handoff train` first")


_BY_ID = ("accounts", "projects")  # the entities `_one` reads


@cache
def _statements() -> dict[str, Any]:
    """The hot paths' statements, built once: building one costs SQLAlchemy more than SQLite takes to run it."""
    projects, tickets = CRM_TABLES["projects"], CRM_TABLES["tickets"]
    key = bindparam("key")
    counted = [
        select(aggregate(column)).select_from(table).scalar_subquery()
        for table in (projects, CRM_TABLES["accounts"])
        for aggregate, column in ((func.count, literal_column("*")), (func.max, table.c.id))
    ]
    # A project corrected in place (its actuals, size or budget) changes a sum or a latest date, so every API
    # replica's cached history sees the correction on its next estimate instead of after the TTL.
    counted += [
        select(func.sum(projects.c[name])).scalar_subquery()
        for name in ("actual_cost", "actual_hours", "planned_budget", "planned_hours", "scope_items", "team_size")
    ]
    counted += [
        select(func.max(projects.c[name])).scalar_subquery() for name in ("actual_start", "actual_end", "planned_end")
    ]
    counted.append(select(func.count(projects.c.actual_end)).scalar_subquery())
    return {
        **{f"{entity}_by_id": select(CRM_TABLES[entity]).where(CRM_TABLES[entity].c.id == key) for entity in _BY_ID},
        "deal_brief": _deal_brief_statement(),
        "tickets": select(tickets.c.opened_at, tickets.c.escalated).where(tickets.c.account_id == key),
        "history_version": select(*counted),
        "store_estimate": insert(risk_estimates),
    }


def _deal_brief_statement() -> Any:
    """A deal, its first project and its account (the brief's own `account` when given) in one round trip.

    Columns are labelled `<entity>__<column>`; a project or account that is not there reads as NULLs.
    """
    deals, projects, accounts = (CRM_TABLES[name] for name in ("deals", "projects", "accounts"))
    theirs = projects.alias("deal_projects")
    first_project = select(func.min(theirs.c.id)).where(theirs.c.deal_id == deals.c.id).scalar_subquery()
    # The deal_id condition lets the database reach the deal's projects by their index, not by scanning them all.
    its_first_project = (projects.c.deal_id == deals.c.id) & (projects.c.id == first_project)
    account_id = func.coalesce(bindparam("account", type_=deals.c.account_id.type), deals.c.account_id)
    return (
        select(
            *(
                table.c[c.name].label(f"{table.name}__{c.name}")
                for table in (deals, projects, accounts)
                for c in table.c
            )
        )
        .select_from(deals.outerjoin(projects, its_first_project).outerjoin(accounts, accounts.c.id == account_id))
        .where(deals.c.id == bindparam("key"))
    )


def _split(row: Mapping[str, Any], entity: str) -> dict[str, Any] | None:
    """One entity's columns of a `deal_brief` row, or None when that entity was not found."""
    prefix = f"{entity}__"
    found = {name.removeprefix(prefix): value for name, value in row.items() if name.startswith(prefix)}
    return found if found["id"] is not None else None


def _one(session: Session, entity: str, key: str) -> dict[str, Any] | None:
    row = session.execute(_statements()[f"{entity}_by_id"], {"key": key}).mappings().first()
    return dict(row) if row else None


def _brief_row(
    session: Session, brief: EstimateBrief, scope: AccountScope = EVERYTHING
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The brief as one row of `BRIEF_COLUMNS` (the deal and its project fill what the PM left out), and its account.

    A project, deal or account on an account outside `scope` is not found, in the words of a missing one: an account
    owner cannot estimate (or probe) another owner's deal."""
    row = brief.model_dump()
    if brief.project_id:
        project_row = _one(session, "projects", brief.project_id)
        if project_row is None or not _sees_or_none(scope, project_row.get("account_id")):
            raise NotFound(f"project {brief.project_id!r} not found")
    account: dict[str, Any] | None = None
    if brief.deal_id:
        read = session.execute(_statements()["deal_brief"], {"key": brief.deal_id, "account": brief.account_id})
        found = read.mappings().first()
        if found is None or not scope.sees(found["deals__account_id"]):
            raise NotFound(f"deal {brief.deal_id!r} not found")
        deal, project, account = (_split(found, entity) for entity in ("deals", "projects", "accounts"))
        fallbacks = {
            "account_id": deal["account_id"],
            "product": deal["product"],
            "contract_type": deal["contract_type"],
            "deal_amount": deal["amount"],
        }
        if project is not None:
            for column in ("team_size", "scope_items", "planned_budget", "sales_estimate_hours", "description"):
                fallbacks[column] = project[column]
            fallbacks["planned_start"] = project["planned_start"]
            fallbacks["project_id"] = project["id"]
        for column, value in fallbacks.items():
            if row.get(column) is None:
                row[column] = value
    elif row.get("account_id"):
        account = _one(session, "accounts", row["account_id"])
    if row.get("account_id") and (account is None or not scope.sees(row["account_id"])):
        raise NotFound(f"account {row['account_id']!r} not found")
    return row, account


def _sees_or_none(scope: AccountScope, account_id: str | None) -> bool:
    """A project on no account is nobody's: a scoped caller may still name it in a brief (it shows no account)."""
    return account_id is None or scope.sees(account_id)


def _tickets(session: Session, account_id: str | None) -> list[tuple[Any, Any]]:
    """The account's tickets as (opened_at, escalated): the one history the estimate reads live, not cached."""
    if account_id is None:
        return []
    return [tuple(row) for row in session.execute(_statements()["tickets"], {"key": account_id})]


_SIZE_HINT = "scope_items, team_size, planned_budget, sales_estimate_hours, description"
HISTORY_TTL_SECONDS = 30.0
_history_cache: dict[str, tuple[Any, float, kickoff.ProjectHistory]] = {}


def project_history(session: Session) -> kickoff.ProjectHistory:
    """Every project as arrays (`kickoff.ProjectHistory`), cached per database and data version.

    The version is cheap to read (row counts, largest ids, the sums and latest dates of the numbers and days a
    history is made of), so a correction made in place reaches every process on its next estimate; what it cannot
    see (a renamed project, an earlier date moved within the range) a TTL bounds. Reading and typing the whole
    history on every estimate cost most of its time. Rows are read in id order: a table scan's order changes
    when a row is updated (PostgreSQL writes a new row version), and ties among similar projects would follow it.
    """
    version = tuple(session.execute(_statements()["history_version"]).one())
    key = str(session.get_bind().url)
    now = time.monotonic()
    cached = _history_cache.get(key)
    if cached is not None and cached[0] == version and now - cached[1] < HISTORY_TTL_SECONDS:
        return cached[2]
    connection = session.connection()
    projects, accounts = CRM_TABLES["projects"], CRM_TABLES["accounts"]
    history = kickoff.ProjectHistory.from_frames(
        pd.read_sql_query(select(projects).order_by(projects.c.id), connection),
        pd.read_sql_query(select(accounts.c.id, accounts.c.segment), connection),
    )
    _history_cache[key] = (version, now, history)
    return history


def brief_features(
    session: Session, brief: EstimateBrief, as_of: date, scope: AccountScope = EVERYTHING
) -> tuple[dict[str, Any], dict[str, Any], kickoff.ProjectHistory]:
    """The brief filled in from its deal and project, its kickoff feature record, and the history it was read from."""
    row, account = _brief_row(session, brief, scope)
    history = project_history(session)
    record = kickoff.kickoff_record(row, as_of, history, account, _tickets(session, row.get("account_id")))
    return row, record, history


def estimate(
    session: Session,
    models: Mapping[str, ServedModel],
    brief: EstimateBrief,
    as_of: date | None = None,
    store: bool = True,
    scope: AccountScope = EVERYTHING,
) -> Estimate:
    """Effort and duration P10/P50/P90, P(overrun > 10 %), top factors and 3 similar past projects; stored.

    One brief, so no pandas per call: the features come from `kickoff.kickoff_record` over a cached project
    history, and the champions score the record on their row path. A brief naming an account outside `scope`
    is refused as not found (`_brief_row`).
    """
    require_models(models, ESTIMATE_MODELS)
    if not brief.model_dump(exclude_none=True).keys() - {"planned_start"}:
        raise InvalidInput(f"the brief is empty: give a deal_id, an account_id or the project's size ({_SIZE_HINT})")
    as_of = as_of or today()
    row, record, history = brief_features(session, brief, as_of, scope)
    scored = {name: models[name].bundle.predict_explain_row(record, top=5) for name in ESTIMATE_MODELS}
    effort, duration, overrun = (scored[name][0] for name in ESTIMATE_MODELS)
    expected_pct = overrun.get("expected_overrun_pct")
    if not all(math.isfinite(v) for v in (*effort.values(), *duration.values(), overrun["probability"])):
        raise InvalidInput("the brief is too far outside the project history for an estimate; check its numbers")
    budget = record["planned_budget"]
    result = Estimate(
        id=uuid.uuid4().hex,
        created_at=naive_utcnow(),
        as_of=as_of,
        account_id=row.get("account_id"),
        deal_id=row.get("deal_id"),
        project_id=row.get("project_id"),
        effort_hours=effort,
        duration_days=duration,
        overrun={
            "probability": overrun["probability"],
            "expected_overrun_pct": expected_pct,
            "expected_overrun_amount": expected_pct * budget
            if expected_pct is not None and not math.isnan(budget)
            else None,
        },
        factors={name: scored[name][1] for name in ESTIMATE_MODELS},
        similar_projects=similar.similar_projects(record, history, as_of, k=3),
        model_versions={registered_name(name): models[name].version for name in ESTIMATE_MODELS},
    )
    if store:
        from handoff.events.outbox import Resource, emit

        _store(session, result, brief)
        emit(
            session,
            "estimate.created",
            lambda: [Resource(f"estimate:{result.id}", result.model_dump(), result.account_id)],
        )
    return result


def _store(session: Session, result: Estimate, brief: EstimateBrief) -> None:
    stored = result.model_dump(exclude={"effort_hours", "duration_days", "overrun"})
    for prefix, quantiles in (("effort", result.effort_hours), ("duration", result.duration_days)):
        stored.update({f"{prefix}_{name}": value for name, value in quantiles.model_dump().items()})
    stored["overrun_probability"] = result.overrun.probability
    stored["expected_overrun_pct"] = result.overrun.expected_overrun_pct
    session.execute(_statements()["store_estimate"], {**stored, "brief": brief.model_dump(mode="json")})


def estimate_for_deal(
    session: Session, models: Mapping[str, ServedModel], deal_id: str, as_of: date | None = None
) -> Estimate:
    """An estimate for a CRM deal: the deal and its project (when there is one) are the brief."""
    return estimate(session, models, EstimateBrief(deal_id=deal_id), as_of=as_of)


def list_estimates(
    session: Session,
    *,
    account_id: str | None = None,
    deal_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
    scope: AccountScope = EVERYTHING,
) -> tuple[list[Estimate], int]:
    """Stored estimates newest first, one page of them, and how many match across all pages; only those on
    accounts `scope` sees (for a scoped caller, an estimate on no account is nobody's and not listed)."""
    matching = [risk_estimates.c.account_id == account_id] if account_id is not None else []
    matching += [risk_estimates.c.deal_id == deal_id] if deal_id is not None else []
    matching += [] if scope.everything else [scope.where(risk_estimates.c.account_id)]
    page = select(risk_estimates).where(*matching).order_by(risk_estimates.c.created_at.desc(), risk_estimates.c.id)
    rows = session.execute(page.limit(limit).offset(offset)).mappings()
    total = session.execute(select(func.count()).select_from(risk_estimates).where(*matching)).scalar_one()
    return [_public(row) for row in rows], int(total)


def get_estimate(session: Session, estimate_id: str, *, scope: AccountScope = EVERYTHING) -> Estimate:
    """A stored estimate, as it was given; one outside `scope` answers as a missing one (no probing)."""
    row = session.execute(select(risk_estimates).where(risk_estimates.c.id == estimate_id)).mappings().first()
    if row is None or not scope.sees(row["account_id"]):
        raise NotFound(f"estimate {estimate_id!r} not found")
    return _public(row)


def within_scope(estimate: Estimate, scope: AccountScope) -> Estimate:
    """The estimate as `scope` may see it: a similar past project on an account outside it keeps its figures (how
    it really ended is the point of the comparison) but not its name or account."""
    if scope.everything or all(scope.sees(p.account_id) for p in estimate.similar_projects):
        return estimate
    similar = [
        p if scope.sees(p.account_id) else p.model_copy(update={"name": None, "account_id": None})
        for p in estimate.similar_projects
    ]
    return estimate.model_copy(update={"similar_projects": similar})


def _public(row: Mapping[str, Any]) -> Estimate:
    return Estimate(
        id=row["id"],
        created_at=row["created_at"],
        as_of=row["as_of"],
        account_id=row["account_id"],
        deal_id=row["deal_id"],
        project_id=row["project_id"],
        effort_hours={"p10": row["effort_p10"], "p50": row["effort_p50"], "p90": row["effort_p90"]},
        duration_days={"p10": row["duration_p10"], "p50": row["duration_p50"], "p90": row["duration_p90"]},
        overrun={"probability": row["overrun_probability"], "expected_overrun_pct": row["expected_overrun_pct"]},
        factors=row["factors"],
        similar_projects=row["similar_projects"],
        model_versions=row["model_versions"],
    )


def estimate_backtest(session: Session, scope: AccountScope = EVERYTHING) -> pd.DataFrame:
    """Stored estimates beside the actuals of their finished projects: was the truth inside P10-P90? Only those on
    accounts `scope` sees, as `list_estimates` lists them."""
    projects = CRM_TABLES["projects"]
    query = select(
        risk_estimates.c.id,
        risk_estimates.c.created_at,
        risk_estimates.c.project_id,
        risk_estimates.c.effort_p10,
        risk_estimates.c.effort_p50,
        risk_estimates.c.effort_p90,
        risk_estimates.c.overrun_probability,
        projects.c.actual_hours,
        projects.c.actual_cost,
        projects.c.planned_budget,
    ).join(projects, projects.c.id == risk_estimates.c.project_id)
    matching = [projects.c.actual_hours.is_not(None)]
    matching += [] if scope.everything else [scope.where(risk_estimates.c.account_id)]
    frame = pd.read_sql_query(query.where(*matching), session.connection())
    frame["effort_inside_80"] = (frame["actual_hours"] >= frame["effort_p10"]) & (
        frame["actual_hours"] <= frame["effort_p90"]
    )
    frame["overran"] = frame["actual_cost"] > frame["planned_budget"] * (1 + feats.OVERRUN_TOLERANCE)
    return frame


def score_churn(
    models: Mapping[str, ServedModel], features: pd.DataFrame, top: int = 3, explain_above: float | None = None
) -> pd.DataFrame:
    """Churn probability and top drivers for every row of `account_features` (index `account_id`).

    Returns columns `probability`, `drivers` (list of `{feature, text, effect, unit}`, risk-raising first) and
    `model_version`. Drivers cost a contribution pass; `explain_above` limits them to rows at or above a
    probability (others get an empty list), which keeps a million-account nightly run fast.
    """
    require_models(models, ("churn",))
    model = models["churn"]
    probability = model.predict(features)
    drivers: list[list[dict[str, Any]]] = [[] for _ in range(len(features))]
    chosen = np.arange(len(features)) if explain_above is None else np.flatnonzero(probability >= explain_above)
    if len(chosen):
        subset = features.iloc[chosen]
        effects = explain.effects_in_units(model.contributions(subset), model.bundle.inverse_link)
        for position, factors in zip(
            chosen, explain.top_factor_table(subset, effects, "pp", top=top, direction="up"), strict=True
        ):
            drivers[position] = factors
    return pd.DataFrame(
        {"probability": probability, "drivers": drivers, "model_version": model.version}, index=features.index
    )


def default_as_of(session: Session) -> date:
    """Today, or the day after the freshest usage/activity row when the CRM data stops earlier (a demo or a
    stale export): scoring after the data ends would read every quiet day as lost usage."""
    latest = []
    for entity in ("usage", "activities"):
        table = CRM_TABLES[entity]
        query = select(func.max(table.c[ENTITIES_BY_NAME[entity].time_field]))
        if entity == "activities":
            # Events are what handoff itself writes (the loop's "project started"/progress, stamped when it runs):
            # counting them would move a stale CRM's as-of day forward between two runs of the same night.
            query = query.where(func.coalesce(table.c.kind, "") != "event")
        value = session.execute(query).scalar()
        if value is not None:
            latest.append(pd.Timestamp(value).date() + timedelta(days=1))
    return min(today(), max(latest)) if latest else today()


def churn_for_account(
    session: Session, models: Mapping[str, ServedModel], account_id: str, as_of: date | None = None
) -> ChurnScore:
    """The 90-day churn probability of one account, as of a date (default: `default_as_of`)."""
    require_models(models, ("churn",))
    if _one(session, "accounts", account_id) is None:
        raise NotFound(f"account {account_id!r} not found")
    as_of = as_of or default_as_of(session)
    frames = load_account_frames(session, feats.ENTITIES_BY_NAME.keys(), [account_id])
    features = feats.account_features(frames, as_of)
    if account_id not in features.index:
        raise NotFound(f"account {account_id!r} was not an active customer on {as_of.isoformat()}")
    scored = score_churn(models, features.loc[[account_id]], top=5).iloc[0]
    return ChurnScore(
        account_id=account_id,
        as_of=as_of,
        probability=float(scored["probability"]),
        drivers=scored["drivers"],
        model_version=str(scored["model_version"]),
    )
