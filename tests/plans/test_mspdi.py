"""MSPDI plans read back by MPXJ (Microsoft Project's file library, on the JRE): tasks, dates, work, P10/P90,
resources, assignments and predecessors as the project and its estimate say."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from handoff.loop.service import create_project_for_won_deal
from handoff.loop.templates import choose_template
from handoff.plans.mspdi import to_mspdi
from handoff.plans.service import project_plan
from handoff.risk.schemas import Estimate
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction

pytestmark = pytest.mark.services  # MPXJ on a Java runtime

CLOSED = date(2026, 11, 2)  # a Monday: the project starts a week later, Monday 9 November
START = date(2026, 11, 9)


def _mpxj():
    import jpype
    import mpxj  # noqa: F401 - puts MPXJ's jars on the class path

    if not jpype.isJVMStarted():
        jpype.startJVM()
    from org.mpxj.reader import UniversalProjectReader

    return UniversalProjectReader


def _seed(parts) -> str:
    tables = CRM_TABLES
    with transaction(parts.sessions) as session:
        session.execute(
            tables["team_members"].insert(), [{"id": "tm_ana", "name": "Ana Lima", "email": "ana@ourco.example"}]
        )
        session.execute(tables["accounts"].insert(), [{"id": "acc_1", "name": "Globex Ltd"}])
        session.execute(
            tables["deals"].insert(),
            [{"id": "d1", "account_id": "acc_1", "name": "Globex rollout", "stage": "won", "closed_at": CLOSED}],
        )
        project_id = create_project_for_won_deal(session, "d1")["project_id"]
        # A reviewer owns the kickoff; an accepted customer ask is part of the plan as a milestone.
        tasks = tables["tasks"]
        session.execute(update(tasks).where(tasks.c.id == f"tpl-{project_id}-1").values(assignee_id="tm_ana"))
        session.execute(
            tasks.insert(),
            [{"id": "tsk_ask", "project_id": project_id, "account_id": "acc_1", "title": "Send the SOW",
              "status": "open", "source": "email", "due_date": date(2026, 11, 20), "assignee_id": "tm_ana"}],
        )  # fmt: skip
    return project_id


def _estimate(project_id: str, p50: float) -> Estimate:
    return Estimate(
        id="est_1", created_at=datetime(2026, 11, 2, tzinfo=UTC), as_of=CLOSED, account_id="acc_1", deal_id="d1",
        project_id=project_id, effort_hours={"p10": p50 * 0.7, "p50": p50, "p90": p50 * 1.6},
        duration_days={"p10": 20, "p50": 30, "p90": 45}, overrun={"probability": 0.3}, factors={},
        similar_projects=[], model_versions={},
    )  # fmt: skip


def _read(path: Path):
    reader = _mpxj()
    project = reader().read(str(path))
    tasks = {str(t.getName()): t for t in project.getTasks() if t.getName() is not None and int(t.getUniqueID()) > 0}
    return project, tasks


def _hours(duration) -> float:
    from org.mpxj import TimeUnit

    assert duration.getUnits() == TimeUnit.HOURS or str(duration.getUnits()) in ("h", "HOURS"), duration
    return float(duration.getDuration())


def test_a_project_plan_reads_back_in_mpxj_with_its_estimate(tmp_path, sqlite_parts) -> None:
    assert START.weekday() == 0
    project_id = _seed(sqlite_parts)
    template = choose_template(None, None)
    planned = sum(task.planned_hours or 0 for task in template.tasks)
    with sqlite_parts.sessions() as session:
        plan = project_plan(session, project_id, estimate=_estimate(project_id, p50=planned * 2))
    path = tmp_path / "plan.xml"
    path.write_bytes(to_mspdi(plan))

    project, tasks = _read(path)
    assert set(tasks) == {task.title for task in template.tasks} | {"Send the SOW"}
    kickoff = tasks[template.tasks[0].title]
    # 3 template hours x 2: Monday 08:00-12:00 and 13:00-15:00 in Project's standard calendar.
    assert str(kickoff.getStart()) == "2026-11-09T08:00" and str(kickoff.getFinish()) == "2026-11-09T15:00"
    assert _hours(kickoff.getWork()) == pytest.approx(6.0)
    assert float(kickoff.getNumber(1)) == pytest.approx(6.0 * 0.7) and float(kickoff.getNumber(2)) == 9.6
    work = sum(_hours(tasks[task.title].getWork()) for task in template.tasks)
    assert work == pytest.approx(planned * 2, abs=0.05)  # the plan's work is the estimate's P50
    scope = tasks[template.tasks[1].title]  # 6 h x 2 from Thursday 12 November (offset 3 days)
    assert str(scope.getStart()) == "2026-11-12T08:00" and str(scope.getFinish()) == "2026-11-13T12:00"
    [link] = list(scope.getPredecessors())
    assert str(link.getPredecessorTask().getName()) == template.tasks[0].title
    ask = tasks["Send the SOW"]
    assert bool(ask.getMilestone()) and str(ask.getStart()).startswith("2026-11-20")
    [ana] = [r for r in project.getResources() if r.getName() is not None]
    assert str(ana.getName()) == "Ana Lima" and str(ana.getEmailAddress()) == "ana@ourco.example"
    assigned = {str(a.getTask().getName()) for a in project.getResourceAssignments() if a.getResource() is not None}
    assert assigned == {template.tasks[0].title, "Send the SOW"}


def test_handoff_export_mspdi_writes_the_file_from_the_command_line(tmp_path, sqlite_parts) -> None:
    project_id = _seed(sqlite_parts)
    out = tmp_path / "cli.xml"
    env = {
        **os.environ,
        "HANDOFF_HOME": str(sqlite_parts.settings.home),
        "HANDOFF_DATABASE_URL": sqlite_parts.settings.resolved_database_url,
    }
    command = [sys.executable, "-m", "handoff", "export", "mspdi", "--project", project_id, "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    _, tasks = _read(out)
    kickoff = tasks[choose_template(None, None).tasks[0].title]
    assert _hours(kickoff.getWork()) == pytest.approx(3.0)  # no estimate stored: the template's own hours
    assert kickoff.getNumber(1) is None
    missing = subprocess.run([*command[:5], "NOPE"], capture_output=True, text=True, env=env, timeout=120)
    assert missing.returncode != 0 and "NOPE" in missing.stderr
