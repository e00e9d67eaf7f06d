"""Push rate: accepted tasks through the outbox to the loopback Jira, Asana and Trello (`python -m eval.bench sync`).

Each task is accepted (one outbox row per target, in the acceptance's transaction), then `push_pending` claims,
looks up the marker and creates the item, one task and target at a time, as `handoff sync push` does. The loopback
vendors (`tests/sync/sync_vendors.py`) validate every body against the published shapes, so the number is the
client's, the outbox's and a validating local server's cost together, not a real vendor's latency (Jira Cloud
answers in ~100-300 ms: a real push is bound by that, about 3-10 items per second per target, one at a time).
Then every task's due date is edited in handoff (the edit queues each link in its transaction) and pushed again:
one `PUT` per task and target (`updates_per_s`).
Environment: HANDOFF_BENCH_SYNC_TASKS (default 200).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results" / "sync-bench.json"
TARGETS = ("jira", "asana", "trello")


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "sync"))
    from sync_vendors import Vendors

    from handoff.settings import Settings
    from handoff.store.crm_tables import CRM_TABLES
    from handoff.store.db import transaction
    from handoff.sync.outbox import close_connectors, configured_connectors, push_pending
    from handoff.tasks.service import accept_task, edit_task
    from handoff.wiring import Parts

    count = int(os.environ.get("HANDOFF_BENCH_SYNC_TASKS", "200"))
    with tempfile.TemporaryDirectory() as home, Vendors() as vendors:
        parts = Parts(Settings(home=Path(home), sync=vendors.targets(), _env_file=None))
        parts.migrate()
        tasks = CRM_TABLES["tasks"]
        with transaction(parts.sessions) as session:
            session.execute(CRM_TABLES["accounts"].insert(), [{"id": "acc_1", "name": "Globex Ltd"}])
            session.execute(
                tasks.insert(),
                [
                    {
                        "id": f"tsk_b{n:05d}",
                        "title": f"Task {n}",
                        "account_id": "acc_1",
                        "status": "suggested",
                        "due_date": date(2026, 3, 31),
                        "priority": "normal",
                        "source": "email",
                    }
                    for n in range(count)
                ],
            )
        started = time.perf_counter()
        for n in range(count):
            with transaction(parts.sessions) as session:
                accept_task(session, f"tsk_b{n:05d}", "bench", sync_targets=TARGETS)
        accepted_s = time.perf_counter() - started
        connectors = configured_connectors(parts.settings.sync)
        started = time.perf_counter()
        try:
            report = push_pending(parts.sessions, connectors, limit=count * len(TARGETS), settle_s=0.0)
        finally:
            close_connectors(connectors)
        push_s = time.perf_counter() - started
        sent = report.count("sent")
        assert sent == count * len(TARGETS), report.as_dict()
        # Edits after the push: each task's due date moved in handoff, then one PUT per task and target.
        started = time.perf_counter()
        for n in range(count):
            with transaction(parts.sessions) as session:
                edit_task(session, f"tsk_b{n:05d}", {"due_date": "2026-04-30"}, "bench")
        edited_s = time.perf_counter() - started
        connectors = configured_connectors(parts.settings.sync)
        started = time.perf_counter()
        try:
            updates = push_pending(parts.sessions, connectors, limit=count * len(TARGETS), settle_s=0.0)
        finally:
            close_connectors(connectors)
        update_s = time.perf_counter() - started
        parts.close()
        assert updates.count("sent") == count * len(TARGETS), updates.as_dict()
        assert sum(1 for method, _ in vendors.requests if method == "PUT") == count * len(TARGETS)
        assert all(len(vendors.items[t]) == count for t in TARGETS) and not vendors.violations
    result = {
        "tasks": count,
        "targets": list(TARGETS),
        "items_sent": sent,
        "accept_per_s": round(count / accepted_s, 1),
        "push_s": round(push_s, 2),
        "items_per_s": round(sent / push_s, 1),
        "tasks_per_s": round(count / push_s, 1),
        "edit_per_s": round(count / edited_s, 1),
        "update_s": round(update_s, 2),
        "updates_per_s": round(updates.count("sent") / update_s, 1),
        "store": "sqlite",
        "note": "loopback vendors with shape validation; a real vendor's latency bounds a real push",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
