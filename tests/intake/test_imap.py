"""The IMAP poller against a real Dovecot on loopback: a UID cursor that survives restarts, UIDVALIDITY changes."""

from __future__ import annotations

import imaplib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from intake_support import CORPUS, free_port
from pydantic import SecretStr

from handoff.intake import service
from handoff.intake.sources.imap import ImapSource
from handoff.wiring import Parts
from tests.debian import debian_binary

pytestmark = pytest.mark.services  # Dovecot on loopback

USER, PASSWORD = "inbox", "secret"

CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
default_login_user = dovenull
default_internal_user = dovecot
default_internal_group = dovecot
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


def _dovecot_binary() -> str:
    return debian_binary("dovecot", ["dovecot-imapd"], "the IMAP tests")


@pytest.fixture
def dovecot() -> Iterator[int]:
    """A Dovecot IMAP server on a free loopback port, plain login allowed, a Maildir under tmp."""
    binary = _dovecot_binary()
    # Not pytest's tmp_path: its 0700 parents keep Dovecot's unprivileged processes out.
    root = Path(tempfile.mkdtemp(prefix="handoff-dovecot-"))
    root.chmod(0o755)
    for folder in ("run", "state", "mail", "home"):
        (root / folder).mkdir(parents=True)
    for folder in ("mail", "home"):
        shutil.chown(root / folder, "nobody", "nogroup")
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    port = free_port()
    (root / "dovecot.conf").write_text(CONFIG.format(root=root, port=port))
    process = subprocess.Popen([binary, "-F", "-c", str(root / "dovecot.conf")], stderr=subprocess.PIPE)
    started = time.monotonic()
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() - started > 30:
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                pytest.fail(f"dovecot did not start: {process.stderr.read() if process.stderr else ''} {log}")
            time.sleep(0.1)
    try:
        yield port
    finally:
        process.terminate()
        process.communicate(timeout=30)  # waits, and closes the stderr pipe
        shutil.rmtree(root, ignore_errors=True)


def _client(port: int) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login(USER, PASSWORD)
    return client


def _append(port: int, *names: str, mailbox: str = "INBOX") -> None:
    client = _client(port)
    try:
        for name in names:
            status, _ = client.append(mailbox, None, None, (CORPUS / name).read_bytes())
            assert status == "OK"
    finally:
        client.logout()


def _imap_parts(parts: Parts, port: int, mailbox: str = "INBOX") -> Parts:
    inbox = parts.settings.inbox.model_copy(
        update={"imap_host": "127.0.0.1", "imap_port": port, "imap_user": USER, "imap_password": SecretStr(PASSWORD),
                "imap_ssl": False, "imap_mailbox": mailbox}
    )  # fmt: skip
    return Parts(parts.settings.model_copy(update={"inbox": inbox}))


def test_poller_fetches_each_message_once_across_restarts(crm_parts: Parts, dovecot: int) -> None:
    parts = _imap_parts(crm_parts, dovecot)
    _append(dovecot, "gmail_forward_en.eml", "outlook_forward_zh_gbk.eml")
    first = ImapSource(parts).poll_once()
    assert (first.fetched, first.last_uid) == (2, 2)
    # A restart is a new poller: the cursor lives in the store, so nothing is fetched twice (n8n#25122).
    assert ImapSource(parts).poll_once().fetched == 0
    _append(dovecot, "reply_quote_signature.eml")
    third = ImapSource(parts).poll_once()
    assert (third.fetched, third.last_uid) == (1, 3)
    service.process_pending(parts)
    with parts.sessions() as session:
        entries = list(reversed(service.list_entries(session)))
    assert [(e.source, e.display_status) for e in entries] == [
        ("imap", "tasks_created"),
        ("imap", "tasks_created"),
        ("imap", "threaded"),
    ]
    assert entries[0].account_id == "acc-acme" and entries[1].account_id == "acc-huaxin"
    # The customer's mailbox is left as it was: fetched with BODY.PEEK, nothing marked read.
    client = _client(dovecot)
    client.select("INBOX", readonly=True)
    assert client.uid("SEARCH", None, "UNSEEN")[1][0].split() == [b"1", b"2", b"3"]
    client.logout()
    parts.close()


