"""Ledger to tasks: forwarded mail credited and linked to the customer, threads that never cross customers."""

from __future__ import annotations

from datetime import UTC, datetime

from intake_support import CORPUS

from handoff.access import audit
from handoff.intake import service
from handoff.wiring import Parts


def _ingest(parts: Parts, *names: str) -> list:
    ids = [service.receive_raw(parts, (CORPUS / name).read_bytes(), "test").id for name in names]
    service.process_pending(parts)
    with parts.sessions() as session:
        return [service.get_entry(session, i) for i in ids]


def test_forwarded_mail_is_credited_and_linked_to_the_customer(crm_parts: Parts) -> None:
    (entry,) = _ingest(crm_parts, "gmail_forward_en.eml")
    assert entry.outcome == "tasks_created"
    assert entry.sender == "Alice Chen <alice.chen@acme-corp.com>"
    assert entry.forwarded_by == "Sam Rep <sam@handoff-demo.com>"
    assert (entry.contact_id, entry.account_id, entry.project_id) == ("con-alice", "acc-acme", "prj-acme-web")
    assert entry.links["method"] == "contact-email" and entry.links["project_confidence"] > 0.8
    assert entry.details["hops"][0]["style"] == "forwarded-marker"
    with crm_parts.sessions() as session:  # the AI read the customer's mail: that read is in the audit log
        (read,) = audit.list_entries(session, subject=f"ledger:{entry.id}")
    assert (read.actor, read.action) == ("ai:offline", audit.READ_CONTACT_DATA)
    assert read.detail == {"contact_id": "con-alice", "account_id": "acc-acme"}


def test_chinese_outlook_forward_links_by_domain_when_the_contact_is_unknown(crm_parts: Parts) -> None:
    (entry,) = _ingest(crm_parts, "outlook_forward_zh_gbk.eml")
    assert entry.sender == "张伟 <zhangwei@huaxin-tech.cn>"
    assert (entry.contact_id, entry.account_id, entry.project_id) == (None, "acc-huaxin", "prj-huaxin-crm")
    assert entry.links["method"] == "domain" and entry.links["account_confidence"] < 0.9
    assert entry.sent_at == datetime(2025, 3, 4, 6, 30, tzinfo=UTC)


def test_a_reply_joins_its_thread_by_headers(crm_parts: Parts) -> None:
    first, reply = _ingest(crm_parts, "gmail_forward_en.eml", "reply_quote_signature.eml")
    assert reply.outcome == "threaded" and reply.thread_id == first.thread_id
    assert reply.details["thread"] == "reference"
    assert first.task_ids and reply.task_ids  # the reply's ask went to the task service with the thread's id


def test_subject_fallback_joins_the_same_customer_only(crm_parts: Parts) -> None:
    (first,) = _ingest(crm_parts, "outlook_forward_en_qp_latin1.eml")  # Globex: "Invoice discrepancy"
    same = service.receive_raw(
        crm_parts,
        b"From: Bob Miller <bob.miller@globex.com>\r\nSubject: RE: Invoice discrepancy\r\n"
        b"Message-ID: <g2@globex.com>\r\nDate: Tue, 7 Jan 2025 09:00:00 -0500\r\n\r\nPlease also fix February.\r\n",
        "test",
    )
    other = service.receive_raw(
        crm_parts,
        b"From: Alice Chen <alice.chen@acme-corp.com>\r\nSubject: RE: Invoice discrepancy\r\n"
        b"Message-ID: <a2@acme-corp.com>\r\nDate: Tue, 7 Jan 2025 09:00:00 -0800\r\n\r\n"
        b"Please check our invoice too.\r\n",
        "test",
    )
    service.process_pending(crm_parts)
    with crm_parts.sessions() as session:
        same, other = service.get_entry(session, same.id), service.get_entry(session, other.id)
    assert (same.outcome, same.thread_id, same.details["thread"]) == ("threaded", first.thread_id, "subject")
    assert other.outcome == "tasks_created" and other.thread_id != first.thread_id
    assert other.account_id == "acc-acme"


def test_reply_headers_from_another_customer_open_a_new_thread(crm_parts: Parts) -> None:
    (first,) = _ingest(crm_parts, "gmail_forward_en.eml")
    hijack = service.receive_raw(
        crm_parts,
        b"From: Bob Miller <bob.miller@globex.com>\r\nSubject: Re: Website relaunch: next steps\r\n"
        b"Message-ID: <hijack@globex.com>\r\nIn-Reply-To: <CAGmail-fwd-0001@mail.gmail.com>\r\n\r\n"
        b"Please send us the same.\r\n",
        "test",
    )
    service.process_pending(crm_parts)
    with crm_parts.sessions() as session:
        hijack = service.get_entry(session, hijack.id)
    assert hijack.thread_id != first.thread_id and hijack.account_id == "acc-globex"
    assert hijack.details["thread"].startswith("new: reply headers point at thread")


