"""Webhook URLs keep their secret in the path or query: a failing Slack-like receiver on loopback must not put it into
the run's JSON, `alert_runs.problems`, `alert_deliveries.last_error` or a log record (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import logging
import secrets
import socket
from datetime import date

from pydantic import SecretStr
from sqlalchemy import select

from handoff.alerts.nightly import run_nightly
from handoff.alerts.tables import alert_deliveries, alert_runs
from handoff.settings import AlertSettings
from handoff.testing.http_receiver import ReceivedRequest, Reply
from handoff.wiring import Parts

D1 = date(2026, 11, 1)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_failing_webhooks_leave_their_secrets_nowhere(crm, smtp, hooks, scripted, caplog) -> None:
    slack_secret = "T0001/B0002/" + secrets.token_hex(12)
    wecom_key = secrets.token_hex(12)
    dingtalk_token = secrets.token_hex(12)
    slack_path = f"/services/{slack_secret}"

    def slack_like(request: ReceivedRequest) -> Reply | None:
        # Slack answers a bad token with 404 and a body; this one also repeats the path it was called on.
        if request.path == slack_path:
            return Reply(404, {"ok": False, "error": "invalid_token", "path": request.path})
        if request.path == "/cgi-bin/webhook/send":  # WeCom style: HTTP 200 with an errcode that echoes the key
            return Reply(200, {"errcode": 93000, "errmsg": f"invalid webhook url, key={request.query.get('key')}"})
        return None

    hooks.check = slack_like
    alerts = AlertSettings(
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        slack_webhook_url=SecretStr(hooks.url(slack_path)),
        wecom_webhook_url=SecretStr(hooks.url(f"/cgi-bin/webhook/send?key={wecom_key}")),
        # Nobody listens there: the connection error must not carry the token either.
        dingtalk_webhook_url=SecretStr(f"http://127.0.0.1:{closed_port()}/robot/send?access_token={dingtalk_token}"),
    )
    parts = Parts(crm.settings.model_copy(update={"alerts": alerts}))
    caplog.set_level(logging.DEBUG)

    run = run_nightly(
        parts.sessions, parts.settings.alerts, run_date=D1, scorer=scripted({D1: {"a1": 0.9}}), sleep=lambda _: None
    )

    assert hooks.received(slack_path), "the Slack-like receiver was really called on its secret path"
    failed = {p["channel"] for p in run.problems if p["kind"] == "channel_failed"}
    assert failed == {"slack", "wecom", "dingtalk"}
    with parts.sessions() as session:
        stored_problems = json.dumps(session.execute(select(alert_runs.c.problems)).scalars().all())
        errors = session.execute(select(alert_deliveries.c.channel, alert_deliveries.c.last_error)).all()
    last_errors = {channel: error for channel, error in errors if error}
    assert set(last_errors) == {"slack", "wecom", "dingtalk"}
    assert "HTTP 404" in last_errors["slack"] and "93000" in last_errors["wecom"]

    surfaces = {
        "nightly JSON": run.model_dump_json(),
        "alert_runs.problems": stored_problems,
        "alert_deliveries.last_error": json.dumps(last_errors),
        "log": caplog.text + "".join(record.getMessage() for record in caplog.records),
    }
    for where, text in surfaces.items():
        for secret in (slack_secret, wecom_key, dingtalk_token, "/services/"):
            assert secret not in text, f"{secret!r} in {where}"
    assert "http://127.0.0.1" in last_errors["slack"]  # scheme and host stay, to say where it went
