"""The event catalogue, the envelope and its signature, the retry schedule and target checks: no I/O."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import urllib.parse
from datetime import datetime, timedelta
from typing import Any

from handoff.errors import InvalidInput

EVENT_TYPES = (
    "task.suggested",
    "task.accepted",
    "task.rejected",
    "task.synced",
    "estimate.created",
    "alert.opened",
    "alert.updated",
    "digest.sent",
    "message.failed",
    "message.quarantined",
)
SIGNATURE_HEADER = "X-Handoff-Signature"
TIMESTAMP_HEADER = "X-Handoff-Timestamp"
EVENT_ID_HEADER = "X-Handoff-Event-Id"
SECRET_PREFIX = "whsec_"
MAX_TARGET_URL_CHARS = 2_000


def envelope(event_id: str, event_type: str, time: datetime, data: dict[str, Any]) -> bytes:
    """The body a subscriber receives; the same event id on every attempt, for the receiver's dedupe."""
    document = {"id": event_id, "type": event_type, "time": time.isoformat(), "data": data}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256 over `timestamp + "." + body`: the timestamp is signed so a replay is visible."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does (and the tests do): recompute, compare in constant time."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def backoff(attempts: int, *, first_s: float, max_s: float) -> timedelta:
    """Wait before attempt `attempts + 1`: doubling from `first_s`, capped at `max_s` (1 min … 2 h by default)."""
    return timedelta(seconds=min(max_s, first_s * 2 ** max(0, attempts - 1)))


def wanted_events(events: list[str]) -> list[str]:
    """The subscription's event types, deduplicated in order; an unknown type is a 400 that lists the known ones."""
    chosen = list(dict.fromkeys(name.strip() for name in events))
    unknown = [name for name in chosen if name not in EVENT_TYPES]
    if not chosen:
        raise InvalidInput("events is empty: name at least one of " + ", ".join(EVENT_TYPES))
    if unknown:
        raise InvalidInput(f"unknown event type(s) {unknown}; known: {', '.join(EVENT_TYPES)}")
    return chosen


def check_target_url(url: str) -> urllib.parse.SplitResult:
    """An absolute http(s) URL with a host and no credentials in it (they would be logged and shown in lists)."""
    if len(url) > MAX_TARGET_URL_CHARS:
        raise InvalidInput(f"target_url is longer than {MAX_TARGET_URL_CHARS} characters")
    try:
        parts = urllib.parse.urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as error:
        raise InvalidInput(f"target_url is not a URL: {error}") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("target_url must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise InvalidInput("target_url must not carry a user or password; authenticate the signature instead")
    return parts


def is_private_address(address: str) -> bool:
    """Loopback, private, link-local (cloud metadata at 169.254.169.254), reserved, multicast or unspecified."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast
