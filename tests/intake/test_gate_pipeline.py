"""The gate end to end: real mail through the SMTP inbox on loopback becomes `spam` or `bulk`, a spoofed From is not
credited, and a person releases quarantined mail through the CLI and the API (processed again, nothing deleted)."""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from intake_support import free_port, keyword_stage
from sqlalchemy import select
from typer.testing import CliRunner

from handoff.access import audit
from handoff.access.keys import create_key
from handoff.api.app import create_app
from handoff.cli.main import build_app
from handoff.errors import Conflict
from handoff.intake import service
from handoff.intake.ledger import raw_path_of
from handoff.intake.sources.smtp import smtp_inbox
from handoff.intake.spam_model import SpamModel
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.wiring import Parts

PHISH = "mail_spam_ham/nazario_phishing/phishing1/phishing1_msg0236.eml"
BARE_SPAM = "spamassassin_20050311/spam_2/00005.ed0aba4d386c5e62bc737cf3f0ed9589"  # no verdict or list header
LIST_MAIL = "mail_spam_ham/spamassassin_20030228/easy_ham_2/00001.1a31cc283af0060967a233d26548a6ce"


def _mail(sender: str, subject: str, extra: str = "", body: str = "Could you wire the refund today?") -> bytes:
    head = f"{extra}From: {sender}\r\nTo: tasks@handoff.local\r\nSubject: {subject}\r\n"
    head += f"Message-ID: <{abs(hash(subject))}@mail.test>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
    return f"{head}\r\n{body}\r\n".encode()


ALICE = "Alice Chen <alice.chen@acme-corp.com>"
DMARC_FAIL = "Authentication-Results: mx.handoff.example; spf=none; dkim=none; dmarc=fail header.from=acme-corp.com\r\n"


@pytest.fixture
def open_inbox(crm_parts: Parts) -> Iterator[tuple[Parts, int]]:
    """The inbox as shipped: any sender domain (the setting's warning says so)."""
    assert crm_parts.settings.warnings()[0].startswith("HANDOFF_INBOX__ALLOWED_SENDER_DOMAINS is empty")
    port = free_port()
    with smtp_inbox(crm_parts, "127.0.0.1", port):
        yield crm_parts, port


