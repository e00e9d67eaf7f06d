"""Forged forwards: a pasted forward block credits the customer it names only when one of the team sent it."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from intake_support import free_port
from sqlalchemy import select

from handoff.intake import service
from handoff.intake.reading import read_email
from handoff.intake.sources.smtp import smtp_inbox
from handoff.intake.team import NOBODY, Team
from handoff.store.crm_tables import CRM_TABLES
from handoff.wiring import Parts

TEAM = Team.of(addresses=["sam@handoff-demo.com"], domains=["handoff.local"])
ASK = "Please wire the refund of 50,000 EUR to the new account by Friday."


def pasted(sender: str, style: str = "gmail", subject: str = "Fwd: Refund") -> bytes:
    """A mail from `sender` whose body is a forward block of Alice Chen, Acme's contact, as a client prints it."""
    header = {
        "gmail": "---------- Forwarded message ---------\nFrom: Alice Chen <alice.chen@acme-corp.com>\n"
        "Date: Mon, 2 Mar 2026 at 10:00\nSubject: Refund\nTo: Sam <sam@handoff-demo.com>\n",
        "outlook": "-----Original Message-----\nFrom: Alice Chen <alice.chen@acme-corp.com>\n"
        "Sent: Monday, March 2, 2026 10:00 AM\nTo: Sam\nSubject: Refund\n",
        "apple": "Begin forwarded message:\n\nFrom: Alice Chen <alice.chen@acme-corp.com>\nSubject: Refund\n"
        "Date: 2 March 2026 at 10:00:00 CET\nTo: Sam <sam@handoff-demo.com>\n",
    }[style]
    return (
        f"From: {sender}\r\nTo: tasks@handoff.local\r\nSubject: {subject}\r\nMessage-ID: <{style}.{sender}>\r\n"
        f"Date: Tue, 3 Mar 2026 09:00:00 +0000\r\n\r\nFYI\r\n\r\n{header}\n{ASK}\n"
    ).encode()


def attached(sender: str) -> bytes:
    """Alice's mail forwarded as an attachment (message/rfc822) by `sender`."""
    inner = EmailMessage()
    inner["From"], inner["To"], inner["Subject"] = (
        "Alice Chen <alice.chen@acme-corp.com>",
        "sam@handoff-demo.com",
        "Refund",
    )
    inner["Date"] = "Mon, 02 Mar 2026 10:00:00 +0100"
    inner.set_content(ASK)
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = sender, "tasks@handoff.local", "Fwd: Refund"
    outer["Message-ID"] = f"<attached.{sender}>"
    outer.set_content("See attached.")
    outer.add_attachment(inner)
    return outer.as_bytes()


@pytest.mark.parametrize("style", ["gmail", "outlook", "apple"])
def test_an_outsiders_pasted_forward_is_their_own_text(style: str) -> None:
    reading = read_email(pasted("Eve <eve@evil.example>", style), team=TEAM)
    assert reading.sender.email == "eve@evil.example" and reading.hops == [] and reading.forwarded_by is None
    assert reading.forward_refused == "forward not trusted: outer sender eve@evil.example is not on the team"
    assert reading.claimed_sender.email == "alice.chen@acme-corp.com"
    assert ASK in reading.text  # still read for tasks, on Eve's behalf
    assert reading.subject == "Fwd: Refund"  # the subject Eve wrote, not the one her block claims


@pytest.mark.parametrize("style", ["gmail", "outlook", "apple"])
def test_a_team_members_forward_credits_the_customer(style: str) -> None:
    for sender in ("Sam <sam@handoff-demo.com>", "ops@handoff.local", "x@mail.handoff.local"):  # roster, our domains
        reading = read_email(pasted(sender, style), team=TEAM)
        assert reading.sender.email == "alice.chen@acme-corp.com", sender
        assert reading.forward_refused is None and reading.forwarded_by is not None and len(reading.hops) == 1


def test_a_reader_told_nothing_about_the_team_believes_no_forward() -> None:
    reading = read_email(pasted("Sam <sam@handoff-demo.com>"))
    assert reading.sender.email == "sam@handoff-demo.com" and "not on the team" in reading.forward_refused
    assert read_email(pasted("Sam <sam@handoff-demo.com>"), team=NOBODY).sender.email == "sam@handoff-demo.com"


