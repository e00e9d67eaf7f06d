"""No secret reaches a log record, a task's notes or an API answer: an LLM endpoint on loopback echoes the key back."""

from __future__ import annotations

import json
import logging
import secrets

from pydantic import SecretStr
from sqlalchemy import select

from handoff.intake.worker import Worker
from handoff.settings import LlmSettings
from handoff.tasks.tables import task_extractions
from handoff.testing.http_receiver import HttpReceiver, ReceivedRequest, Reply
from handoff.wiring import Parts

MAIL = (
    b"From: Dana Wu <dana@acme.example>\r\nTo: tasks@handoff.local\r\nSubject: SOW\r\n"
    b"Message-ID: <leak-1@acme.example>\r\nDate: Wed, 4 Mar 2026 09:00:00 +0000\r\n\r\n"
    b"Hi Anna,\r\n\r\nCould you please send me the revised SOW by Friday?\r\n\r\nThanks,\r\nDana\r\n"
)


def echoing_401(request: ReceivedRequest) -> Reply:
    """What a careless gateway does: the 401 body and a header repeat the Authorization it was sent."""
    authorization = request.headers.get("authorization", "")
    body = {"error": {"message": f"Incorrect API key provided: {authorization}", "type": "invalid_request_error"}}
    return Reply(401, body, headers={"X-Echo-Authorization": authorization})


def test_a_401_that_echoes_the_key_leaves_it_in_no_log_note_or_answer(client, make_key, auth, parts, caplog) -> None:
    key = "sk-live-" + secrets.token_hex(16)
    caplog.set_level(logging.DEBUG)  # openai logs response headers at debug, httpx the request line at info
    with HttpReceiver() as llm:
        llm.check = echoing_401
        settings = parts.settings.model_copy(
            update={"llm": LlmSettings(base_url=llm.url("/v1"), api_key=SecretStr(key), max_retries=0, timeout_s=5)}
        )
        leaky = Parts(settings)
        answer = client.post("/v1/emails", content=MAIL, headers={**auth(make_key()), "Content-Type": "message/rfc822"})
        assert answer.status_code == 202, answer.text
        assert Worker(leaky).process_pending() == 1
        echoed = llm.received("/v1/chat/completions")
    # The endpoint really was asked with the key, and really echoed it: the test can fail.
    assert echoed and echoed[0].headers["authorization"] == f"Bearer {key}"

    with parts.sessions() as session:
        notes = [row.notes for row in session.execute(select(task_extractions.c.notes))]
    assert notes, "the offline fallback still made the SOW task"
    flat_notes = json.dumps(notes)
    assert "AuthenticationError: HTTP 401 Unauthorized" in flat_notes
    assert key not in flat_notes and "Bearer" not in flat_notes

    logged = [record for record in caplog.records if record.name.startswith(("handoff", "httpx", "openai"))]
    assert any("falling back to offline" in record.getMessage() for record in logged)
    for record in caplog.records:
        assert key not in record.getMessage(), record.name
        assert key not in (record.exc_text or "")
    assert key not in caplog.text

    admin = auth(make_key())
    for path in ("/v1/tasks", "/v1/ledger"):
        listed = client.get(path, headers=admin)
        assert listed.status_code == 200 and key not in listed.text
    task_id = client.get("/v1/tasks", headers=admin).json()["tasks"][0]["id"]
    assert key not in client.get(f"/v1/tasks/{task_id}", headers=admin).text