def _deliver(port: int, envelope_from: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        assert client.sendmail(envelope_from, ["tasks@handoff.local"], raw) == {}


def _by_subject(parts: Parts) -> dict[str, service.LedgerEntry]:
    with parts.sessions() as session:
        return {entry.subject: entry for entry in service.list_entries(session, limit=100)}


def _task_accounts(parts: Parts, entry: service.LedgerEntry) -> set[str | None]:
    tasks = CRM_TABLES["tasks"]
    with parts.sessions() as session:
        return set(session.execute(select(tasks.c.account_id).where(tasks.c.id.in_(entry.task_ids))).scalars())


@pytest.mark.datasets
def test_spam_bulk_and_a_spoofed_from_through_smtp(open_inbox: tuple[Parts, int], datasets_dir: Path) -> None:
    parts, port = open_inbox
    _deliver(port, "support_ref_37748980837915@ebay.com", (datasets_dir / PHISH).read_bytes())
    _deliver(port, "exmh-workers-admin@spamassassin.taint.org", (datasets_dir / LIST_MAIL).read_bytes())
    _deliver(port, "alice.chen@acme-corp.com", _mail(ALICE, "Refund (dmarc fail)", DMARC_FAIL))
    _deliver(port, "eve@evil.example", _mail(ALICE, "Refund (other envelope)"))
    _deliver(port, "alice.chen@acme-corp.com", _mail(ALICE, "Refund (genuine)"))
    _deliver(port, "sam@handoff-demo.com", _mail(ALICE, "Refund (redirected by Sam)"))
    service.process_pending(parts, stage=keyword_stage())
    entries = _by_subject(parts)
    phish = next(e for e in entries.values() if e.sender and e.sender.endswith("@ebay.com>"))
    assert (phish.outcome, phish.reason) == ("spam", "spam: X-Spam-Flag: YES (score=24.7 required=5.0)")
    listed = entries["Re: New Sequences Window"]
    assert (listed.outcome, listed.reason) == ("bulk", "bulk: List-Id <exmh-workers.spamassassin.taint.org>")
    assert listed.task_ids == [] and phish.task_ids == []

    failed, envelope = entries["Refund (dmarc fail)"], entries["Refund (other envelope)"]
    assert (failed.outcome, failed.reason) == ("spam", "forgery: dmarc=fail for acme-corp.com")
    assert envelope.outcome == "spam" and envelope.reason.startswith("forgery: envelope sender eve@evil.example")
    for forged in (failed, envelope):  # never credited: no contact, account, thread or task
        assert (forged.account_id, forged.contact_id, forged.thread_id, forged.task_ids) == (None, None, None, [])
        assert forged.details["forgery"]["would_link"]["account_id"] == "acc-acme"
    genuine, redirected = entries["Refund (genuine)"], entries["Refund (redirected by Sam)"]
    assert genuine.outcome == "tasks_created" and _task_accounts(parts, genuine) == {"acc-acme"}
    assert redirected.outcome in ("tasks_created", "threaded") and redirected.account_id == "acc-acme"
    with parts.sessions() as session:
        spam_ids = {e.id for e in service.list_entries(session, "spam")}
        raw_paths = [raw_path_of(session, i) for i in spam_ids]
    assert spam_ids == {phish.id, failed.id, envelope.id}
    assert all(path and (parts.settings.raw_mail_dir / path).is_file() for path in raw_paths)  # kept, to release


def _cli(parts: Parts, *args: str):
    env = {"HANDOFF_HOME": str(parts.settings.home), "HANDOFF_DATABASE_URL": ""}
    return CliRunner().invoke(build_app(), list(args), env=env)


def test_release_round_trip_through_the_cli_and_the_api(crm_parts: Parts) -> None:
    parts = crm_parts
    for subject, extra in (("Via CLI", DMARC_FAIL), ("Via API", DMARC_FAIL), ("Newsletter", "List-Id: <n.x>\r\n")):
        service.receive_raw(parts, _mail(ALICE, subject, extra), "smtp")
    service.receive_raw(parts, _mail(ALICE, "Plain"), "smtp")
    service.process_pending(parts, stage=keyword_stage())
    entries = _by_subject(parts)
    assert [entries[s].outcome for s in ("Via CLI", "Via API", "Newsletter", "Plain")] == [
        "spam", "spam", "bulk", "tasks_created"
    ]  # fmt: skip

    listed = _cli(parts, "ledger", "list", "--status", "spam", "--json")
    assert listed.exit_code == 0, listed.output
    assert {e["subject"] for e in json.loads(listed.stdout)["entries"]} == {"Via CLI", "Via API"}
    released = _cli(parts, "ledger", "release", str(entries["Via CLI"].id), "--actor", "dana", "--no-process", "--json")
    assert released.exit_code == 0, released.output
    assert json.loads(released.stdout)["entries"] == [{"id": entries["Via CLI"].id, "status": "received",
        "reason": "released by cli:dana; the gate had said: forgery: dmarc=fail for acme-corp.com"}]  # fmt: skip
    refused = _cli(parts, "ledger", "release", str(entries["Plain"].id))
    assert isinstance(refused.exception, Conflict)  # `handoff` prints it as one line and exits 1
    assert "only spam or bulk entries can be released" in str(refused.exception)

    app = create_app(parts=parts, models={}, key_cache_ttl_s=0)
    with transaction(parts.sessions) as session:
        admin, _ = create_key(session, role="admin", name="admin")
        machine, _ = create_key(session, role="integration", name="mail-provider")
    with TestClient(app, raise_server_exceptions=False) as client:
        api_id = entries["Via API"].id
        page = client.get("/v1/ledger?status=spam", headers={"Authorization": f"Bearer {machine}"}).json()
        assert [e["id"] for e in page["entries"]] == [api_id] and page["counts"]["spam"] == 1
        url = f"/v1/ledger/{api_id}/release"
        assert client.post(url, headers={"Authorization": f"Bearer {machine}"}).status_code == 403
        answer = client.post(url, headers={"Authorization": f"Bearer {admin}"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "received" and answer.json()["released_by"].startswith("key:")
        again = client.post(url, headers={"Authorization": f"Bearer {admin}"})
        assert again.status_code == 409  # already released: not spam any more
        assert client.post("/v1/ledger/999999/release", headers={"Authorization": f"Bearer {admin}"}).status_code == 404
        bulk_id = entries["Newsletter"].id
        assert (
            client.post(f"/v1/ledger/{bulk_id}/release", headers={"Authorization": f"Bearer {admin}"}).status_code
            == 200
        )

    # The worker processes them normally, without the gate: a person decided they are Alice's.
    service.process_pending(parts, stage=keyword_stage())
    after = _by_subject(parts)
    for subject in ("Via CLI", "Via API", "Newsletter"):
        entry = after[subject]
        assert entry.outcome in ("tasks_created", "threaded"), (subject, entry.reason)
        assert entry.account_id == "acc-acme" and _task_accounts(parts, entry) == {"acc-acme"}
        assert entry.reason.startswith("released by ") and entry.released_by
    assert after["Via CLI"].released_by == "cli:dana"
    with parts.sessions() as session:
        lines = [e for e in audit.list_entries(session) if e.action == audit.RELEASE_FROM_GATE]
    assert sorted((e.subject, e.detail["outcome"]) for e in lines) == sorted(
        [(f"ledger:{after[s].id}", o) for s, o in (("Via CLI", "spam"), ("Via API", "spam"), ("Newsletter", "bulk"))]
    )
    assert {e.actor for e in lines} >= {"cli:dana"} and lines[0].detail["reason"]


@pytest.mark.datasets
def test_the_content_classifier_quarantines_a_strangers_spam_but_believes_a_customer(
    crm_parts: Parts, datasets_dir: Path
) -> None:
    """The shipped classifier, as the worker runs it by default: real spam with no verdict header from a stranger is
    quarantined by its score; the same words from a customer's address (not forged) go on, the score kept beside."""
    spam = (datasets_dir / "mail_spam_ham" / BARE_SPAM).read_bytes()
    body = spam.split(b"\n\n", 1)[1].decode("latin-1")
    service.receive_raw(crm_parts, spam, "smtp")
    service.receive_raw(crm_parts, _mail(ALICE, "From a customer", body=body), "smtp")
    chinese = "王经理，生产环境的订单接口一直报错，麻烦尽快排查一下，下周一之前请把测试报告发给我们。谢谢！"
    service.receive_raw(crm_parts, _mail("Wang Fang <wangfang@huaxin.example>", "订单接口", body=chinese), "smtp")
    service.process_pending(crm_parts, stage=keyword_stage())
    entries = {e.sender: e for e in _by_subject(crm_parts).values()}
    customer = entries[ALICE]
    # No Chinese ham to learn from: the classifier has no opinion, and a stranger's Chinese mail is not quarantined.
    unjudged = next(e for sender, e in entries.items() if sender and "huaxin" in sender)
    assert unjudged.outcome != "spam" and unjudged.details["content_score"] is None
    stranger = next(e for sender, e in entries.items() if sender not in (ALICE, unjudged.sender))
    assert stranger.outcome == "spam" and stranger.reason.startswith("spam: content score ")
    assert (stranger.account_id, stranger.task_ids) == (None, [])
    assert customer.outcome != "spam" and customer.account_id == "acc-acme"
    # The model would have quarantined it; who sent it decided.
    assert customer.details["content_score"] >= SpamModel.load_default().threshold


def test_the_content_classifier_scores_a_batch_in_one_pass(crm_parts: Parts, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker hands the batch's mail to the classifier at once; a pass that fails is retried mail by mail, so the
    one mail that breaks the model fails alone and its batchmates keep their scores."""
    passes: list[int] = []
    shipped = SpamModel.content_scores

    def counted(model: SpamModel, mails: list) -> list[float | None]:
        passes.append(len(mails))
        if any("poison" in (mail.subject or "") for mail in mails):
            raise ValueError("the model cannot read this mail")
        return shipped(model, mails)

    monkeypatch.setattr(SpamModel, "content_scores", counted)
    subjects = ["Quote for the pilot", "Invoice question", "poison pill"]
    for subject in subjects:
        service.receive_raw(crm_parts, _mail(ALICE, subject, body="Could you send the signed quote by Friday?"), "t")
    service.process_pending(crm_parts, stage=keyword_stage())
    entries = _by_subject(crm_parts)
    assert passes == [3, 1, 1, 1]  # the batch, then each mail alone after it failed
    assert entries["poison pill"].outcome == "failed" and "cannot read" in entries["poison pill"].error
    for subject in subjects[:2]:
        assert entries[subject].outcome != "failed" and entries[subject].details["content_score"] is not None


def test_a_strangers_suspect_mail_keeps_only_its_explicit_asks(crm_parts: Parts) -> None:
    """A score in the band below the threshold (0.5 up to 0.9 here) quarantines nothing: the mail is read, but from
    a stranger only its explicit asks become tasks, and the ledger says why; a customer's mail keeps every task."""
    body = "Could you send the signed order form by Friday?\nPlease see our new offers for you.\n"
    service.receive_raw(crm_parts, _mail("Pat Doe <pat@unknown-shop.example>", "From a stranger", body=body), "smtp")
    service.receive_raw(crm_parts, _mail(ALICE, "From a customer", body=body), "smtp")
    service.receive_raw(crm_parts, _mail("Lee Roe <lee@unknown-shop.example>", "Calm", body=body), "smtp")
    scores = {"From a stranger": 0.7, "From a customer": 0.7, "Calm": 0.2}
    service.process_pending(crm_parts, stage=keyword_stage(), content_score=lambda mail: scores[mail.subject])
    entries = _by_subject(crm_parts)
    stranger, customer, calm = entries["From a stranger"], entries["From a customer"], entries["Calm"]
    assert stranger.outcome == "tasks_created" and len(stranger.task_ids) == 1
    assert stranger.details["suspect"] == {"reason": stranger.details["suspect"]["reason"], "tasks_dropped": 1}
    assert "suspect: content score 0.70" in stranger.reason
    assert customer.outcome == "tasks_created" and len(customer.task_ids) == 2 and "suspect" not in customer.details
    assert len(calm.task_ids) == 2 and "suspect" not in calm.details
