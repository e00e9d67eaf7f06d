"""The ingest worker: claims ledger rows, reads, threads and links them, turns them into tasks, records the outcome.

Exactly once: the tasks and the row's final outcome commit in one transaction, and only while this worker still holds
the claim. A worker killed mid-way leaves its rows `received`/`parsed` with a lease that runs out; the next worker
claims them again and, since nothing of the killed attempt was committed, processes each exactly once."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handoff.access import audit
from handoff.extraction.model import MessageText, TaskDraft, TeamMember
from handoff.intake import ledger as ledger_store
from handoff.intake.deadline import Deadline, ParseTimeout
from handoff.intake.linking import link_sender
from handoff.intake.reading import Reading, message_text, read_email, read_notes
from handoff.intake.tables import ledger
from handoff.intake.team import Team
from handoff.intake.thread_store import assign_thread
from handoff.redaction import summarise_error
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.wiring import Parts

log = logging.getLogger(__name__)
DEFAULT_LEASE = timedelta(seconds=120)
DIRECTORY_TTL_S = 60.0  # the team and our own domains change rarely: re-read them once a minute, not per message


class Extractor(Protocol):
    def extract(self, message: MessageText, roster: Sequence[TeamMember]) -> list[TaskDraft]: ...


class RecordedTasksLike(Protocol):
    created: list[str]
    updated: list[str]
    linked: list[str]


@dataclass
class TaskStage:
    """The extraction and task-recording parts the worker hands a message to (injected so tests can swap them)."""

    extractor: Extractor
    load_roster: Callable[[Session], list[TeamMember]]
    record_tasks: Callable[..., RecordedTasksLike]
    # The slow half of recording (title embeddings for dedupe), run before the write transaction opens; its result
    # reaches `record_tasks` as `vectors=`. None: `record_tasks` needs no preparation.
    embed_titles: Callable[[Sequence[str]], Any] | None = None

    @classmethod
    def real(cls, settings: Any) -> TaskStage:
        """The configured extractor (offline by default, LLM when set) and the task service."""
        from handoff.extraction.extractor import build_extractor
        from handoff.tasks.service import embed_titles, load_roster, record_tasks

        return cls(
            extractor=build_extractor(settings),
            load_roster=load_roster,
            record_tasks=record_tasks,
            embed_titles=embed_titles,
        )


def default_worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Processes ledger rows; one per process or thread, any number of them against one database."""

    def __init__(
        self,
        parts: Parts,
        stage: TaskStage | None = None,
        *,
        worker_id: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
        batch: int = 8,
    ) -> None:
        self.parts = parts
        self.settings = parts.settings
        self._stage = stage
        self.worker_id = worker_id or default_worker_id()
        self.lease = lease
        self.batch = batch
        self._directory: tuple[float, Team, list[TeamMember]] | None = None

    @property
    def stage(self) -> TaskStage:
        if self._stage is None:
            self._stage = TaskStage.real(self.settings)
        return self._stage

    # --- the loop -------------------------------------------------------------------------------------------------

    def process_pending(self, limit: int | None = None, only: list[int] | None = None) -> int:
        """Process claimable rows until none are left (or `limit` is reached); returns how many were finished."""
        done = 0
        while limit is None or done < limit:
            size = self.batch if limit is None else min(self.batch, limit - done)
            with transaction(self.parts.sessions) as session:
                claimed = ledger_store.claim(session, worker=self.worker_id, limit=size, lease=self.lease, only=only)
            if not claimed:
                break
            for entry_id in claimed:
                self.process_one(entry_id)
                done += 1
        return done

    def run(self, stop: threading.Event, idle_s: float = 0.5) -> None:
        """Until `stop` is set: process what is pending, then wait a little (a set event wakes it at once)."""
        while not stop.is_set():
            try:
                worked = self.process_pending()
            except Exception:  # the database went away for a moment: keep the worker alive, try again shortly
                log.exception("ingest worker: claim failed; retrying")
                worked = 0
            if not worked:
                stop.wait(idle_s)

    # --- one message ----------------------------------------------------------------------------------------------

    def process_one(self, entry_id: int) -> None:
        """Read, screen, thread, link and extract one claimed row; any error ends it as `failed`, never as a crash."""
        try:
            self._process(entry_id)
        except ledger_store.LostClaim:
            log.warning("ingest worker %s lost the claim on %s; another worker has it", self.worker_id, entry_id)
        except Exception as error:  # the last line of defence: the message gets a status, the worker lives on
            # One line: the ledger row keeps the error for `handoff ledger list --status failed`.
            log.warning("ingest worker: ledger entry %s failed: %s", entry_id, type(error).__name__)
            log.debug("ledger entry %s failed", entry_id, exc_info=True)
            self._fail(entry_id, summarise_error(error, limit=2000))

    def _fail(self, entry_id: int, message: str) -> None:
        try:
            with transaction(self.parts.sessions) as session:
                ledger_store.finish(session, entry_id, worker=self.worker_id, outcome="failed", error=message[:2000])
        except ledger_store.LostClaim:
            pass

    def _process(self, entry_id: int) -> None:
        with self.parts.sessions() as session:
            row = session.execute(select(ledger).where(ledger.c.id == entry_id)).one()
            team, roster = self._directory_now(session)
        if row.claimed_by != self.worker_id:
            return
        if not row.raw_path:
            raise RuntimeError("raw bytes missing from the ledger row")
        raw = ledger_store.load_raw(self.settings.raw_mail_dir, row.raw_path)
        try:
            reading = self._read(row, raw, team)
        except ParseTimeout as error:
            self._finish(entry_id, outcome="rejected", reason=str(error))
            return
        parsed_values = _parsed_values(reading)
        if reading.rejection:
            self._finish(entry_id, outcome="rejected", reason=reading.rejection, **parsed_values)
            return
        with transaction(self.parts.sessions) as session:
            ledger_store.mark_parsed(session, entry_id, worker=self.worker_id, **parsed_values)
            link = link_sender(session, reading.sender, subject=reading.subject, text=reading.text)
            ledger_store.renew(session, entry_id, worker=self.worker_id, lease=self.lease)
        read_by_ai = bool(reading.text.strip())
        drafts = self.stage.extractor.extract(message_text(reading), roster) if read_by_ai else []
        prepared: dict[str, Any] = {}
        if drafts and self.stage.embed_titles is not None:  # outside the transaction: it holds SQLite's write lock
            prepared["vectors"] = self.stage.embed_titles([draft.title.value for draft in drafts])
        # One transaction for the thread, the tasks and the outcome: all of it happens, or none of it does. Only
        # reads and writes happen inside it, so the write lock is held for milliseconds, not for the extraction.
        with transaction(self.parts.sessions) as session:
            choice = assign_thread(
                session, ledger_id=entry_id, reading=reading, link=link, internal_domains=team.all_domains
            )
            recorded = self.stage.record_tasks(
                session,
                ledger_id=entry_id,
                drafts=drafts,
                account_id=link.account_id,
                project_id=link.project_id,
                thread_id=choice.thread_id,
                settings=self.settings,
                **prepared,
            )
            if read_by_ai:  # the extractor read the customer's mail: that read of contact data is audited too
                audit.record(
                    session,
                    f"ai:{self.stage.extractor.name}",
                    audit.READ_CONTACT_DATA,
                    f"ledger:{entry_id}",
                    {"contact_id": link.contact_id, "account_id": link.account_id},
                )
            task_ids = [*recorded.created, *recorded.updated, *recorded.linked]
            outcome, reason = _outcome(choice.joined, recorded, len(drafts))
            reason = "; ".join(part for part in (reading.forward_refused, reason) if part) or None
            details = {**parsed_values["details"], "thread": choice.how, "drafts": len(drafts)}
            ledger_store.finish(
                session,
                entry_id,
                worker=self.worker_id,
                outcome=outcome,
                reason=reason,
                thread_id=choice.thread_id,
                contact_id=link.contact_id,
                account_id=link.account_id,
                project_id=link.project_id,
                links=link.as_dict(),
                task_ids=task_ids,
                details=details,
            )

    def _directory_now(self, session: Session) -> tuple[Team, list[TeamMember]]:
        now = time.monotonic()
        if self._directory is None or now - self._directory[0] > DIRECTORY_TTL_S:
            self._directory = (now, load_team(session, self.settings), self.stage.load_roster(session))
        return self._directory[1], self._directory[2]

    def _read(self, row: Any, raw: bytes, team: Team) -> Reading:
        deadline = Deadline(self.settings.inbox.parse_timeout_s)
        if row.kind == "notes":
            sent_at = ledger_store.as_utc(row.sent_at) or ledger_store.as_utc(row.received_at)
            return read_notes(raw.decode("utf-8", "replace"), row.notes_format, sent_at, row.sender_name)  # type: ignore[arg-type]
        own = [address.lower() for address in self.settings.inbox.recipients]
        received_at = ledger_store.as_utc(row.received_at)
        return read_email(raw, received_at=received_at, own_addresses=own, deadline=deadline, team=team)

    def _finish(self, entry_id: int, **values: Any) -> None:
        with transaction(self.parts.sessions) as session:
            ledger_store.finish(session, entry_id, worker=self.worker_id, **values)


