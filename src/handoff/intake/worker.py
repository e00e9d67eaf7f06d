"""The ingest worker: claims ledger rows in batches, reads, gates, links, threads and extracts them, records their
outcomes.

The gate (`gate.py`) stops spam and bulk before extraction: the message's own headers (read with it), then the
company's spam filter when one is configured (`spam_filter.py`; one that is down leaves the message `received` with a
retry-after, never unchecked), then, once the sender is linked, the forgery check on a customer's or colleague's From,
and last the content classifier, for mail from a sender nobody can be credited with. A message a person released
(`ledger.release`) skips the gate.

Exactly once: a batch's tasks and final outcomes commit in one transaction, each message inside its own savepoint,
and only for rows this worker still holds the claim on. Reading, linking and extraction happen before that
transaction (extraction may call an LLM: no write lock is held meanwhile). A worker killed mid-way leaves its rows
`received` with a lease that runs out; the next worker claims them again and, since nothing of the killed attempt
was committed, processes each exactly once. A row claimed again after such a death is processed in a batch of its
own, so a message that kills its worker takes only itself to `failed` ("gave up after N attempts"), not its batch."""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from handoff.access import audit
from handoff.clock import as_utc, utcnow
from handoff.extraction.embeddings import reused
from handoff.extraction.model import TaskDraft, TeamMember
from handoff.extraction.offline import only_explicit_asks
from handoff.intake import ledger as ledger_store
from handoff.intake.deadline import Deadline, ParseTimeout
from handoff.intake.gate import (
    SPAM,
    ContentScore,
    GatePolicy,
    content_verdict,
    domain_listed,
    forgery_reason,
    suspect_reason,
)
from handoff.intake.linking import Link, link_sender
from handoff.intake.mime import Address
from handoff.intake.reading import Reading, message_text, read_email, read_notes
from handoff.intake.spam_filter import FilterUnavailable, SpamFilter, filters_from_settings
from handoff.intake.tables import ledger
from handoff.intake.team import Team
from handoff.intake.thread_store import assign_thread
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import is_busy, transaction
from handoff.wiring import Parts

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.extraction.extractor import Extractor

log = logging.getLogger(__name__)
DEFAULT_LEASE = timedelta(seconds=120)
DEFAULT_BATCH = (
    32  # messages per claim and per final transaction; ~0.1 s of SQLite write lock with the offline extractor
)
DIRECTORY_TTL_S = 60.0  # the team and our own domains change rarely: re-read them once a minute, not per message
BUSY_RETRIES = 4  # a message whose write met a deadlock or lock timeout is tried this often before its claim lapses


class RecordedTasksLike(Protocol):
    created: list[str]
    updated: list[str]
    linked: list[str]


@dataclass
class TaskStage:
    """The extraction and task-recording parts the worker hands a message to (injected so tests can swap them).

    `embed_titles`, when set, embeds the drafts' titles of a whole batch in one call; `record_tasks` then gets each
    message's rows as `title_vectors` instead of embedding them itself. `record_tasks` is also told the ledger row's
    `ledger_kind`, which the worker holds, so it need not read the row again."""

    extractor: Extractor
    load_roster: Callable[[Session], list[TeamMember]]
    record_tasks: Callable[..., RecordedTasksLike]
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


@dataclass
class _Work:
    """One claimed message on its way through a batch; `error` set at any step ends it as `failed`."""

    entry_id: int
    row: Any
    raw: bytes | None = None  # kept only until the spam filter has seen it
    reading: Reading | None = None
    parsed: dict[str, Any] = field(default_factory=dict)
    ended: tuple[str, str] | None = None  # (outcome, reason) of a message that stops before extraction
    link: Link | None = None
    drafts: list[TaskDraft] = field(default_factory=list)
    read_by_ai: bool = False
    title_vectors: Any = None
    error: str | None = None
    deferred: str | None = None  # why it waits in the ledger unprocessed (the spam filter is down)
    suspect: str | None = None  # why only its explicit asks become tasks (`gate.suspect_reason`)

    @property
    def going_on(self) -> bool:
        return self.error is None and self.ended is None and self.deferred is None

    @property
    def released(self) -> bool:
        return self.row.released_by is not None


