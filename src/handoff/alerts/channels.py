"""Where digests go: SMTP email, Slack, WeCom, DingTalk (signed) and signed generic webhooks, with bounded retries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

import httpx
from pydantic import SecretStr

from handoff import markup
from handoff.alerts.digest import Digest
from handoff.errors import ExternalFailure, PermanentFailure
from handoff.intake.screening import LOOP_HEADER
from handoff.redaction import redact, redact_url, summarise_error
from handoff.settings import AlertSettings

SIGNATURE_HEADER = "X-Handoff-Signature"
TIMESTAMP_HEADER = "X-Handoff-Timestamp"


class Channel(Protocol):
    """Sends one digest; raises `ExternalFailure` when the other side did not take it."""

    name: str

    def send(self, digest: Digest) -> None: ...


@dataclass
class EmailChannel:
    host: str
    port: int
    sender: str
    timeout_s: float = 10.0
    name: str = "email"

    def send(self, digest: Digest) -> None:
        if not digest.recipient:
            raise PermanentFailure(f"owner {digest.owner_id} has no email address")
        message = EmailMessage()
        try:
            message["From"] = self.sender
            message["To"] = digest.recipient
            message["Subject"] = digest.subject
        except ValueError as error:  # a line break in an address or subject: the data is wrong, not the network
            raise PermanentFailure(f"cannot address a digest to {digest.recipient!r}: {error}") from error
        message["Auto-Submitted"] = "auto-generated"  # keeps our own inbox (and others') from answering it
        message[LOOP_HEADER] = "digest"  # should it reach handoff's inbox (a forward, a rule), it is a loop
        message.set_content(digest.text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise ExternalFailure(f"SMTP {self.host}:{self.port}: {error}") from error


@dataclass
class OutboxChannel:
    """The embedded default when no SMTP server is configured: the digest stays in the outbox.

    The nightly run has already written the digest (subject, body, payload) into `alert_digests` before any channel
    runs; taking it here only records, as this channel's `alert_deliveries` row, that it is kept there for the owner
    to read in the web app (`/app/outbox`) instead of being mailed. Nothing can fail, so the run is not degraded.
    """

    name: str = "outbox"

    def send(self, digest: Digest) -> None:
        return None


def _post_json(url: str, payload: dict, timeout_s: float, headers: dict[str, str] | None = None) -> httpx.Response:
    body = json.dumps(payload, ensure_ascii=False).encode()
    try:
        response = httpx.post(
            url, content=body, headers={"Content-Type": "application/json", **(headers or {})}, timeout=timeout_s
        )
    except httpx.HTTPError as error:
        raise _failure(url, error) from error
    _raise_for_status(url, response)
    return response


def _failure(url: str, error: httpx.HTTPError) -> ExternalFailure:
    """A malformed URL fails the same way every time; a network error may pass."""
    kind = PermanentFailure if isinstance(error, httpx.UnsupportedProtocol | httpx.InvalidURL) else ExternalFailure
    return kind(f"POST {redact_url(url)}: {redact(str(error), [url])}")


def _raise_for_status(url: str, response: httpx.Response) -> None:
    if response.status_code < 300:
        return
    transient = response.status_code >= 500 or response.status_code in (408, 429)
    kind = ExternalFailure if transient else PermanentFailure
    raise kind(f"POST {redact_url(url)}: HTTP {response.status_code}")


def _check_errcode(response: httpx.Response, vendor: str) -> None:
    """WeCom and DingTalk answer HTTP 200 with `errcode` != 0 when they refuse a message."""
    try:
        answer = response.json()
    except ValueError:
        return
    if isinstance(answer, dict) and answer.get("errcode", 0) != 0:
        detail = redact(str(answer.get("errmsg", "")))[:200]
        raise ExternalFailure(f"{vendor} refused the message: {answer.get('errcode')} {detail}")


@dataclass
class SlackChannel:
    url: str = field(repr=False)  # its path is the secret
    timeout_s: float = 10.0
    name: str = "slack"

    def send(self, digest: Digest) -> None:
        _post_json(self.url, {"text": digest.chat(markup.slack, bold="*")}, self.timeout_s)


@dataclass
class WeComChannel:
    url: str = field(repr=False)
    timeout_s: float = 10.0
    name: str = "wecom"

    def send(self, digest: Digest) -> None:
        payload = {"msgtype": "markdown", "markdown": {"content": digest.chat(markup.markdown)}}
        _check_errcode(_post_json(self.url, payload, self.timeout_s), "WeCom")


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's documented scheme: base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")), URL-encoded."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


@dataclass
class DingTalkChannel:
    url: str = field(repr=False)
    secret: str | None = field(repr=False)
    timeout_s: float = 10.0
    name: str = "dingtalk"
    clock: Callable[[], float] = time.time

    def signed_url(self) -> str:
        if not self.secret:
            return self.url
        timestamp = int(self.clock() * 1000)
        separator = "&" if "?" in self.url else "?"
        return f"{self.url}{separator}timestamp={timestamp}&sign={dingtalk_sign(self.secret, timestamp)}"

    def send(self, digest: Digest) -> None:
        text = digest.chat(markup.markdown)
        payload = {"msgtype": "markdown", "markdown": {"title": markup.one_line(digest.subject), "text": text}}
        _check_errcode(_post_json(self.signed_url(), payload, self.timeout_s), "DingTalk")


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` + hex HMAC-SHA256 of `{timestamp}.{body}`; the timestamp inside the MAC stops replays."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def verify_webhook_signature(
    secret: str, timestamp: str, body: bytes, signature: str, *, now: float | None = None, tolerance_s: int = 300
) -> bool:
    """What a receiver runs: constant-time compare, and refuse timestamps older than `tolerance_s`."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    if age > tolerance_s:
        return False
    # compare_digest: a plain == leaks how many leading characters matched through timing.
    return hmac.compare_digest(webhook_signature(secret, timestamp, body), signature)


