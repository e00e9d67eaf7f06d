"""The one WebVTT reader, and both of its readers: meeting notes in intake, speakers for "I'll" in extraction."""

from __future__ import annotations

from pathlib import Path

from handoff.extraction.notes import from_webvtt
from handoff.intake.notes import parse_notes
from handoff.webvtt import Cue, is_webvtt, read_cues

STANDUP = (Path(__file__).parent / "intake" / "corpus" / "standup.vtt").read_text(encoding="utf-8")


def test_voices_tags_identifiers_and_header_blocks() -> None:
    text = (
        "\ufeffWEBVTT - a call\r\n\r\n"
        "STYLE\r\n::cue { color: white }\r\n\r\n"
        "intro-1\r\n00:01.000 --> 00:04,500 align:start\r\n<v.loud Anna Li>We <i>must</i> ship</v>\r\n\r\n"
        "NOTE nobody said this\r\n\r\n"
        "00:00:05.000 --> 00:00:07.000\r\n<v Ben>Yes.</v> <v Anna Li>Good.</v>\r\n\r\n"
        "00:00:08.000 --> 00:00:09.000\r\nDana: I'll send it\r\n\r\n"
        "00:00:10.000 --> 00:00:11.000\r\n<c.x>Bye</c>\r\n\r\n"
        "00:00:12.000 --> 00:00:13.000\r\n<v Ben></v>\r\n"
    )
    assert is_webvtt(text) and not is_webvtt("notes\nWEBVTT")
    assert read_cues(text) == [
        Cue("Anna Li", "We must ship"),
        Cue("Ben", "Yes."),
        Cue("Anna Li", "Good."),
        Cue("Dana", "I'll send it"),
        Cue(None, "Bye"),
    ]


def test_intake_joins_one_speakers_split_sentence_into_one_line() -> None:
    notes = parse_notes(STANDUP, None)
    assert notes.text.split("\n") == [
        "Priya Shah: I will finish the data export by Wednesday.",
        "Sam Rep: Priya, please also send Acme the field mapping before the Thursday call.",
        "Let's wrap up.",
    ]


def test_extraction_keeps_each_cue_a_paragraph_and_knows_who_said_it() -> None:
    text, speakers = from_webvtt(STANDUP)
    lines = text.split("\n")
    assert [line for line in lines if line] == [
        "I will finish the data export by Wednesday.",
        "Priya, please also send Acme the field mapping",
        "before the Thursday call.",
        "Let's wrap up.",
    ]
    assert {lines[index]: who for index, who in speakers.items()} == {
        "I will finish the data export by Wednesday.": "Priya Shah",
        "Priya, please also send Acme the field mapping": "Sam Rep",
        "before the Thursday call.": "Sam Rep",
    }


def test_extraction_reads_a_cue_identifier_as_no_text_and_a_name_prefix_as_the_speaker() -> None:
    text, speakers = from_webvtt("WEBVTT\n\nq-7\n00:01.000 --> 00:02.000\nBen: I'll set up the workspace.\n")
    assert text.split("\n") == ["I'll set up the workspace.", ""]
    assert speakers == {0: "Ben"}


def test_extraction_leaves_text_that_is_no_transcript_alone() -> None:
    assert from_webvtt("Action items:\n- Ben: set up\n") == ("Action items:\n- Ben: set up\n", {})
