"""Meeting notes as plain text, Markdown or a WebVTT transcript, to the lines extraction reads."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from handoff.webvtt import SPEAKER_LINE, is_webvtt, read_cues

NotesFormat = Literal["text", "markdown", "vtt"]
FORMATS: tuple[str, ...] = ("text", "markdown", "vtt")
_SUFFIXES = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown", ".vtt": "vtt"}
_ATTENDEES = re.compile(r"^\s*(?:attendees|participants|present|与会者|参会人员|参与者)\s*[:：]\s*(.+)$", re.IGNORECASE)
_TITLE = re.compile(r"^\s*#\s+(.+?)\s*#*\s*$")


@dataclass(frozen=True)
class Notes:
    """Meeting notes ready for extraction: text with one statement per line, and who was there."""

    text: str
    title: str | None
    speakers: tuple[str, ...] = ()
    attendees: tuple[str, ...] = field(default_factory=tuple)
    format: str = "text"


def detect_format(text: str, filename: str | None = None) -> NotesFormat:
    """By suffix when there is one, else by content (a WEBVTT header, Markdown headings or checklists)."""
    if filename:
        for suffix, fmt in _SUFFIXES.items():
            if filename.lower().endswith(suffix):
                return fmt  # type: ignore[return-value]
    if is_webvtt(text):
        return "vtt"
    if re.search(r"^\s{0,3}(?:#{1,6}\s|[-*]\s\[[ xX]\]|\*\*[^*]+\*\*)", text, re.MULTILINE):
        return "markdown"
    return "text"


def parse_notes(text: str, fmt: str | None = None) -> Notes:
    """Normalise notes in any of the three formats; unknown formats are read as plain text."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    chosen = fmt if fmt in FORMATS else detect_format(text)
    if chosen == "vtt":
        return _vtt(text)
    if chosen == "markdown":
        return _markdown(text)
    return _plain(text)


def _attendees(lines: list[str]) -> tuple[str, ...]:
    for line in lines:
        match = _ATTENDEES.match(line)
        if match:
            return tuple(p.strip() for p in re.split(r"[,;、，]| and ", match.group(1)) if p.strip())
    return ()


def _plain(text: str) -> Notes:
    lines = [line.rstrip() for line in text.split("\n")]
    speakers = tuple(dict.fromkeys(m.group(1).strip() for m in map(SPEAKER_LINE.match, lines) if m))
    title = next((line.strip() for line in lines if line.strip()), None)
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return Notes(text=body, title=title, speakers=speakers, attendees=_attendees(lines), format="text")


def _markdown(text: str) -> Notes:
    title = None
    out: list[str] = []
    in_fence = False
    for raw in text.split("\n"):
        line = raw.rstrip()
        if line.strip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            out.append(line)
            continue
        heading = re.match(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$", line)
        if heading:
            words = heading.group(2).strip()
            title = title or (words if len(heading.group(1)) == 1 else None)
            # "## Action items" reads like "Action items:" to the extractor's section cues.
            out.append(words if words.endswith((":", "：")) else words + ":")
            continue
        line = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", line)  # images
        line = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", line)  # links
        line = re.sub(r"(\*\*|__)(.+?)\1", r"\2", line)
        line = re.sub(r"(?<![\w*])[*_](\S.*?)[*_](?![\w*])", r"\1", line)
        line = re.sub(r"`([^`]+)`", r"\1", line)
        line = re.sub(r"^\s*>\s?", "", line)
        line = re.sub(r"^(\s*)[*+]\s+", r"\1- ", line)  # one bullet style; checkboxes "- [ ]" stay as written
        if re.match(r"^\s*(?:[-*_]\s*){3,}$", line):
            continue  # horizontal rule
        if re.match(r"^\s*\|?\s*:?-{3,}", line):
            continue  # table separator
        out.append(line.replace("|", " ").strip() if line.lstrip().startswith("|") else line)
    lines = [line for line in out]
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    speakers = tuple(dict.fromkeys(m.group(1).strip() for m in map(SPEAKER_LINE.match, lines) if m))
    return Notes(text=body, title=title, speakers=speakers, attendees=_attendees(lines), format="markdown")


def _vtt(text: str) -> Notes:
    """Cues become 'Speaker: text' lines; consecutive cues of one speaker are joined into one statement."""
    merged: list[tuple[str | None, str]] = []
    for cue in read_cues(text):
        if merged and merged[-1][0] == cue.speaker and not merged[-1][1].endswith((".", "?", "!", "。", "？", "！")):
            merged[-1] = (cue.speaker, merged[-1][1] + " " + cue.words)
        else:
            merged.append((cue.speaker, cue.words))
    lines = [f"{speaker}: {words}" if speaker else words for speaker, words in merged]
    speakers = tuple(dict.fromkeys(s for s, _ in merged if s))
    return Notes(text="\n".join(lines), title=None, speakers=speakers, attendees=speakers, format="vtt")