def test_notes_rejections_and_no_tasks_each_get_an_outcome(crm_parts: Parts) -> None:
    notes = service.receive_notes(crm_parts, (CORPUS / "kickoff_notes.md").read_text(), "markdown", None, "Sam Rep")
    rejected = _ingest(crm_parts, "dsn_bounce.eml", "garbage_bytes.eml", "auto_reply_zh.eml")
    quiet = service.receive_raw(crm_parts, b"From: x@acme-corp.com\r\nSubject: thanks\r\n\r\nGreat meeting.\r\n", "t")
    service.process_pending(crm_parts)
    with crm_parts.sessions() as session:
        notes, quiet = service.get_entry(session, notes.id), service.get_entry(session, quiet.id)
    assert [e.outcome for e in rejected] == ["rejected"] * 3
    assert notes.kind == "notes" and notes.outcome == "tasks_created" and notes.sender == "Sam Rep"
    assert (quiet.outcome, quiet.reason) == ("no_tasks", "no action items found")


def test_a_parse_over_the_time_limit_is_rejected(crm_parts: Parts) -> None:
    settings = crm_parts.settings.model_copy(
        update={"inbox": crm_parts.settings.inbox.model_copy(update={"parse_timeout_s": 0.0})}
    )
    limited = Parts(settings)
    try:
        entry = service.receive_raw(limited, (CORPUS / "gmail_forward_en.eml").read_bytes(), "test")
        service.process_pending(limited)
        with limited.sessions() as session:
            done = service.get_entry(session, entry.id)
        assert done.outcome == "rejected" and "parse time limit" in (done.reason or "")
    finally:
        limited.close()


def test_a_missing_raw_file_fails_the_message_without_stopping_the_worker(crm_parts: Parts) -> None:
    broken = service.receive_raw(crm_parts, b"From: a@acme-corp.com\r\nSubject: x\r\n\r\nPlease do A.\r\n", "t")
    fine = service.receive_raw(crm_parts, b"From: a@acme-corp.com\r\nSubject: y\r\n\r\nPlease do B.\r\n", "t")
    with crm_parts.sessions() as session:
        from handoff.intake.ledger import raw_path_of

        (crm_parts.settings.raw_mail_dir / raw_path_of(session, broken.id)).unlink()
    assert service.process_pending(crm_parts) == 2
    with crm_parts.sessions() as session:
        assert service.get_entry(session, broken.id).outcome == "failed"
        assert service.get_entry(session, fine.id).outcome == "tasks_created"


def test_a_deadlock_with_another_worker_is_retried_not_failed(crm_parts: Parts) -> None:
    """PostgreSQL ends one side of a deadlock between two workers' batches; that message is not at fault."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from handoff.intake.worker import TaskStage

    stage = TaskStage.real(crm_parts.settings)
    record, refusals = stage.record_tasks, []

    def busy_twice(session, **kwargs):
        if len(refusals) < 2:  # the batch's transaction, then the first try on its own
            refusals.append(kwargs["ledger_id"])
            raise OperationalError("INSERT INTO tasks ...", {}, sqlite3.OperationalError("database is locked"))
        return record(session, **kwargs)

    stage.record_tasks = busy_twice
    entry_id = service.receive_raw(crm_parts, (CORPUS / "gmail_forward_en.eml").read_bytes(), "test").id
    service.process_pending(crm_parts, stage=stage)
    with crm_parts.sessions() as session:
        entry = service.get_entry(session, entry_id)
    assert refusals == [entry_id, entry_id]
    assert (entry.outcome, entry.error, entry.attempts) == ("tasks_created", None, 1)
    assert entry.task_ids


def test_an_error_of_the_message_own_still_fails_it(crm_parts: Parts) -> None:
    from handoff.intake.worker import TaskStage

    stage = TaskStage.real(crm_parts.settings)

    def broken(session, **kwargs):
        raise ValueError("3 title vectors for 2 drafts")

    stage.record_tasks = broken
    entry_id = service.receive_raw(crm_parts, (CORPUS / "gmail_forward_en.eml").read_bytes(), "test").id
    service.process_pending(crm_parts, stage=stage)
    with crm_parts.sessions() as session:
        entry = service.get_entry(session, entry_id)
    assert entry.outcome == "failed" and entry.error == "ValueError: 3 title vectors for 2 drafts"
