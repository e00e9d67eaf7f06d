"""The CRM <-> project loop on SQLite and PostgreSQL: surveys -> improvement tasks, won deals -> projects, progress."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, insert, select, update

from handoff.errors import Conflict
from handoff.loop.service import (
    close_improvement_task,
    create_project_for_won_deal,
    scaled_survey_score,
    sync_loop,
    sync_progress,
)
from handoff.loop.templates import builtin_templates, choose_template
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.wiring import Parts

AS_OF = date(2026, 11, 2)
T = CRM_TABLES


@pytest.fixture
def crm(parts: Parts) -> Parts:
    with transaction(parts.sessions) as s:
        s.execute(insert(T["team_members"]), [{"id": "tm1", "name": "Ann", "email": "ann@example.com"}])
        s.execute(
            insert(T["accounts"]),
            [{"id": "a1", "name": "Acme", "owner_id": "tm1"}, {"id": "a2", "name": "Globex", "owner_id": "tm1"}],
        )
        s.execute(
            insert(T["projects"]),
            [
                {"id": "p1", "account_id": "a1", "name": "Acme rollout", "status": "active",
                 "planned_start": date(2026, 9, 1), "planned_end": date(2026, 10, 15)},
                {"id": "p0", "account_id": "a1", "name": "Acme pilot", "status": "done",
                 "planned_start": date(2025, 1, 1), "planned_end": None},
            ],
        )  # fmt: skip
        s.execute(
            insert(T["tasks"]),
            [
                {"id": "t1", "project_id": "p1", "account_id": "a1", "title": "Build", "status": "done"},
                {"id": "t2", "project_id": "p1", "account_id": "a1", "title": "Test", "status": "open"},
            ],
        )
    return parts


def _survey(id: str, kind: str, score: float, day: int, project_id: str | None = "p1", account: str = "a1") -> dict:
    return {"id": id, "account_id": account, "project_id": project_id, "kind": kind, "score": score,
            "responded_at": datetime(2026, 10, day, 10), "comment": "Too slow to answer"}  # fmt: skip


def _risk_tasks(parts: Parts) -> dict[str, tuple]:
    with parts.sessions() as s:
        rows = s.execute(
            select(T["tasks"].c.id, T["tasks"].c.status, T["tasks"].c.project_id).where(
                T["tasks"].c.list_name == "risks"
            )
        )
        return {row.id: (row.status, row.project_id) for row in rows}


def _sync(parts, *, estimator):
    """The loop as the nightly run calls it: the session factory, the alerts section, an estimator."""
    return sync_loop(parts.sessions, as_of=AS_OF, settings=parts.settings.alerts, estimator=estimator)


def test_scores_share_one_scale() -> None:
    assert scaled_survey_score("csat", 2) == 4.0 and scaled_survey_score("nps", 7) == 7.0


def test_low_response_opens_an_improvement_task_and_a_good_one_closes_it(crm) -> None:
    with transaction(crm.sessions) as s:
        s.execute(insert(T["surveys"]), [_survey("s1", "nps", 3, 20), _survey("s2", "csat", 2, 21)])
    first = _sync(crm, estimator=lambda s, d: None)
    assert first.counts["improvement_tasks_opened"] == 2
    assert _risk_tasks(crm) == {"svy-s1": ("open", "p1"), "svy-s2": ("open", "p1")}
    with crm.sessions() as s:
        task = s.execute(select(T["tasks"]).where(T["tasks"].c.id == "svy-s1")).one()
    assert task.source == "survey" and task.priority == "high" and "Too slow" in task.description

    again = _sync(crm, estimator=lambda s, d: None)
    assert again.counts["improvement_tasks_opened"] == 0

    with transaction(crm.sessions) as s:
        s.execute(insert(T["surveys"]), [_survey("s3", "nps", 9, 25)])
    closed = _sync(crm, estimator=lambda s, d: None)
    assert closed.counts["improvement_tasks_closed"] == 2
    assert {status for status, _ in _risk_tasks(crm).values()} == {"done"}


def test_a_person_can_close_it_and_a_resync_does_not_reopen_it(crm) -> None:
    with transaction(crm.sessions) as s:
        s.execute(insert(T["surveys"]), [_survey("s1", "nps", 2, 20, project_id=None)])  # no project named
    _sync(crm, estimator=lambda s, d: None)
    assert _risk_tasks(crm) == {"svy-s1": ("open", "p1")}  # the account's live project
    with transaction(crm.sessions) as s:
        close_improvement_task(s, "svy-s1", note="called the customer")
    with pytest.raises(Conflict), transaction(crm.sessions) as s:
        close_improvement_task(s, "svy-s1")
    _sync(crm, estimator=lambda s, d: None)
    assert _risk_tasks(crm) == {"svy-s1": ("done", "p1")}


def test_old_responses_outside_the_window_are_left_alone(crm) -> None:
    with transaction(crm.sessions) as s:
        s.execute(insert(T["surveys"]), [{**_survey("old", "nps", 1, 1), "responded_at": datetime(2025, 3, 1)}])
    _sync(crm, estimator=lambda s, d: None)
    assert _risk_tasks(crm) == {}


def test_won_deal_becomes_a_project_with_template_tasks_and_an_estimate(crm) -> None:
    with transaction(crm.sessions) as s:
        s.execute(
            insert(T["deals"]),
            [
                {"id": "d1", "account_id": "a2", "owner_id": "tm1", "name": "Globex ERP", "stage": "won",
                 "product": "erp", "contract_type": "subscription", "amount": 50000,
                 "created_at": date(2026, 9, 1), "closed_at": date(2026, 10, 28)},
                {"id": "d2", "account_id": "a2", "owner_id": None, "name": None, "stage": "open", "product": None,
                 "contract_type": None, "amount": None, "created_at": date(2026, 10, 1), "closed_at": None},
            ],
        )  # fmt: skip
    asked: list[str] = []

    def estimator(session, deal_id):
        asked.append(deal_id)
        return {"effort": {"p10": 80.0, "p50": 120.0, "p90": 200.0}, "overrun_probability": 0.3}

    report = _sync(crm, estimator=estimator)
    assert asked == ["d1"]
    template = choose_template("erp", "subscription")
    assert report.counts["projects_created"] == 1
    assert report.counts["template_tasks_created"] == len(template.tasks)
    with crm.sessions() as s:
        project = s.execute(select(T["projects"]).where(T["projects"].c.deal_id == "d1")).one()
        tasks = s.execute(select(T["tasks"]).where(T["tasks"].c.project_id == project.id)).all()
        event = s.execute(select(T["activities"]).where(T["activities"].c.id == f"evt-{project.id}-created")).one()
    assert project.status == "planned" and project.planned_hours == 120.0 and project.account_id == "a2"
    assert sorted(t.title for t in tasks) == sorted(t.title for t in template.tasks)
    assert {t.source for t in tasks} == {"template"}
    assert event.kind == "event" and "120 h" in event.body
    # Idempotent: the deal has its project now.
    assert _sync(crm, estimator=estimator).counts["projects_created"] == 0
    with transaction(crm.sessions) as s:
        assert create_project_for_won_deal(s, "d1")["created"] is False
        with pytest.raises(Conflict):
            create_project_for_won_deal(s, "d2")


def test_estimate_failure_is_reported_and_the_project_still_starts(crm) -> None:
    with transaction(crm.sessions) as s:
        s.execute(insert(T["deals"]), [{"id": "d1", "account_id": "a2", "stage": "won", "closed_at": AS_OF}])

    def broken(session, deal_id):
        raise RuntimeError("no effort model")

    report = _sync(crm, estimator=broken)
    assert report.counts["projects_created"] == 1
    assert [p["kind"] for p in report.problems] == ["estimate_failed"]


def test_progress_is_written_to_the_account_only_when_it_changes(crm) -> None:
    with transaction(crm.sessions) as s:
        assert sync_progress(s, as_of=AS_OF) == {"progress_events": 1}
        assert sync_progress(s, as_of=AS_OF) == {"progress_events": 0}
        s.execute(update(T["tasks"]).where(T["tasks"].c.id == "t2").values(status="done"))
        assert sync_progress(s, as_of=date(2026, 11, 3)) == {"progress_events": 1}
    with crm.sessions() as s:
        events = s.execute(
            select(T["activities"]).where(T["activities"].c.kind == "event").order_by(T["activities"].c.occurred_at)
        ).all()
        assert s.execute(select(func.count()).select_from(T["activities"])).scalar_one() == 2
    assert [e.account_id for e in events] == ["a1", "a1"]
    assert "1/2 tasks done" in events[0].subject and "days past the planned end" in events[0].body
    assert "2/2 tasks done (100%)" in events[1].subject


def test_templates_are_valid_data() -> None:
    names = {t.name for t in builtin_templates()}
    assert {"implementation", "subscription-onboarding"} <= names
    assert choose_template("anything", "fixed_price").name == "implementation"
    assert all(t.tasks and all(task.title for task in t.tasks) for t in builtin_templates())
