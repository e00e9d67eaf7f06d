"""A worker process for the multi-worker tests: loads the real stage, waits for GO, processes, writes what it recorded.

Usage: pool_worker.py HOME DATABASE_URL NAME [HANG_AT LEASE_S] (writes HOME/NAME.ready, waits for HOME/go, writes
HOME/NAME.json). With HANG_AT (> 0) it writes HOME/NAME.hanging inside its HANG_AT-th task transaction and waits
there to be killed; with HANG_AT 0 it keeps claiming (a worker that outlives the killed one's lease) until HOME/stop.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

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
    home, url, name = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    hang_at = int(sys.argv[4]) if len(sys.argv) > 4 else None
    lease = timedelta(seconds=float(sys.argv[5])) if len(sys.argv) > 5 else None
    parts = Parts(Settings(home=home, database_url=url, _env_file=None))
    stage = TaskStage.real(parts.settings)
    stage.embed_titles(["warm the model up"])  # so all workers start claiming at about the same moment
    record = stage.record_tasks
    recorded: list[int] = []

    def record_and_note(session, **kwargs):
        result = record(session, **kwargs)  # written, not yet committed
        recorded.append(kwargs["ledger_id"])
        if hang_at and len(recorded) == hang_at:
            _flag(home / f"{name}.hanging", str(kwargs["ledger_id"]))
            time.sleep(600)  # the parent kills us here, mid-transaction
        return result

    stage.record_tasks = record_and_note
    (home / f"{name}.ready").write_text("ok")
    while not (home / "go").exists():
        time.sleep(0.05)
    worker = Worker(parts, stage, batch=4) if lease is None else Worker(parts, stage, batch=4, lease=lease)
    finished = worker.process_pending()
    while hang_at == 0 and not (home / "stop").exists():
        finished += worker.process_pending()  # what a dead worker held comes free when its lease runs out
        time.sleep(0.2)
    (home / f"{name}.json").write_text(json.dumps({"finished": finished, "recorded": recorded}))
    parts.close()


if __name__ == "__main__":
    main()
