"""Alert rules without a database: causes, repeats, snoozes lifted by a jump, re-runs that change nothing."""

from __future__ import annotations

from datetime import date

from handoff.alerts.rules import LiveAlert, Score, Thresholds, causes_for, decide, describe_changes

T = Thresholds(churn=0.5, jump=0.15)
DAY = date(2026, 11, 2)


def score(p: float, previous: float | None = None, drivers=("usage fell",), previous_drivers=()) -> Score:
    return Score("a1", p, tuple(drivers), previous, tuple(previous_drivers))


def live(cause: str, p: float, *, status: str = "open", until: date | None = None, snoozed_p: float | None = None):
    return LiveAlert("x1", "a1", cause, status, p, date(2026, 11, 1), until, snoozed_p)


def test_causes_threshold_and_jump() -> None:
    assert causes_for(score(0.49), T) == []
    assert causes_for(score(0.50), T) == ["threshold"]
    assert causes_for(score(0.40, previous=0.20), T) == ["jump"]
    assert causes_for(score(0.70, previous=0.50), T) == ["threshold", "jump"]
    assert causes_for(score(0.70, previous=None), T) == ["threshold"]


def test_new_risk_opens_one_alert_per_cause() -> None:
    decisions = decide(score(0.7, previous=0.3), {}, DAY, T)
    assert [(d.action, d.cause, d.announce) for d in decisions] == [
        ("open", "threshold", "opened"),
        ("open", "jump", "opened"),
    ]


def test_repeat_updates_the_open_alert_and_announces_only_a_real_rise() -> None:
    same = decide(score(0.62, previous=0.60), {"threshold": live("threshold", 0.60)}, DAY, T)
    assert [(d.action, d.alert_id, d.announce) for d in same] == [("update", "x1", None)]
    rose = decide(score(0.70, previous=0.60), {"threshold": live("threshold", 0.60)}, DAY, T)
    assert [(d.action, d.announce) for d in rose] == [("update", "riskier")]


def test_rerun_of_the_same_date_changes_nothing() -> None:
    seen_today = LiveAlert("x1", "a1", "threshold", "open", 0.6, DAY)
    decisions = decide(score(0.9, previous=0.3), {"threshold": seen_today}, DAY, T)
    actions = {(d.cause, d.action, d.announce) for d in decisions}
    assert ("threshold", "unchanged", None) in actions


def test_snooze_holds_until_a_jump_lifts_it() -> None:
    snoozed = live("threshold", 0.60, status="snoozed", until=date(2026, 12, 1), snoozed_p=0.60)
    quiet = decide(score(0.70, previous=0.65), {"threshold": snoozed}, DAY, T)
    assert [(d.action, d.announce) for d in quiet] == [("update", None)]
    lifted = decide(score(0.80, previous=0.70), {"threshold": snoozed}, DAY, T)
    assert [(d.action, d.announce, d.changes["lifted"]) for d in lifted] == [("reopen", "reopened", "jump")]


def test_snooze_ends_on_its_date() -> None:
    snoozed = live("threshold", 0.60, status="snoozed", until=date(2026, 11, 1), snoozed_p=0.60)
    decisions = decide(score(0.61, previous=0.60), {"threshold": snoozed}, DAY, T)
    assert [(d.action, d.announce, d.changes["lifted"]) for d in decisions] == [("reopen", "reopened", "expired")]


def test_changes_name_the_move_and_the_new_drivers() -> None:
    changes = describe_changes(score(0.61, previous=0.32, drivers=("a", "b"), previous_drivers=("a", "c")))
    assert changes["new_drivers"] == ["b"] and changes["dropped_drivers"] == ["c"]
    assert "rose from 32% to 61% (+29 pts)" in changes["text"] and "new: b" in changes["text"]
    assert describe_changes(score(0.4))["text"] == "first score: 40%"
