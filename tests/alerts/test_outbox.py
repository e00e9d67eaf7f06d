"""The digest outbox on SQLite and PostgreSQL: with no SMTP server the run ends ok and the digests wait there; with
channels configured, each delivery's state is listed beside its digest."""

from __future__ import annotations

import socket
from datetime import date

from sqlalchemy import select

from handoff.alerts.channels import EmailChannel, OutboxChannel, SlackChannel, configured_channels
from handoff.alerts.nightly import run_nightly
from handoff.alerts.outbox import count_digests, list_digests, owners_with_live_alerts, preview_digest
from handoff.alerts.tables import alert_deliveries
from handoff.settings import AlertSettings
from handoff.testing.http_receiver import Reply

D1 = date(2026, 11, 1)
NO_WAIT = {"sleep": lambda _: None}
# Only owners with an address and accounts with an owner, so nothing but the channels could warn or degrade.
CLEAN = {"a1": 0.81, "a2": 0.64, "a3": 0.72, "a6": 0.1}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_without_smtp_the_digests_wait_in_the_outbox_and_the_run_is_ok(crm, scripted) -> None:
    assert crm.settings.alerts.smtp_host is None  # the embedded default
    assert [type(c) for c in configured_channels(crm.settings.alerts)] == [OutboxChannel]
    run = run_nightly(crm.sessions, crm.settings.alerts, run_date=D1, scorer=scripted({D1: CLEAN}), **NO_WAIT)
    assert run.status == "ok", run.problems
    assert run.counts["digests_composed"] == 2 and run.counts["sent_outbox"] == 2
    with crm.sessions() as session:
        digests = list_digests(session)
        assert count_digests(session) == 2 and count_digests(session, owner_id="tm1") == 1
        mine = list_digests(session, owner_id="tm1")
    assert [d.owner_name for d in digests] == ["Ann Lee", "Bo Chen"]
    assert [(s.channel, s.status, s.attempts) for d in digests for s in d.deliveries] == [("outbox", "sent", 1)] * 2
    assert [d.owner_id for d in mine] == ["tm1"] and mine[0].alerts == 2
    assert mine[0].body.index("Acme") < mine[0].body.index("Globex") and "Initech" not in mine[0].body
    again = run_nightly(crm.sessions, crm.settings.alerts, run_date=D1, scorer=scripted({D1: CLEAN}), **NO_WAIT)
    assert again.status == "ok" and again.counts.get("deliveries_sent", 0) == 0  # kept once, not twice


def test_with_channels_each_delivery_state_is_listed(crm, scripted, smtp, hooks) -> None:
    hooks.answer("/slack", [Reply(500)] * 6)
    dead = _closed_port()
    channels = [EmailChannel(smtp.host, smtp.port, "handoff@handoff.local"), SlackChannel(hooks.url("/slack"))]
    run = run_nightly(
        crm.sessions, crm.settings.alerts, run_date=D1, scorer=scripted({D1: CLEAN}), channels=channels, **NO_WAIT
    )
    assert run.status == "degraded" and run.counts["sent_email"] == 2
    assert sorted(r for m in smtp.messages for r in m.rcpt_tos) == ["ann@example.com", "bo@example.com"]
    with crm.sessions() as session:
        states = {(d.owner_id, s.channel): s for d in list_digests(session) for s in d.deliveries}
        assert "outbox" not in {channel for _, channel in states}
    assert states[("tm1", "email")].status == "sent" and states[("tm1", "email")].sent_at is not None
    assert states[("tm1", "slack")].status == "failed" and states[("tm1", "slack")].attempts == 3
    assert "HTTP 500" in states[("tm1", "slack")].last_error
    # An SMTP server that is configured but down: failed, with the error, never silently in the outbox.
    down = configured_channels(AlertSettings(smtp_host="127.0.0.1", smtp_port=dead))
    assert [c.name for c in down] == ["email"]
    with crm.sessions() as session:
        session.execute(alert_deliveries.delete())
        session.commit()
    retried = run_nightly(
        crm.sessions, crm.settings.alerts, run_date=D1, scorer=scripted({D1: CLEAN}), channels=down, **NO_WAIT
    )
    assert retried.status == "degraded"
    with crm.sessions() as session:
        rows = session.execute(select(alert_deliveries.c.status, alert_deliveries.c.last_error)).all()
    assert len(rows) == 2 and all(status == "failed" and f":{dead}" in error for status, error in rows)


def test_a_preview_composes_an_owners_digest_from_their_open_alerts_and_stores_nothing(crm, scripted) -> None:
    run_nightly(crm.sessions, crm.settings.alerts, run_date=D1, scorer=scripted({D1: CLEAN}), channels=[], **NO_WAIT)
    with crm.sessions() as session:
        before = count_digests(session)
        owners = owners_with_live_alerts(session)
        preview = preview_digest(session, "tm1", date(2026, 11, 2))
        nobody = preview_digest(session, "tm3", date(2026, 11, 2))
        session.commit()
    with crm.sessions() as session:
        assert count_digests(session) == before == 2
    assert owners == [("tm1", "Ann Lee"), ("tm2", "Bo Chen")]
    assert [i.account_name for i in preview.items] == ["Acme", "Globex"] and preview.recipient == "ann@example.com"
    assert "2 accounts need you" in preview.subject and "first score: 81%" in preview.text
    assert nobody.items == () and "0 accounts" in nobody.subject
