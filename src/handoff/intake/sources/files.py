"""Files into the ledger: Maildir folders, mbox files of any name, RFC 822 files (`.eml` or sniffed), meeting notes."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from handoff.errors import InvalidInput, TooLarge
from handoff.intake.ledger import LedgerEntry
from handoff.progress import ProgressCount

MAIL_SUFFIXES = (".eml", ".msg822")
NOTES_SUFFIXES = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".vtt": "vtt"}
SNIFF_BYTES = 4096
# An mbox's messages go into the ledger this many to a transaction: one commit per message was a fifth of the time
# `handoff ingest` spent on a large mbox; a batch not yet committed when the run dies is ledgered by the next run.
MBOX_BATCH = 64
MBOX_BATCH_BYTES = 4 * 1024 * 1024  # and at most this many bytes of them held at once (big attachments)
_CHUNK = 65536  # mbox lines are read at most this long at a time: a file without newlines cannot fill memory
# A header field at the very start: a printable name without spaces, a colon (RFC 5322 section 2.2).
_HEADER_LINE = re.compile(rb"^[!-9;-~]{1,76}:")
# A leading block of header lines is mail only if one of them is a field every delivered mail carries.
_MAIL_FIELDS = frozenset(
    b"from date subject message-id to cc received return-path delivered-to mime-version reply-to sender".split()
)


@dataclass(frozen=True)
class Arrival:
    """One message taken from a file: where it came from and its ledger row."""

    path: str
    entry: LedgerEntry


@dataclass(frozen=True)
class Skipped:
    """An input that was not taken, and why (it is reported, never silently dropped)."""

    path: str
    reason: str


@dataclass(frozen=True)
class Candidate:
    """A regular file found by the walk: the path shown to people, the resolved one to open, its size by `stat`."""

    shown: Path
    real: Path
    size: int


@dataclass
class Found:
    """What a walk over the given paths found: files to read, inputs not taken, given paths that do not exist."""

    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@dataclass
class FileIntake:
    """The result of ingesting files: a ledger row per message taken, a reason per input not taken."""

    arrivals: list[Arrival] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


# --- finding files (stat only, nothing read) -----------------------------------------------------------------------


def find_inputs(paths: Iterable[str | Path]) -> Found:
    """Files as given, folders walked (sorted, so runs repeat); only `stat` calls, no file is opened here."""
    found = Found()
    for given in paths:
        path = Path(given)
        try:
            info = path.stat()  # a path named on the command line is followed: the person chose it
        except FileNotFoundError:
            found.missing.append(str(path))
            found.skipped.append(Skipped(str(path), "no such file or folder"))
            continue
        except OSError as error:
            found.skipped.append(Skipped(str(path), f"cannot read: {error.strerror or error}"))
            continue
        if stat.S_ISDIR(info.st_mode):
            _walk(path, path.resolve(), found)
        else:
            _consider(path, path.resolve(), info, found)
    return found


def _walk(folder: Path, root: Path, found: Found) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as error:
        found.skipped.append(Skipped(str(folder), f"cannot read folder: {error.strerror or error}"))
        return
    names = {entry.name for entry in entries}
    for entry in entries:
        shown = Path(entry.path)
        try:
            if entry.is_symlink():
                _consider_link(shown, root, found)
            elif entry.is_dir(follow_symlinks=False):
                if entry.name == "tmp" and {"cur", "new"} <= names:
                    with os.scandir(shown) as inside:
                        waiting = any(inside)
                    if waiting:
                        found.skipped.append(Skipped(str(shown), "Maildir tmp/: mail still being delivered, not read"))
                    continue
                _walk(shown, root, found)
            else:
                _consider(shown, shown, entry.stat(follow_symlinks=False), found)
        except OSError as error:
            found.skipped.append(Skipped(str(shown), f"cannot read: {error.strerror or error}"))


def _consider_link(shown: Path, root: Path, found: Found) -> None:
    target = shown.resolve()
    if not target.is_relative_to(root):
        found.skipped.append(Skipped(str(shown), f"symlink out of {root}: not followed"))
        return
    info = target.stat()  # a dangling link raises here: reported as unreadable by the caller
    if stat.S_ISDIR(info.st_mode):
        found.skipped.append(Skipped(str(shown), "symlink to a folder: not followed (the folder is walked itself)"))
        return
    _consider(shown, target, info, found)


def _consider(shown: Path, real: Path, info: os.stat_result, found: Found) -> None:
    reason = _not_a_file(info.st_mode)
    if reason:
        found.skipped.append(Skipped(str(shown), reason))
    else:
        found.candidates.append(Candidate(shown, real, info.st_size))


def _not_a_file(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a file: not read"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file: not read"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file: not read"
    return "not a regular file: not read"


# --- what a file holds (pure) ---------------------------------------------------------------------------------------


def sniff(suffix: str, head: bytes) -> tuple[str | None, str | None]:
    """(kind, notes format) from a file's suffix and first bytes; kind None when it is neither mail nor notes.

    Kinds: `notes`, `mbox` (a `From ` first line, any name), `mail` (one RFC 822 message)."""
    suffix = suffix.lower()
    if suffix in NOTES_SUFFIXES:
        return "notes", NOTES_SUFFIXES[suffix]
    if head.startswith(b"From "):
        return "mbox", None
    if suffix in MAIL_SUFFIXES or looks_like_mail(head):
        return "mail", None
    return None, None


def looks_like_mail(head: bytes) -> bool:
    """Header lines from the first byte on (folded lines allowed), one of them a field delivered mail carries."""
    block = re.split(rb"\r?\n\r?\n", head, maxsplit=1)[0]
    lines = block.splitlines()
    if not lines or not _HEADER_LINE.match(lines[0]):
        return False
    complete = lines if len(block) < len(head) or len(head) < SNIFF_BYTES else lines[:-1]  # the last may be cut
    names = set()
    for line in complete:
        if line[:1] in (b" ", b"\t"):
            continue  # a folded continuation of the field above
        if not _HEADER_LINE.match(line):
            return False
        names.add(line.split(b":", 1)[0].lower())
    return bool(names & _MAIL_FIELDS)


@dataclass(frozen=True)
class MboxMessage:
    """One message of an mbox: its bytes without the `From ` line, or None when it was over the size limit."""

    raw: bytes | None
    size: int


def split_mbox(handle: IO[bytes], max_bytes: int) -> Iterator[MboxMessage]:
    """Messages of an mbox stream, one at a time; a message over `max_bytes` is counted, its bytes never kept.

    A message starts at a `From ` line at the start of the file or after a blank line (the blank line belongs to
    neither message); `>From ` lines are left as they are, as Python's `mailbox` does."""
    pieces: list[bytes] = []
    size, started, over = 0, False, False
    at_line_start, previous_blank, blank = True, True, 0  # blank: bytes of the blank line that ended the last piece
    while piece := handle.readline(_CHUNK):
        line_start, at_line_start = at_line_start, piece.endswith(b"\n")
        if line_start and previous_blank and piece.startswith(b"From "):
            if started:
                yield _mbox_message(pieces, size - blank, over)
            pieces, size, started, over = [], 0, True, False
            while not at_line_start and (rest := handle.readline(_CHUNK)):  # the rest of a very long From line
                at_line_start = rest.endswith(b"\n")
            previous_blank = False
            continue
        previous_blank = line_start and piece in (b"\n", b"\r\n")
        blank = len(piece) if previous_blank else 0
        if not started:
            continue
        size += len(piece)
        if over:
            continue
        if size > max_bytes + 2:  # +2: the separating blank line is not part of the message
            over, pieces = True, []
        else:
            pieces.append(piece)
    if started:
        yield _mbox_message(pieces, size - blank, over)


