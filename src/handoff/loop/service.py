"""The CRM <-> project loop as service functions, plus `sync_loop`, the idempotent step the nightly run calls.

- A CSAT/NPS response below the alerts section's `low_survey_score` opens an improvement task on the project's `risks`
  list; a later good response for the same project closes it (a person can close it too).
- A deal marked won gets its project, the tasks of the best-fitting template and a kickoff estimate.
- Project progress (status, tasks done) is written back to the account as an activity of kind `event`.

Ids are derived from what caused them (`svy-<survey>`, `prj-<deal>`, `tpl-<project>-<n>`, `evt-<project>-<date>`),
so running a step twice finds its own work and adds nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from handoff.clock import naive_utcnow, today
from handoff.errors import Conflict, NoChampion, NotFound
from handoff.loop.tables import loop_progress
from handoff.loop.templates import choose_template
from handoff.settings import AlertSettings, Settings
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction

# Only this recent history is acted on: the first sync on an imported CRM must not turn years of old surveys and
# deals into a flood of tasks and projects.
LOOKBACK_DAYS = 30
RISK_LIST = "risks"
LIVE_PROJECT_STATUSES = ("planned", "active")

# (session, deal_id) -> an estimate (object or dict with p50 hours and friends), or raises.
Estimator = Callable[[Session, str], Any]


@dataclass
class LoopReport:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    problems: list[dict] = field(default_factory=list)


def _tables():
    return (
        CRM_TABLES["surveys"],
        CRM_TABLES["tasks"],
        CRM_TABLES["projects"],
        CRM_TABLES["deals"],
        CRM_TABLES["activities"],
        CRM_TABLES["accounts"],
    )


def scaled_survey_score(kind: str | None, score: float) -> float:
    """Both kinds on 0-10: NPS as is, CSAT (1-5) doubled, so one threshold serves both."""
    return float(score) * 2 if (kind or "").lower() == "csat" else float(score)


def _end_of(as_of: date) -> datetime:
    return datetime.combine(as_of + timedelta(days=1), time())


def _current_projects(session: Session) -> dict[str, str]:
    """account_id -> its most recently started live project, for surveys that name no project."""
    projects = CRM_TABLES["projects"]
    rows = session.execute(
        select(projects.c.id, projects.c.account_id, projects.c.planned_start).where(
            projects.c.status.in_(LIVE_PROJECT_STATUSES)
        )
    )
    best: dict[str, tuple[date, str]] = {}
    for row in rows:
        start = row.planned_start or date.min
        if row.account_id not in best or (start, row.id) > best[row.account_id]:
            best[row.account_id] = (start, row.id)
    return {account: project for account, (_, project) in best.items()}


def sync_surveys(session: Session, *, as_of: date, low_score: float, lookback_days: int = LOOKBACK_DAYS) -> dict:
    """Improvement tasks for low responses, closed by the next good response on the same project."""
    surveys, tasks, *_ = _tables()
    counts = {"improvement_tasks_opened": 0, "improvement_tasks_closed": 0}
    window_start = datetime.combine(as_of - timedelta(days=lookback_days), time())
    responses = session.execute(
        select(surveys)
        .where(surveys.c.responded_at >= window_start, surveys.c.responded_at < _end_of(as_of))
        .order_by(surveys.c.responded_at, surveys.c.id)
    ).all()
    if not responses:
        return counts
    current = _current_projects(session)
    existing = {
        row.id: row.status
        for row in session.execute(
            select(tasks.c.id, tasks.c.status).where(tasks.c.source == "survey", tasks.c.list_name == RISK_LIST)
        )
    }
    open_by_place: dict[str, list[str]] = defaultdict(list)
    for response in responses:
        project_id = response.project_id or current.get(response.account_id)
        place = project_id or f"account:{response.account_id}"
        scaled = scaled_survey_score(response.kind, response.score)
        if scaled < low_score:
            task_id = f"svy-{response.id}"
            if task_id not in existing:
                session.execute(
                    insert(tasks).values(
                        id=task_id,
                        project_id=project_id,
                        account_id=response.account_id,
                        title=_improvement_title(response.kind, response.score),
                        description=_improvement_description(response),
                        priority="high",
                        status="open",
                        source="survey",
                        list_name=RISK_LIST,
                        due_date=response.responded_at.date() + timedelta(days=7),
                        created_at=response.responded_at,
                    )
                )
                existing[task_id] = "open"
                counts["improvement_tasks_opened"] += 1
            if existing[task_id] == "open":
                open_by_place[place].append(task_id)
        else:
            from handoff.sync.outbox import mark_edited

            for task_id in open_by_place.pop(place, []):
                session.execute(
                    update(tasks)
                    .where(tasks.c.id == task_id, tasks.c.status == "open")
                    .values(status="done", completed_at=response.responded_at)
                )
                mark_edited(session, task_id, ["status"])  # a pushed one is closed in the tools too
                existing[task_id] = "done"
                counts["improvement_tasks_closed"] += 1
    return counts


def _improvement_title(kind: str | None, score: float) -> str:
    label = (kind or "survey").upper()
    scale = "/5" if (kind or "").lower() == "csat" else "/10"
    return f"Follow up on low {label} ({score:g}{scale}) and agree an improvement"


def _improvement_description(response: Any) -> str:
    comment = (response.comment or "").strip()
    said = f'The customer said: "{comment}"' if comment else "No comment was left."
    return f"{said}\nClosed automatically by the next good response for this project, or by hand."


def close_improvement_task(session: Session, task_id: str, *, note: str | None = None) -> None:
    """A person closes an improvement task (the next good response would otherwise do it)."""
    tasks = CRM_TABLES["tasks"]
    row = session.execute(select(tasks.c.status, tasks.c.source).where(tasks.c.id == task_id)).first()
    if row is None:
        raise NotFound(f"task {task_id} not found")
    if row.status == "done":
        raise Conflict(f"task {task_id} is already done")
    values: dict[str, Any] = {"status": "done", "completed_at": naive_utcnow()}
    if note:
        values["description"] = func.coalesce(tasks.c.description, "") + f"\nClosed: {note}"
    session.execute(update(tasks).where(tasks.c.id == task_id).values(**values))
    from handoff.sync.outbox import mark_edited

    mark_edited(session, task_id, ["status"])  # a pushed one is closed in the tools too


def create_project_for_won_deal(session: Session, deal_id: str, *, estimator: Estimator | None = None) -> dict:
    """The project of a won deal, its template tasks and its kickoff estimate; returns what was done.

    Idempotent: a deal that already has a project gets nothing new."""
    _, tasks, projects, deals, activities, accounts = _tables()
    deal = session.execute(select(deals).where(deals.c.id == deal_id)).first()
    if deal is None:
        raise NotFound(f"deal {deal_id} not found")
    if deal.stage != "won":
        raise Conflict(f"deal {deal_id} is {deal.stage}, not won")
    existing = session.execute(select(projects.c.id).where(projects.c.deal_id == deal_id)).first()
    if existing is not None:
        return {"project_id": existing.id, "created": False, "tasks": 0, "estimate": None, "problems": []}
    account_name = session.execute(select(accounts.c.name).where(accounts.c.id == deal.account_id)).scalar()
    template = choose_template(deal.product, deal.contract_type)
    closed = deal.closed_at or deal.created_at or today()
    start = closed + timedelta(days=7)
    project_id = f"prj-{deal_id}"
    session.execute(
        insert(projects).values(
            id=project_id,
            account_id=deal.account_id,
            deal_id=deal_id,
            name=deal.name or f"{account_name or deal.account_id} - {deal.product or 'project'}",
            status="planned",
            product=deal.product,
            contract_type=deal.contract_type,
            team_size=template.team_size,
            scope_items=len(template.tasks),
            description=f"Created from won deal {deal_id} with the {template.name} template.",
            planned_start=start,
            planned_end=start + timedelta(days=max(task.offset_days for task in template.tasks)),
        )
    )
    created_at = datetime.combine(closed, time(9))
    for number, task in enumerate(template.tasks, 1):
        session.execute(
            insert(tasks).values(
                id=f"tpl-{project_id}-{number}",
                project_id=project_id,
                account_id=deal.account_id,
                title=task.title,
                priority=task.priority,
                status="open",
                source="template",
                list_name=task.list_name,
                planned_hours=task.planned_hours,
                due_date=start + timedelta(days=task.offset_days),
                created_at=created_at,
            )
        )
    problems: list[dict] = []
    estimate = None
    if estimator is None:
        problems.append({"kind": "no_estimate", "detail": "no estimate model loaded", "deal_id": deal_id})
    else:
        try:
            estimate = _estimate_summary(estimator(session, deal_id))
        except Exception as error:  # an estimate is a bonus; the project and its tasks stand without it
            problems.append(
                {"kind": "estimate_failed", "detail": f"{type(error).__name__}: {error}", "deal_id": deal_id}
            )
    if estimate and estimate.get("p50_hours") is not None:
        session.execute(update(projects).where(projects.c.id == project_id).values(planned_hours=estimate["p50_hours"]))
    summary = f"Project created from won deal with {len(template.tasks)} {template.name} tasks"
    if estimate and estimate.get("p50_hours") is not None:
        summary += f"; kickoff estimate {estimate['p50_hours']:.0f} h"
        if estimate.get("p10_hours") is not None and estimate.get("p90_hours") is not None:
            summary += f" (P10 {estimate['p10_hours']:.0f} - P90 {estimate['p90_hours']:.0f})"
    session.execute(
        insert(activities).values(
            id=f"evt-{project_id}-created",
            account_id=deal.account_id,
            project_id=project_id,
            team_member_id=deal.owner_id,
            kind="event",
            occurred_at=created_at,
            subject=f"Project {project_id} started",
            body=summary,
        )
    )
    return {
        "project_id": project_id,
        "created": True,
        "tasks": len(template.tasks),
        "estimate": estimate,
        "problems": problems,
    }


def _estimate_summary(estimate: Any) -> dict:
    """Effort quantiles from whatever the risk service returns (a pydantic model or a dict)."""
    if estimate is None:
        return {}
    data = estimate.model_dump() if hasattr(estimate, "model_dump") else dict(estimate)
    effort = data.get("effort") or data.get("effort_hours") or {}
    found: dict[str, Any] = {}
    for quantile in ("p10", "p50", "p90"):
        value = effort.get(quantile) if isinstance(effort, dict) else None
        value = value if value is not None else data.get(f"effort_{quantile}") or data.get(f"{quantile}_hours")
        found[f"{quantile}_hours"] = float(value) if value is not None else None
    overrun = data.get("overrun")
    if isinstance(overrun, dict) and overrun.get("probability") is not None:
        found["overrun_probability"] = float(overrun["probability"])
    elif data.get("overrun_probability") is not None:
        found["overrun_probability"] = float(data["overrun_probability"])
    if data.get("id") is not None or data.get("estimate_id") is not None:
        found["estimate_id"] = str(data.get("id") or data.get("estimate_id"))
    return found


def sync_won_deals(
    session: Session, *, as_of: date, estimator: Estimator | None = None, lookback_days: int = LOOKBACK_DAYS
) -> tuple[dict, list[dict]]:
    _, _, projects, deals, *_ = _tables()
    counts = {"projects_created": 0, "template_tasks_created": 0, "estimates_made": 0}
    problems: list[dict] = []
    has_project = select(projects.c.id).where(projects.c.deal_id == deals.c.id).exists()
    won = session.execute(
        select(deals.c.id)
        .where(
            deals.c.stage == "won",
            deals.c.closed_at <= as_of,
            deals.c.closed_at >= as_of - timedelta(days=lookback_days),
            ~has_project,
        )
        .order_by(deals.c.closed_at, deals.c.id)
    ).all()
    for row in won:
        outcome = create_project_for_won_deal(session, row.id, estimator=estimator)
        counts["projects_created"] += int(outcome["created"])
        counts["template_tasks_created"] += outcome["tasks"]
        counts["estimates_made"] += int(bool(outcome["estimate"]))
        problems.extend(outcome["problems"])
    return counts, problems


def record_project_event(
    session: Session, *, project_id: str, subject: str, body: str, at: datetime, event_id: str | None = None
) -> str:
    """Writes (or rewrites, for the same id) an `event` activity on the project's account."""
    projects, activities = CRM_TABLES["projects"], CRM_TABLES["activities"]
    project = session.execute(select(projects.c.account_id).where(projects.c.id == project_id)).first()
    if project is None:
        raise NotFound(f"project {project_id} not found")
    event_id = event_id or f"evt-{project_id}-{at:%Y%m%d%H%M%S}"
    values = {
        "account_id": project.account_id,
        "project_id": project_id,
        "kind": "event",
        "occurred_at": at,
        "subject": subject,
        "body": body,
    }
    if session.execute(select(activities.c.id).where(activities.c.id == event_id)).first():
        session.execute(update(activities).where(activities.c.id == event_id).values(**values))
    else:
        session.execute(insert(activities).values(id=event_id, **values))
    return event_id


