"""Messages in through HTTP, the ledger out, with contact addresses masked by role and unmasked reads audited."""

from __future__ import annotations

import time

from sqlalchemy import update

from handoff.access import audit
from handoff.intake.sources.http import sign
from handoff.intake.tables import ledger
from handoff.store.db import transaction

MAIL = (
    b"From: Jane Roe <jane.roe@acme.com>\r\nTo: tasks@handoff.local\r\nSubject: Kickoff\r\n"
    b"Message-ID: <m1@acme.com>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\nPlease send the plan by Friday.\r\n"
)


def test_raw_email_lands_in_the_ledger_and_reads_are_masked_or_audited(client, make_key, auth, parts) -> None:
    integration, admin = make_key("integration"), make_key("admin")
    response = client.post("/v1/emails", content=MAIL, headers={**auth(integration), "Content-Type": "message/rfc822"})
    assert response.status_code == 202, response.text
    entry_id = response.json()["id"]

    # The worker fills the sender when it parses the message; set it as the worker would, without loading models.
    with transaction(parts.sessions) as session:
        session.execute(
            update(ledger)
            .where(ledger.c.id == entry_id)
            .values(sender_name="Jane Roe", sender_email="jane.roe@acme.com")
        )

    masked = client.get("/v1/ledger", headers=auth(integration)).json()
    assert [e["id"] for e in masked["entries"]] == [entry_id]
    assert masked["entries"][0]["sender"] == "Jane Roe <j***@acme.com>"
    with parts.sessions() as session:
        assert audit.list_entries(session) == []  # a masked read is not a read of contact data

    full = client.get(f"/v1/ledger/{entry_id}", headers=auth(admin)).json()
    assert full["sender"] == "Jane Roe <jane.roe@acme.com>"
    with parts.sessions() as session:
        entries = audit.list_entries(session)
    assert [(e.action, e.subject) for e in entries] == [(audit.READ_CONTACT_DATA, f"ledger:{entry_id}")]
    assert entries[0].actor.startswith("key:")


def test_a_nul_in_a_header_is_dropped_and_the_mail_lands_on_both_stores(client, make_key, auth, parts) -> None:
    """PostgreSQL cannot store a NUL: a Subject holding one made the raw email route answer 500 there."""
    mail = b"From: jane@acme.com\r\nSubject: Kick\x00off\r\nMessage-ID: <nul-1@acme.com>\r\n\r\nSend the plan.\x00\r\n"
    response = client.post(
        "/v1/emails", content=mail, headers={**auth(make_key("admin")), "Content-Type": "message/rfc822"}
    )
    assert response.status_code == 202, response.text
    entry = client.get(f"/v1/ledger/{response.json()['id']}", headers=auth(make_key("admin"))).json()
    assert entry["subject"] == "Kickoff"


def test_a_phone_number_in_a_subject_is_masked_too(client, make_key, auth) -> None:
    mail = b"From: jane@acme.com\r\nSubject: Call me on +49 170 5551212\r\n\r\nThanks.\r\n"
    admin = auth(make_key("admin"))
    entry_id = client.post("/v1/emails", content=mail, headers={**admin, "Content-Type": "message/rfc822"}).json()["id"]
    masked = client.get(f"/v1/ledger/{entry_id}", headers=auth(make_key("integration"))).json()
    assert masked["subject"] == "Call me on +49 *** ** 12"
    assert client.get(f"/v1/ledger/{entry_id}", headers=admin).json()["subject"] == "Call me on +49 170 5551212"
    audited = client.get("/v1/audit", params={"subject": f"ledger:{entry_id}"}, headers=admin).json()
    assert [line["action"] for line in audited] == ["read_contact_data"]  # the admin's read; the masked one is not


