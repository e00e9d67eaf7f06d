"""`handoff ingest` over real mailbox layouts and hostile paths: every input gets a status, the run goes on."""

from __future__ import annotations

import io
import json
import os
import tracemalloc
from pathlib import Path

import pytest
from intake_support import CORPUS
from typer.testing import CliRunner

from handoff.cli.main import build_app
from handoff.intake.sources.files import find_inputs, looks_like_mail, sniff, split_mbox

GIB = 1024**3


def _mail(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def _mbox(*names: str) -> bytes:
    return b"".join(b"From someone@example.com Mon Jan  6 08:00:00 2025\n" + _mail(n) + b"\n" for n in names)


def _cli(home: Path, *args: str):
    return CliRunner().invoke(build_app(), list(args), env={"HANDOFF_HOME": str(home), "HANDOFF_DATABASE_URL": ""})


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("HANDOFF_DATABASE_URL", raising=False)
    return tmp_path / "home"


def _mailboxes(root: Path) -> Path:
    """A folder as people keep one: a Maildir, an odd-named mbox, extensionless exports, things that are not mail."""
    given = root / "given"
    maildir = given / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "cur" / "1736150400.M1P101.host,S=1430:2,S").write_bytes(_mail("gmail_forward_en.eml"))
    (maildir / "new" / "1736150401.M2P102.host").write_bytes(_mail("outlook_forward_zh_gbk.eml"))
    (maildir / "tmp" / "1736150402.M3P103.host").write_bytes(_mail("big5_direct.eml"))  # still being delivered
    (maildir / "dovecot-uidlist").write_bytes(b"3 V1736150400 N4\n1 :1736150400.M1P101.host\n")
    (given / "Archive 2024 (old)").write_bytes(_mbox("apple_mail_forward.eml", "thunderbird_forward.eml"))
    exports = given / "exports"
    exports.mkdir()
    (exports / "message_1").write_bytes(_mail("nested_forward.eml"))
    (exports / "README").write_text("Exported from the old helpdesk.\n")
    (exports / "inside-link").symlink_to(exports / "message_1")
    hostile = given / "hostile"
    hostile.mkdir()
    (hostile / "passwd").symlink_to("/etc/passwd")  # out of the folder: must never be stored
    (hostile / "gone").symlink_to(hostile / "was-here.eml")  # cannot be opened, even by root
    locked = hostile / "locked.eml"
    locked.write_bytes(_mail("winmail_dat.eml"))
    locked.chmod(0)  # unreadable, unless the tests run as root
    os.mkfifo(hostile / "pipe")  # opening it for reading would block forever
    huge = hostile / "huge.eml"
    with open(huge, "wb") as handle:
        handle.truncate(GIB)  # sparse: 1 GiB by stat, no disk used
    huge_mbox = hostile / "huge-mbox"
    with open(huge_mbox, "wb") as handle:
        handle.write(b"From someone@example.com Mon Jan  6 08:00:00 2025\nSubject: zeros\n\n")
        handle.truncate(GIB)  # one message of 1 GiB with no newline in it: streamed, counted, never held
    return given


