"""A worker process for the multi-worker test: loads the real stage, waits for GO, processes, writes what it recorded.

Usage: pool_worker.py HOME DATABASE_URL NAME (writes HOME/NAME.ready, waits for HOME/go, writes HOME/NAME.json)"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from handoff.intake.worker import TaskStage, Worker
from handoff.settings import Settings
from handoff.wiring import Parts


def main() -> None:
    home, url, name = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    parts = Parts(Settings(home=home, database_url=url, _env_file=None))
    stage = TaskStage.real(parts.settings)
    stage.embed_titles(["warm the model up"])  # so all workers start claiming at about the same moment
    record = stage.record_tasks
    recorded: list[int] = []

    def record_and_note(session, **kwargs):
        recorded.append(kwargs["ledger_id"])
        return record(session, **kwargs)

    stage.record_tasks = record_and_note
    (home / f"{name}.ready").write_text("ok")
    while not (home / "go").exists():
        time.sleep(0.05)
    finished = Worker(parts, stage, batch=4).process_pending()
    (home / f"{name}.json").write_text(json.dumps({"finished": finished, "recorded": recorded}))
    parts.close()


if __name__ == "__main__":
    main()
