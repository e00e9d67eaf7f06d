"""A project (or a saved kickoff estimate) read from the store as a `Plan` for `mspdi.to_mspdi`."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.clock import today
from handoff.errors import InvalidInput, NotFound
from handoff.loop.templates import Template, choose_template
from handoff.plans.mspdi import Plan, PlanResource, PlanTask, scaled
from handoff.risk.schemas import Estimate
from handoff.store.crm_tables import CRM_TABLES

PLANNED = ("open", "done")  # template tasks and accepted ones; suggested and rejected tasks are not the plan


def _latest_estimate(session: Session, project_id: str) -> Estimate | None:
    from handoff.risk.service import get_estimate
    from handoff.risk.tables import risk_estimates

    found = session.scalars(
        select(risk_estimates.c.id)
        .where(risk_estimates.c.project_id == project_id)
        .order_by(risk_estimates.c.created_at.desc(), risk_estimates.c.id)
        .limit(1)
    ).first()
    return None if found is None else get_estimate(session, found)


def _template_number(task_id: str, project_id: str) -> int | None:
    """`tpl-<project>-<n>` (loop.service) → n: which template task a project task came from."""
    prefix = f"tpl-{project_id}-"
    tail = task_id[len(prefix) :] if task_id.startswith(prefix) else ""
    return int(tail) if tail.isdigit() else None


def _spread(hours: list[float | None], estimate: Estimate | None) -> list[tuple[float, float | None, float | None]]:
    """(P50, P10, P90) hours per task: the template's hours scaled to the estimate's effort, or as planned."""
    if estimate is None or not hours:
        return [(h or 0.0, None, None) for h in hours]
    effort = estimate.effort_hours
    p50 = scaled(hours, effort.p50)
    return [(h, h * effort.p10 / effort.p50, h * effort.p90 / effort.p50) for h in p50]


def project_plan(session: Session, project_id: str, *, estimate: Estimate | None = None) -> Plan:
    """The project's template and accepted tasks with their dates, the roster members they are assigned to, and the
    template's predecessors; work from `estimate` (default: the project's latest stored estimate)."""
    projects, tasks, members = CRM_TABLES["projects"], CRM_TABLES["tasks"], CRM_TABLES["team_members"]
    project = session.execute(select(projects).where(projects.c.id == project_id)).first()
    if project is None:
        raise NotFound(f"no project {project_id!r}")
    estimate = estimate or _latest_estimate(session, project_id)
    rows = session.execute(
        select(tasks).where(tasks.c.project_id == project_id, tasks.c.status.in_(PLANNED)).order_by(tasks.c.id)
    ).all()
    if not rows:
        raise InvalidInput(f"project {project_id} has no open or done tasks to plan")
    template = choose_template(project.product, project.contract_type)
    numbered = {_template_number(row.id, project_id): row for row in rows if row.source == "template"}
    numbered.pop(None, None)
    from_template = [numbered[n] for n in sorted(numbered)]
    accepted = sorted((r for r in rows if r.source != "template"), key=lambda r: (r.due_date or date.max, r.id))
    start = project.planned_start or min((r.due_date for r in rows if r.due_date), default=today())
    efforts = _spread([row.planned_hours for row in from_template], estimate)
    uid_of = {row.id: uid for uid, row in enumerate([*from_template, *accepted], 1)}
    uid_of_number = {number: uid_of[row.id] for number, row in numbered.items()}
    assignees = sorted({row.assignee_id for row in rows if row.assignee_id})
    roster = {
        row.id: row
        for row in session.execute(select(members).where(members.c.id.in_(assignees))).all()
    } if assignees else {}  # fmt: skip
    resource_uid = {member_id: uid for uid, member_id in enumerate(sorted(roster), 1)}
    planned: list[PlanTask] = []
    for (number, row), (p50, p10, p90) in zip(sorted(numbered.items()), efforts, strict=True):
        after = template.tasks[number - 1].after if number <= len(template.tasks) else ()
        planned.append(
            PlanTask(
                uid=uid_of[row.id],
                name=row.title,
                start=row.due_date or start,
                work_h=p50,
                p10_h=p10,
                p90_h=p90,
                resource_uid=resource_uid.get(row.assignee_id),
                predecessors=tuple(uid_of_number[n] for n in after if n in uid_of_number),
            )
        )
    for row in accepted:
        planned.append(
            PlanTask(
                uid=uid_of[row.id],
                name=row.title,
                start=row.due_date or start,
                work_h=float(row.planned_hours or 0.0),
                resource_uid=resource_uid.get(row.assignee_id),
                notes=row.description,
            )
        )
    resources = tuple(PlanResource(resource_uid[m], roster[m].name, roster[m].email) for m in sorted(roster))
    return Plan(name=project.name or project_id, start=start, tasks=tuple(planned), resources=resources)


def estimate_plan(session: Session, estimate_id: str) -> Plan:
    """A saved estimate as a plan: its project's when it has one, else the template its deal would start with."""
    from handoff.risk.service import get_estimate

    estimate = get_estimate(session, estimate_id)
    if estimate.project_id:
        projects = CRM_TABLES["projects"]
        if session.execute(select(projects.c.id).where(projects.c.id == estimate.project_id)).first() is not None:
            return project_plan(session, estimate.project_id, estimate=estimate)
    deal = _deal(session, estimate.deal_id)
    template = choose_template(deal.get("product"), deal.get("contract_type"))
    start = estimate.as_of + timedelta(days=7)  # as a won deal's project starts (loop.service)
    return template_plan(template, start, estimate, name=deal.get("name") or f"Estimate {estimate.id}")


def _deal(session: Session, deal_id: str | None) -> dict[str, Any]:
    if not deal_id:
        return {}
    deals = CRM_TABLES["deals"]
    row = session.execute(select(deals).where(deals.c.id == deal_id)).mappings().first()
    return dict(row) if row else {}


def template_plan(template: Template, start: date, estimate: Estimate, *, name: str) -> Plan:
    efforts = _spread([task.planned_hours for task in template.tasks], estimate)
    tasks = tuple(
        PlanTask(
            uid=number,
            name=task.title,
            start=start + timedelta(days=task.offset_days),
            work_h=p50,
            p10_h=p10,
            p90_h=p90,
            predecessors=task.after,
        )
        for number, (task, (p50, p10, p90)) in enumerate(zip(template.tasks, efforts, strict=True), 1)
    )
    return Plan(name=name, start=start, tasks=tasks)
