"""Pure rules: meeting-note formats, threading rules, dates in forwarded headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from intake_support import CORPUS

from handoff.intake.dates import parse_loose_date
from handoff.intake.notes import detect_format, parse_notes
from handoff.intake.threads import (
    ThreadCandidate,
    customer_key,
    may_join_by_reference,
    may_join_by_subject,
    normalise_subject,
)


def test_markdown_notes_keep_checklists_and_turn_headings_into_cues() -> None:
    notes = parse_notes((CORPUS / "kickoff_notes.md").read_text(encoding="utf-8"), "markdown")
    assert notes.title == "Kickoff – Acme website relaunch"
    assert "Action items:" in notes.text.split("\n")
    assert "- [ ] @Priya review the SSO configuration by Friday" in notes.text
    assert "Launch moves to March 3" in notes.text
    assert notes.attendees == ("Alice Chen", "Sam Rep", "Priya Shah")


def test_webvtt_cues_become_speaker_lines_and_split_sentences_are_joined() -> None:
    notes = parse_notes((CORPUS / "standup.vtt").read_text(encoding="utf-8"), None)
    assert notes.format == "vtt"
    assert notes.text.split("\n") == [
        "Priya Shah: I will finish the data export by Wednesday.",
        "Sam Rep: Priya, please also send Acme the field mapping before the Thursday call.",
        "Let's wrap up.",
    ]
    assert notes.speakers == ("Priya Shah", "Sam Rep")


def test_plain_chinese_notes_keep_their_lines() -> None:
    notes = parse_notes((CORPUS / "call_notes_zh.txt").read_text(encoding="utf-8"), "text")
    assert "1. 李明负责在下周五前提交项目计划书。" in notes.text
    assert notes.attendees == ("王芳", "李明")


@pytest.mark.parametrize(
    ("text", "filename", "fmt"),
    [("WEBVTT\n\n00:00.000 --> 00:01.000\nhi", None, "vtt"), ("# Title\n- [ ] x", None, "markdown"),
     ("just words", None, "text"), ("# x", "a.txt", "text"), ("x", "n.vtt", "vtt")],
)  # fmt: skip
def test_notes_format_detection(text: str, filename: str | None, fmt: str) -> None:
    assert detect_format(text, filename) == fmt


@pytest.mark.parametrize(
    ("subject", "key"),
    [("RE: FW: [EXT] Rollout plan ", "rollout plan"), ("回复：转发: 项目进度", "项目进度"),
     ("AW: Wg: Angebot", "angebot"), ("Re[2]: Quote", "quote"), (None, "")],
)  # fmt: skip
def test_subject_normalisation(subject: str | None, key: str) -> None:
    assert normalise_subject(subject) == key


def test_customer_key_is_the_address_on_free_mail() -> None:
    assert customer_key("Alice@Acme-Corp.com") == "acme-corp.com"
    assert customer_key("someone@gmail.com") == "someone@gmail.com"
    assert customer_key("no-address") is None


NOW = datetime(2025, 1, 10, tzinfo=UTC)
ACME = ThreadCandidate("th1", "acme-corp.com", "acc-acme", "website relaunch", NOW)
INTERNAL = frozenset({"handoff-demo.com"})


def test_subject_fallback_never_crosses_customers() -> None:
    assert may_join_by_subject(ACME, "website relaunch", "acme-corp.com", None, NOW, INTERNAL)
    assert not may_join_by_subject(ACME, "website relaunch", "globex.com", None, NOW, INTERNAL)
    assert not may_join_by_subject(ACME, "website relaunch", "globex.com", "acc-globex", NOW, INTERNAL)
    assert not may_join_by_subject(ACME, "website relaunch", "handoff-demo.com", None, NOW, INTERNAL)
    assert not may_join_by_subject(ACME, "website relaunch", None, None, NOW, INTERNAL)


def test_subject_fallback_refuses_generic_subjects_and_old_threads() -> None:
    hello = ThreadCandidate("th2", "acme-corp.com", None, "hello", NOW)
    assert not may_join_by_subject(hello, "hello", "acme-corp.com", None, NOW, INTERNAL)
    assert not may_join_by_subject(ACME, "website relaunch", "acme-corp.com", None, NOW + timedelta(days=90), INTERNAL)


def test_reply_headers_join_unless_another_customer_wrote() -> None:
    assert may_join_by_reference(ACME, "acme-corp.com", None, INTERNAL)
    assert may_join_by_reference(ACME, "handoff-demo.com", None, INTERNAL)  # our rep replying in the thread
    assert not may_join_by_reference(ACME, "globex.com", "acc-globex", INTERNAL)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mon, Jan 6, 2025 at 4:30 PM", datetime(2025, 1, 6, 16, 30, tzinfo=UTC)),
        ("Monday, January 6, 2025 11:05 AM", datetime(2025, 1, 6, 11, 5, tzinfo=UTC)),
        ("January 9, 2025 at 2:15:00 PM GMT+1", datetime(2025, 1, 9, 14, 15, tzinfo=timezone(timedelta(hours=1)))),
        ("2025年1月7日周二 下午3:20", datetime(2025, 1, 7, 15, 20, tzinfo=UTC)),
        ("2025年3月4日 14:30", datetime(2025, 3, 4, 14, 30, tzinfo=UTC)),
        ("Sun, 12 Jan 2025 21:40:13 +0100", datetime(2025, 1, 12, 21, 40, 13, tzinfo=timezone(timedelta(hours=1)))),
        ("6 January 2025 09:00", datetime(2025, 1, 6, 9, 0, tzinfo=UTC)),
    ],
)
def test_forwarded_header_dates(text: str, expected: datetime) -> None:
    assert parse_loose_date(text, UTC) == expected


def test_unreadable_dates_are_none() -> None:
    assert parse_loose_date("sometime soon-ish ???", UTC) is None
    assert parse_loose_date("", UTC) is None
