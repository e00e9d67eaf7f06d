"""A worker killed by SIGKILL mid-transaction loses nothing: after a restart each message is processed exactly once."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest
from intake_support import CORPUS, free_port
from sqlalchemy import func, select

from handoff.intake import service
from handoff.intake.sources.smtp import smtp_inbox
from handoff.tasks.tables import task_links
from handoff.wiring import Parts

pytestmark = pytest.mark.slow  # worker processes started, SIGKILLed and restarted

WORKER = Path(__file__).parent / "crash_worker.py"
MAILS = ("gmail_forward_en.eml", "outlook_forward_zh_gbk.eml", "nested_forward.eml", "big5_direct.eml",
         "apple_mail_forward.eml", "winmail_dat.eml")  # fmt: skip


def _worker(home: Path, hang_at: int, lease_s: float, die_on: int | None = None) -> subprocess.Popen:
    extra = [] if die_on is None else [str(die_on)]
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(home), str(hang_at), str(lease_s), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_for(path: Path, process: subprocess.Popen, limit_s: float = 120) -> None:
    started = time.monotonic()
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"worker exited early: {process.stdout.read().decode() if process.stdout else ''}")
        if time.monotonic() - started > limit_s:
            raise AssertionError(f"{path.name} never appeared")
        time.sleep(0.05)


def _deliver(parts: Parts) -> list[int]:
    """The mails, delivered through the real SMTP inbox on loopback as staff forward them; their ledger ids."""
    port = free_port()
    with smtp_inbox(parts, "127.0.0.1", port), smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        for name in MAILS:
            client.sendmail("sam@handoff-demo.com", ["tasks@handoff.local"], (CORPUS / name).read_bytes())
    with parts.sessions() as session:
        ids = sorted(e.id for e in service.list_entries(session) if e.source == "smtp")
    assert len(ids) == len(MAILS)
    return ids


def _links_per_message(parts: Parts, ids: list[int]) -> dict[int, int]:
    query = select(task_links.c.ledger_id, func.count()).where(task_links.c.ledger_id.in_(ids))
    with parts.sessions() as session:
        per_ledger = dict(session.execute(query.group_by(task_links.c.ledger_id)).all())
    return {i: per_ledger.get(i, 0) for i in ids}


def test_sigkill_mid_processing_loses_nothing_and_repeats_nothing(crm_parts: Parts) -> None:
    parts = crm_parts
    home = parts.settings.resolved_home
    ids = _deliver(parts)
    victim = _worker(home, hang_at=3, lease_s=1.0)
    _wait_for(home / "hanging", victim)
    hung_on = int((home / "hanging").read_text())
    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=30)  # waits, and closes the output pipe
    assert victim.returncode == -signal.SIGKILL

    with parts.sessions() as session:
        before = {e.id: e for e in (service.get_entry(session, i) for i in ids)}
    assert not before[hung_on].done, "the killed transaction must not have committed"
    assert sum(e.done for e in before.values()) == 2  # the two committed before the kill stay done

    survivor = _worker(home, hang_at=0, lease_s=1.0)
    _wait_for(home / "finished", survivor)
    survivor.communicate(timeout=60)
    # The victim's lease (1 s) may still have run when the survivor claimed; what it skipped, a later pass takes.
    started = time.monotonic()
    while True:
        service.process_pending(parts)
        with parts.sessions() as session:
            after = {i: service.get_entry(session, i) for i in ids}
        if all(e.done for e in after.values()) or time.monotonic() - started > 60:
            break
        time.sleep(0.2)
    assert all(e.done for e in after.values())
    assert [e.outcome for e in after.values() if e.outcome in ("failed", "duplicate")] == []
    assert after[hung_on].attempts == 2
    # Exactly once: each message's task links were written by one attempt only (a repeat would double them).
    per_ledger = _links_per_message(parts, ids)
    assert per_ledger == {i: len(e.task_ids) for i, e in after.items()}
    assert sum(per_ledger.values()) > 0


def test_a_message_that_kills_every_worker_fails_alone_not_with_its_batch(crm_parts: Parts) -> None:
    """Batches share a transaction: a poison message kills its batch once, then every row of it is retried alone."""
    parts = crm_parts
    home = parts.settings.resolved_home
    ids = _deliver(parts)
    poison = ids[3]  # in the second batch of two, after its batchmate's tasks were written (uncommitted)
    deaths = 0
    for _ in range(10):
        worker = _worker(home, hang_at=0, lease_s=0.5, die_on=poison)
        worker.communicate(timeout=180)
        if worker.returncode == 0:
            break
        assert worker.returncode == -signal.SIGKILL
        deaths += 1
        time.sleep(0.6)  # the dead worker's lease runs out
    with parts.sessions() as session:
        after = {i: service.get_entry(session, i) for i in ids}
    assert after[poison].outcome == "failed" and "gave up after 5 attempts" in (after[poison].error or "")
    assert deaths == 5  # the batch once, then the poison alone four times; never its batchmate again
    innocent = {i: e for i, e in after.items() if i != poison}
    assert all(e.done and e.outcome not in ("failed", "duplicate") for e in innocent.values()), innocent
    assert after[ids[2]].attempts == 2, {
        i: (e.attempts, e.outcome) for i, e in after.items()
    }  # the batchmate died once with it, then went through alone
    assert {after[i].attempts for i in (ids[0], ids[1], ids[4], ids[5])} == {1}
    per_ledger = _links_per_message(parts, ids)
    assert per_ledger == {i: len(e.task_ids) for i, e in after.items()}
    assert per_ledger[poison] == 0 and sum(per_ledger.values()) > 0