def _mbox_message(pieces: list[bytes], size: int, over: bool) -> MboxMessage:
    if over:
        return MboxMessage(None, size)
    raw = b"".join(pieces)
    return MboxMessage(raw[:size], size)  # without the blank line before the next `From ` line


# --- reading into the ledger ----------------------------------------------------------------------------------------


def receive_files(parts: Any, paths: Iterable[str | Path], *, on_progress: ProgressCount | None = None) -> FileIntake:
    """Ledger every message in `paths`; every input not taken is in `skipped` with its reason.

    Every path is looked at with `lstat` before a byte is read, and every file is opened without following a symlink
    and checked again with `fstat` on what was opened: a file over the size limit, a device, a FIFO, a socket, a
    symlink out of the folder it was found in, or a file that cannot be opened is skipped with its reason, and the
    run goes on. A file's kind comes from its first bytes (`sniff`); mbox files are streamed message by message.
    `on_progress(bytes read so far, bytes in all the files found)` follows the reading."""
    found = find_inputs(paths)
    intake = FileIntake(skipped=list(found.skipped), missing=found.missing)
    total = sum(candidate.size for candidate in found.candidates)
    done = 0
    for candidate in found.candidates:
        for item in _receive_file(parts, candidate):
            (intake.arrivals if isinstance(item, Arrival) else intake.skipped).append(item)
        done += candidate.size
        if on_progress is not None:
            on_progress(done, total)
    return intake


