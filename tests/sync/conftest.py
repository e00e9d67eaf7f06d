"""Sync fixtures: the loopback vendors, parts whose sync targets point at them, accepted tasks to push."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

import pytest
from sync_vendors import Vendors

from handoff.settings import Settings
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.wiring import Parts

ALL = ("jira", "asana", "trello")


@pytest.fixture
def vendors() -> Iterator[Vendors]:
    with Vendors() as running:
        yield running


@pytest.fixture
def sync_parts(tmp_path, vendors: Vendors, database_url: str) -> Iterator[Parts]:
    """Migrated parts (SQLite and PostgreSQL) whose three sync targets are the loopback vendors; quick timeouts and
    no real waits (tests pass their own sleep). The timeout leaves room for a loaded CI machine: a create that times
    out before the loopback server has made the item, with no settle time, would be made again, as the docs say."""
    sync = {**vendors.targets(), "timeout_s": 3.0, "backoff_s": 0.01, "settle_s": 0.0}
    settings = Settings(home=tmp_path / "home", database_url=database_url, sync=sync, _env_file=None)
    built = Parts(settings)
    built.migrate()
    try:
        yield built
    finally:
        built.close()


def _seed(parts: Parts) -> None:
    with transaction(parts.sessions) as session:
        session.execute(
            CRM_TABLES["team_members"].insert(),
            [{"id": "tm_ana", "name": "Ana Lima", "email": "ana@ourco.example", "active": True}],
        )
        session.execute(CRM_TABLES["accounts"].insert(), [{"id": "acc_1", "name": "Globex Ltd"}])


AcceptedTask = Callable[..., str]


@pytest.fixture
def accepted_task(sync_parts: Parts) -> AcceptedTask:
    """Makes a suggested task and accepts it through the tasks service, as a reviewer would: returns its id."""
    from handoff.tasks.service import accept_task

    _seed(sync_parts)
    made = iter(range(1, 10_000))

    def make(targets: tuple[str, ...] = ALL, title: str = "Send the revised SOW to Globex") -> str:
        task_id = f"tsk_test{next(made):04d}"
        with transaction(sync_parts.sessions) as session:
            session.execute(
                CRM_TABLES["tasks"].insert(),
                [
                    {
                        "id": task_id,
                        "title": title,
                        "description": "They asked for the revised statement of work.\n\nBefore the steering call.",
                        "assignee_id": "tm_ana",
                        "account_id": "acc_1",
                        "due_date": date(2026, 3, 31),
                        "priority": "high",
                        "status": "suggested",
                        "source": "email",
                    }
                ],
            )
            accept_task(session, task_id, "reviewer@ourco.example", sync_targets=targets)
        return task_id

    return make