def sync_progress(session: Session, *, as_of: date) -> dict:
    """One `event` on the account whenever a live (or tracked) project's status or task counts changed."""
    _, tasks, projects, *_ = _tables()
    counts = {"progress_events": 0}
    tracked = {row.project_id: row for row in session.execute(select(loop_progress))}
    rows = session.execute(
        select(projects.c.id, projects.c.name, projects.c.status, projects.c.planned_end).where(
            projects.c.status.in_(LIVE_PROJECT_STATUSES) | projects.c.id.in_(list(tracked) or [""])
        )
    ).all()
    if not rows:
        return counts
    done_expr = func.sum(case((tasks.c.status == "done", 1), else_=0))
    totals = {
        row.project_id: (int(row.total), int(row.done or 0))
        for row in session.execute(
            select(tasks.c.project_id, func.count().label("total"), done_expr.label("done"))
            .where(tasks.c.project_id.in_([row.id for row in rows]), tasks.c.status != "rejected")
            .group_by(tasks.c.project_id)
        )
    }
    at = datetime.combine(as_of, time())
    for project in rows:
        total, done = totals.get(project.id, (0, 0))
        signature = f"{project.status}|{done}/{total}"
        seen = tracked.get(project.id)
        if seen is not None and seen.signature == signature:
            continue
        share = f" ({done / total:.0%})" if total else ""
        late = ""
        if project.status in LIVE_PROJECT_STATUSES and project.planned_end and project.planned_end < as_of:
            late = f"; {(as_of - project.planned_end).days} days past the planned end"
        event_id = record_project_event(
            session,
            project_id=project.id,
            subject=f"Project {project.name or project.id}: {project.status}, {done}/{total} tasks done{share}",
            body=f"Status {project.status}; {done} of {total} tasks done{late}.",
            at=at,
            event_id=f"evt-{project.id}-{as_of:%Y%m%d}",
        )
        values = {"signature": signature, "activity_id": event_id, "recorded_at": at}
        if seen is None:
            session.execute(insert(loop_progress).values(project_id=project.id, **values))
        else:
            session.execute(update(loop_progress).where(loop_progress.c.project_id == project.id).values(**values))
        counts["progress_events"] += 1
    return counts