def test_a_new_uidvalidity_rereads_the_mailbox_and_dedupe_absorbs_the_repeats(crm_parts: Parts, dovecot: int) -> None:
    client = _client(dovecot)
    client.create("Work")
    client.logout()
    parts = _imap_parts(crm_parts, dovecot, "Work")
    _append(dovecot, "gmail_forward_en.eml", mailbox="Work")
    before = ImapSource(parts).poll_once()
    # The mailbox is recreated (a server migration): same mail, new UIDVALIDITY.
    client = _client(dovecot)
    client.delete("Work")
    client.create("Work")
    client.logout()
    _append(dovecot, "gmail_forward_en.eml", "big5_direct.eml", mailbox="Work")
    after = ImapSource(parts).poll_once()
    assert after.uidvalidity != before.uidvalidity and after.fetched == 2
    with parts.sessions() as session:
        statuses = sorted(e.display_status for e in service.list_entries(session))
    assert statuses == ["duplicate", "received", "received"]
    parts.close()


def test_wrong_credentials_are_an_external_failure(crm_parts: Parts, dovecot: int) -> None:
    from handoff.errors import ExternalFailure

    parts = _imap_parts(crm_parts, dovecot)
    parts.settings.inbox.imap_password = SecretStr("wrong")
    with pytest.raises(ExternalFailure):
        ImapSource(parts).poll_once()
    parts.close()


def test_inbox_imap_once_fetches_and_processes_from_the_command_line(tmp_path: Path, dovecot: int) -> None:
    import json

    from typer.testing import CliRunner

    from handoff.cli.main import build_app

    _append(dovecot, "thunderbird_forward.eml", "auto_reply_ooo.eml")
    env = {"HANDOFF_HOME": str(tmp_path / "home"), "HANDOFF_DATABASE_URL": "", "HANDOFF_INBOX__IMAP_HOST": "127.0.0.1",
           "HANDOFF_INBOX__IMAP_PORT": str(dovecot), "HANDOFF_INBOX__IMAP_USER": USER,
           "HANDOFF_INBOX__IMAP_PASSWORD": PASSWORD, "HANDOFF_INBOX__IMAP_SSL": "false",
           # No CRM roster here: the forwarder's domain is configured as ours, or its forward is not believed.
           "HANDOFF_INBOX__INTERNAL_DOMAINS": '["handoff-demo.com"]'}  # fmt: skip
    first = CliRunner().invoke(build_app(), ["inbox", "imap", "--once", "--json"], env=env)
    assert first.exit_code == 0, first.output
    document = json.loads(first.stdout)
    assert (document["fetched"], document["processed"], document["last_uid"]) == (2, 2, 2)
    again = CliRunner().invoke(build_app(), ["inbox", "imap", "--once", "--json"], env=env)
    assert json.loads(again.stdout)["fetched"] == 0
    listed = CliRunner().invoke(build_app(), ["ledger", "list", "--json"], env=env)
    statuses = {entry["subject"]: entry["display_status"] for entry in json.loads(listed.stdout)["entries"]}
    assert statuses == {"API rate limits": "tasks_created", "Out of Office: Website relaunch": "rejected"}


def test_every_folder_is_polled_and_one_that_cannot_be_selected_is_reported(crm_parts: Parts, dovecot: int) -> None:
    client = _client(dovecot)
    client.create("Work")
    client.logout()
    _append(dovecot, "gmail_forward_en.eml")
    _append(dovecot, "big5_direct.eml", mailbox="Work")
    parts = _imap_parts(crm_parts, dovecot)
    parts.settings.inbox.imap_folders = ["Work", "Gone"]
    first = ImapSource(parts).poll_once()
    assert (first.fetched, first.last_uid) == (2, 1)
    assert [item["folder"] for item in first.skipped] == ["Gone"]
    assert first.skipped[0]["reason"].startswith("cannot select: ")
    # Each folder has its own cursor: nothing is fetched twice, the unselectable folder is reported again.
    again = ImapSource(parts).poll_once()
    assert again.fetched == 0 and [item["folder"] for item in again.skipped] == ["Gone"]
    parts.close()
