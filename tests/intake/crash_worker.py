"""A worker process for the crash test: processes the ledger and hangs inside the N-th task transaction (to be killed).

Usage: python crash_worker.py HOME HANG_AT LEASE_S [DIE_ON]   (HANG_AT 0: never hang; DIE_ON: a ledger id whose task
transaction SIGKILLs this worker every time, a message that kills its worker). The real extractor and task service."""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


from handoff.intake.worker import TaskStage, Worker
from handoff.settings import Settings
from handoff.wiring import Parts


def _flag(path: Path, text: str) -> None:
    """Written beside, then renamed: the parent polls for the file and must never read it half written (it once
    read '' under load)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def main() -> None:
    home, hang_at, lease_s = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    die_on = int(sys.argv[4]) if len(sys.argv) > 4 else None
    parts = Parts(Settings(home=home, _env_file=None))
    stage = TaskStage.real(parts.settings)
    record = stage.record_tasks
    calls = {"n": 0}

    def record_then_maybe_hang(session, **kwargs):
        result = record(session, **kwargs)  # the tasks are written, not yet committed
        calls["n"] += 1
        if kwargs["ledger_id"] == die_on:
            os.kill(os.getpid(), signal.SIGKILL)
        if calls["n"] == hang_at:
            _flag(home / "hanging", str(kwargs["ledger_id"]))
            time.sleep(600)  # the parent kills us here, mid-transaction
        return result

    stage.record_tasks = record_then_maybe_hang
    Worker(parts, stage, lease=timedelta(seconds=lease_s), batch=2).process_pending()
    (home / "finished").write_text("ok")


if __name__ == "__main__":
    main()