@dataclass
class GenericWebhookChannel:
    url: str = field(repr=False)
    secret: str | None = field(repr=False)
    timeout_s: float = 10.0
    name: str = "webhook"
    clock: Callable[[], float] = time.time

    def send(self, digest: Digest) -> None:
        payload = digest.as_payload()
        body = json.dumps(payload, ensure_ascii=False).encode()
        timestamp = str(int(self.clock()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp}
        if self.secret:
            headers[SIGNATURE_HEADER] = webhook_signature(self.secret, timestamp, body)
        try:
            response = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout_s)
        except httpx.HTTPError as error:
            raise _failure(self.url, error) from error
        _raise_for_status(self.url, response)


def configured_channels(settings: AlertSettings) -> list[Channel]:
    """Email to each owner's own address when an SMTP server is configured, else the outbox; the chat and webhook
    channels that have a URL."""

    def clear(secret: SecretStr | None) -> str | None:
        return secret.get_secret_value() if secret else None

    channels: list[Channel] = [
        EmailChannel(settings.smtp_host, settings.smtp_port, settings.smtp_sender)
        if settings.smtp_host
        else OutboxChannel()
    ]
    if url := clear(settings.slack_webhook_url):
        channels.append(SlackChannel(url))
    if url := clear(settings.wecom_webhook_url):
        channels.append(WeComChannel(url))
    if url := clear(settings.dingtalk_webhook_url):
        channels.append(DingTalkChannel(url, clear(settings.dingtalk_secret)))
    if url := clear(settings.generic_webhook_url):
        channels.append(GenericWebhookChannel(url, clear(settings.generic_webhook_secret)))
    return channels


@dataclass(frozen=True)
class Delivery:
    channel: str
    ok: bool
    attempts: int
    error: str | None = None


def deliver(
    channel: Channel,
    digest: Digest,
    *,
    max_attempts: int = 3,
    backoff_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """Bounded retries with exponential backoff; returns the outcome instead of raising, so one channel's
    failure never stops the others. The error it returns is redacted: it goes into run records and the store."""
    secrets = [getattr(channel, "url", None), getattr(channel, "secret", None)]
    error: str | None = None
    for attempt in range(1, max_attempts + 1):
        try:
            channel.send(digest)
            return Delivery(channel.name, True, attempt)
        except PermanentFailure as failure:  # the same answer every time: no point asking again
            return Delivery(channel.name, False, attempt, redact(str(failure), secrets))
        except ExternalFailure as failure:
            error = redact(str(failure), secrets)
        except Exception as failure:  # a bug in one channel must not sink the run, and a retry will not fix it
            return Delivery(channel.name, False, attempt, redact(summarise_error(failure), secrets))
        if attempt < max_attempts:
            sleep(backoff_s * 2 ** (attempt - 1))
    return Delivery(channel.name, False, max_attempts, error)
