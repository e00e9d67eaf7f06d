"""The in-process scheduler: runs once per day after the configured hour, survives a failing job, stops cleanly."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from handoff.alerts.scheduler import NightlyScheduler


def test_runs_once_a_day_after_the_hour() -> None:
    clock = {"now": datetime(2026, 11, 2, 1, 59, tzinfo=UTC)}
    ran: list = []
    scheduler = NightlyScheduler(ran.append, hour_utc=2, now=lambda: clock["now"])
    scheduler.tick()
    assert ran == []
    clock["now"] = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    scheduler.tick()
    scheduler.tick()
    clock["now"] = datetime(2026, 11, 3, 7, 0, tzinfo=UTC)
    scheduler.tick()
    assert [d.isoformat() for d in ran] == ["2026-11-02", "2026-11-03"]


def test_a_failing_job_does_not_kill_the_thread() -> None:
    called = threading.Event()

    def boom(_day):
        called.set()
        raise RuntimeError("database down")

    scheduler = NightlyScheduler(
        boom, hour_utc=2, now=lambda: datetime(2026, 11, 2, 23, 0, tzinfo=UTC), check_every_s=0.01
    ).start()
    assert called.wait(5)
    scheduler.stop()
    assert scheduler.runs == 1 and scheduler.last_run_date.isoformat() == "2026-11-02"
