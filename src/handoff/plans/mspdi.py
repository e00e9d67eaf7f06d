"""A plan as MSPDI, Microsoft Project's XML (namespace http://schemas.microsoft.com/project): pure, no I/O.

Work and durations are written in Project's standard calendar: Monday to Friday, 08:00-12:00 and 13:00-17:00, eight
hours a day. Each task's P10 and P90 effort go into the extended attributes Number1 and Number2 (named "Effort P10
(h)" and "Effort P90 (h)" in the project), beside the P50 as its Work."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from xml.etree import ElementTree as ET

NAMESPACE = "http://schemas.microsoft.com/project"
HOURS_PER_DAY = 8
_SHIFTS = ((time(8), time(12)), (time(13), time(17)))
# Project's field ids of the task custom fields Number1 and Number2 (MSPDI ExtendedAttribute/FieldID).
P10_FIELD, P90_FIELD = "188743767", "188743768"
_DURATION_FORMAT_HOURS = "5"  # shown in hours, as the estimate gives them


@dataclass(frozen=True)
class PlanResource:
    uid: int
    name: str
    email: str | None = None


@dataclass(frozen=True)
class PlanTask:
    """One row of the plan: `work_h` is the P50 effort; a task without work is a milestone on `start`."""

    uid: int
    name: str
    start: date
    work_h: float
    p10_h: float | None = None
    p90_h: float | None = None
    resource_uid: int | None = None
    predecessors: tuple[int, ...] = ()
    notes: str | None = None


@dataclass(frozen=True)
class Plan:
    name: str
    start: date
    tasks: tuple[PlanTask, ...]
    resources: tuple[PlanResource, ...] = field(default_factory=tuple)


def next_workday(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def add_work(start: datetime, hours: float) -> datetime:
    """The moment `hours` of work that begins at `start` ends, in the standard calendar."""
    remaining = timedelta(hours=hours)
    moment = start
    while True:
        day = next_workday(moment.date())
        if day != moment.date():
            moment = datetime.combine(day, _SHIFTS[0][0])
        for begin, end in _SHIFTS:
            shift_start, shift_end = datetime.combine(day, begin), datetime.combine(day, end)
            if moment >= shift_end:
                continue
            moment = max(moment, shift_start)
            available = shift_end - moment
            if remaining <= available:
                return moment + remaining
            remaining -= available
            moment = shift_end
        moment = datetime.combine(day + timedelta(days=1), _SHIFTS[0][0])


def duration_text(hours: float) -> str:
    """ISO 8601 as MSPDI writes it: PT12H30M0S."""
    minutes = round(hours * 60)
    return f"PT{minutes // 60}H{minutes % 60}M0S"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _add(parent: ET.Element, tag: str, text: object | None = None) -> ET.Element:
    child = ET.SubElement(parent, tag)
    if text is not None:
        child.text = str(text)
    return child


def schedule(task: PlanTask) -> tuple[datetime, datetime]:
    """(start, finish) of a task: work begins at 08:00 on its first workday; a milestone sits at 17:00."""
    day = next_workday(task.start)
    if task.work_h <= 0:
        moment = datetime.combine(day, _SHIFTS[-1][1])
        return moment, moment
    begin = datetime.combine(day, _SHIFTS[0][0])
    return begin, add_work(begin, task.work_h)


def to_mspdi(plan: Plan) -> bytes:
    """The plan as an MSPDI document (UTF-8 XML), one Task per plan task, one Assignment per assigned one."""
    ET.register_namespace("", NAMESPACE)
    root = ET.Element(f"{{{NAMESPACE}}}Project")
    q = lambda tag: f"{{{NAMESPACE}}}{tag}"  # noqa: E731 - every element is in Project's namespace
    times = {task.uid: schedule(task) for task in plan.tasks}
    start = min((begin for begin, _ in times.values()), default=datetime.combine(plan.start, _SHIFTS[0][0]))
    finish = max((end for _, end in times.values()), default=start)
    _add(root, q("SaveVersion"), 14)
    _add(root, q("Name"), plan.name)
    _add(root, q("Title"), plan.name)
    _add(root, q("ScheduleFromStart"), 1)
    _add(root, q("StartDate"), _stamp(start))
    _add(root, q("FinishDate"), _stamp(finish))
    _add(root, q("DefaultStartTime"), "08:00:00")
    _add(root, q("DefaultFinishTime"), "17:00:00")
    _add(root, q("MinutesPerDay"), HOURS_PER_DAY * 60)
    _add(root, q("MinutesPerWeek"), HOURS_PER_DAY * 60 * 5)
    _add(root, q("DaysPerMonth"), 20)
    attributes = _add(root, q("ExtendedAttributes"))
    for field_id, name, alias in ((P10_FIELD, "Number1", "Effort P10 (h)"), (P90_FIELD, "Number2", "Effort P90 (h)")):
        attribute = _add(attributes, q("ExtendedAttribute"))
        _add(attribute, q("FieldID"), field_id)
        _add(attribute, q("FieldName"), name)
        _add(attribute, q("Alias"), alias)
    tasks = _add(root, q("Tasks"))
    for number, task in enumerate(plan.tasks, 1):
        begin, end = times[task.uid]
        element = _add(tasks, q("Task"))
        _add(element, q("UID"), task.uid)
        _add(element, q("ID"), number)
        _add(element, q("Name"), task.name)
        _add(element, q("Type"), 1)  # fixed duration: the estimate sets the work, the calendar the dates
        _add(element, q("OutlineLevel"), 1)
        _add(element, q("Start"), _stamp(begin))
        _add(element, q("Finish"), _stamp(end))
        _add(element, q("Duration"), duration_text(task.work_h))
        _add(element, q("DurationFormat"), _DURATION_FORMAT_HOURS)
        _add(element, q("Work"), duration_text(task.work_h))
        _add(element, q("Milestone"), 1 if task.work_h <= 0 else 0)
        if task.notes:
            _add(element, q("Notes"), task.notes)
        for predecessor in task.predecessors:
            link = _add(element, q("PredecessorLink"))
            _add(link, q("PredecessorUID"), predecessor)
            _add(link, q("Type"), 1)  # finish-to-start
        for field_id, value in ((P10_FIELD, task.p10_h), (P90_FIELD, task.p90_h)):
            if value is not None:
                attribute = _add(element, q("ExtendedAttribute"))
                _add(attribute, q("FieldID"), field_id)
                _add(attribute, q("Value"), f"{value:.2f}")
    resources = _add(root, q("Resources"))
    for number, resource in enumerate(plan.resources, 1):
        element = _add(resources, q("Resource"))
        _add(element, q("UID"), resource.uid)
        _add(element, q("ID"), number)
        _add(element, q("Name"), resource.name)
        _add(element, q("Type"), 1)  # work
        if resource.email:
            _add(element, q("EmailAddress"), resource.email)
    assignments = _add(root, q("Assignments"))
    assigned = [task for task in plan.tasks if task.resource_uid is not None]
    for number, task in enumerate(assigned, 1):
        begin, end = times[task.uid]
        element = _add(assignments, q("Assignment"))
        _add(element, q("UID"), number)
        _add(element, q("TaskUID"), task.uid)
        _add(element, q("ResourceUID"), task.resource_uid)
        _add(element, q("Finish"), _stamp(end))
        _add(element, q("Start"), _stamp(begin))
        _add(element, q("Units"), 1)
        _add(element, q("Work"), duration_text(task.work_h))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def scaled(hours: list[float | None], total: float) -> list[float]:
    """Template hours stretched so they add up to `total` (the estimate's P50); tasks without hours share evenly."""
    known = [h for h in hours if h]
    if not hours:
        return []
    filler = (sum(known) / len(known)) if known else 1.0
    filled = [h if h else filler for h in hours]
    factor = total / sum(filled)
    return [h * factor for h in filled]
