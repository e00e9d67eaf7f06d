"""The SMTP inbox on loopback, driven by smtplib: who may send, size limits, 250 only once the mail is durable."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest
from intake_support import CORPUS, free_port

from handoff.intake import service
from handoff.intake.sources.smtp import smtp_inbox
from handoff.wiring import Parts


@pytest.fixture
def inbox(crm_parts: Parts) -> Iterator[tuple[Parts, int]]:
    settings = crm_parts.settings.model_copy(
        update={
            "inbox": crm_parts.settings.inbox.model_copy(
                update={"allowed_sender_domains": ["handoff-demo.com", "acme-corp.com"], "max_message_bytes": 50_000}
            )
        }
    )
    parts = Parts(settings)
    port = free_port()
    server = smtp_inbox(parts, "127.0.0.1", port)
    server.start()
    try:
        yield parts, port
    finally:
        server.stop()
        parts.close()


def test_forwarded_mail_through_smtp_becomes_tasks_credited_to_the_customer(inbox: tuple[Parts, int]) -> None:
    parts, port = inbox
    raw = (CORPUS / "gmail_forward_en.eml").read_bytes()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        refused = client.sendmail("sam@handoff-demo.com", ["tasks@handoff.local"], raw)
        assert refused == {}
        # The same mail sent again (a client retry): acknowledged, and ledgered as a duplicate.
        client.sendmail("sam@handoff-demo.com", ["tasks@handoff.local"], raw)
    service.process_pending(parts)
    with parts.sessions() as session:
        entries = service.list_entries(session)
    assert [(e.source, e.display_status) for e in reversed(entries)] == [
        ("smtp", "tasks_created"),
        ("smtp", "duplicate"),
    ]
    assert entries[-1].sender == "Alice Chen <alice.chen@acme-corp.com>" and entries[-1].account_id == "acc-acme"


def test_a_line_longer_than_rfc_5321_allows_still_reaches_the_ledger(inbox: tuple[Parts, int]) -> None:
    """Real senders write one-line HTML bodies and unfolded recipient lists; these once got "500 Line too long"."""
    parts, port = inbox
    recipients = ", ".join(f"person{i}@acme-corp.com" for i in range(200))  # one header line of ~4.6 KB
    raw = (
        f"From: alice.chen@acme-corp.com\r\nTo: tasks@handoff.local, {recipients}\r\nSubject: Plan\r\n"
        "Content-Type: text/html\r\n\r\n<p>" + "Please send the plan by Friday. " * 60 + "</p>\r\n"
    ).encode()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        assert client.sendmail("alice.chen@acme-corp.com", ["tasks@handoff.local"], raw) == {}
    with parts.sessions() as session:
        assert [e.subject for e in service.list_entries(session)] == ["Plan"]


def test_unknown_recipients_and_senders_are_refused_at_the_envelope(inbox: tuple[Parts, int]) -> None:
    parts, port = inbox
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail("sam@handoff-demo.com", ["someone-else@handoff.local"], b"Subject: x\r\n\r\nhi\r\n")
        assert refused.value.recipients["someone-else@handoff.local"][0] == 550
        with pytest.raises(smtplib.SMTPSenderRefused) as sender:
            client.sendmail("spam@evil.example", ["tasks@handoff.local"], b"Subject: x\r\n\r\nhi\r\n")
        assert sender.value.smtp_code == 550
        # Subdomains of an allowed domain are allowed; case does not matter.
        client.sendmail("Alice@Mail.Acme-Corp.com", ["TASKS@handoff.local"], b"Subject: ok\r\n\r\nPlease do it.\r\n")
    with parts.sessions() as session:
        assert len(service.list_entries(session)) == 1


def test_mail_over_the_size_limit_is_refused(inbox: tuple[Parts, int]) -> None:
    parts, port = inbox
    big = b"Subject: big\r\n\r\n" + (b"y" * 70 + b"\r\n") * 900  # ~65 kB in short lines, over 50 kB
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        # A client that declares the size (ESMTP SIZE) is refused at MAIL FROM ...
        with pytest.raises(smtplib.SMTPSenderRefused) as declared:
            client.sendmail("sam@handoff-demo.com", ["tasks@handoff.local"], big)
        assert declared.value.smtp_code == 552
        # ... and one that does not is refused after DATA.
        client.rset()
        assert client.mail("sam@handoff-demo.com")[0] == 250
        assert client.rcpt("tasks@handoff.local")[0] == 250
        code, _ = client.data(big)
        assert code == 552
    with parts.sessions() as session:
        assert service.list_entries(session) == []


def test_a_store_failure_answers_a_temporary_error_so_the_sender_retries(inbox: tuple[Parts, int]) -> None:
    parts, port = inbox
    raw_dir = parts.settings.raw_mail_dir
    if raw_dir.exists():
        raw_dir.rmdir()  # empty: nothing was received yet
    raw_dir.parent.mkdir(parents=True, exist_ok=True)
    raw_dir.write_text("not a folder")  # the raw store is broken: nothing can be made durable
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client, pytest.raises(smtplib.SMTPDataError) as error:
            client.sendmail("sam@handoff-demo.com", ["tasks@handoff.local"], b"Subject: x\r\n\r\nPlease.\r\n")
        assert error.value.smtp_code == 451
    finally:
        raw_dir.unlink()
    with parts.sessions() as session:
        assert service.list_entries(session) == []


def _impatient_inbox(parts: Parts, store_wait_s: float):
    """An inbox whose database gives up on a lock after 0.2 s, so a held lock is felt at once."""
    settings = parts.settings.model_copy(
        update={
            "database_busy_timeout_s": 0.2,
            "inbox": parts.settings.inbox.model_copy(update={"store_wait_s": store_wait_s}),
        }
    )
    impatient = Parts(settings)
    return impatient, smtp_inbox(impatient, "127.0.0.1", free_port())


def test_a_busy_database_is_waited_out_not_answered_451(crm_parts: Parts) -> None:
    """The worker's long write once made deliveries answer 451; a lock held past the busy timeout is now retried."""
    import threading
    import time

    from sqlalchemy import update

    from handoff.intake.tables import ledger

    impatient, server = _impatient_inbox(crm_parts, store_wait_s=30)
    held = threading.Event()

    def hold_the_write_lock() -> None:  # another writer (the worker's final transaction) for 1.5 s
        with crm_parts.engine.connect() as holder, holder.begin():
            holder.execute(update(ledger).values(subject="held"))
            held.set()
            time.sleep(1.5)

    holder = threading.Thread(target=hold_the_write_lock)
    with server:
        holder.start()
        held.wait(10)
        with smtplib.SMTP("127.0.0.1", server.controller.port, timeout=60) as client:
            assert (
                client.sendmail("sam@handoff-demo.com", ["tasks@handoff.local"], b"Subject: x\r\n\r\nPlease.\r\n") == {}
            )
        holder.join()
    assert server.handler.busy_retries > 0  # it met the lock, and waited instead of answering 451
    with crm_parts.sessions() as session:
        assert [e.subject for e in service.list_entries(session)] == ["x"]
    impatient.close()


def test_a_lock_that_never_frees_ends_in_451_after_the_bounded_wait(crm_parts: Parts) -> None:
    from sqlalchemy import update

    from handoff.intake.tables import ledger

    impatient, server = _impatient_inbox(crm_parts, store_wait_s=1.0)
    with server, crm_parts.engine.connect() as holder, holder.begin():
        holder.execute(update(ledger).values(subject="held"))
        client = smtplib.SMTP("127.0.0.1", server.controller.port, timeout=60)
        with client, pytest.raises(smtplib.SMTPDataError) as error:
            client.sendmail("sam@handoff-demo.com", ["tasks@handoff.local"], b"Subject: x\r\n\r\nPlease.\r\n")
    assert error.value.smtp_code == 451 and server.handler.busy_retries >= 1
    impatient.close()
