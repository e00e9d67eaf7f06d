"""HTTP intake without a web framework (the API mounts these): raw `message/rfc822` bodies, and the multipart
"inbound parse" webhook shape of mail providers (SendGrid-style fields or raw `email`, Mailgun-style `body-mime`),
signed with HMAC-SHA256 over timestamp + body."""

from __future__ import annotations

import contextlib
import email
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs

from handoff.errors import InvalidInput, NotReady, PermissionDenied, TooLarge
from handoff.intake.charsets import decode_bytes
from handoff.intake.ledger import LedgerEntry

SIGNATURE_HEADER = "X-Handoff-Signature"  # hex HMAC-SHA256 of timestamp + body, optionally prefixed "sha256="
TIMESTAMP_HEADER = "X-Handoff-Timestamp"  # unix seconds
MAX_CLOCK_SKEW_S = 300  # older (or future) signatures are refused: a captured request cannot be replayed later
_UNIX_TIME = re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a sender puts in `X-Handoff-Signature` (what tests and integrators compute)."""
    return hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | None, timestamp: str | None, body: bytes, signature: str | None, now: float | None = None
) -> None:
    """Raises unless `signature` is the HMAC of timestamp + body under `secret` and the timestamp is fresh."""
    if not secret:
        raise NotReady("the inbound webhook is off: set HANDOFF_INBOX__WEBHOOK_SECRET")
    if not timestamp or not signature:
        raise PermissionDenied(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    if not _UNIX_TIME.fullmatch(timestamp):  # digits only: "nan" would never expire, "\xa0123" is not what was signed
        raise PermissionDenied(f"{TIMESTAMP_HEADER} is not a unix time")
    sent = float(timestamp)
    if abs((now if now is not None else time.time()) - sent) > MAX_CLOCK_SKEW_S:
        raise PermissionDenied("webhook signature expired: timestamp is more than 5 minutes off")
    given = signature.strip().removeprefix("sha256=").lower()
    # compare_digest takes the same time wherever the strings differ, so the signature cannot be guessed byte by byte.
    if not hmac.compare_digest(sign(secret, timestamp, body), given):
        raise PermissionDenied("webhook signature does not match")


def parse_form(body: bytes, content_type: str) -> dict[str, list[tuple[bytes, str | None, str | None]]]:
    """multipart/form-data or urlencoded fields: name -> [(value bytes, filename, content type)]."""
    kind = content_type.split(";", 1)[0].strip().lower()
    fields: dict[str, list[tuple[bytes, str | None, str | None]]] = {}
    if kind == "application/x-www-form-urlencoded":
        try:
            decoded = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError as error:
            raise InvalidInput("webhook form is not UTF-8") from error
        for name, values in decoded.items():
            fields[name] = [(value.encode("utf-8"), None, None) for value in values]
        return fields
    if kind != "multipart/form-data" or "boundary=" not in content_type.lower():
        raise InvalidInput(f"expected multipart/form-data with a boundary, got {content_type or 'no content type'}")
    form = email.message_from_bytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\nMIME-Version: 1.0\r\n\r\n" + body,
        policy=policy.compat32,
    )
    if not form.is_multipart():
        raise InvalidInput("malformed multipart body")
    for part in form.get_payload():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True)
        if payload is None:
            payload = str(part.get_payload()).encode("utf-8", "surrogateescape")
        filename = part.get_filename()
        fields.setdefault(str(name), []).append((payload, filename, part.get_content_type() if filename else None))
    if not fields:
        raise InvalidInput("the webhook form has no fields")
    return fields


def webhook_to_rfc822(body: bytes, content_type: str) -> bytes:
    """The message a webhook describes, as RFC 822 bytes: the raw copy when the provider sent one, else rebuilt."""
    fields = parse_form(body, content_type)

    def text(name: str) -> str | None:
        values = fields.get(name)
        if not values:
            return None
        value, _, _ = values[0]
        return decode_bytes(value, _sendgrid_charsets(fields).get(name))[0]  # never fails, whatever the label

    for raw_field in ("email", "body-mime"):  # SendGrid "send raw", Mailgun's MIME route
        if fields.get(raw_field):
            return fields[raw_field][0][0]
    message = EmailMessage(policy=policy.SMTP)
    header_block = text("headers")
    if header_block:
        parsed = email.message_from_string(header_block.strip() + "\n\n", policy=policy.compat32)
        for name, value in parsed.items():
            if name.lower() not in ("content-type", "content-transfer-encoding", "mime-version"):
                _set_header(message, name, value)
    for name, value in _mailgun_headers(text("message-headers")):
        if name.lower() not in ("content-type", "content-transfer-encoding", "mime-version") and name not in message:
            _set_header(message, name, value)
    for header, names in (("From", ("from", "sender")), ("To", ("to", "recipient")), ("Subject", ("subject",))):
        value = next((text(n) for n in names if text(n)), None)
        if value and header not in message:
            _set_header(message, header, value)
    plain = text("text") or text("body-plain")
    html = text("html") or text("body-html")
    if not (plain or html or "From" in message):
        raise InvalidInput("the webhook carries no message: expected email, body-mime, or from/text/html fields")
    message.set_content(plain or "")
    if html:
        message.add_alternative(html, subtype="html")
    for values in fields.values():
        for payload, filename, kind in values:
            if filename:
                maintype, _, subtype = (kind or "application/octet-stream").partition("/")
                message.add_attachment(payload, maintype=maintype, subtype=subtype or "octet-stream", filename=filename)
    return message.as_bytes()


def _set_header(message: EmailMessage, name: str, value: str) -> None:
    """A header the provider described, on one line; one the mail policy cannot hold (a malformed Message-ID, a
    bad name) is left out, so the rest of the message still reaches the ledger. The standard library's header parser
    raises more than `MessageError` on some malformed values (IndexError on `<<<>>>`), hence the wide net."""
    with contextlib.suppress(Exception):
        message[name] = " ".join(str(value).splitlines())


def _sendgrid_charsets(fields: Mapping[str, list[tuple[bytes, str | None, str | None]]]) -> dict[str, str]:
    raw = fields.get("charsets")
    if not raw:
        return {}
    try:
        charsets = json.loads(raw[0][0].decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {}
    return {k: v for k, v in charsets.items() if isinstance(v, str)} if isinstance(charsets, dict) else {}


def _mailgun_headers(value: str | None) -> list[tuple[str, str]]:
    if not value:
        return []
    try:
        pairs = json.loads(value)
    except ValueError:
        return []
    return [(str(p[0]), str(p[1])) for p in pairs if isinstance(p, list) and len(p) == 2]


def accept_rfc822(parts: Any, body: bytes) -> LedgerEntry:
    """POST of a raw message (`Content-Type: message/rfc822`): durable in the ledger when this returns."""
    from handoff.intake.service import receive_raw

    if not body.strip():
        raise InvalidInput("the request body is empty; expected an RFC 822 message")
    return receive_raw(parts, body, "http", refuse_oversize=True)


def accept_webhook(
    parts: Any, body: bytes, content_type: str, headers: Mapping[str, str], now: float | None = None
) -> LedgerEntry:
    """POST from a mail provider's inbound-parse webhook: signature first, then the message into the ledger."""
    from handoff.intake.service import receive_raw

    limit = parts.settings.inbox.max_message_bytes
    if len(body) > limit:
        raise TooLarge(f"webhook body of {len(body)} bytes is over the {limit}-byte limit")
    lowered = {key.lower(): value for key, value in headers.items()}
    secret = parts.settings.inbox.webhook_secret
    verify_signature(
        secret.get_secret_value() if secret else None,
        lowered.get(TIMESTAMP_HEADER.lower()),
        body,
        lowered.get(SIGNATURE_HEADER.lower()),
        now,
    )
    return receive_raw(parts, webhook_to_rfc822(body, content_type), "webhook", refuse_oversize=True)


def describe(entry: LedgerEntry) -> dict[str, Any]:
    """What an HTTP answer says about an accepted message."""
    return {"id": entry.id, "status": entry.display_status, "message_id": entry.message_id, "reason": entry.reason}
