"""The deliverer: due deliveries claimed, rendered for the subscriber's key, signed and POSTed; retried, or ended.

At least once: a delivery is marked sent only after the target answered 2xx, so a crash between the answer and the
mark sends it again (with the same event id, for the receiver's dedupe). No transaction is held over the network.
A 410 Gone removes the subscription (Zapier's REST-hook contract); anything else is tried again with a doubling
wait up to `hooks.max_attempts`, then the delivery is `failed`."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from handoff import __version__
from handoff.access.disclosure import disclosure_for
from handoff.access.keys import principal_by_id
from handoff.clock import Clock, utcnow
from handoff.errors import InvalidInput
from handoff.events import outbox
from handoff.events.model import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    backoff,
    check_target_url,
    envelope,
    is_private_address,
    sign,
)
from handoff.events.render import shown
from handoff.redaction import redact, register_secrets, summarise_error
from handoff.store.db import transaction

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.settings import HooksSettings

log = logging.getLogger(__name__)
MAX_ERROR_CHARS = 500
Resolver = Callable[..., list]


def check_reachable(url: str, *, allow_private: bool, resolve: Resolver = socket.getaddrinfo) -> str | None:
    """A well-formed http(s) URL whose host resolves only to public addresses, unless private ones are allowed
    (`HANDOFF_HOOKS__ALLOW_PRIVATE_TARGETS`): a subscriber must not turn the service into a probe of its own network
    or of a cloud metadata endpoint. Checked at subscription and again before each delivery.

    Returns the address that was checked (None where private targets are allowed): the delivery connects to that
    address, so a name that resolves to a public address for the check and to 127.0.0.1 a moment later (DNS
    rebinding) still reaches only the address that was checked."""
    parts = check_target_url(url)
    if allow_private:
        return None
    host = parts.hostname or ""
    try:
        found = resolve(host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise InvalidInput(f"target_url's host {host!r} does not resolve: {error}") from error
    private = sorted({info[4][0] for info in found if is_private_address(info[4][0])})
    if private or not found:
        raise InvalidInput(
            f"target_url's host {host!r} is a private address ({', '.join(private) or 'none found'}); "
            "private targets need HANDOFF_HOOKS__ALLOW_PRIVATE_TARGETS=true"
        )
    return str(found[0][4][0])


def pinned_post(client: httpx.Client, url: str, address: str | None, **kwargs: Any) -> httpx.Response:
    """POST to `url` over a connection to `address` (the one `check_reachable` checked), with the URL's own name as
    Host and, for https, as the TLS server name the certificate is verified against."""
    if address is None:
        return client.post(url, **kwargs)
    parts = check_target_url(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = literal + (f":{parts.port}" if parts.port else "")
    host_header = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    headers = {**kwargs.pop("headers", {}), "Host": host_header}
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    return client.post(parts._replace(netloc=netloc).geturl(), headers=headers, extensions=extensions, **kwargs)


@dataclass
class DeliveryReport:
    counts: dict[str, int] = field(default_factory=lambda: {"sent": 0, "pending": 0, "failed": 0, "cancelled": 0})

    def add(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1


def _prepare(session: Session, delivery_id: int) -> tuple[outbox.Claimed, bytes] | str:
    """(the delivery, its body), or why it is not sent at all (the row is then finished here)."""
    claimed = outbox.load_claimed(session, delivery_id)
    if claimed.subscription_status != "active":
        return "the subscription was removed"
    principal = principal_by_id(session, claimed.key_id)
    if principal is None:
        outbox.remove_subscription(session, claimed.subscription_id, reason="its API key was revoked or expired")
        return "the subscription's API key was revoked or expired"
    view = disclosure_for(session, principal)
    data = shown(view, claimed.event_type, claimed.subject, claimed.account_id, claimed.data)
    if data is None:
        return "the resource is outside the subscribing key's accounts"
    return claimed, envelope(claimed.event_id, claimed.event_type, claimed.created_at, data)


def _post(
    client: httpx.Client, claimed: outbox.Claimed, body: bytes, *, allow_private: bool, now: datetime
) -> tuple[int | None, str | None]:
    """(status code or None, error or None) of one attempt."""
    register_secrets([claimed.secret])  # never in a log line or a stored error, whatever an echoing target sends
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"handoff/{__version__}",
        EVENT_ID_HEADER: claimed.event_id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(claimed.secret, timestamp, body),
    }
    try:
        address = check_reachable(claimed.target_url, allow_private=allow_private)
        response = pinned_post(client, claimed.target_url, address, content=body, headers=headers)
    except InvalidInput as error:
        return None, redact(str(error))[:MAX_ERROR_CHARS]
    except httpx.HTTPError as error:
        return None, summarise_error(error)[:MAX_ERROR_CHARS]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    text = response.text[:200].strip()
    return response.status_code, redact(f"HTTP {response.status_code}" + (f": {text}" if text else ""))[
        :MAX_ERROR_CHARS
    ]


def deliver_pending(
    sessions: sessionmaker[Session],
    settings: HooksSettings,
    *,
    client: httpx.Client,
    clock: Clock = utcnow,
) -> DeliveryReport:
    """One pass: every due delivery claimed and attempted once, one at a time; a failure never stops the others."""
    report = DeliveryReport()
    for delivery_id in outbox.claim(sessions, limit=settings.batch_size, lease_s=settings.lease_s, now=clock()):
        try:
            with transaction(sessions) as session:
                prepared = _prepare(session, delivery_id)
                if isinstance(prepared, str):
                    outbox.finish(session, delivery_id, status="cancelled", now=clock(), error=prepared)
                    report.add("cancelled")
                    continue
        except Exception as error:  # a bug rendering one event must not hold up the others; it is tried again
            log.exception("hook delivery %s could not be prepared", delivery_id)
            with transaction(sessions) as session:
                wait = backoff(1, first_s=settings.first_backoff_s, max_s=settings.max_backoff_s)
                outbox.finish(
                    session, delivery_id, status="pending", now=clock(), error=summarise_error(error),
                    next_attempt_at=clock() + wait,
                )  # fmt: skip
            report.add("pending")
            continue
        claimed, body = prepared
        status_code, error = _post(client, claimed, body, allow_private=settings.allow_private_targets, now=clock())
        now = clock()
        with transaction(sessions) as session:
            if status_code is not None and 200 <= status_code < 300:
                outbox.finish(session, delivery_id, status="sent", now=now, status_code=status_code)
                report.add("sent")
            elif status_code == 410:
                outbox.finish(session, delivery_id, status="cancelled", now=now, status_code=410, error=error)
                outbox.remove_subscription(session, claimed.subscription_id, reason="the target answered 410 Gone")
                report.add("cancelled")
            elif claimed.attempts >= settings.max_attempts:
                outbox.finish(session, delivery_id, status="failed", now=now, status_code=status_code, error=error)
                report.add("failed")
            else:
                wait = backoff(claimed.attempts, first_s=settings.first_backoff_s, max_s=settings.max_backoff_s)
                outbox.finish(
                    session,
                    delivery_id,
                    status="pending",
                    now=now,
                    status_code=status_code,
                    error=error,
                    next_attempt_at=now + wait,
                )
                report.add("pending")
    return report


def make_client(settings: HooksSettings) -> httpx.Client:
    """Redirects are not followed: a 3xx to a private address would step around `check_reachable`."""
    return httpx.Client(timeout=settings.timeout_s, follow_redirects=False, trust_env=False)


def run_deliverer(sessions: sessionmaker[Session], settings: HooksSettings, stop_event: threading.Event) -> None:
    """The loop `handoff up` runs beside the worker: deliver what is due, then wait."""
    with make_client(settings) as client:
        while not stop_event.is_set():
            try:
                report = deliver_pending(sessions, settings, client=client)
                if any(report.counts.values()):
                    log.info("hooks: %s", report.counts)
            except Exception as error:  # the store may be busy or down; the rows wait, the loop goes on
                log.warning("hook delivery failed: %s", summarise_error(error))
            stop_event.wait(settings.deliver_interval_s)
