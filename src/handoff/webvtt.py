"""WebVTT transcripts read as cues: who spoke (`<v Name>` or a `Name:` prefix) and what they said (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Hours are optional and some exporters write a comma before the milliseconds (SRT habit).
_CUE_TIMING = re.compile(r"^\s*(?:\d{1,2}:)?\d{1,2}:\d{2}[.,]\d{3}\s*-->\s*(?:\d{1,2}:)?\d{1,2}:\d{2}[.,]\d{3}.*$")
_VOICE = re.compile(r"<v(?:\.[^ >]*)?\s+([^>]+)>(.*?)(?:</v>|$)", re.DOTALL)
_TAGS = re.compile(r"</?[a-z][^>]*>|<\d{1,2}:\d{2}[^>]*>", re.IGNORECASE)
SPEAKER_LINE = re.compile(r"^\s*([A-Z\u4e00-\u9fff][\w .'\u4e00-\u9fff-]{0,40}?)\s*[:：]\s+(.+)$")
_NOT_CUES = ("WEBVTT", "NOTE", "STYLE", "REGION")


@dataclass(frozen=True)
class Cue:
    """One statement of a transcript: its speaker when the cue names one, and its words without markup."""

    speaker: str | None
    words: str


def is_webvtt(text: str) -> bool:
    return text.lstrip("\ufeff").lstrip().startswith("WEBVTT")


def read_cues(text: str) -> list[Cue]:
    """Every cue's statements in order; a cue with several voices gives one per voice, empty ones none.

    Header, NOTE, STYLE and REGION blocks are skipped; a cue's identifier line (before its timing) is not text."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    cues: list[Cue] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines or lines[0].lstrip().startswith(_NOT_CUES):
            continue
        timing = next((i for i, line in enumerate(lines) if _CUE_TIMING.match(line)), None)
        if timing is None:
            continue
        payload = " ".join(lines[timing + 1 :])
        voices = _VOICE.findall(payload)
        if voices:
            cues += [Cue(speaker.strip(), _TAGS.sub("", words).strip()) for speaker, words in voices]
            continue
        payload = _TAGS.sub("", payload).strip()
        match = SPEAKER_LINE.match(payload)
        if match:
            cues.append(Cue(match.group(1).strip(), match.group(2).strip()))
        else:
            cues.append(Cue(None, payload))
    return [cue for cue in cues if cue.words]