def test_a_look_alike_domain_is_not_ours() -> None:
    for sender in ("sam@handoff-demo.com.evil.example", "sam@evilhandoff.local", "sam@handoff-demo.co"):
        assert read_email(pasted(sender), team=TEAM).sender.email == sender


def test_a_forward_attached_as_a_message_is_believed_from_the_team_only() -> None:
    from_eve = read_email(attached("eve@evil.example"), team=TEAM)
    assert from_eve.sender.email == "eve@evil.example" and from_eve.hops == []
    assert from_eve.forward_refused == "forward not trusted: outer sender eve@evil.example is not on the team"
    assert ASK in from_eve.text and from_eve.claimed_sender.email == "alice.chen@acme-corp.com"
    from_sam = read_email(attached("sam@handoff-demo.com"), team=TEAM)
    assert from_sam.sender.email == "alice.chen@acme-corp.com" and from_sam.forward_refused is None


def test_trust_stops_at_the_first_forwarder_who_is_not_on_the_team() -> None:
    """Sam innocently forwards what Eve "forwarded": the mail is Eve's, never the customer's Eve named."""
    eve = pasted("eve@evil.example").decode().split("\r\n\r\n", 1)[1]
    raw = (
        "From: Sam <sam@handoff-demo.com>\r\nTo: tasks@handoff.local\r\nSubject: Fwd: Fwd: Refund\r\n\r\n"
        "---------- Forwarded message ---------\nFrom: Eve <eve@evil.example>\nDate: Mon, 2 Mar 2026 at 11:00\n"
        f"Subject: Fwd: Refund\nTo: Sam <sam@handoff-demo.com>\n\n{eve}"
    ).encode()
    reading = read_email(raw, team=TEAM)
    assert reading.sender.email == "eve@evil.example" and len(reading.hops) == 1
    assert reading.forward_refused == "forward not trusted: forwarder eve@evil.example is not on the team"
    chain = raw.replace(b"Eve <eve@evil.example>", b"Priya <priya@handoff.local>")  # a colleague in the middle
    assert read_email(chain, team=TEAM).sender.email == "alice.chen@acme-corp.com"


# --- through the real SMTP inbox, the worker and the task service ---------------------------------------------------


@pytest.fixture
def open_inbox(crm_parts: Parts) -> Iterator[tuple[Parts, int]]:
    """The inbox as shipped: any sender domain; the team is the CRM roster and the inbox's own domain."""
    port = free_port()
    with smtp_inbox(crm_parts, "127.0.0.1", port):
        yield crm_parts, port


def _deliver(port: int, envelope_from: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        assert client.sendmail(envelope_from, ["tasks@handoff.local"], raw) == {}


def test_a_forged_forward_through_smtp_is_not_credited_to_the_customer(open_inbox: tuple[Parts, int]) -> None:
    parts, port = open_inbox
    _deliver(port, "eve@evil.example", pasted("Eve <eve@evil.example>"))
    _deliver(port, "sam@handoff-demo.com", pasted("Sam Rep <sam@handoff-demo.com>"))  # the same block, from the team
    service.process_pending(parts)
    with parts.sessions() as session:
        forged, genuine = sorted(service.list_entries(session), key=lambda e: e.id)
        tasks = CRM_TABLES["tasks"]
        accounts = {
            ledger_id: set(session.execute(select(tasks.c.account_id).where(tasks.c.id.in_(entry.task_ids))).scalars())
            for ledger_id, entry in ((forged.id, forged), (genuine.id, genuine))
        }
    assert forged.sender == "Eve <eve@evil.example>" and forged.account_id is None and forged.contact_id is None
    assert forged.reason.startswith("forward not trusted: outer sender eve@evil.example is not on the team")
    assert forged.details["forward_not_trusted"]["claimed_sender"] == "Alice Chen <alice.chen@acme-corp.com>"
    assert forged.task_ids and accounts[forged.id] == {None}  # Eve's ask is reviewed as Eve's, on no account
    assert genuine.sender == "Alice Chen <alice.chen@acme-corp.com>" and genuine.account_id == "acc-acme"
    assert genuine.forwarded_by == "Sam Rep <sam@handoff-demo.com>" and "forward_not_trusted" not in genuine.details
    assert genuine.task_ids and accounts[genuine.id] == {"acc-acme"}