@pytest.mark.slow  # the CLI in a subprocess
def test_one_run_gives_every_input_a_status_and_goes_on(home: Path, tmp_path: Path) -> None:
    given = _mailboxes(tmp_path)
    result = _cli(home, "ingest", str(given), "/dev/null", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    messages = {str(Path(m["path"]).relative_to(given)): m for m in document["messages"]}
    skipped = {s["path"] if s["path"].startswith("/dev") else str(Path(s["path"]).relative_to(given)): s["reason"]
               for s in document["skipped"]}  # fmt: skip
    root_reads_anything = os.geteuid() == 0
    taken = {
        "Maildir/cur/1736150400.M1P101.host,S=1430:2,S",
        "Maildir/new/1736150401.M2P102.host",
        "Archive 2024 (old)#1",
        "Archive 2024 (old)#2",
        "exports/message_1",
        "exports/inside-link",
    } | ({"hostile/locked.eml"} if root_reads_anything else set())
    assert set(messages) == taken
    assert document["total"] == len(taken) == sum(document["by_status"].values())
    for path, message in messages.items():
        assert message["status"] in ("tasks_created", "threaded", "no_tasks", "duplicate"), (path, message)
    # The same file twice, once through a link inside the folder: taken, and one of the two is the duplicate.
    assert sorted(messages[p]["status"] == "duplicate" for p in ("exports/inside-link", "exports/message_1")) == [
        False,
        True,
    ]
    assert (
        messages["Maildir/cur/1736150400.M1P101.host,S=1430:2,S"]["message_id"] == "<CAGmail-fwd-0001@mail.gmail.com>"
    )

    assert skipped.pop("Maildir/tmp").startswith("Maildir tmp/")
    assert skipped.pop("Maildir/dovecot-uidlist").startswith("neither mail nor notes")
    assert skipped.pop("exports/README").startswith("neither mail nor notes")
    assert skipped.pop("hostile/passwd").startswith("symlink out of ")
    assert skipped.pop("hostile/gone") == "cannot read: No such file or directory"
    if not root_reads_anything:
        assert skipped.pop("hostile/locked.eml") == "cannot read: Permission denied"
    assert skipped.pop("hostile/pipe").startswith("a FIFO")
    assert skipped.pop("/dev/null").startswith("a device")
    assert skipped.pop("hostile/huge.eml") == f"too large: {GIB} bytes is over the 26214400-byte limit; not read"
    assert skipped.pop("hostile/huge-mbox#1").startswith("too large: ")
    assert skipped == {}

    # /etc/passwd was not stored anywhere under the home (raw mail is kept by content hash).
    passwd = Path("/etc/passwd").read_bytes()
    stored = [p for p in (home / "raw").rglob("*") if p.is_file()] if (home / "raw").exists() else []
    assert stored and all(p.read_bytes() != passwd for p in stored)


@pytest.mark.slow  # writes and streams huge files
def test_huge_files_are_never_held_in_memory(tmp_path: Path, sqlite_parts) -> None:
    from handoff.intake.sources.files import receive_files

    given = _mailboxes(tmp_path)
    tracemalloc.start()
    try:
        intake = receive_files(sqlite_parts, [given / "hostile"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert {Path(s.path).name for s in intake.skipped} >= {"huge.eml", "huge-mbox#1"}
    # At most one mbox message up to the size limit is held before it is known to be too large.
    limit = sqlite_parts.settings.inbox.max_message_bytes
    assert peak < limit + 8 * 1024**2, f"{peak / 1024**2:.0f} MB allocated at the peak while reading two 1 GiB files"


def test_a_missing_path_is_reported_and_the_rest_still_ingested(home: Path, tmp_path: Path) -> None:
    mail = tmp_path / "one"
    mail.write_bytes(_mail("gmail_forward_en.eml"))
    result = _cli(home, "ingest", str(tmp_path / "nowhere"), str(mail), "--json")
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert [m["path"] for m in document["messages"]] == [str(mail)]
    assert document["skipped"] == [{"path": str(tmp_path / "nowhere"), "reason": "no such file or folder"}]


def test_progress_is_reported_through_the_callback(tmp_path: Path, sqlite_parts) -> None:
    from handoff.intake.service import process_entries
    from handoff.intake.sources.files import receive_files

    box = tmp_path / "box"
    box.write_bytes(_mbox("gmail_forward_en.eml", "apple_mail_forward.eml", "thunderbird_forward.eml"))
    seen: list[tuple[int, int]] = []
    intake = receive_files(sqlite_parts, [box], on_progress=lambda done, total: seen.append((done, total)))
    assert seen == [(box.stat().st_size, box.stat().st_size)]
    counted: list[int] = []
    ids = [a.entry.id for a in intake.arrivals]
    assert process_entries(sqlite_parts, ids, on_progress=counted.append, batch=2) == 3
    assert counted == [2, 3]


def test_an_mbox_is_ledgered_in_batches_with_every_message_and_its_repeat(
    tmp_path: Path, sqlite_parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handoff.intake.sources import files

    monkeypatch.setattr(files, "MBOX_BATCH", 2)  # five messages: batches of 2, 2 and 1
    box = tmp_path / "box"
    names = ("gmail_forward_en.eml", "apple_mail_forward.eml", "thunderbird_forward.eml", "gmail_forward_en.eml",
             "big5_direct.eml")  # fmt: skip
    box.write_bytes(_mbox(*names))
    intake = files.receive_files(sqlite_parts, [box])
    assert [a.path for a in intake.arrivals] == [f"{box}#{i}" for i in range(1, 6)]
    assert intake.skipped == []
    entries = [a.entry for a in intake.arrivals]
    # The repeat lands in another batch than its first copy and is still the duplicate of it.
    assert entries[3].status == "processed" and entries[3].duplicate_of == entries[0].id
    assert all(e.status == "received" for i, e in enumerate(entries) if i != 3)
    assert len({e.id for e in entries}) == 5


# --- the pure parts ---------------------------------------------------------------------------------------------


def test_kinds_come_from_content_not_from_names() -> None:
    assert sniff("", _mail("gmail_forward_en.eml")[:4096]) == ("mail", None)
    assert sniff(".json", b"From a@b Mon Jan  6 08:00:00 2025\nSubject: x\n") == ("mbox", None)
    assert sniff(".eml", b"\x00\x01 random") == ("mail", None)  # .eml is mail whatever it holds: it gets a status
    assert sniff(".md", b"From the meeting:") == ("notes", "markdown")
    assert sniff("", b"TODO: buy milk\nand bread\n") == (None, None)  # a header-like line, but no mail field
    assert sniff("", b"") == (None, None)
    assert looks_like_mail(b"Received: from x\n\tby y\nFrom: a@b\nSubject: s\n\nbody")
    assert not looks_like_mail(b"Subject: s\nthis line is prose, not a header\n")
    assert not looks_like_mail(b"\nFrom: a@b\n")


def test_mbox_is_split_at_from_lines_after_a_blank_line_and_streamed() -> None:
    data = (
        b"From a@b Mon Jan  6 08:00:00 2025\r\nSubject: one\r\n\r\nHello,\r\nFrom here on it is body\r\n\r\n"
        b"From c@d Mon Jan  6 09:00:00 2025\nSubject: two\n\n" + b"x" * 200_000 + b"\n\n"
        b"From e@f Mon Jan  6 10:00:00 2025\nSubject: three\n\nlast\n"
    )
    messages = list(split_mbox(io.BytesIO(data), max_bytes=100_000))
    assert [m.raw for m in messages] == [
        b"Subject: one\r\n\r\nHello,\r\nFrom here on it is body\r\n",  # not after a blank line: body
        None,  # over the limit: counted, its bytes dropped
        b"Subject: three\n\nlast\n",
    ]
    assert messages[1].size == len(b"Subject: two\n\n") + 200_001


def test_the_walk_only_stats(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")  # a walk that opened it would hang here
    (tmp_path / "cur").mkdir()
    found = find_inputs([tmp_path])
    assert found.candidates == [] and [s.reason[:6] for s in found.skipped] == ["a FIFO"]
