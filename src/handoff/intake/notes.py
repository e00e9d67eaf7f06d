"""Meeting notes as plain text, Markdown or a WebVTT transcript, to the lines extraction reads."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

NotesFormat = Literal["text", "markdown", "vtt"]
FORMATS: tuple[str, ...] = ("text", "markdown", "vtt")
_SUFFIXES = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown", ".vtt": "vtt"}
_CUE_TIMING = re.compile(r"^\s*(?:\d{1,2}:)?\d{1,2}:\d{2}[.,]\d{3}\s*-->\s*(?:\d{1,2}:)?\d{1,2}:\d{2}[.,]\d{3}.*$")
_VOICE = re.compile(r"<v(?:\.[^ >]*)?\s+([^>]+)>(.*?)(?:</v>|$)", re.DOTALL)
_TAGS = re.compile(r"</?[a-z][^>]*>|<\d{1,2}:\d{2}[^>]*>", re.IGNORECASE)
_SPEAKER_LINE = re.compile(r"^\s*([A-Z\u4e00-\u9fff][\w .'\u4e00-\u9fff-]{0,40}?)\s*[:：]\s+(.+)$")
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
    head = text.lstrip("\ufeff").lstrip()
    if head.startswith("WEBVTT"):
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
    speakers = tuple(dict.fromkeys(m.group(1).strip() for m in map(_SPEAKER_LINE.match, lines) if m))
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
    speakers = tuple(dict.fromkeys(m.group(1).strip() for m in map(_SPEAKER_LINE.match, lines) if m))
    return Notes(text=body, title=title, speakers=speakers, attendees=_attendees(lines), format="markdown")


def _vtt(text: str) -> Notes:
    """Cues become 'Speaker: text' lines; consecutive cues of one speaker are joined into one statement."""
    blocks = re.split(r"\n\s*\n", text)
    statements: list[tuple[str | None, str]] = []
    for block in blocks:
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines or lines[0].startswith(("WEBVTT", "NOTE", "STYLE", "REGION")):
            continue
        timing = next((i for i, line in enumerate(lines) if _CUE_TIMING.match(line)), None)
        if timing is None:
            continue
        payload = " ".join(lines[timing + 1 :])
        voices = _VOICE.findall(payload)
        if voices:
            for speaker, words in voices:
                statements.append((speaker.strip(), _TAGS.sub("", words).strip()))
            continue
        payload = _TAGS.sub("", payload).strip()
        match = _SPEAKER_LINE.match(payload)
        if match:
            statements.append((match.group(1).strip(), match.group(2).strip()))
        elif payload:
            statements.append((None, payload))
    merged: list[tuple[str | None, str]] = []
    for speaker, words in statements:
        if not words:
            continue
        if merged and merged[-1][0] == speaker and not merged[-1][1].endswith((".", "?", "!", "。", "？", "！")):
            merged[-1] = (speaker, merged[-1][1] + " " + words)
        else:
            merged.append((speaker, words))
    lines = [f"{speaker}: {words}" if speaker else words for speaker, words in merged]
    speakers = tuple(dict.fromkeys(s for s, _ in merged if s))
    return Notes(text="\n".join(lines), title=None, speakers=speakers, attendees=speakers, format="vtt")