def _outcome(joined: bool, recorded: RecordedTasksLike, drafts: int) -> tuple[str, str | None]:
    if joined:
        changed = len(recorded.created) + len(recorded.updated) + len(recorded.linked)
        return "threaded", f"joined an existing thread; {changed} task(s) created, updated or linked"
    if recorded.created:
        return "tasks_created", None
    if recorded.linked:
        return "tasks_created", f"every ask repeats an open task: linked to {', '.join(recorded.linked)}"
    if drafts:
        return "no_tasks", f"{drafts} draft(s) were not recorded by the task service"
    return "no_tasks", "no action items found"


def _parsed_values(reading: Reading) -> dict[str, Any]:
    sender = reading.sender
    values: dict[str, Any] = {
        "sender_email": (sender.email or None) if sender else None,
        "sender_name": ((sender.name or None) if sender else None),
        "forwarded_by": str(reading.forwarded_by)[:255] if reading.forwarded_by else None,
        "subject": reading.subject,
        "sent_at": reading.sent_at,
        "details": {
            "envelope_subject": reading.envelope_subject,
            "hops": [
                {
                    "sender": str(hop.sender) if hop.sender else None,
                    "date": hop.date.isoformat() if hop.date else None,
                    "subject": hop.subject,
                    "style": hop.style,
                }
                for hop in reading.hops
            ],
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": a.size,
                    "sha256": a.sha256,
                    "note": a.note,
                }
                for a in reading.attachments
            ],
            "defects": reading.defects[:20],
            "text_chars": len(reading.text),
            "quoted_chars": len(reading.quoted),
            "signature": reading.signature[:500],
        },
    }
    if reading.forward_refused:  # the block named someone the mail is not credited to: say whom, and why not
        claimed = str(reading.claimed_sender) if reading.claimed_sender else None
        values["details"]["forward_not_trusted"] = {"reason": reading.forward_refused, "claimed_sender": claimed}
    return values


def load_team(session: Session, settings: Any) -> Team:
    """The roster's addresses (active CRM team members) and our domains: whose forwards are believed."""
    members = CRM_TABLES["team_members"]
    active = func.coalesce(members.c.active, True).is_(True)
    addresses = session.execute(select(members.c.email).where(members.c.email.is_not(None), active)).scalars()
    return Team.from_settings(settings.inbox, addresses)
