"""The company's spam filter asked per message: a real SpamAssassin spamd on loopback (Debian's package), GTUBE and
ham, and the filter going down (mail waits in the ledger, unchecked mail is never let through) and coming back."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from intake_support import free_port, keyword_stage

from handoff.intake import service
from handoff.intake.spam_filter import FilterUnavailable, SpamdFilter
from handoff.wiring import Parts
from tests.debian import debian_binary

pytestmark = pytest.mark.services  # spamd and rspamd on loopback

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def _mail(subject: str, body: str) -> bytes:
    return (
        f"From: Alice Chen <alice.chen@acme-corp.com>\r\nTo: tasks@handoff.local\r\nSubject: {subject}\r\n"
        f"Message-ID: <{abs(hash(subject))}@acme-corp.com>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\n{body}\r\n"
    ).encode()


def _spamd_binary() -> str:
    return debian_binary("spamd", ["spamassassin", "spamd"], "the spam filter tests")


class Spamd:
    """spamd on a loopback port: local tests only (-L, no DNS), one child, started and stopped by the test."""

    def __init__(self, port: int) -> None:
        self.port, self.binary = port, _spamd_binary()
        self.root = Path(tempfile.mkdtemp(prefix="handoff-spamd-"))
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [self.binary, f"--listen=127.0.0.1:{self.port}", "-L", "--nouser-config", "-x",
                   "--max-children=1", "--min-children=1", f"--pidfile={self.root / 'spamd.pid'}",
                   "-s", str(self.root / "spamd.log")]  # fmt: skip
        if os.geteuid() == 0:
            command += ["-u", "nobody"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started = time.monotonic()
        while True:  # the rules take some seconds to load; a PING answered PONG means it is serving
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as probe:
                    probe.sendall(b"PING SPAMC/1.5\r\n\r\n")
                    if b"PONG" in probe.recv(100):
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() - started > 120:
                log = (self.root / "spamd.log").read_text() if (self.root / "spamd.log").exists() else ""
                pytest.fail(f"spamd did not start: {log[-2000:]}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
            self.process.communicate(timeout=30)  # waits, and closes the stderr pipe
        self.process = None


@pytest.fixture
def spamd() -> Iterator[Spamd]:
    daemon = Spamd(free_port())
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(daemon.root, ignore_errors=True)


def _parts_with_spamd(crm_parts: Parts, port: int) -> Parts:
    inbox = crm_parts.settings.inbox.model_copy(
        update={"spamd": f"127.0.0.1:{port}", "spam_filter_timeout_s": 30.0, "spam_filter_retry_s": 1.0}
    )
    return Parts(crm_parts.settings.model_copy(update={"inbox": inbox}))


def test_spamd_quarantines_gtube_and_lets_ham_through(crm_parts: Parts, spamd: Spamd) -> None:
    parts = _parts_with_spamd(crm_parts, spamd.port)
    spam = service.receive_raw(parts, _mail("Cheap meds", f"Buy now.\r\n{GTUBE}"), "smtp")
    ham = service.receive_raw(parts, _mail("Plan", "Could you send the project plan by Friday?"), "smtp")
    service.process_pending(parts, stage=keyword_stage())
    with parts.sessions() as session:
        spam, ham = service.get_entry(session, spam.id), service.get_entry(session, ham.id)
    assert spam.outcome == "spam" and spam.reason.startswith("spam: spamd score 1000.0 >= 5.0 (GTUBE")
    assert spam.task_ids == [] and spam.account_id is None
    assert ham.outcome == "tasks_created" and ham.account_id == "acc-acme"
    assert ham.details["spam_filters"][0].startswith("spamd: clean, score ")
    parts.close()


def test_a_filter_that_is_down_holds_mail_in_the_ledger_until_it_is_back(crm_parts: Parts, spamd: Spamd) -> None:
    parts = _parts_with_spamd(crm_parts, spamd.port)
    spamd.stop()
    with pytest.raises(FilterUnavailable):
        SpamdFilter("127.0.0.1", spamd.port, 2.0).check(b"Subject: x\r\n\r\nx\r\n")
    waiting = [
        service.receive_raw(parts, _mail("Down 1", f"{GTUBE}"), "smtp"),
        service.receive_raw(parts, _mail("Down 2", "Could you send the invoice?"), "smtp"),
    ]
    assert service.process_pending(parts, stage=keyword_stage()) == 2  # claimed, asked, given back
    with parts.sessions() as session:
        held = [service.get_entry(session, entry.id) for entry in waiting]
    for entry in held:  # never lost, never let through unchecked, and the ledger says why
        assert (entry.status, entry.outcome, entry.task_ids, entry.attempts) == ("received", None, [], 0)
        assert entry.reason.startswith("waiting for the spam filter: spamd at 127.0.0.1:")
        assert "asking again after" in entry.reason
    assert service.process_pending(parts, stage=keyword_stage()) == 0  # not before its retry-after

    spamd.start()
    time.sleep(1.2)  # spam_filter_retry_s
    service.process_pending(parts, stage=keyword_stage())
    with parts.sessions() as session:
        done = [service.get_entry(session, entry.id) for entry in waiting]
    assert [e.outcome for e in done] == ["spam", "tasks_created"]
    assert done[0].reason.startswith("spam: spamd score 1000.0") and done[1].account_id == "acc-acme"
    parts.close()


# --- rspamd: its normal worker's /checkv2 ----------------------------------------------------------------------------


def _rspamd_binary() -> str:
    return debian_binary("rspamd", ["rspamd"], "the rspamd test")


@pytest.fixture
def rspamd() -> Iterator[int]:
    """Debian's rspamd with its shipped configuration, its workers moved to free loopback ports under tmp."""
    binary = _rspamd_binary()
    root = Path(tempfile.mkdtemp(prefix="handoff-rspamd-"))
    root.chmod(0o755)
    local = root / "local" / "local.d"
    local.mkdir(parents=True)
    for folder in ("db", "run", "log"):
        (root / folder).mkdir()
        (root / folder).chmod(0o777)  # rspamd drops to its own user
    port = free_port()
    for name, worker_port in (("normal", port), ("controller", free_port()), ("proxy", free_port())):
        (local / f"worker-{name}.inc").write_text(f'bind_socket = "127.0.0.1:{worker_port}";\n')
    (local / "logging.inc").write_text(f'type = "file"; filename = "{root}/log/rspamd.log"; level = "error";\n')
    variables = [f"--var=LOCAL_CONFDIR={root / 'local'}", f"--var=DBDIR={root / 'db'}",
                 f"--var=RUNDIR={root / 'run'}", f"--var=LOGDIR={root / 'log'}"]  # fmt: skip
    user = ["-u", "_rspamd", "-g", "_rspamd"] if os.geteuid() == 0 else []
    process = subprocess.Popen(
        [binary, "-f", *user, *variables, "-c", "/etc/rspamd/rspamd.conf"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = time.monotonic()
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() - started > 120:
                pytest.fail("rspamd did not start")
            time.sleep(0.3)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def test_rspamd_quarantines_gtube_and_lets_ham_through(crm_parts: Parts, rspamd: int) -> None:
    inbox = crm_parts.settings.inbox.model_copy(update={"rspamd_url": f"http://127.0.0.1:{rspamd}"})
    parts = Parts(crm_parts.settings.model_copy(update={"inbox": inbox}))
    spam = service.receive_raw(parts, _mail("Cheap meds", f"Buy now.\r\n{GTUBE}"), "smtp")
    ham = service.receive_raw(parts, _mail("Plan", "Could you send the project plan by Friday?"), "smtp")
    service.process_pending(parts, stage=keyword_stage())
    with parts.sessions() as session:
        spam, ham = service.get_entry(session, spam.id), service.get_entry(session, ham.id)
    assert spam.outcome == "spam" and spam.reason.startswith("spam: rspamd reject, score 15 / 15.0 (GTUBE")
    assert ham.outcome == "tasks_created" and ham.details["spam_filters"][0].startswith("rspamd: clean (")
    parts.close()
