"""The ledger on SQLite and PostgreSQL: durable before processing, one first copy per message, claims, retries."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from intake_support import CORPUS
from sqlalchemy import select

from handoff.errors import Conflict, InvalidInput, NotFound, TooLarge
from handoff.intake import ledger as ledger_store
from handoff.intake import service
from handoff.intake.tables import ledger
from handoff.intake.worker import TaskStage, Worker
from handoff.store.db import transaction
from handoff.wiring import Parts

RAW = (CORPUS / "gmail_forward_en.eml").read_bytes()


def test_arrival_is_durable_before_any_processing(parts: Parts) -> None:
    entry = service.receive_raw(parts, RAW, "test")
    assert (entry.status, entry.outcome) == ("received", None)
    assert entry.message_id == "<CAGmail-fwd-0001@mail.gmail.com>"
    with parts.sessions() as session:
        relative = ledger_store.raw_path_of(session, entry.id)
    assert (parts.settings.raw_mail_dir / relative).read_bytes() == RAW


def test_the_same_message_twice_is_one_first_copy_and_one_duplicate(parts: Parts) -> None:
    first = service.receive_raw(parts, RAW, "smtp")
    # Re-delivered with other line endings and an extra trace header: same Message-ID, same normalised body.
    again = service.receive_raw(parts, b"Received: from relay\r\n" + RAW.replace(b"\r\n", b"\n"), "imap")
    assert (again.outcome, again.duplicate_of) == ("duplicate", first.id)
    assert again.reason == f"same Message-ID and body as ledger entry {first.id}"


def test_without_a_message_id_a_mail_is_known_by_sender_date_subject_and_body(parts: Parts) -> None:
    """Once, two different mails with no Message-ID and the same body ("Thanks!") were one message: the second was
    dropped as a duplicate of the first."""

    def mail(subject: bytes, sender: bytes = b"a@b.com") -> bytes:
        return (
            b"From: "
            + sender
            + b"\r\nDate: Fri, 27 Nov 2026 09:00:00 +0000\r\nSubject: "
            + subject
            + b"\r\n\r\nThanks!\r\n"
        )

    first = service.receive_raw(parts, mail(b"hi"), "webhook")
    for other in (mail(b"billing"), mail(b"hi", sender=b"c@d.com")):
        assert service.receive_raw(parts, other, "webhook").outcome is None
    again = service.receive_raw(parts, b"Received: from relay\r\n" + mail(b"hi").replace(b"\r\n", b"\n"), "imap")
    assert (again.outcome, again.duplicate_of) == ("duplicate", first.id)
    assert again.reason == f"no Message-ID; same sender, date, subject and body as ledger entry {first.id}"


def test_the_same_notes_text_is_one_note_per_meeting_and_author(parts: Parts) -> None:
    from datetime import UTC, datetime

    text = "- Anna sends the plan by Friday"
    monday, tuesday = datetime(2026, 11, 23, 10, tzinfo=UTC), datetime(2026, 11, 24, 10, tzinfo=UTC)
    first = service.receive_notes(parts, text, sent_at=monday, author="pm@ourco")
    assert service.receive_notes(parts, text, sent_at=tuesday, author="pm@ourco").outcome is None
    assert service.receive_notes(parts, text, sent_at=monday, author="cs@ourco").outcome is None
    again = service.receive_notes(parts, text, sent_at=monday, author="pm@ourco")
    assert (again.outcome, again.duplicate_of) == ("duplicate", first.id)
    assert again.reason == f"same text, author and meeting time as ledger entry {first.id}"


def test_same_message_id_with_another_body_is_not_a_duplicate(sqlite_parts: Parts) -> None:
    service.receive_raw(sqlite_parts, RAW, "smtp")
    edited = RAW.replace(b"revised staging timeline", b"final staging timeline")
    other = service.receive_raw(sqlite_parts, edited, "smtp")
    assert other.outcome is None and other.status == "received"


def test_the_unique_constraint_holds_even_without_the_check(sqlite_parts: Parts) -> None:
    from sqlalchemy.exc import IntegrityError

    entry = service.receive_raw(sqlite_parts, RAW, "smtp")
    with sqlite_parts.sessions() as session, session.begin():
        row = session.execute(select(ledger).where(ledger.c.id == entry.id)).one()._mapping
        copy = {k: v for k, v in row.items() if k != "id"}
        with pytest.raises(IntegrityError):
            session.execute(ledger.insert().values(**copy))


def test_oversize_input_is_ledgered_as_rejected_or_refused(sqlite_parts: Parts) -> None:
    small = sqlite_parts.settings.model_copy(
        update={"inbox": sqlite_parts.settings.inbox.model_copy(update={"max_message_bytes": 100})}
    )
    limited = Parts(small)
    try:
        entry = service.receive_raw(limited, RAW, "file")
        assert (entry.outcome, entry.raw_size) == ("rejected", len(RAW))
        assert "too large" in (entry.reason or "")
        with pytest.raises(TooLarge):
            service.receive_raw(limited, RAW, "http", refuse_oversize=True)
    finally:
        limited.close()


def test_a_failed_entry_can_be_listed_and_retried(parts: Parts) -> None:
    entry = service.receive_raw(parts, RAW, "smtp")

    class Broken:
        def extract(self, message, roster):
            raise RuntimeError("model exploded")

    stage = TaskStage.real(parts.settings)
    stage.extractor = Broken()
    assert service.process_pending(parts, stage=stage) == 1
    with parts.sessions() as session:
        failed = service.list_entries(session, "failed")
    assert [e.id for e in failed] == [entry.id]
    assert failed[0].error == "RuntimeError: model exploded"
    assert service.retry(parts.sessions, [entry.id]) == [entry.id]
    assert service.process_pending(parts) == 1
    with parts.sessions() as session:
        done = service.get_entry(session, entry.id)
        assert service.list_entries(session, "failed") == []
    assert done.outcome == "tasks_created" and done.error is None
    assert done.task_ids


def test_retry_refuses_unknown_and_unfailed_entries(sqlite_parts: Parts) -> None:
    entry = service.receive_raw(sqlite_parts, RAW, "smtp")
    with pytest.raises(NotFound):
        service.retry(sqlite_parts.sessions, [entry.id + 100])
    with pytest.raises(Conflict, match="only failed entries"):  # a state clash (409 through the API)
        service.retry(sqlite_parts.sessions, [entry.id])
    with pytest.raises(InvalidInput, match="whole numbers"):
        service.retry(sqlite_parts.sessions, [2**64])
    with sqlite_parts.sessions() as session, pytest.raises(InvalidInput):
        service.list_entries(session, "exploded")


def test_concurrent_workers_never_claim_the_same_row(parts: Parts) -> None:
    for i in range(12):
        service.receive_raw(parts, RAW.replace(b"0001@mail", f"{i:04d}x@mail".encode()), "smtp")
    claims: dict[str, list[int]] = {}

    def claim(name: str) -> None:
        with transaction(parts.sessions) as session:
            claims[name] = ledger_store.claim(session, worker=name, limit=12, lease=timedelta(minutes=5))

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [i for ids in claims.values() for i in ids]
    assert len(everything) == len(set(everything)) == 12


def test_postgres_claims_skip_rows_locked_by_another_transaction(postgres_url: str, settings) -> None:
    built = Parts(settings.model_copy(update={"database_url": postgres_url}))
    built.migrate()
    try:
        first = service.receive_raw(built, RAW, "smtp")
        second = service.receive_raw(built, RAW.replace(b"0001@mail", b"0002@mail"), "smtp")
        with built.sessions() as holder, holder.begin():
            held = ledger_store.claim(holder, worker="a", limit=1, lease=timedelta(minutes=5))
            assert held == [first.id]
            # While "a" has not committed, "b" skips the locked row instead of waiting for it.
            with transaction(built.sessions) as other:
                assert ledger_store.claim(other, worker="b", limit=5, lease=timedelta(minutes=5)) == [second.id]
    finally:
        built.close()


def test_an_expired_lease_makes_a_row_claimable_again(sqlite_parts: Parts) -> None:
    entry = service.receive_raw(sqlite_parts, RAW, "smtp")
    with transaction(sqlite_parts.sessions) as session:
        assert ledger_store.claim(session, worker="dead", limit=5, lease=timedelta(seconds=-1)) == [entry.id]
    worker = Worker(sqlite_parts, worker_id="alive")
    assert worker.process_pending() == 1
    with sqlite_parts.sessions() as session:
        done = service.get_entry(session, entry.id)
    assert (done.outcome, done.attempts) == ("tasks_created", 2)


def test_a_message_that_keeps_killing_workers_is_failed_not_retried_forever(sqlite_parts: Parts) -> None:
    entry = service.receive_raw(sqlite_parts, RAW, "smtp")
    for _ in range(ledger_store.MAX_ATTEMPTS):
        with transaction(sqlite_parts.sessions) as session:
            ledger_store.claim(session, worker="dies", limit=1, lease=timedelta(seconds=-1))
    assert Worker(sqlite_parts).process_pending() == 0
    with sqlite_parts.sessions() as session:
        done = service.get_entry(session, entry.id)
    assert done.outcome == "failed" and "gave up after 5 attempts" in (done.error or "")
