"""The nightly run and the CLI with a REAL trained churn champion on a small demo CRM (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from handoff.alerts import service
from handoff.alerts.channels import DingTalkChannel, EmailChannel, WeComChannel, dingtalk_sign
from handoff.cli.main import build_app
from handoff.risk.features import active_accounts
from handoff.store.crm_tables import CRM_TABLES
from handoff.wiring import Parts, nightly_job

pytestmark = pytest.mark.slow  # trains a real champion

D1, D2 = date(2026, 10, 1), date(2026, 10, 15)


def _alerting_fifth(parts: Parts) -> Parts:
    """A small demo model's scores sit wherever its training put them; alert on its riskiest fifth."""
    from handoff.wiring import churn_scorer

    threshold = float(churn_scorer(parts).score(D1, {})["probability"].quantile(0.8))
    alerts = parts.settings.alerts.model_copy(update={"churn_threshold": threshold})
    return Parts(parts.settings.model_copy(update={"alerts": alerts}))


def test_scores_every_active_account_and_tells_each_owner_only_about_theirs(demo, champion, smtp, hooks) -> None:
    demo = _alerting_fifth(demo)
    channels = [
        EmailChannel(smtp.host, smtp.port, "handoff@handoff.local"),
        WeComChannel(hooks.url("/wecom")),
        DingTalkChannel(hooks.url("/ding?access_token=t"), "SECsecret"),
    ]
    run = nightly_job(demo, run_date=D1, channels=channels, sleep=lambda _: None)
    assert run.status in ("ok", "warnings"), run.problems
    assert run.model_version == champion.version
    assert run.counts["accounts_scored"] == len(active_accounts(champion.frames, D1))
    assert run.counts.get("alerts_open", 0) > 0 and run.stage_seconds["features"] > 0

    with demo.sessions() as session:
        opened = service.list_alerts(session, status="open", limit=1000)
        owner_of = dict(session.execute(select(CRM_TABLES["accounts"].c.id, CRM_TABLES["accounts"].c.owner_id)).all())
        names = dict(session.execute(select(CRM_TABLES["accounts"].c.id, CRM_TABLES["accounts"].c.name)).all())
        emails = dict(
            session.execute(select(CRM_TABLES["team_members"].c.email, CRM_TABLES["team_members"].c.id)).all()
        )
    assert all(a.probability >= demo.settings.alerts.churn_threshold for a in opened)
    assert all(a.drivers and all(isinstance(d, str) and "(" in d for d in a.drivers) for a in opened)

    # One mail per owner; each lists only that owner's alerted accounts, riskiest first.
    recipients = [m.rcpt_tos[0] for m in smtp.messages]
    assert len(recipients) == len(set(recipients)) == run.counts["sent_email"]
    for mail in smtp.messages:
        owner = emails[mail.rcpt_tos[0]]
        body = mail.message.get_content()
        mine = sorted((a for a in opened if a.owner_id == owner), key=lambda a: -a.probability)
        positions = [body.index(names[a.account_id]) for a in mine]
        assert positions == sorted(positions)
        others = [a for a in opened if owner_of[a.account_id] != owner]
        assert all(f"Alert {a.id}" not in body for a in others)

    # DingTalk got a valid signature for the timestamp it was sent with.
    ding = hooks.received("/ding")
    assert len(ding) == len(recipients)
    assert all(r.query["sign"] == _unquoted(dingtalk_sign("SECsecret", int(r.query["timestamp"]))) for r in ding)

    # The next run compares with this one and sends nothing already sent.
    second = nightly_job(demo, run_date=D2, channels=channels, sleep=lambda _: None)
    again = nightly_job(demo, run_date=D2, channels=channels, sleep=lambda _: None)
    assert again.counts.get("deliveries_sent", 0) == 0 and again.counts.get("alerts_open", 0) == 0
    with demo.sessions() as session:
        updated = [a for a in service.list_alerts(session, limit=1000) if a.last_run_date == D2]
    assert updated and all(a.changes["previous_probability"] is not None for a in updated if a.opened_on == D1)
    assert second.counts["accounts_scored"] == len(active_accounts(champion.frames, D2))


def _unquoted(value: str) -> str:
    from urllib.parse import unquote_plus

    return unquote_plus(value)


