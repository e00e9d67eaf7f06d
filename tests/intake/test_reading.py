"""The corpus read without I/O: forwards credited to the original sender, charsets, quotes, signatures, rejections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from intake_support import CORPUS

from handoff.intake.cleaning import ForwardNote, read_forward_note
from handoff.intake.reading import message_text, read_email
from handoff.intake.team import Team

EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
OWN = ["tasks@handoff.local"]
TEAM = Team.of(domains=["handoff-demo.com"])  # the corpus's forwarders all work there


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_message_reads_as_expected(name: str) -> None:
    want = EXPECTED[name]
    reading = read_email((CORPUS / name).read_bytes(), own_addresses=OWN, team=TEAM)
    assert reading.forward_refused is None
    stopped = "rejected" if reading.rejection else (reading.verdict.outcome if reading.verdict else "accepted")
    assert stopped == want["status"], reading.rejection or reading.verdict
    if "reason_contains" in want:
        assert want["reason_contains"] in (reading.rejection or reading.verdict.reason)
    if "sender" in want:
        assert reading.sender is not None and reading.sender.email == want["sender"]
    if "sender_name" in want:
        assert reading.sender is not None and reading.sender.name == want["sender_name"]
    if "forwarded_by" in want:
        assert (reading.forwarded_by.email if reading.forwarded_by else None) == want["forwarded_by"]
    if "subject" in want:
        assert reading.subject == want["subject"]
    if "sent_at" in want:
        assert reading.sent_at.isoformat() == want["sent_at"]
    if "hops" in want:
        assert len(reading.hops) == want["hops"]
    for text in want.get("text_contains", []):
        assert text in reading.text
    for text in want.get("text_excludes", []):
        assert text not in reading.text
    for text in want.get("quoted_contains", []):
        assert text in reading.quoted
    for attachment in want.get("attachments", []):
        assert any(
            (a.filename, a.content_type, a.size)
            == (attachment["filename"], attachment["content_type"], attachment["size"])
            for a in reading.attachments
        ), reading.attachments


def test_corpus_covers_every_case_the_issue_names() -> None:
    names = " ".join(EXPECTED)
    cases = "gmail outlook_forward_zh apple thunderbird nested big5 iso2022jp gbk wrong_charset rfc2047 winmail"
    for case in (*cases.split(), "auto_reply", "dsn", "loop", "html_only", "garbage", "attachment"):
        assert case in names


def test_a_date_past_the_last_utc_day_is_no_date() -> None:
    """ "31 Dec 9999 -1200" parses but is 10000-01-01 in UTC: the message once failed with OverflowError."""
    from handoff.intake.mime import parse_date

    assert parse_date("Fri, 31 Dec 9999 23:59:59 -1200") is None
    assert parse_date("Fri, 27 Nov 2026 09:00:00 +0100").isoformat() == "2026-11-27T09:00:00+01:00"


def test_a_forward_without_an_address_keeps_the_name_for_linking() -> None:
    raw = (
        b"From: Sam <sam@handoff-demo.com>\r\nSubject: FW: Budget\r\nMessage-ID: <n@x>\r\n\r\n"
        b"-----Original Message-----\r\nFrom: Jane Doe\r\nSent: Monday, January 6, 2025 11:05 AM\r\n"
        b"Subject: Budget\r\n\r\nPlease send the budget.\r\n"
    )
    reading = read_email(raw, team=TEAM)
    assert reading.sender is not None and (reading.sender.name, reading.sender.email) == ("Jane Doe", "")
    assert reading.text.endswith("Please send the budget.")


def test_a_reply_whose_history_quotes_a_forward_is_still_a_reply() -> None:
    raw = (
        b"From: Bob <bob.miller@globex.com>\r\nSubject: Re: Plan\r\nMessage-ID: <r@x>\r\n\r\n"
        b"Looks good, please go ahead.\r\n\r\nOn Mon, Jan 6, 2025 at 9:00 AM Sam <sam@handoff-demo.com> wrote:\r\n"
        b"> ---------- Forwarded message ---------\r\n> From: Someone <x@y.com>\r\n> Subject: Plan\r\n>\r\n> old\r\n"
    )
    reading = read_email(raw)
    # The quoted forward belongs to the history; the author is the replier.
    assert reading.text == "Looks good, please go ahead."


@pytest.mark.parametrize("size", [0, 1, 17, 4096])
def test_any_bytes_read_without_raising(size: int) -> None:
    import random

    generator = random.Random(size)
    for _ in range(20):
        data = bytes(generator.randrange(256) for _ in range(size))
        read_email(data)
        read_email(b"From: a@b.c\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n" + data)


def test_parse_deadline_stops_a_slow_message() -> None:
    from handoff.intake.deadline import Deadline, ParseTimeout

    html = "<div>" * 20000 + "Please do X." + "</div>" * 20000
    raw = b"From: a@b.c\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n" + html.encode()
    with pytest.raises(ParseTimeout):
        read_email(raw, deadline=Deadline(0.0))


def test_files_in_corpus_are_all_described(corpus: Path) -> None:
    mails = {p.name for p in corpus.glob("*.eml")}
    assert mails == set(EXPECTED)


@pytest.mark.parametrize(
    ("note", "kept", "delegate"),
    [
        ("Can someone pick this up? Thanks", "Thanks", None),
        ("FYI", "", None),
        ("Hi team, could someone take care of this please?", "", None),
        ("请处理一下", "", None),
        ("Can you look into this? The customer is angry.", "The customer is angry.", None),
        # A named hand-off is not an ask either, but it says who takes the forwarded asks.
        ("Priya, can you pick this up?", "", "Priya"),
        ("Hi Priya, can you take this one? The customer is angry.", "The customer is angry.", "Priya"),
        ("@Priya please handle", "", "Priya"),
        ("李伟，请跟进一下", "", "李伟"),
        ("麻烦你跟进一下", "", None),
        # Real asks and anything more than a hand-off stay for extraction.
        ("Can you send them the SOW by Friday?", "Can you send them the SOW by Friday?", None),
        ("See below - they want a call on Monday.", "See below - they want a call on Monday.", None),
        ("Can you fix it?", "Can you fix it?", None),
    ],
)
def test_a_forwarders_hand_off_is_not_an_ask_of_its_own(note: str, kept: str, delegate: str | None) -> None:
    assert read_forward_note(note) == ForwardNote(kept, delegate)


def test_a_named_hand_off_makes_the_delegate_the_addressee_of_the_forwarded_asks() -> None:
    raw = (
        (CORPUS / "gmail_forward_en.eml")
        .read_bytes()
        .replace(b"Can someone pick this up?", b"Priya, can you take this one?")
    )
    reading = read_email(raw, own_addresses=OWN, team=TEAM)
    assert reading.delegate == "Priya" and "take this one" not in reading.text
    assert message_text(reading).delegate == "Priya"


def test_the_deepest_author_wins_however_many_hops() -> None:
    """A chain of twelve forwards was cut at ten: the ask was credited to a forwarder and lost."""
    from handoff.intake.forwards import find_forward

    hops = "".join(
        f"---------- Forwarded message ---------\nFrom: Person{i} <p{i}@acme-corp.com>\n"
        f"Date: Mon, 2 Mar 2026 at 10:{i:02d}\nSubject: Fwd: login\nTo: x@y.com\n\n"
        for i in range(12)
    )
    forward = find_forward("FYI\n\n" + hops + "Could you fix the login bug by Monday?", "Fwd: login")
    assert len(forward.hops) == 12 and forward.original.sender.email == "p11@acme-corp.com"
    assert forward.body == "Could you fix the login bug by Monday?"


def test_a_few_raw_8_bit_latin_letters_read_as_cp1252_not_as_a_guess() -> None:
    """Statistical guesses need more text than a subject: "caf\\xe9 plan" once landed as "caf\\ufee0 plan" (cp1006)."""
    from handoff.intake.charsets import decode_bytes
    from handoff.intake.mime import decode_header_value

    assert decode_header_value(b"caf\xe9 plan".decode("ascii", "surrogateescape")) == "café plan"
    for text in ("Señor García", "Grüße aus Köln", "naïve coöperation"):
        assert decode_bytes(text.encode("cp1252")) == (text, "cp1252")
    # Runs of 8-bit bytes are words of another script: those stay with the guesser (or the declared charset).
    assert decode_bytes("Привет".encode("cp1251"))[1] != "cp1252"
    assert decode_bytes("Привет мир".encode("cp1251"), "windows-1251")[0] == "Привет мир"


@pytest.mark.parametrize(
    ("body", "new_text", "signature"),
    [
        (
            "FYI, ignore the Nicor approval.\n\nThank you,\nClaudia\n\nWendi:  Please add Albert to your email list.\n",
            "FYI, ignore the Nicor approval.\n\n\nWendi:  Please add Albert to your email list.",
            "Thank you,\nClaudia",
        ),
        (
            "Please send it.\n\nBest regards,\nAnna Schmidt\n+49 30 1234\n\nP.S. Could you also bring the contract?",
            "Please send it.\n\n\nP.S. Could you also bring the contract?",
            "Best regards,\nAnna Schmidt\n+49 30 1234",
        ),
        (  # a signature's own lines stay the signature
            "Please send it.\n\nBest regards,\nAnna Schmidt\nSales: sales@ourco.example\n\nPhone: 123",
            "Please send it.",
            "Best regards,\nAnna Schmidt\nSales: sales@ourco.example\n\nPhone: 123",
        ),
    ],
)
def test_a_postscript_below_the_signature_is_new_text(body: str, new_text: str, signature: str) -> None:
    from handoff.intake.cleaning import split_reply

    cleaned = split_reply(body)
    assert (cleaned.text, cleaned.signature) == (new_text, signature)
