"""Every channel against a real server on loopback: SMTP capture, and an HTTP receiver that checks signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import date

from handoff.alerts.channels import (
    DingTalkChannel,
    EmailChannel,
    GenericWebhookChannel,
    SlackChannel,
    WeComChannel,
    deliver,
    verify_webhook_signature,
)
from handoff.alerts.digest import Digest, DigestItem, digest_from_payload, group_digests
from handoff.intake.reading import read_email
from handoff.testing.http_receiver import HttpReceiver, Reply
from handoff.testing.smtp_capture import SmtpCapture


def item(account: str, p: float, owner_cause: str = "threshold") -> DigestItem:
    return DigestItem(f"al-{account}", account, f"Acme {account}", owner_cause, "opened", p, 0.2, ("usage fell",), "x")


DIGEST = Digest(date(2026, 11, 2), "tm1", "Ann Lee", "ann@example.com", (item("a1", 0.81), item("a2", 0.64)))


def test_email_reaches_a_real_smtp_server() -> None:
    with SmtpCapture() as smtp:
        EmailChannel(smtp.host, smtp.port, "handoff@handoff.local").send(DIGEST)
    [mail] = smtp.messages
    assert mail.rcpt_tos == ("ann@example.com",)
    assert mail.message["Subject"] == DIGEST.subject
    body = mail.message.get_content()
    assert body.index("Acme a1") < body.index("Acme a2")  # riskiest first
    # Should the digest reach handoff's own inbox (a forward, a mail rule), intake refuses it as a loop.
    reading = read_email(mail.message.as_bytes(), own_addresses=["tasks@handoff.local"])
    assert reading.rejection == "mail loop: handoff's own loop marker came back"


def test_slack_and_wecom_payloads() -> None:
    with HttpReceiver() as hooks:
        SlackChannel(hooks.url("/slack")).send(DIGEST)
        WeComChannel(hooks.url("/wecom")).send(DIGEST)
    assert "Acme a1" in hooks.received("/slack")[0].json()["text"]
    wecom = hooks.received("/wecom")[0].json()
    assert wecom["msgtype"] == "markdown" and "Acme a2" in wecom["markdown"]["content"]


def test_dingtalk_signs_per_its_documented_scheme() -> None:
    secret = "SEC-test-secret"
    with HttpReceiver() as hooks:
        DingTalkChannel(hooks.url("/robot/send") + "?access_token=tok", secret, clock=lambda: 1_700_000_000.123).send(
            DIGEST
        )
    [request] = hooks.received("/robot/send")
    assert request.query["access_token"] == "tok"
    assert request.query["timestamp"] == "1700000000123"
    # What DingTalk computes on its side, written out independently of the channel's helper.
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"1700000000123\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert request.query["sign"] == expected  # parse_qsl already URL-decoded it
    assert request.json()["markdown"]["title"] == DIGEST.subject


def test_generic_webhook_signature_verifies_and_a_tampered_body_does_not() -> None:
    secret = "whsec"
    with HttpReceiver() as hooks:
        GenericWebhookChannel(hooks.url("/hook"), secret).send(DIGEST)
    [request] = hooks.received("/hook")
    timestamp, signature = request.headers["x-handoff-timestamp"], request.headers["x-handoff-signature"]
    assert verify_webhook_signature(secret, timestamp, request.body, signature)
    assert not verify_webhook_signature(secret, timestamp, request.body + b" ", signature)
    assert not verify_webhook_signature("other", timestamp, request.body, signature)
    assert not verify_webhook_signature(secret, str(int(timestamp) - 3600), request.body, signature)
    payload = json.loads(request.body)
    assert [a["account_id"] for a in payload["alerts"]] == ["a1", "a2"]
    assert "ann@example.com" not in request.body.decode()  # contact data stays out of shared channels


def test_failing_channel_is_retried_with_backoff_then_reported() -> None:
    waits: list[float] = []
    with HttpReceiver() as hooks:
        hooks.answer("/flaky", [Reply(503), Reply(502)])
        ok = deliver(SlackChannel(hooks.url("/flaky")), DIGEST, max_attempts=3, backoff_s=0.5, sleep=waits.append)
        hooks.answer("/down", [Reply(500)] * 3)
        failed = deliver(SlackChannel(hooks.url("/down")), DIGEST, max_attempts=3, backoff_s=0.5, sleep=waits.append)
    assert (ok.ok, ok.attempts) == (True, 3)
    assert (failed.ok, failed.attempts) == (False, 3) and "HTTP 500" in failed.error
    assert waits == [0.5, 1.0, 0.5, 1.0]
    assert len(hooks.received("/down")) == 3


def test_a_failure_that_would_repeat_is_reported_at_once_without_retries() -> None:
    """A missing or broken address, a malformed URL, an HTTP 4xx: once retried three times with backoff."""
    from dataclasses import replace

    waits: list[float] = []
    with HttpReceiver() as hooks, SmtpCapture() as smtp:
        hooks.answer("/gone", [Reply(404)] * 3)
        hooks.answer("/busy", [Reply(429), Reply(200)])
        email = EmailChannel(smtp.host, smtp.port, "handoff@handoff.local")
        outcomes = {
            "404": deliver(SlackChannel(hooks.url("/gone")), DIGEST, max_attempts=3, sleep=waits.append),
            "no scheme": deliver(SlackChannel("hooks.slack.com/x"), DIGEST, max_attempts=3, sleep=waits.append),
            "no address": deliver(email, replace(DIGEST, recipient=None), max_attempts=3, sleep=waits.append),
            "line break": deliver(
                email, replace(DIGEST, recipient="ann@example.com\r\nBcc: x@y.z"), max_attempts=3, sleep=waits.append
            ),
        }
        busy = deliver(SlackChannel(hooks.url("/busy")), DIGEST, max_attempts=3, sleep=waits.append)
    assert {name: (o.ok, o.attempts) for name, o in outcomes.items()} == dict.fromkeys(outcomes, (False, 1))
    assert len(hooks.received("/gone")) == 1 and smtp.messages == []
    assert (busy.ok, busy.attempts) == (True, 2) and waits == [0.5]  # 429 says "later": that one is retried


def test_wecom_errcode_counts_as_failure() -> None:
    with HttpReceiver() as hooks:
        hooks.answer("/wecom", [Reply(200, {"errcode": 93000, "errmsg": "invalid webhook url"})])
        outcome = deliver(WeComChannel(hooks.url("/wecom")), DIGEST, max_attempts=1, sleep=lambda _: None)
    assert not outcome.ok and "93000" in outcome.error


def test_url_tokens_stay_out_of_errors() -> None:
    outcome = deliver(
        SlackChannel("http://127.0.0.1:9/hook?token=SECRET"), DIGEST, max_attempts=1, sleep=lambda _: None
    )
    assert not outcome.ok and "SECRET" not in outcome.error


def test_digests_group_by_owner_riskiest_first_and_round_trip() -> None:
    digests = group_digests(
        date(2026, 11, 2),
        {"tm2": [item("b1", 0.55)], "tm1": [item("a2", 0.6), item("a1", 0.9), item("a1", 0.9, "jump")]},
        {"tm1": ("Ann", "ann@example.com"), "tm2": ("Bo", None)},
    )
    assert [d.owner_id for d in digests] == ["tm1", "tm2"]
    assert [i.account_id for i in digests[0].items] == ["a1", "a2"]  # one line per account
    again = digest_from_payload(digests[0].as_payload(), "ann@example.com")
    assert again == digests[0]