def test_cli_prints_the_run_record_and_fails_cleanly_without_a_champion(demo_sqlite, champion, smtp) -> None:
    demo = demo_sqlite
    env = {
        "HANDOFF_HOME": str(demo.settings.home),
        "HANDOFF_DATABASE_URL": demo.settings.resolved_database_url,
        "HANDOFF_MLFLOW_TRACKING_URI": champion.tracking_uri,
        "HANDOFF_ALERTS__SMTP_HOST": smtp.host,
        "HANDOFF_ALERTS__SMTP_PORT": str(smtp.port),
        "HANDOFF_ALERTS__CHURN_THRESHOLD": str(_alerting_fifth(demo).settings.alerts.churn_threshold),
    }
    runner = CliRunner()
    result = runner.invoke(build_app(), ["nightly", "--date", "2026-10-01", "--json"], env=env)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["run_date"] == "2026-10-01" and record["model_version"] == champion.version
    assert record["counts"]["accounts_scored"] > 0 and not record["dry_run"]

    listed = runner.invoke(build_app(), ["alerts", "list", "--status", "open", "--json"], env=env)
    first = json.loads(listed.stdout.splitlines()[0])
    snoozed = runner.invoke(
        build_app(),
        ["alerts", "snooze", first["id"], "--until", "2099-01-01", "--reason", "on holiday", "--json"],
        env=env,
    )
    assert json.loads(snoozed.stdout)["status"] == "snoozed"
    resolved = runner.invoke(build_app(), ["alerts", "resolve", first["id"], "--note", "done", "--json"], env=env)
    assert json.loads(resolved.stdout)["status"] == "resolved"

    no_model = {**env, "HANDOFF_MLFLOW_TRACKING_URI": f"sqlite:///{demo.settings.home}/empty-mlflow.db"}
    failed = runner.invoke(build_app(), ["nightly", "--date", "2026-10-02", "--json"], env=no_model)
    assert failed.exit_code == 3
    assert json.loads(failed.stdout)["problems"][0]["kind"] == "no_champion"
    assert "Traceback" not in failed.output
    runs = runner.invoke(build_app(), ["alerts", "runs", "--json"], env=env)
    latest = json.loads(runs.stdout.splitlines()[0])
    assert latest["status"] == "failed" and latest["run_date"] == "2026-10-02"
    bad = runner.invoke(build_app(), ["nightly", "--date", "yesterday"], env=env)
    assert bad.exit_code != 0


def test_scores_frame_has_one_row_per_account(demo_sqlite) -> None:
    from handoff.wiring import churn_scorer

    scorer = churn_scorer(demo_sqlite)
    timings: dict[str, float] = {}
    scores = scorer.score(D1, timings)
    assert isinstance(scores, pd.DataFrame) and scores.index.is_unique
    assert scores["probability"].between(0, 1).all()
    assert set(timings) == {"load_frames", "features", "score"}


def test_one_unreadable_account_does_not_fail_the_night(demo, champion) -> None:
    """SQLite keeps whatever is written to it: one account with "lots" seats and a created_at of "not-a-date" (written
    around the CRM import's checks) once failed the whole run. PostgreSQL refuses such values outright."""
    from sqlalchemy import text
    from sqlalchemy.exc import DataError

    from handoff.store.db import transaction

    with demo.sessions() as session:
        account_id = session.execute(text("SELECT id FROM accounts WHERE status = 'active' ORDER BY id")).scalar()
    corrupt = text("UPDATE accounts SET seats = 'lots', created_at = 'not-a-date' WHERE id = :id")
    if demo.engine.dialect.name == "postgresql":
        try:
            with transaction(demo.sessions) as session:
                session.execute(corrupt, {"id": account_id})
        except DataError:
            return  # refused at the door: nothing unreadable can be stored there
        raise AssertionError("PostgreSQL stored an unreadable value")
    with transaction(demo.sessions) as session:
        assert session.execute(corrupt, {"id": account_id}).rowcount == 1
    run = nightly_job(demo, run_date=D1, channels=[], sleep=lambda _: None)
    assert run.status in ("ok", "warnings"), run.problems
    assert run.counts["accounts_scored"] >= len(active_accounts(champion.frames, D1)) - 1
