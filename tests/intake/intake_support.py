"""Helpers shared by the intake tests: the corpus location, free loopback ports, a CRM to link against, stages."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.wiring import Parts

CORPUS = Path(__file__).parent / "corpus"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def seed_crm(parts: Parts) -> None:
    """Three customers (one Chinese), their contacts and open projects, and our team (the corpus's forwarders)."""
    accounts, contacts = CRM_TABLES["accounts"], CRM_TABLES["contacts"]
    projects, members = CRM_TABLES["projects"], CRM_TABLES["team_members"]
    with transaction(parts.sessions) as session:
        session.execute(
            accounts.insert(),
            [
                {"id": "acc-acme", "name": "Acme Corp", "domain": "acme-corp.com", "status": "active"},
                {"id": "acc-globex", "name": "Globex", "domain": "globex.com", "status": "active"},
                {"id": "acc-huaxin", "name": "华信科技", "domain": "huaxin-tech.cn", "status": "active"},
            ],
        )
        session.execute(
            contacts.insert(),
            [
                {"id": "con-alice", "account_id": "acc-acme", "first_name": "Alice", "last_name": "Chen",
                 "email": "Alice.Chen@acme-corp.com"},
                {"id": "con-bob", "account_id": "acc-globex", "first_name": "Bob", "last_name": "Miller",
                 "email": "bob.miller@globex.com"},
                {"id": "con-wang", "account_id": "acc-huaxin", "first_name": "芳", "last_name": "王",
                 "email": "wangfang@huaxin-tech.cn"},
            ],
        )  # fmt: skip
        session.execute(
            projects.insert(),
            [
                {"id": "prj-acme-web", "account_id": "acc-acme", "name": "Website relaunch", "status": "active",
                 "planned_start": date(2024, 11, 1)},
                {"id": "prj-acme-old", "account_id": "acc-acme", "name": "Intranet", "status": "done",
                 "planned_start": date(2023, 1, 1)},
                {"id": "prj-globex-billing", "account_id": "acc-globex", "name": "Billing migration",
                 "status": "active", "planned_start": date(2024, 12, 1)},
                {"id": "prj-huaxin-crm", "account_id": "acc-huaxin", "name": "CRM rollout", "status": "planned",
                 "planned_start": date(2025, 2, 1)},
            ],
        )  # fmt: skip
        session.execute(
            members.insert(),
            [
                {"id": "tm-sam", "name": "Sam Rep", "email": "sam@handoff-demo.com", "active": True},
                {"id": "tm-priya", "name": "Priya Shah", "email": "priya@handoff-demo.com", "active": True},
                {"id": "tm-dana", "name": "Dana Lee", "email": "dana@handoff-demo.com", "active": True},
                {"id": "tm-liming", "name": "Li Ming", "email": "liming@handoff-demo.com", "active": True},
            ],
        )


# --- a stand-in for the extraction and task stage, for the tests about intake itself ---------------------------------


@dataclass
class Recorded:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)


class KeywordExtractor:
    """One task per line that asks for something; deterministic, so tests can say exactly what to expect."""

    CUES = ("please", "could you", "can you", "请", "麻烦")
    name = "keyword-test"  # the worker audits the extractor's read of customer mail under this name

    def extract_many(self, messages, roster):
        return [self.extract(message, roster) for message in messages]

    def extract(self, message, roster):
        from handoff.extraction.model import Found, TaskDraft

        drafts = []
        for line in message.text.split("\n"):
            if any(cue in line.lower() for cue in self.CUES):
                sentence = line.strip()
                drafts.append(
                    TaskDraft(
                        title=Found(sentence[:80], 0.9, sentence),
                        assignee=Found(None, 0.0, ""),
                        assignee_id=None,
                        due=Found(None, 0.0, ""),
                        priority=Found("normal", 0.5, ""),
                        description=sentence,
                        confidence=0.9,
                        evidence=sentence,
                    )
                )
        return drafts


def record_into_crm_tasks(session, *, ledger_id, drafts, account_id, project_id, thread_id, settings, ledger_kind=None):
    """Writes drafts as CRM task rows (id `L<ledger>-<n>`) in the worker's transaction, like the real service."""
    from sqlalchemy import select

    tasks = CRM_TABLES["tasks"]
    existing = session.execute(select(tasks.c.id).where(tasks.c.list_name == thread_id)).scalars().all()
    ids = [f"L{ledger_id}-{i}" for i, _ in enumerate(drafts)]
    for task_id, draft in zip(ids, drafts, strict=True):
        session.execute(
            tasks.insert().values(
                id=task_id, title=draft.title.value, account_id=account_id, project_id=project_id,
                status="suggested", source="email", list_name=thread_id,
            )
        )  # fmt: skip
    return Recorded(created=ids, updated=list(existing) if ids else [])


def keyword_stage():
    from handoff.intake.worker import TaskStage

    return TaskStage(extractor=KeywordExtractor(), load_roster=lambda session: [], record_tasks=record_into_crm_tasks)
