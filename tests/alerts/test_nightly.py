"""The nightly run on SQLite and PostgreSQL: alerts, idempotency, snoozes, digests per owner, channels, bad data."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from sqlalchemy import func, select

from handoff.alerts import service
from handoff.alerts.channels import EmailChannel, GenericWebhookChannel, SlackChannel
from handoff.alerts.nightly import run_nightly
from handoff.alerts.tables import alert_deliveries, alert_digests, alert_runs
from handoff.errors import InvalidInput, NoChampion, NotReady
from handoff.store.db import transaction
from handoff.testing.http_receiver import Reply

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
NO_WAIT = {"sleep": lambda _: None}


def _channels(smtp, hooks):
    return [
        EmailChannel(smtp.host, smtp.port, "handoff@handoff.local"),
        SlackChannel(hooks.url("/slack")),
        GenericWebhookChannel(hooks.url("/hook"), "whsec"),
    ]


def _alerts(parts, **filters):
    with parts.sessions() as session:
        return service.list_alerts(session, **filters)


def test_first_run_opens_alerts_and_sends_one_digest_per_owner(crm, smtp, hooks, scripted) -> None:
    scorer = scripted({D1: {"a1": 0.81, "a2": 0.64, "a3": 0.2, "a4": 0.9, "a5": 0.7, "a6": 0.1}})
    run = run_nightly(
        crm.sessions, crm.settings.alerts, run_date=D1, scorer=scorer, channels=_channels(smtp, hooks), **NO_WAIT
    )

    assert run.counts["accounts_scored"] == 6 and run.model_version == "scripted-1"
    assert run.counts["alerts_open"] == 4  # a1, a2, a4, a5 cross 0.5; no previous run, so no jump
    opened = _alerts(crm, status="open")
    assert [a.account_id for a in opened] == ["a4", "a1", "a5", "a2"]  # riskiest first
    assert all(a.drivers and a.changes["text"] == f"first score: {a.probability:.0%}" for a in opened)
    # Only tm1 (a1, a2) gets mail; tm3 has no address; a4 has no owner: both are reported, neither crashes.
    assert [m.rcpt_tos for m in smtp.messages] == [("ann@example.com",)]
    body = smtp.messages[0].message.get_content()
    assert body.index("Acme") < body.index("Globex") and "Initech" not in body and "Hooli" not in body
    kinds = {p["kind"] for p in run.problems}
    assert {"account_without_owner", "owner_without_email"} <= kinds
    assert run.status == "warnings"
    # Chat and webhook channels carry one message per owner: tm1 and tm3.
    assert sorted(r.json()["owner_id"] for r in hooks.received("/hook")) == ["tm1", "tm3"]
    assert len(hooks.received("/slack")) == 2


def test_same_date_twice_sends_nothing_twice_and_opens_nothing_new(crm, smtp, hooks, scripted) -> None:
    scorer = scripted({D1: {"a1": 0.81, "a2": 0.64, "a3": 0.2}})
    run_nightly(
        crm.sessions, crm.settings.alerts, run_date=D1, scorer=scorer, channels=_channels(smtp, hooks), **NO_WAIT
    )
    sent_before = (len(smtp.messages), len(hooks.requests))
    again = run_nightly(
        crm.sessions, crm.settings.alerts, run_date=D1, scorer=scorer, channels=_channels(smtp, hooks), **NO_WAIT
    )
    assert (len(smtp.messages), len(hooks.requests)) == sent_before
    assert again.counts.get("alerts_open", 0) == 0 and again.counts["alerts_unchanged"] == 2
    assert again.counts.get("deliveries_sent", 0) == 0
    assert len(_alerts(crm)) == 2
    with crm.sessions() as session:
        assert session.execute(select(func.count()).select_from(alert_digests)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(alert_runs)).scalar_one() == 2


def test_repeat_updates_jump_opens_and_snooze_lifts_on_a_jump(crm, smtp, hooks, scripted) -> None:
    scorer = scripted(
        {
            D1: {"a1": 0.60, "a3": 0.20},
            D2: {"a1": 0.62, "a3": 0.40},  # a1 repeats (update, quiet); a3 jumps by 0.20
            D3: {"a1": 0.80, "a3": 0.42},  # a1 jumps above its snoozed level: the snooze is lifted
        }
    )
    channels = _channels(smtp, hooks)
    run_nightly(crm.sessions, crm.settings.alerts, run_date=D1, scorer=scorer, channels=channels, **NO_WAIT)
    [first] = _alerts(crm, account_id="a1")
    with transaction(crm.sessions) as session:
        service.snooze_alert(
            session, first.id, until=date.today() + timedelta(days=30), reason="renewal call booked", actor="ann"
        )

    second = run_nightly(crm.sessions, crm.settings.alerts, run_date=D2, scorer=scorer, channels=channels, **NO_WAIT)
    assert second.counts["alerts_update"] == 1 and second.counts["alerts_open"] == 1
    [jump] = _alerts(crm, account_id="a3")
    assert jump.cause == "jump" and "rose from 20% to 40%" in jump.changes["text"]
    [still] = _alerts(crm, account_id="a1")
    assert still.status == "snoozed" and still.probability == 0.62
    # Ann got no second mail on D2 (snoozed account); Bo did, for a3.
    assert [m.rcpt_tos[0] for m in smtp.messages] == ["ann@example.com", "bo@example.com"]

    third = run_nightly(crm.sessions, crm.settings.alerts, run_date=D3, scorer=scorer, channels=channels, **NO_WAIT)
    a1 = _alerts(crm, account_id="a1")
    assert {(a.cause, a.status) for a in a1} == {("threshold", "open"), ("jump", "open")}
    assert third.counts["alerts_reopen"] == 1
    with crm.sessions() as session:
        history = [event.kind for event in service.alert_history(session, first.id)]
    assert history == ["opened", "snoozed", "updated", "unsnoozed"]
    assert smtp.messages[-1].rcpt_tos == ("ann@example.com",)


def test_resolve_then_a_new_alert_can_open(crm, smtp, hooks, scripted) -> None:
    scorer = scripted({D1: {"a1": 0.7}, D2: {"a1": 0.71}})
    run_nightly(crm.sessions, crm.settings.alerts, run_date=D1, scorer=scorer, channels=[], **NO_WAIT)
    [alert] = _alerts(crm)
    with transaction(crm.sessions) as session:
        resolved = service.resolve_alert(session, alert.id, actor="ann", note="called them")
    assert resolved.status == "resolved" and resolved.resolved_by == "ann"
    run_nightly(crm.sessions, crm.settings.alerts, run_date=D2, scorer=scorer, channels=[], **NO_WAIT)
    assert [a.status for a in _alerts(crm)] == ["open", "resolved"]


def test_failing_channel_is_reported_retried_next_time_and_blocks_no_other(crm, smtp, hooks, scripted) -> None:
    scorer = scripted({D1: {"a1": 0.9}})
    hooks.answer("/slack", [Reply(500)] * 3)
    run = run_nightly(
        crm.sessions, crm.settings.alerts, run_date=D1, scorer=scorer, channels=_channels(smtp, hooks), **NO_WAIT
    )
    assert run.status == "degraded" and run.counts["deliveries_failed"] == 1
    assert any(p["kind"] == "channel_failed" and p["channel"] == "slack" for p in run.problems)
    assert len(smtp.messages) == 1 and len(hooks.received("/hook")) == 1
    # A second run for the date retries only what failed.
    retry = run_nightly(
        crm.sessions, crm.settings.alerts, run_date=D1, scorer=scorer, channels=_channels(smtp, hooks), **NO_WAIT
    )
    assert retry.counts["deliveries_sent"] == 1 and retry.status == "ok"
    assert len(smtp.messages) == 1 and len(hooks.received("/hook")) == 1 and len(hooks.received("/slack")) == 4
    with crm.sessions() as session:
        statuses = dict(session.execute(select(alert_deliveries.c.channel, alert_deliveries.c.status)).all())
    assert statuses == {"email": "sent", "slack": "sent", "webhook": "sent"}


def test_dry_run_writes_and_sends_nothing(crm, smtp, hooks, scripted) -> None:
    scorer = scripted({D1: {"a1": 0.9, "a3": 0.8}})
    run = run_nightly(
        crm.sessions,
        crm.settings.alerts,
        run_date=D1,
        scorer=scorer,
        channels=_channels(smtp, hooks),
        dry_run=True,
        **NO_WAIT,
    )
    assert run.counts["alerts_open"] == 2 and run.counts["digests_composed"] == 2
    assert smtp.messages == [] and hooks.requests == [] and _alerts(crm) == []
    with crm.sessions() as session:
        assert service.list_runs(session) == []


class _Failing:
    version = "failing-1"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def score(self, as_of: date, timings: dict[str, float]):
        raise self.error


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (NoChampion("no churn model"), "no_champion"),
        # The kind comes from the error's type: a NotReady that merely mentions the champion is not NoChampion.
        (NotReady("the champion's feature table is missing"), "score_not_ready"),
        (InvalidInput("bad as-of date"), "score_failed"),
        (KeyError("probability"), "score_failed"),
    ],
)
def test_a_failing_stage_is_named_by_its_error_type_and_stops_the_run(crm, error, kind) -> None:
    run = run_nightly(crm.sessions, crm.settings.alerts, run_date=D1, scorer=_Failing(error), channels=[], **NO_WAIT)

    assert run.status == "failed" and [p["kind"] for p in run.problems] == [kind]
    assert "alert_candidates" not in run.counts and "digests_composed" not in run.counts  # later stages never ran
    with crm.sessions() as session:
        assert session.execute(select(alert_runs.c.status).where(alert_runs.c.id == run.id)).scalar_one() == "failed"


def test_an_error_after_scoring_names_the_stage_it_broke(crm) -> None:
    class NoProbability:
        version = "broken-1"

        def score(self, as_of: date, timings: dict[str, float]) -> pd.DataFrame:
            return pd.DataFrame({"drivers": [()]}, index=["a1"])

    run = run_nightly(crm.sessions, crm.settings.alerts, run_date=D1, scorer=NoProbability(), channels=[], **NO_WAIT)

    assert run.status == "failed" and run.counts["accounts_scored"] == 1
    assert [(p["kind"], p["detail"]) for p in run.problems] == [("alerts_failed", "KeyError: 'probability'")]


def test_the_loop_runs_first_only_when_handed_an_estimator(crm, scripted) -> None:
    scorer = scripted({D1: {"a1": 0.2}})
    asked: list[date] = []

    def estimator_for(day: date):
        asked.append(day)
        return lambda session, deal_id: None

    run = {"run_date": D1, "scorer": scorer, "channels": [], **NO_WAIT}
    with_loop = run_nightly(crm.sessions, crm.settings.alerts, loop_estimator=estimator_for, **run)
    without = run_nightly(crm.sessions, crm.settings.alerts, **run)
    assert asked == [D1] and "loop" in with_loop.stage_seconds
    assert "loop" not in without.stage_seconds and not any(key.startswith("loop_") for key in without.counts)


@pytest.mark.parametrize("both", [False, True])
def test_a_run_needs_exactly_one_way_to_score(crm, scripted, both) -> None:
    scorer = scripted({D1: {"a1": 0.2}}) if both else None
    with pytest.raises(TypeError, match="exactly one"):
        run_nightly(
            crm.sessions,
            crm.settings.alerts,
            run_date=D1,
            scorer=scorer,
            partitioned=(lambda *a, **k: ({}, None)) if both else None,
        )
