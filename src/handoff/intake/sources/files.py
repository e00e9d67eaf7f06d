"""Files into the ledger: `.eml`, `.mbox` (each message), and meeting notes as `.txt`, `.md`, `.vtt`; folders walked."""

from __future__ import annotations

import mailbox
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handoff.errors import InvalidInput
from handoff.intake.ledger import LedgerEntry

MAIL_SUFFIXES = (".eml", ".msg822", ".mbox")
NOTES_SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".vtt": "vtt"}
SUFFIXES = (*MAIL_SUFFIXES, *NOTES_SUFFIXES)


@dataclass(frozen=True)
class Arrival:
    """One message taken from a file: where it came from and its ledger row."""

    path: str
    entry: LedgerEntry


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders walked for the known suffixes (sorted, so runs are repeatable)."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise InvalidInput(f"no such file or folder: {path}")
    return found


def receive_files(parts: Any, paths: Iterable[str | Path]) -> Iterator[Arrival]:
    """Ledger every message in `paths`; unknown suffixes are read as mail (any bytes get a status)."""
    from handoff.intake.service import receive_notes, receive_raw

    for path in expand(paths):
        suffix = path.suffix.lower()
        if suffix == ".mbox":
            yield from _mbox(parts, path)
        elif suffix in NOTES_SUFFIXES:
            text = path.read_bytes().decode("utf-8", "replace")
            sent_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            if text.strip():
                yield Arrival(str(path), receive_notes(parts, text, NOTES_SUFFIXES[suffix], sent_at, source="file"))
            else:  # an empty notes file still gets a status
                yield Arrival(str(path), receive_raw(parts, b"", "file"))
        else:
            yield Arrival(str(path), receive_raw(parts, path.read_bytes(), "file"))


def _mbox(parts: Any, path: Path) -> Iterator[Arrival]:
    from handoff.intake.service import receive_raw

    box = mailbox.mbox(path, create=False)
    try:
        for index, key in enumerate(box.iterkeys()):
            raw = box.get_bytes(key)
            yield Arrival(f"{path}#{index + 1}", receive_raw(parts, raw, "file"))
    finally:
        box.close()