class Worker:
    """Processes ledger rows; one per process or thread, any number of them against one database."""

    def __init__(
        self,
        parts: Parts,
        stage: TaskStage | None = None,
        *,
        worker_id: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
        batch: int = DEFAULT_BATCH,
        content_score: ContentScore | None = None,
        spam_filters: Sequence[SpamFilter] | None = None,
    ) -> None:
        """`content_score(mail) -> float | None` is the content classifier's spam probability (the shipped model's
        unless `inbox.content_classifier` is off);
        `spam_filters` default to the configured rspamd/spamd."""
        self.parts = parts
        self.settings = parts.settings
        threshold = 0.9
        self._content_scores: Callable[[list[Any]], list[float | None]] | None = None
        if content_score is None and self.settings.inbox.content_classifier:
            from handoff.intake.spam_model import SpamModel

            shipped = SpamModel.load_default()  # loaded once per process; scoring a mail takes about a millisecond
            content_score, threshold = shipped.content_score, shipped.threshold
            self._content_scores = shipped.content_scores  # a batch's mail in one vectorised pass
        elif content_score is not None:
            one = content_score
            self._content_scores = lambda mails: [one(mail) for mail in mails]
        self.gate = GatePolicy.from_settings(self.settings.inbox, content_score, threshold)
        self.spam_filters = list(filters_from_settings(self.settings.inbox) if spam_filters is None else spam_filters)
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

    def process_pending(
        self, limit: int | None = None, only: list[int] | None = None, on_progress: Callable[[int], None] | None = None
    ) -> int:
        """Process claimable rows until none are left (or `limit` is reached); returns how many were finished.

        `on_progress(finished)` is called after each batch."""
        done = 0
        while limit is None or done < limit:
            size = self.batch if limit is None else min(self.batch, limit - done)
            with transaction(self.parts.sessions) as session:
                claimed = ledger_store.claim(session, worker=self.worker_id, limit=size, lease=self.lease, only=only)
            if not claimed:
                break
            self.process_batch(claimed)
            done += len(claimed)
            if on_progress is not None:
                on_progress(done)
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

    # --- a batch --------------------------------------------------------------------------------------------------

    def process_one(self, entry_id: int) -> None:
        """Process one claimed row on its own (any error ends it as `failed`, never as a crash)."""
        self.process_batch([entry_id])

    def process_batch(self, entry_ids: Sequence[int]) -> None:
        """Read, link, extract and record these claimed rows; their outcomes commit in one transaction."""
        try:
            with self.parts.sessions() as session:
                query = select(ledger).where(ledger.c.id.in_(list(entry_ids)))
                rows = {row.id: row for row in session.execute(query)}
        except Exception:  # the database went away: the claims lapse and another pass takes the rows
            log.exception("ingest worker: could not load claimed rows")
            return
        mine = [rows[i] for i in entry_ids if i in rows and rows[i].claimed_by == self.worker_id]
        # A row claimed before (its worker died while holding it) goes alone, after the others: it may be what killed
        # that worker, and the rows claimed with it should not die with it again.
        retried = [row for row in mine if row.attempts > 1]
        fresh = [row for row in mine if row.attempts <= 1]
        for group in ([fresh] if fresh else []) + [[row] for row in retried]:
            self._process_group(group)

    def _process_group(self, rows: list[Any]) -> None:
        with self.parts.sessions() as session:  # who is on the team decides whose forwards the reader believes
            team, roster = self._directory_now(session)
        work = [self._read(row, team) for row in rows]
        self._ask_filters(work)
        self._link(work)
        self._authenticate(work, team)
        self._judge_content(work, team)
        with reused():  # MiniLM once per distinct text of the batch: its sentences, then its titles for dedupe
            self._extract(work, roster)
            with transaction(self.parts.sessions) as session:  # extraction may have taken a while: keep the claims
                self._renew(session, work)
            self._embed_titles(work)
        try:
            with transaction(self.parts.sessions) as session:
                # An UPDATE first: pysqlite opens its transaction at the first write, and a SAVEPOINT issued before
                # one would itself be the transaction, each message's RELEASE then committing it on its own.
                self._renew(session, work)
                for item in work:
                    self._record(session, item)
        except Exception:  # the batch could not commit (a deadlock, a lock timed out, the database went away)
            log.warning("ingest worker: a batch of %d did not commit; recording its messages one by one", len(work))
            log.debug("batch commit failed", exc_info=True)
            for item in work:
                self._record_alone(item)

    def _record_alone(self, item: _Work) -> None:
        """One message in a transaction of its own. A busy database (a deadlock with another worker, a lock timeout)
        is not the message's fault: it is tried again, and if the database stays busy the claim lapses and a later
        pass takes the row; only an error of the message's own ends it as `failed`."""
        for attempt in range(BUSY_RETRIES):
            try:
                with transaction(self.parts.sessions) as session:
                    self._record(session, item)
                return
            except Exception as error:
                if not is_busy(error):
                    self._fail(item, f"{type(error).__name__}: {error}")
                    return
                time.sleep(0.05 * (attempt + 1) * (1 + random.random()))  # jitter: the two sides do not meet again
        log.warning("ingest worker: the database stayed busy recording %s; it is retried later", item.entry_id)

    # --- the steps, each catching its own errors into the message's status ----------------------------------------

    def _read(self, row: Any, team: Team) -> _Work:
        item = _Work(row.id, row)
        try:
            if not row.raw_path:
                raise RuntimeError("raw bytes missing from the ledger row")
            raw = ledger_store.load_raw(self.settings.raw_mail_dir, row.raw_path)
            item.reading = self._parse(row, raw, team, gate=None if item.released else self.gate)
            item.raw = raw if row.kind == "email" else None
        except ParseTimeout as error:
            item.ended = ("rejected", str(error))
            return item
        except Exception as error:
            _failed(item, error)
            return item
        item.parsed = _parsed_values(item.reading)
        if item.reading.rejection:
            item.ended = ("rejected", item.reading.rejection)
        elif item.reading.verdict:
            item.ended = (item.reading.verdict.outcome, item.reading.verdict.reason)
        return item

    def _ask_filters(self, work: list[_Work]) -> None:
        """The company's spam filter, once per message; down, it keeps the rest of the batch waiting too (asking
        each would only wait out the timeout 32 times)."""
        down: str | None = None
        for item in work:
            raw, item.raw = item.raw, None
            if not item.going_on or raw is None or item.released or not self.spam_filters:
                continue
            if down is not None:
                item.deferred = down
                continue
            for spam_filter in self.spam_filters:
                try:
                    verdict = spam_filter.check(raw)
                except FilterUnavailable as error:
                    log.warning("ingest worker: spam filter unavailable: %s", error)
                    down = f"waiting for the spam filter: {error}"
                    item.deferred = down
                    break
                except Exception as error:  # a bug in a filter adapter: the message waits, the worker lives
                    log.exception("ingest worker: spam filter %s failed", spam_filter.name)
                    down = f"waiting for the spam filter: {spam_filter.name} failed: {type(error).__name__}"
                    item.deferred = down
                    break
                if verdict.spam:
                    item.ended = (SPAM, verdict.reason)
                    break
                item.parsed.setdefault("details", {}).setdefault("spam_filters", []).append(verdict.reason)

    def _authenticate(self, work: list[_Work], team: Team) -> None:
        """A header From the mail would be credited to (a customer's, an allow-listed domain's, or a colleague's,
        whose forwards are believed) must not be forged: otherwise it is quarantined, linked to no one."""
        allowed = self.settings.inbox.allowed_sender_domains
        for item in work:
            reading = item.reading
            if not item.going_on or item.released or reading is None or reading.authentication is None:
                continue
            auth = reading.authentication
            sender = auth.from_address
            if not _credited(item, team) and not (sender and allowed and domain_listed(sender.domain, allowed)):
                continue
            reason = forgery_reason(auth, self.gate, relayed_by_us=lambda address: _team_address(team, address))
            if reason is None:
                continue
            details = item.parsed.setdefault("details", {})
            details["forgery"] = {
                "reason": reason,
                "claimed_sender": str(sender) if sender else None,
                "envelope": auth.envelope,
                "would_link": item.link.as_dict() if item.link else None,
            }
            item.ended, item.link = (SPAM, reason), None

    def _judge_content(self, work: list[_Work], team: Team) -> None:
        """The content classifier's score decides only for a stranger's mail; a customer's or colleague's (whose
        From passed the forgery check) keeps its score in the details, for the review queue to show."""
        if self.gate.content_score is None:
            return
        todo = [item for item in work if item.going_on and not item.released and item.reading is not None]
        self._score_content([item for item in todo if item.reading and item.reading.unscored is not None])
        for item in work:
            reading = item.reading
            if reading is not None:
                reading.unscored = None  # the parsed mail is not kept past this step
            if not item.going_on or item.released or reading is None or reading.kind != "email":
                continue
            score = reading.content_score  # None: an empty mail, or a script the classifier's ham does not cover
            item.parsed.setdefault("details", {})["content_score"] = None if score is None else round(score, 3)
            if _credited(item, team):
                continue
            verdict = content_verdict(score, self.gate)
            if verdict is not None:
                item.ended = (verdict.outcome, verdict.reason)
            else:
                item.suspect = suspect_reason(score, self.gate)

    def _score_content(self, work: list[_Work]) -> None:
        """The content classifier's P(spam) for these messages in one pass; one by one if the pass fails, so only the
        mail that broke it fails."""
        score = self._content_scores
        if score is None or not work:
            return
        mails = [item.reading.unscored for item in work if item.reading is not None]
        try:
            scores = score(mails)
        except Exception:
            log.debug("batch content scoring failed; scoring one by one", exc_info=True)
            scores = []
            for item, mail in zip(work, mails, strict=True):
                try:
                    scores.extend(score([mail]))
                except Exception as error:
                    _failed(item, error)
                    scores.append(None)
        for item, value in zip(work, scores, strict=True):
            if item.reading is not None:
                item.reading.content_score = value

    def _link(self, work: list[_Work]) -> None:
        """Sender → contact → account → project, in one read-only session for the batch."""
        todo = [item for item in work if item.going_on]
        if not todo:
            return
        try:
            with self.parts.sessions() as session:
                for item in todo:
                    try:
                        reading = item.reading
                        assert reading is not None
                        item.link = link_sender(session, reading.sender, subject=reading.subject, text=reading.text)
                    except Exception as error:
                        _failed(item, error)
        except Exception as error:  # the database went away while linking: each message says so
            for item in todo:
                if item.link is None and item.error is None:
                    _failed(item, error)

    def _extract(self, work: list[_Work], roster: list[TeamMember]) -> None:
        """The batch's messages in one extractor call (one MiniLM pass); alone again if the batch fails."""
        todo = [item for item in work if item.going_on and item.reading is not None and item.reading.text.strip()]
        for item in todo:
            item.read_by_ai = True
        messages = [message_text(item.reading) for item in todo if item.reading is not None]
        try:
            for item, drafts in zip(todo, self.stage.extractor.extract_many(messages, roster), strict=True):
                item.drafts = drafts
        except Exception:
            log.debug("batch extraction failed; extracting one by one", exc_info=True)
            for item, message in zip(todo, messages, strict=True):
                try:
                    item.drafts = self.stage.extractor.extract(message, roster)
                except Exception as error:
                    _failed(item, error)
        for item in todo:
            if item.suspect is not None and item.drafts:
                kept = only_explicit_asks(item.drafts)
                item.parsed.setdefault("details", {})["suspect"] = {
                    "reason": item.suspect,
                    "tasks_dropped": len(item.drafts) - len(kept),
                }
                item.drafts = kept

    def _embed_titles(self, work: list[_Work]) -> None:
        """The dedupe embeddings of every draft title in the batch, in one model call."""
        embed = self.stage.embed_titles
        todo = [item for item in work if item.going_on and item.drafts]
        if embed is None or not todo:
            return
        try:
            vectors = embed([draft.title.value for item in todo for draft in item.drafts])
        except Exception as error:
            for item in todo:
                _failed(item, error)
            return
        offset = 0
        for item in todo:
            item.title_vectors = vectors[offset : offset + len(item.drafts)]
            offset += len(item.drafts)

    def _record(self, session: Session, item: _Work) -> None:
        """One message's thread, tasks and outcome inside the batch's transaction, in a savepoint of its own."""
        try:
            with session.begin_nested():
                self._write(session, item)
            return
        except ledger_store.LostClaim:
            log.warning("ingest worker %s lost the claim on %s; another worker has it", self.worker_id, item.entry_id)
            return
        except Exception as error:  # the last line of defence: the message gets a status, the worker lives on
            if is_busy(error):  # the database's trouble, not the message's: the whole transaction is tried again
                raise
            _failed(item, error)
        try:
            with session.begin_nested():
                self._write(session, item)
        except ledger_store.LostClaim:
            pass

    def _write(self, session: Session, item: _Work) -> None:
        entry_id, values = item.entry_id, item.parsed
        if item.deferred is not None and item.error is None:
            retry_at = utcnow() + timedelta(seconds=self.settings.inbox.spam_filter_retry_s)
            reason = f"{item.deferred}; asking again after {retry_at:%Y-%m-%d %H:%M:%S} UTC"
            ledger_store.defer(session, entry_id, worker=self.worker_id, reason=reason[:2000], until=retry_at)
            return
        if item.error is not None:
            ledger_store.finish(
                session, entry_id, worker=self.worker_id, outcome="failed", error=item.error[:2000], **values
            )
            return
        if item.ended is not None:
            outcome, reason = item.ended
            ledger_store.finish(session, entry_id, worker=self.worker_id, outcome=outcome, reason=reason,
                                **values)  # fmt: skip
            return
        reading, link = item.reading, item.link
        assert reading is not None and link is not None
        domains = self._directory[1].all_domains if self._directory else frozenset()
        choice = assign_thread(session, ledger_id=entry_id, reading=reading, link=link, internal_domains=domains)
        vectors = {} if item.title_vectors is None else {"title_vectors": item.title_vectors}
        recorded = self.stage.record_tasks(
            session,
            ledger_id=entry_id,
            drafts=item.drafts,
            account_id=link.account_id,
            project_id=link.project_id,
            thread_id=choice.thread_id,
            settings=self.settings,
            ledger_kind=item.row.kind,
            **vectors,
        )
        if item.read_by_ai:  # the extractor read the customer's mail: that read of contact data is audited too
            audit.record(
                session,
                f"ai:{self.stage.extractor.name}",
                audit.READ_CONTACT_DATA,
                f"ledger:{entry_id}",
                {"contact_id": link.contact_id, "account_id": link.account_id},
            )
        task_ids = [*recorded.created, *recorded.updated, *recorded.linked]
        outcome, reason = _outcome(choice.joined, recorded, len(item.drafts))
        released = f"released by {item.row.released_by}" if item.released else None
        thinned = item.suspect if values.get("details", {}).get("suspect", {}).get("tasks_dropped") else None
        reason = "; ".join(part for part in (released, reading.forward_refused, thinned, reason) if part) or None
        details = {**values["details"], "thread": choice.how, "drafts": len(item.drafts)}
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
            **{**values, "details": details},
        )

    def _fail(self, item: _Work, message: str) -> None:
        log.warning("ingest worker: ledger entry %s failed: %s", item.entry_id, message.split(":", 1)[0])
        try:
            with transaction(self.parts.sessions) as session:
                ledger_store.finish(session, item.entry_id, worker=self.worker_id, outcome="failed",
                                    error=message[:2000])  # fmt: skip
        except Exception:  # lost the claim, or the database is gone: the lease runs out and the row is retried
            log.debug("could not record the failure of %s", item.entry_id, exc_info=True)

    def _renew(self, session: Session, work: list[_Work]) -> None:
        """Extend the batch's leases (a slow extractor must not let another worker take rows we are still on)."""
        now = utcnow()
        session.execute(
            update(ledger)
            .where(ledger.c.id.in_([item.entry_id for item in work]), ledger.c.claimed_by == self.worker_id)
            .values(lease_until=now + self.lease, updated_at=now)
        )

    def _directory_now(self, session: Session) -> tuple[Team, list[TeamMember]]:
        now = time.monotonic()
        if self._directory is None or now - self._directory[0] > DIRECTORY_TTL_S:
            self._directory = (now, load_team(session, self.settings), self.stage.load_roster(session))
        return self._directory[1], self._directory[2]

    def _parse(self, row: Any, raw: bytes, team: Team, gate: GatePolicy | None) -> Reading:
        deadline = Deadline(self.settings.inbox.parse_timeout_s)
        if row.kind == "notes":
            sent_at = as_utc(row.sent_at) or as_utc(row.received_at)
            return read_notes(raw.decode("utf-8", "replace"), row.notes_format, sent_at, row.sender_name)  # type: ignore[arg-type]
        own = [address.lower() for address in self.settings.inbox.recipients]
        received_at = as_utc(row.received_at)
        return read_email(raw, received_at=received_at, own_addresses=own, deadline=deadline, team=team, gate=gate,
                          score_later=True)  # fmt: skip


def _credited(item: _Work, team: Team) -> bool:
    """The mail would be credited to a customer's account or comes from one of the team."""
    sender = item.reading.authentication.from_address if item.reading and item.reading.authentication else None
    return (item.link is not None and item.link.account_id is not None) or team.includes(sender)


def _team_address(team: Team, address: str) -> bool:
    """An envelope sender of ours: our own mail system redirected the message (a rule forwarding support@)."""
    return "@" in address and team.includes(Address("", address.lower()))


def _failed(item: _Work, error: BaseException) -> None:
    # One line in the log: the ledger row keeps the error for `handoff ledger list --status failed`.
    log.warning("ingest worker: ledger entry %s failed: %s", item.entry_id, type(error).__name__)
    log.debug("ledger entry %s failed", item.entry_id, exc_info=True)
    item.error = f"{type(error).__name__}: {error}"


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