def test_a_json_or_form_body_is_not_taken_for_a_raw_message(client, make_key, auth) -> None:
    admin = auth(make_key("admin"))
    for kind in ("application/json", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"):
        answer = client.post("/v1/emails", content=b'{"text": "hi"}', headers={**admin, "Content-Type": kind})
        assert answer.status_code == 400 and "message/rfc822" in answer.json()["detail"], answer.text
    assert client.get("/v1/ledger", headers=admin).json()["entries"] == []  # nothing was stored


def test_empty_email_is_400_and_unknown_status_is_400(client, make_key, auth) -> None:
    key = make_key("admin")
    assert client.post("/v1/emails", content=b"", headers=auth(key)).status_code == 400
    response = client.get("/v1/ledger?status=bogus", headers=auth(key))
    assert response.status_code == 400 and "status must be one of" in response.json()["detail"]
    assert client.get("/v1/ledger/999999", headers=auth(key)).status_code == 404


def test_notes_and_retry(client, make_key, auth) -> None:
    key = make_key("pm")
    response = client.post("/v1/notes", json={"text": "ACTION: Bob to send the SOW by Friday"}, headers=auth(key))
    assert response.status_code == 202, response.text
    admin = make_key("admin")
    assert (
        client.post("/v1/ledger/retry", json={"ids": [response.json()["id"]]}, headers=auth(admin)).status_code == 409
    )
    assert client.post("/v1/ledger/retry", json={}, headers=auth(admin)).json() == {"retried": []}


def test_the_webhook_needs_a_valid_signature(parts, make_key) -> None:
    from fastapi.testclient import TestClient

    from handoff.api.app import create_app

    secret = "s3cret"
    settings = parts.settings.model_copy(deep=True)
    settings.inbox.webhook_secret = __import__("pydantic").SecretStr(secret)
    parts.settings = settings
    body = b'--XX\r\nContent-Disposition: form-data; name="email"\r\n\r\n' + MAIL + b"\r\n--XX--\r\n"
    headers = {"Content-Type": "multipart/form-data; boundary=XX"}
    with TestClient(create_app(parts=parts, models={}), raise_server_exceptions=False) as client:
        assert client.post("/v1/emails/inbound", content=body, headers=headers).status_code == 403
        stamp = str(int(time.time()))
        signed = {**headers, "X-Handoff-Timestamp": stamp, "X-Handoff-Signature": sign(secret, stamp, body)}
        response = client.post("/v1/emails/inbound", content=body, headers=signed)
        assert response.status_code == 202, response.text


def test_body_over_the_limit_is_413(parts, make_key) -> None:
    from fastapi.testclient import TestClient

    from handoff.api.app import create_app

    settings = parts.settings.model_copy(deep=True)
    settings.api.max_body_bytes = 1000
    key = make_key("admin")
    with TestClient(create_app(settings, parts=parts, models={}), raise_server_exceptions=False) as client:
        response = client.post(
            "/v1/emails",
            content=b"x" * 5000,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "message/rfc822"},
        )
        assert response.status_code == 413
        assert response.json()["error"] == "TooLarge"
        # A chunked body is counted as it streams; on a JSON route FastAPI reads it, and the refusal is still 413.
        chunked = client.post(
            "/v1/notes",
            content=(b"x" * 400 for _ in range(5)),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        assert chunked.status_code == 413 and chunked.json()["error"] == "TooLarge", chunked.text


def _chunked_post(app, chunks: list[bytes]) -> tuple[int, bytes, int]:
    """Posts a body without Content-Length (chunked, as a server passes it on); returns status, body, chunks read."""
    import asyncio

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"transfer-encoding", b"chunked")]}
    incoming = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict] = []

    async def receive() -> dict:
        return incoming.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]), len(chunks) - len(incoming)


def test_a_chunked_body_is_counted_as_it_arrives() -> None:
    from handoff.api.limits import BodyLimitMiddleware

    async def reads_everything(scope, receive, send) -> None:
        size, more = 0, True
        while more:
            message = await receive()
            size, more = size + len(message["body"]), message["more_body"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})

    limited = BodyLimitMiddleware(reads_everything, max_bytes=1000)
    status, body, chunks_read = _chunked_post(limited, [b"x" * 400] * 5)
    assert status == 413 and b"1200 bytes" in body and chunks_read == 3  # refused at the chunk that crossed the limit
    assert _chunked_post(limited, [b"x" * 400, b"x" * 500]) == (200, b"900", 2)


def test_a_locked_database_answers_503_with_retry_after_not_500(parts, make_key, auth) -> None:
    """The ingest worker's write once outlasted the busy timeout and `GET /v1/ledger` answered 500 "database is
    locked". Another connection holds the write lock here, past a short busy timeout, on both stores."""
    from fastapi.testclient import TestClient

    from handoff.access.tables import audit_log
    from handoff.api.app import create_app
    from handoff.wiring import Parts

    admin = make_key("admin")
    impatient = Parts(parts.settings.model_copy(update={"database_busy_timeout_s": 0.3}))
    app = create_app(parts=impatient, models={}, key_cache_ttl_s=0)
    with TestClient(app, raise_server_exceptions=False) as client:
        stored = client.post("/v1/emails", content=MAIL, headers={**auth(admin), "Content-Type": "message/rfc822"})
        assert stored.status_code == 202, stored.text
        with transaction(parts.sessions) as session:  # the worker has parsed it: reading its sender is audited
            session.execute(update(ledger).values(sender_name="Jane Roe", sender_email="jane.roe@acme.com"))
        with parts.engine.connect() as holder, holder.begin():  # another writer, mid-transaction
            if parts.engine.dialect.name == "sqlite":
                holder.execute(update(ledger).values(subject="held"))
            else:
                holder.exec_driver_sql(f"LOCK TABLE {ledger.name}, {audit_log.name} IN EXCLUSIVE MODE")
            again = MAIL.replace(b"<m1@acme.com>", b"<m2@acme.com>")
            for response in (
                client.get("/v1/ledger", headers=auth(admin)),
                client.post("/v1/emails", content=again, headers={**auth(admin), "Content-Type": "message/rfc822"}),
            ):
                assert response.status_code == 503, response.text
                assert response.headers["Retry-After"] == "5"
                assert response.json()["error"] == "Busy"
        assert client.get("/v1/ledger", headers=auth(admin)).status_code == 200  # the lock is gone: served again
    impatient.close()
