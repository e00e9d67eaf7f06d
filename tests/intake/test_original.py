"""`intake.original`: a ledger message as a person reads it, and the bound that never shows a token cut in two."""

from __future__ import annotations

from handoff.access.masking import ContactMask
from handoff.intake.original import TOKEN_MARGIN, bounded, read


def test_a_mail_is_read_with_its_headers_text_and_attachments() -> None:
    raw = (
        b"From: =?utf-8?q?J=C3=B6rg?= <joerg@acme.example>\r\nTo: a@ourco.example, B <b@ourco.example>\r\n"
        b"Date: Tue, 03 Mar 2026 09:15:00 +0100\r\nSubject: Hi\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nBody.\r\n'
        b'--b\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename="x.csv"\r\n\r\na,b\r\n--b--\r\n'
    )
    found = read(raw, "email")
    assert found.sender == "Jörg <joerg@acme.example>" and found.to == "a@ourco.example, B <b@ourco.example>"
    assert found.date is not None and found.date.isoformat() == "2026-03-03T08:15:00+00:00"
    assert found.body == "Body." and not found.html_only
    assert [(a.filename, a.content_type) for a in found.attachments] == [("x.csv", "text/csv")]


def test_html_only_mail_is_its_text_and_notes_are_their_text() -> None:
    html = read(b"Subject: x\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>there</b></p><script>x()</script>", "email")
    assert html.html_only and "<" not in html.body and "Hello" in html.body
    notes = read("Kickoff – Anna will send the plan.".encode(), "notes")
    assert notes.body == "Kickoff – Anna will send the plan." and notes.sender == ""


def test_bounded_cuts_at_the_limit_and_shows_all_of_a_short_body() -> None:
    assert bounded("short body", 100, lambda text: text) == "short body"
    assert bounded("x" * 5000, 100, lambda text: text) == "x" * 100


def test_bounded_widens_the_window_when_masking_shortens_it_and_drops_the_cut_token() -> None:
    mask = ContactMask().text
    long_address = "a" * 60 + "@acme.example "  # 74 characters, masked to 18
    body = long_address * 200 + "jennifer.liu@acme.example " + "tail " * 100
    seen: list[int] = []

    def show(text: str) -> str:
        seen.append(len(text))
        return mask(text)

    shown = bounded(body, 500, show)
    assert len(shown) == 500 and "aaaa" not in shown and shown.startswith("a***@acme.example a***@acme.example")
    assert seen[0] == 500 + TOKEN_MARGIN and len(seen) > 1  # the first window masked too short: widened


def test_bounded_never_shows_an_address_split_at_the_windows_edge() -> None:
    limit = 100
    body = "x" * (limit + TOKEN_MARGIN - len("jennifer.liu@ac")) + "jennifer.liu@acme.example and more " * 50
    assert "jennifer" not in bounded(body, limit, ContactMask().text)
    assert bounded(body, limit, ContactMask().text) == "x" * limit
