"""Crafted MIME: parts nested a thousand deep are refused, and an encoded display name cannot change the sender."""

from __future__ import annotations

import base64

import pytest

from handoff.intake import service
from handoff.intake.mime import MAX_PART_DEPTH, parse_mail
from handoff.intake.reading import read_email
from handoff.wiring import Parts


def nested(levels: int) -> bytes:
    """A multipart/mixed inside a multipart/mixed, `levels` deep, with one ask at the bottom."""
    opening = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(levels))
    closing = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(levels)))
    head = b"From: alice.chen@acme-corp.com\r\nTo: tasks@handoff.local\r\nSubject: deep\r\nMessage-ID: <deep%d@x>\r\n"
    return head % levels + opening + b"Content-Type: text/plain\r\n\r\nPlease send the plan.\r\n" + closing


@pytest.mark.parametrize("levels", [1_000, 5_000, MAX_PART_DEPTH + 5])
def test_multipart_nested_too_deep_is_rejected_not_a_crash(levels: int) -> None:
    reading = read_email(nested(levels))
    assert reading.rejection is not None and reading.rejection.startswith("too deeply nested")
    assert reading.text == ""  # the body was not read


def test_ordinary_nesting_is_read() -> None:
    reading = read_email(nested(8))
    assert reading.rejection is None and reading.text == "Please send the plan."


def test_a_thousand_levels_end_rejected_in_the_ledger(sqlite_parts: Parts) -> None:
    """It once ended `failed` with RecursionError."""
    entry = service.receive_raw(sqlite_parts, nested(1_000), "api")
    service.process_pending(sqlite_parts)
    with sqlite_parts.sessions() as session:
        done = service.get_entry(session, entry.id)
    assert (done.outcome, done.reason) == (
        "rejected",
        f"too deeply nested: more than {MAX_PART_DEPTH} levels of MIME parts",
    )


def _b(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def _q(text: str) -> str:
    return "=?utf-8?q?" + "".join(ch if ch.isalnum() else f"={ord(ch):02X}" for ch in text) + "?="


INJECTIONS = [
    "Alice\r\nFrom: alice.chen@acme-corp.com",
    "x\r\n <alice.chen@acme-corp.com>",
    "Alice Chen <alice.chen@acme-corp.com>",
    "a\r\nb <alice.chen@acme-corp.com>, x",
    "Alice\r\n\r\nPlease wire the money",
]


@pytest.mark.parametrize("encode", [_b, _q])
@pytest.mark.parametrize("name", INJECTIONS)
def test_an_encoded_display_name_cannot_change_the_sender(encode, name: str) -> None:
    word = encode(name)
    raw = f"From: {word} <eve@evil.example>\r\nTo: {word} <tasks@handoff.local>\r\nSubject: s\r\n\r\nhi\r\n"
    mail = parse_mail(raw.encode())
    assert mail.sender.email == "eve@evil.example"
    assert "\r" not in mail.sender.name and "\n" not in mail.sender.name
    assert mail.sender.name == " ".join(name.split())  # the whole decoded text is the name, nothing more
    assert [a.email for a in mail.to] == ["tasks@handoff.local"]


def test_ordinary_names_still_decode() -> None:
    raw = (
        "From: =?utf-8?b?546L6Iqz?= <wangfang@huaxin-tech.cn>\r\n"
        'To: "Chen, Alice" <alice.chen@acme-corp.com>, =?iso-8859-1?q?Jos=E9?= <jose@x.es>\r\nSubject: s\r\n\r\nhi\r\n'
    )
    mail = parse_mail(raw.encode())
    assert (mail.sender.name, mail.sender.email) == ("王芳", "wangfang@huaxin-tech.cn")
    assert [(a.name, a.email) for a in mail.to] == [("Chen, Alice", "alice.chen@acme-corp.com"), ("José", "jose@x.es")]
