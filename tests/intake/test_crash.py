"""A worker killed by SIGKILL mid-transaction loses nothing: after a restart each message is processed exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from intake_support import CORPUS, keyword_stage
from sqlalchemy import func, select

from handoff.intake import service
from handoff.store.crm_tables import CRM_TABLES
from handoff.wiring import Parts

WORKER = Path(__file__).parent / "crash_worker.py"
MAILS = ("gmail_forward_en.eml", "outlook_forward_zh_gbk.eml", "nested_forward.eml", "big5_direct.eml",
         "apple_mail_forward.eml", "winmail_dat.eml")  # fmt: skip


def _worker(home: Path, hang_at: int, lease_s: float, stage: str = "keyword") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(home), str(hang_at), stage, str(lease_s)],
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


def run_crash_and_recover(parts: Parts, stage: str) -> dict[int, list[str]]:
    home = parts.settings.resolved_home
    ids = [service.receive_raw(parts, (CORPUS / name).read_bytes(), "test").id for name in MAILS]
    victim = _worker(home, hang_at=3, lease_s=1.0, stage=stage)
    _wait_for(home / "hanging", victim)
    hung_on = int((home / "hanging").read_text())
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL

    with parts.sessions() as session:
        before = {e.id: e for e in (service.get_entry(session, i) for i in ids)}
    assert not before[hung_on].done, "the killed transaction must not have committed"
    assert sum(e.done for e in before.values()) == 2  # the two committed before the kill stay done

    survivor = _worker(home, hang_at=0, lease_s=1.0, stage=stage)
    _wait_for(home / "finished", survivor)
    survivor.wait(timeout=60)
    # The victim's lease (1 s) may still run when the survivor starts; whatever it skipped, a second pass takes.
    service.process_pending(parts, stage=None if stage == "real" else keyword_stage())
    with parts.sessions() as session:
        after = {i: service.get_entry(session, i) for i in ids}
    assert all(e.done for e in after.values())
    assert [e.outcome for e in after.values() if e.outcome in ("failed", "duplicate")] == []
    assert after[hung_on].attempts == 2
    return {i: e.task_ids for i, e in after.items()}


def test_sigkill_mid_processing_loses_nothing_and_repeats_nothing(crm_parts: Parts) -> None:
    task_ids = run_crash_and_recover(crm_parts, "keyword")
    tasks = CRM_TABLES["tasks"]
    with crm_parts.sessions() as session:
        stored = session.execute(select(func.count()).select_from(tasks)).scalar_one()
    created = [t for ids in task_ids.values() for t in ids if t.startswith("L")]
    assert stored == len(set(created)) > len(MAILS)