def _receive_file(parts: Any, candidate: Candidate) -> Iterator[Arrival | Skipped]:
    shown = str(candidate.shown)
    limit = parts.settings.inbox.max_message_bytes
    try:
        # O_NOFOLLOW: the resolved path was checked to lie in the folder; a link swapped in since is not followed.
        # O_NONBLOCK: a FIFO swapped in since cannot hang the run (fstat below then refuses it).
        descriptor = os.open(candidate.real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        yield Skipped(shown, f"cannot read: {error.strerror or error}")
        return
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        reason = _not_a_file(info.st_mode)
        if reason:
            yield Skipped(shown, reason)
            return
        try:
            head = handle.read(SNIFF_BYTES)
        except OSError as error:
            yield Skipped(shown, f"cannot read: {error.strerror or error}")
            return
        kind, notes_format = sniff(candidate.shown.suffix, head)
        if kind is None:
            what = "empty file" if not head else "neither mail nor notes: no `From ` line or mail headers at the start"
            yield Skipped(shown, f"{what}: not read")
            return
        if kind == "mbox":
            handle.seek(0)
            yield from _receive_mbox(parts, shown, handle, limit)
            return
        if info.st_size > limit:
            yield Skipped(shown, f"too large: {info.st_size} bytes is over the {limit}-byte limit; not read")
            return
        try:
            raw = head + handle.read(limit + 1 - len(head))
        except OSError as error:
            yield Skipped(shown, f"cannot read: {error.strerror or error}")
            return
        if len(raw) > limit:  # the file grew after stat
            yield Skipped(shown, f"too large: over the {limit}-byte limit; not read")
            return
        yield _receive_one(parts, shown, kind, notes_format, raw, info.st_mtime)


def _receive_one(parts: Any, shown: str, kind: str, notes_format: str | None, raw: bytes, mtime: float):
    from handoff.intake.service import receive_notes, receive_raw

    if kind == "mail":
        return Arrival(shown, receive_raw(parts, raw, "file"))
    sent_at = datetime.fromtimestamp(mtime, UTC)
    try:
        return Arrival(
            shown, receive_notes(parts, raw.decode("utf-8", "replace"), notes_format, sent_at, source="file")
        )
    except (InvalidInput, TooLarge) as error:
        return Skipped(shown, f"{error}: not read")


def _receive_mbox(parts: Any, shown: str, handle: IO[bytes], limit: int) -> Iterator[Arrival | Skipped]:
    from handoff.intake.service import receive_raw_many

    messages = enumerate(split_mbox(handle, limit), start=1)
    index, held = 0, 0
    pending: list[tuple[str, bytes]] = []  # read, not yet ledgered: they commit together, a batch at a time
    while True:
        try:
            index, message = next(messages, (index, None))
        except OSError as error:  # a read error part-way: the messages before it are in; the rest is reported
            yield from _arrivals(receive_raw_many, parts, pending)
            yield Skipped(shown, f"cannot read past message {index}: {error.strerror or error}")
            return
        if message is None:
            break
        where = f"{shown}#{index}"
        if message.raw is None:
            yield Skipped(where, f"too large: {message.size} bytes is over the {limit}-byte limit; not read")
            continue
        pending.append((where, message.raw))
        held += len(message.raw)
        if len(pending) >= MBOX_BATCH or held >= MBOX_BATCH_BYTES:
            yield from _arrivals(receive_raw_many, parts, pending)
            pending, held = [], 0
    yield from _arrivals(receive_raw_many, parts, pending)


def _arrivals(receive_raw_many: Any, parts: Any, pending: list[tuple[str, bytes]]) -> Iterator[Arrival]:
    entries = receive_raw_many(parts, [raw for _, raw in pending], "file") if pending else []
    for (where, _), entry in zip(pending, entries, strict=True):
        yield Arrival(where, entry)
