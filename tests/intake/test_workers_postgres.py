"""Several ingest workers in separate processes over one PostgreSQL database: every message processed exactly once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from intake_support import CORPUS, seed_crm
from sqlalchemy import func, select

from handoff.intake import service
from handoff.settings import Settings
from handoff.store.crm_tables import CRM_TABLES
from handoff.tasks.tables import task_links
from handoff.wiring import Parts

WORKER = Path(__file__).parent / "pool_worker.py"
WORKERS = 3
MESSAGES = 48
TEMPLATES = ("gmail_forward_en.eml", "outlook_forward_zh_gbk.eml", "apple_mail_forward.eml", "big5_direct.eml",
             "thunderbird_forward.eml", "auto_reply_ooo.eml")  # fmt: skip


def _unique(raw: bytes, index: int) -> bytes:
    """A corpus mail made a message of its own (Message-ID and one header), so none is a duplicate of another."""
    raw = re.sub(rb"(?im)^message-id:.*$", f"Message-ID: <pool-{index}@handoff.test>".encode(), raw, count=1)
    return raw.replace(b"\r\n\r\n", f"\r\nX-Pool: {index}\r\n\r\n".encode(), 1)


@pytest.mark.postgres
def test_workers_in_separate_processes_process_each_message_exactly_once(tmp_path: Path, postgres_url: str) -> None:
    home = tmp_path / "home"
    parts = Parts(Settings(home=home, database_url=postgres_url, _env_file=None))
    parts.migrate()
    seed_crm(parts)
    templates = [(CORPUS / name).read_bytes() for name in TEMPLATES]
    ids = [service.receive_raw(parts, _unique(templates[i % len(templates)], i), "test").id for i in range(MESSAGES)]

    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(home), postgres_url, f"w{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        for n in range(WORKERS)
    ]
    started = time.monotonic()
    while not all((home / f"w{n}.ready").exists() for n in range(WORKERS)):
        dead = [w for w in workers if w.poll() is not None]
        assert not dead, dead[0].stdout.read().decode() if dead[0].stdout else "a worker exited early"
        assert time.monotonic() - started < 240, "workers never became ready"
        time.sleep(0.1)
    (home / "go").write_text("go")
    for worker in workers:
        output, _ = worker.communicate(timeout=300)  # waits, and closes the pipe
        assert worker.returncode == 0, output.decode()
    reports = [json.loads((home / f"w{n}.json").read_text()) for n in range(WORKERS)]

    with parts.sessions() as session:
        entries = service.get_entries(session, ids)
        links = dict(
            session.execute(
                select(task_links.c.ledger_id, func.count()).where(task_links.c.ledger_id.in_(ids))
                .group_by(task_links.c.ledger_id)
            ).all()
        )  # fmt: skip
        created_links = session.scalar(select(func.count()).where(task_links.c.how == "created"))
        task_rows = session.scalar(select(func.count()).select_from(CRM_TABLES["tasks"]))
    parts.close()

    # Every message finished, each claimed once (attempts 1: no second worker ever took it), none failed.
    assert len(entries) == MESSAGES and all(e.done for e in entries.values())
    assert {e.attempts for e in entries.values()} == {1}
    assert [(e.outcome, e.error) for e in entries.values() if e.outcome in ("failed", "duplicate")] == []
    assert sum(r["finished"] for r in reports) == MESSAGES
    # The task stage saw each message in one worker only, and saw every message that was not screened out.
    seen = [i for r in reports for i in set(r["recorded"])]
    assert len(seen) == len(set(seen))
    assert set(seen) == {i for i, e in entries.items() if e.outcome != "rejected"}
    assert sum(1 for r in reports if r["finished"]) >= 2, reports  # they really worked side by side
    # Exactly once in the task tables: one link per task a message touched, one task per `created` link.
    assert {i: links.get(i, 0) for i in ids} == {i: len(e.task_ids) for i, e in entries.items()}
    assert task_rows == created_links > 0


def _start(home: Path, url: str, name: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(home), url, name, *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _wait_for(path: Path, process: subprocess.Popen, limit_s: float = 240) -> None:
    started = time.monotonic()
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"worker exited early: {process.stdout.read().decode() if process.stdout else ''}")
        assert time.monotonic() - started < limit_s, f"{path.name} never appeared"
        time.sleep(0.05)


@pytest.mark.postgres
def test_two_workers_one_killed_mid_transaction_every_message_exactly_once(tmp_path: Path, postgres_url: str) -> None:
    """Two worker processes share one PostgreSQL; one is SIGKILLed inside a task transaction after committing a
    batch. The other goes on, takes over the dead one's claim when its lease runs out, and nothing is done twice."""
    home = tmp_path / "home"
    parts = Parts(Settings(home=home, database_url=postgres_url, _env_file=None))
    parts.migrate()
    seed_crm(parts)
    templates = [(CORPUS / name).read_bytes() for name in TEMPLATES]
    ids = [service.receive_raw(parts, _unique(templates[i % len(templates)], i), "test").id for i in range(24)]

    # Leases of 3 s: the survivor may take the victim's rows over soon after the kill, never while it is alive.
    victim, survivor = _start(home, postgres_url, "victim", "6", "3"), _start(home, postgres_url, "survivor", "0", "3")
    for name, process in (("victim", victim), ("survivor", survivor)):
        _wait_for(home / f"{name}.ready", process)
    (home / "go").write_text("go")
    _wait_for(home / "victim.hanging", victim)
    hung_on = int((home / "victim.hanging").read_text())
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.wait(timeout=30) == -signal.SIGKILL
    with parts.sessions() as session:
        assert not service.get_entry(session, hung_on).done, "the killed transaction must not have committed"

    started = time.monotonic()
    while True:
        with parts.sessions() as session:
            entries = service.get_entries(session, ids)
        if all(e.done for e in entries.values()):
            break
        assert survivor.poll() is None, survivor.stdout.read().decode() if survivor.stdout else ""
        assert time.monotonic() - started < 240, [i for i, e in entries.items() if not e.done]
        time.sleep(0.2)
    (home / "stop").write_text("stop")
    assert survivor.wait(timeout=60) == 0, survivor.stdout.read().decode() if survivor.stdout else ""
    for process in (victim, survivor):
        if process.stdout is not None:
            process.stdout.close()
    report = json.loads((home / "survivor.json").read_text())
    with parts.sessions() as session:
        links = dict(
            session.execute(
                select(task_links.c.ledger_id, func.count()).where(task_links.c.ledger_id.in_(ids))
                .group_by(task_links.c.ledger_id)
            ).all()
        )  # fmt: skip
        created_links = session.scalar(select(func.count()).where(task_links.c.how == "created"))
        task_rows = session.scalar(select(func.count()).select_from(CRM_TABLES["tasks"]))
    parts.close()

    assert [(e.outcome, e.error) for e in entries.values() if e.outcome in ("failed", "duplicate")] == []
    # The hung message (and its batch) was claimed twice, by the victim and then by the survivor; no other one was.
    assert entries[hung_on].attempts == 2 and hung_on in report["recorded"]
    # No message is claimed more than twice. (Which others were retried depends on timing: under a loaded machine a
    # live worker's own lease may lapse and be taken over; exactly-once below holds either way.)
    assert {e.attempts for e in entries.values()} <= {1, 2}
    # The victim's committed batch stays done and is not repeated: one link per task each message touched.
    assert sum(1 for i in ids if entries[i].attempts == 1 and i not in report["recorded"]) >= 4
    assert {i: links.get(i, 0) for i in ids} == {i: len(e.task_ids) for i, e in entries.items()}
    assert task_rows == created_links > 0
