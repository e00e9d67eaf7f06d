"""One heavy message never stalls the inbox: while the worker reads a 25,000-line mail, SMTP and the API still answer.

Benchmark part (printed, not asserted): how long the longest write transaction held the database's write lock."""

from __future__ import annotations

import smtplib
import threading
import time

import pytest
from fastapi.testclient import TestClient
from intake_support import free_port
from sqlalchemy import event, select

from handoff.access.keys import create_key
from handoff.api.app import create_app
from handoff.intake import service
from handoff.intake.sources.smtp import smtp_inbox
from handoff.intake.worker import TaskStage
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.tasks.service import MAX_DESCRIPTION_CHARS
from handoff.wiring import Parts

VERBS = ("send", "review", "update", "check", "fix", "prepare", "schedule", "confirm")
THINGS = ("the invoice", "the contract", "the roadmap", "the SOW", "the report", "the budget")


def ask_flood(lines: int) -> bytes:
    """About 1.1 MB: 25,000 lines that each ask for something."""
    body = "\r\n".join(f"Please {VERBS[i % 8]} {THINGS[i % 6]} number {i} by Friday." for i in range(lines))
    return (
        "From: Alice Chen <alice.chen@acme-corp.com>\r\nTo: tasks@handoff.local\r\nSubject: Everything\r\n"
        f"Message-ID: <flood@acme-corp.com>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\n{body}\r\n"
    ).encode()


class WriteLockClock:
    """Per connection: from its first write statement (SQLite takes the write lock there) to commit or rollback."""

    def __init__(self, engine) -> None:
        self.started: dict[int, float] = {}
        self.longest = 0.0
        self.transactions = 0
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)

    def _statement(self, connection, _cursor, statement, *_args) -> None:
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.started.setdefault(id(connection.connection.dbapi_connection), time.perf_counter())

    def _end(self, connection) -> None:
        started = self.started.pop(id(connection.connection.dbapi_connection), None)
        if started is not None:
            self.transactions += 1
            self.longest = max(self.longest, time.perf_counter() - started)


@pytest.mark.timeout(600)
def test_a_25000_line_mail_does_not_stall_smtp_or_the_api(crm_parts: Parts) -> None:
    parts = crm_parts
    stage = TaskStage.real(parts.settings)
    clock = WriteLockClock(parts.engine)
    with transaction(parts.sessions) as session:
        admin, _ = create_key(session, role="admin", name="bench")
    headers = {"Authorization": f"Bearer {admin}"}
    port = free_port()
    flood = ask_flood(25_000)
    with smtp_inbox(parts, "127.0.0.1", port) as inbox, TestClient(create_app(parts=parts, models={})) as api:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
            assert client.sendmail("alice.chen@acme-corp.com", ["tasks@handoff.local"], flood) == {}
        with parts.sessions() as session:
            [flood_id] = [e.id for e in service.list_entries(session)]
        started = time.perf_counter()
        worker = threading.Thread(target=service.process_entries, args=(parts, [flood_id]), kwargs={"stage": stage})
        worker.start()
        deliveries = reads = 0
        while worker.is_alive():  # everyone else keeps being served while the worker chews on the flood
            small = (
                f"From: bob.miller@globex.com\r\nSubject: small {deliveries}\r\n"
                f"Message-ID: <small{deliveries}@globex.com>\r\n\r\nHi.\r\n"
            )
            with smtplib.SMTP("127.0.0.1", port, timeout=120) as client:
                assert client.sendmail("alice.chen@acme-corp.com", ["tasks@handoff.local"], small.encode()) == {}
            deliveries += 1
            response = api.get("/v1/ledger", headers=headers)
            assert response.status_code == 200, response.text
            reads += 1
            time.sleep(0.2)
        worker.join()
        took = time.perf_counter() - started
        assert inbox.handler.accepted == deliveries + 1
    with parts.sessions() as session:
        entries = {e.message_id: e for e in service.list_entries(session, limit=500)}
        big = entries["<flood@acme-corp.com>"]
        tasks = CRM_TABLES["tasks"]
        longest = session.execute(select(tasks.c.description)).scalars().all()
    assert deliveries >= 1 and reads >= 1
    assert big.outcome in ("tasks_created", "no_tasks"), (big.outcome, big.reason)
    assert all(len(d or "") <= MAX_DESCRIPTION_CHARS for d in longest)
    print(
        f"\n25,000-line mail: worker {took:.1f} s (the extractor reads at most its first 300 sentences), "
        f"{deliveries} SMTP deliveries and {reads} ledger reads meanwhile; "
        f"longest write transaction held the lock {clock.longest * 1000:.0f} ms ({clock.transactions} writes)"
    )
