"""HTTP intake through a real HTTP server on loopback: raw RFC 822 bodies and signed inbound-parse webhooks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from intake_support import CORPUS
from pydantic import SecretStr

from handoff.errors import HandoffError, InvalidInput, NotReady, PermissionDenied, TooLarge
from handoff.intake import service
from handoff.intake.ledger import raw_path_of
from handoff.intake.sources.http import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    accept_rfc822,
    accept_webhook,
    describe,
    sign,
    verify_signature,
)
from handoff.wiring import Parts

SECRET = "s3cret-for-tests"
STATUS = {TooLarge: 413, InvalidInput: 400, PermissionDenied: 403, NotReady: 503}  # most specific first


def _server(parts: Parts) -> ThreadingHTTPServer:
    """The smallest possible mount of the framework-free functions, as the API does it."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                if self.path == "/inbound/rfc822":
                    entry = accept_rfc822(parts, body)
                else:
                    entry = accept_webhook(parts, body, self.headers.get("Content-Type", ""), dict(self.headers))
                code, document = 202, describe(entry)
            except HandoffError as error:
                code = next((c for kind, c in STATUS.items() if isinstance(error, kind)), 500)
                document = {"detail": str(error)}
            payload = json.dumps(document).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def endpoint(crm_parts: Parts) -> Iterator[tuple[Parts, str]]:
    inbox = crm_parts.settings.inbox.model_copy(
        update={"webhook_secret": SecretStr(SECRET), "max_message_bytes": 200_000}
    )
    parts = Parts(crm_parts.settings.model_copy(update={"inbox": inbox}))
    server = _server(parts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield parts, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        parts.close()


def _signed(body: bytes, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    timestamp = str(int(at if at is not None else time.time()))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: "sha256=" + sign(secret, timestamp, body)}


def _multipart(fields: dict[str, str], files: dict[str, tuple[str | None, bytes, str]] | None = None):
    request = httpx.Request("POST", "http://x/", data=fields, files=files or None)
    return request.read(), request.headers["Content-Type"]


def test_raw_rfc822_is_accepted_and_becomes_tasks(endpoint: tuple[Parts, str]) -> None:
    parts, url = endpoint
    raw = (CORPUS / "outlook_forward_en_qp_latin1.eml").read_bytes()
    answer = httpx.post(f"{url}/inbound/rfc822", content=raw, headers={"Content-Type": "message/rfc822"})
    assert answer.status_code == 202 and answer.json()["status"] == "received"
    assert httpx.post(f"{url}/inbound/rfc822", content=raw).json()["status"] == "duplicate"
    service.process_pending(parts)
    with parts.sessions() as session:
        entry = service.get_entry(session, answer.json()["id"])
    assert entry.outcome == "tasks_created" and entry.account_id == "acc-globex" and entry.source == "http"


def test_empty_and_oversized_bodies_get_clear_errors(endpoint: tuple[Parts, str]) -> None:
    _, url = endpoint
    assert httpx.post(f"{url}/inbound/rfc822", content=b"  ").status_code == 400
    assert httpx.post(f"{url}/inbound/rfc822", content=b"x" * 300_000).status_code == 413


def test_sendgrid_style_fields_are_rebuilt_into_a_message(endpoint: tuple[Parts, str]) -> None:
    parts, url = endpoint
    headers = (
        "Message-ID: <sg-1@globex.com>\nFrom: Bob Miller <bob.miller@globex.com>\nTo: tasks@handoff.local\n"
        "Subject: Billing export\nDate: Mon, 6 Jan 2025 11:05:00 -0500\n"
    )
    body, content_type = _multipart(
        {"headers": headers, "from": "Bob Miller <bob.miller@globex.com>", "to": "tasks@handoff.local",
         "subject": "Billing export", "text": "Please send the billing export by Friday.",
         "html": "<p>Please send the billing export by Friday.</p>", "charsets": json.dumps({"text": "utf-8"})},
        files={"attachment1": ("export spec.pdf", b"%PDF-1.4 spec", "application/pdf")},
    )  # fmt: skip
    answer = httpx.post(url + "/inbound/webhook", content=body, headers={"Content-Type": content_type, **_signed(body)})
    assert answer.status_code == 202, answer.text
    assert answer.json()["message_id"] == "<sg-1@globex.com>"
    service.process_pending(parts)
    with parts.sessions() as session:
        entry = service.get_entry(session, answer.json()["id"])
    assert (entry.source, entry.outcome, entry.account_id) == ("webhook", "tasks_created", "acc-globex")
    assert entry.details["attachments"][0]["filename"] == "export spec.pdf"


def test_sendgrid_raw_and_mailgun_body_mime_are_taken_as_is(endpoint: tuple[Parts, str]) -> None:
    parts, url = endpoint
    for field, name in (("email", "big5_direct.eml"), ("body-mime", "iso2022jp_direct.eml")):
        raw = (CORPUS / name).read_bytes()
        body, content_type = _multipart({}, files={field: (None, raw, "text/plain")})  # a field, not a file
        answer = httpx.post(url, content=body, headers={"Content-Type": content_type, **_signed(body)})
        assert answer.status_code == 202, answer.text
        with parts.sessions() as session:
            relative = raw_path_of(session, answer.json()["id"])
        assert (parts.settings.raw_mail_dir / relative).read_bytes() == raw


@pytest.mark.parametrize(
    ("tamper", "status"),
    [("bad-signature", 403), ("other-secret", 403), ("stale", 403), ("no-headers", 403), ("not-multipart", 400)],
)
def test_webhooks_without_a_valid_fresh_signature_are_refused(
    endpoint: tuple[Parts, str], tamper: str, status: int
) -> None:
    parts, url = endpoint
    body, content_type = _multipart({"from": "a@globex.com", "text": "Please do X."})
    headers = {"Content-Type": content_type, **_signed(body)}
    if tamper == "bad-signature":
        body = body.replace(b"X.", b"Y.")
    elif tamper == "other-secret":
        headers.update(_signed(body, secret="guess"))
    elif tamper == "stale":
        headers.update(_signed(body, at=time.time() - 3600))
    elif tamper == "no-headers":
        headers = {"Content-Type": content_type}
    elif tamper == "not-multipart":
        body = b"{}"
        headers = {"Content-Type": "application/json", **_signed(body)}
    assert httpx.post(url, content=body, headers=headers).status_code == status
    with parts.sessions() as session:
        assert service.list_entries(session) == []


@pytest.mark.parametrize("timestamp", ["nan", "inf", "\xa0" + str(int(time.time())), "1e9", " 1700000000"])
def test_a_timestamp_must_be_plain_unix_seconds(timestamp: str) -> None:
    """ "nan" never expires (a replay hole), and a padded value is not what the sender signed: both are refused, with
    a 403 and never a crash on encoding it."""
    with pytest.raises(PermissionDenied, match="not a unix time"):
        verify_signature(SECRET, timestamp, b"body", "sha256=00")


def test_odd_but_signed_webhook_fields_still_make_a_message(endpoint: tuple[Parts, str]) -> None:
    """An unknown charset, a header the mail policy refuses, and line breaks inside fields: the mail still lands
    (once answered 500), with the fields it can keep."""
    parts, url = endpoint
    body, content_type = _multipart(
        {"headers": "Message-ID: <<<>>>\nX-Ok: yes\n", "from": "Bob <bob@globex.com>\r\nBcc: evil@x.example",
         "subject": "Billing\r\nexport", "text": "Please send the export by Friday.",
         "message-headers": json.dumps([["X-Mailgun", "a\r\nb"]]), "charsets": json.dumps({"text": "bogus-8"})},
    )  # fmt: skip
    answer = httpx.post(url, content=body, headers={"Content-Type": content_type, **_signed(body)})
    assert answer.status_code == 202, answer.text
    with parts.sessions() as session:
        entry = service.get_entry(session, answer.json()["id"])
        raw = (parts.settings.raw_mail_dir / raw_path_of(session, entry.id)).read_bytes()
    assert entry.subject == "Billing export"
    assert b"\nBcc:" not in raw and b"X-Ok: yes" in raw and b"X-Mailgun: a b" in raw  # no header smuggled in


def test_the_webhook_is_off_until_a_secret_is_configured(crm_parts: Parts) -> None:
    body, content_type = _multipart({"from": "a@globex.com", "text": "Please do X."})
    with pytest.raises(NotReady):
        accept_webhook(crm_parts, body, content_type, _signed(body))