def default_estimator(settings: Settings, as_of: date) -> Estimator | None:
    """The risk service's kickoff estimate with the champion models, or None when they are not all trained."""
    from handoff.risk.registry import load_champions
    from handoff.risk.service import ESTIMATE_MODELS, estimate_for_deal

    models = load_champions(settings, ESTIMATE_MODELS)
    if any(name not in models for name in ESTIMATE_MODELS):
        return None
    return lambda session, deal_id: estimate_for_deal(session, models, deal_id, as_of=as_of)


class ChampionEstimator:
    """The champions' kickoff estimate, loaded only when a won deal needs one: most nights have none."""

    def __init__(self, settings: Settings, as_of: date) -> None:
        self.settings, self.as_of = settings, as_of
        self._loaded = False
        self._estimator: Estimator | None = None

    def __call__(self, session: Session, deal_id: str) -> Any:
        if not self._loaded:
            self._loaded = True
            self._estimator = default_estimator(self.settings, self.as_of)
        if self._estimator is None:
            raise NoChampion("no champion effort/duration/overrun models; run `handoff train`")
        return self._estimator(session, deal_id)


def sync_loop(
    sessions: sessionmaker[Session], *, as_of: date, settings: AlertSettings, estimator: Estimator
) -> LoopReport:
    """Every loop step for `as_of`, each in its own transaction, so one failing step leaves the others done.

    `estimator` prices a won deal's project (`ChampionEstimator` in the product); `settings` is the alerts section,
    whose `low_survey_score` decides which survey answers open an improvement task."""
    report = LoopReport()
    steps: list[tuple[str, Callable[[Session], None]]] = [
        (
            "surveys",
            lambda s: report.counts.update(sync_surveys(s, as_of=as_of, low_score=settings.low_survey_score)),
        ),
        ("won_deals", lambda s: _merge(report, *sync_won_deals(s, as_of=as_of, estimator=estimator))),
        ("progress", lambda s: report.counts.update(sync_progress(s, as_of=as_of))),
    ]
    for name, step in steps:
        try:
            with transaction(sessions) as session:
                step(session)
        except Exception as error:  # reported in the run record; the next step still runs
            report.problems.append({"kind": f"loop_{name}_failed", "detail": f"{type(error).__name__}: {error}"})
    report.counts = dict(report.counts)
    return report


def _merge(report: LoopReport, counts: dict, problems: list[dict]) -> None:
    report.counts.update(counts)
    report.problems.extend(problems)
