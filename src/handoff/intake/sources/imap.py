"""The IMAP poller: fetches messages above a UID cursor kept in the store (with UIDVALIDITY), so a restart neither
misses mail nor fires twice (n8n#25122). Each message's ledger row and the cursor move commit together. It polls
`imap_mailbox` and any `imap_folders`, each with its own cursor; a folder that cannot be selected is reported in
`skipped` with the server's answer and the others are still polled."""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from handoff.clock import utcnow
from handoff.errors import ExternalFailure, InvalidInput
from handoff.intake import ledger as ledger_store
from handoff.intake.tables import imap_cursors
from handoff.store.db import transaction

log = logging.getLogger(__name__)
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")


@dataclass(frozen=True)
class PollResult:
    """What one poll fetched; `uidvalidity`/`last_uid` are `imap_mailbox`'s, `skipped` the folders not polled."""

    fetched: int
    ledger_ids: list[int]
    uidvalidity: int
    last_uid: int
    skipped: list[dict[str, str]] = field(default_factory=list)


class ImapSource:
    """One mailbox on one server; `poll_once()` is safe to call from several processes (the cursor row decides)."""

    def __init__(self, parts: Any, *, host: str | None = None, port: int | None = None, batch: int = 50) -> None:
        inbox = parts.settings.inbox
        self.parts = parts
        self.host = host or inbox.imap_host
        self.port = port or inbox.imap_port
        self.user = inbox.imap_user
        self.password = inbox.imap_password.get_secret_value() if inbox.imap_password else None
        self.mailbox = inbox.imap_mailbox
        self.folders = list(dict.fromkeys([inbox.imap_mailbox, *inbox.imap_folders]))
        self.ssl = inbox.imap_ssl
        self.batch = batch
        parts.settings.ensure_home()
        if not self.host or not self.user or self.password is None:
            raise InvalidInput("IMAP needs HANDOFF_INBOX__IMAP_HOST, HANDOFF_INBOX__IMAP_USER and _IMAP_PASSWORD")

    @property
    def cursor_key(self) -> str:
        return self._key(self.mailbox)

    def _key(self, folder: str) -> str:
        return f"{self.user}@{self.host}:{self.port}/{folder}"[:255]

    def _connect(self) -> imaplib.IMAP4:
        client: imaplib.IMAP4 | None = None
        try:
            client = (
                imaplib.IMAP4_SSL(self.host, self.port, timeout=30)
                if self.ssl
                else imaplib.IMAP4(self.host, self.port, timeout=30)
            )
            client.login(self.user, self.password)  # type: ignore[arg-type]
        except (OSError, imaplib.IMAP4.error) as error:
            if client is not None:  # a refused login leaves the connection open
                with contextlib.suppress(OSError):
                    client.shutdown()
            raise ExternalFailure(f"IMAP {self.host}:{self.port}: {error}") from error
        return client

    def poll_once(self) -> PollResult:
        """Fetch every message above each folder's cursor into the ledger; returns what was fetched."""
        client = self._connect()
        try:
            ids: list[int] = []
            skipped: list[dict[str, str]] = []
            uidvalidity, last_uid = 0, 0
            for folder in self.folders:
                status, data = client.select(_quoted(folder), readonly=True)
                if status != "OK":
                    answer = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")[:200]
                    log.warning("imap: cannot select %s: %s", folder, answer)
                    skipped.append({"folder": folder, "reason": f"cannot select: {answer or status}"})
                    continue
                folder_validity, folder_last, fetched = self._poll_folder(client, folder)
                ids.extend(fetched)
                if folder == self.mailbox:
                    uidvalidity, last_uid = folder_validity, folder_last
            return PollResult(len(ids), ids, uidvalidity, last_uid, skipped)
        finally:
            with contextlib.suppress(Exception):  # the server went away after we were done: nothing to clean up
                client.logout()

    def _poll_folder(self, client: imaplib.IMAP4, folder: str) -> tuple[int, int, list[int]]:
        uidvalidity = self._uidvalidity(client, folder)
        last_uid = self._cursor(folder, uidvalidity)
        status, data = client.uid("SEARCH", None, f"UID {last_uid + 1}:*")
        if status != "OK":
            raise ExternalFailure(f"IMAP: UID SEARCH in {folder} failed: {data!r}")
        # "n:*" always matches the highest UID even when it is below n: filter it out.
        uids = sorted(uid for uid in (int(x) for x in (data[0] or b"").split()) if uid > last_uid)
        ids: list[int] = []
        for uid in uids[: self.batch]:
            raw = self._fetch(client, uid)
            ids.append(self._store(folder, raw, uidvalidity, uid))
            last_uid = uid
        return uidvalidity, last_uid, ids

    def run(self, stop: threading.Event, interval_s: float | None = None) -> None:
        interval = interval_s if interval_s is not None else self.parts.settings.inbox.imap_poll_s
        while not stop.is_set():
            try:
                result = self.poll_once()
                if result.fetched >= self.batch:
                    continue  # more waiting: poll again at once
            except ExternalFailure as error:
                log.warning("imap poll failed: %s", error)
            stop.wait(interval)

    def _uidvalidity(self, client: imaplib.IMAP4, folder: str) -> int:
        _, data = client.response("UIDVALIDITY")
        if data and data[0]:
            return int(data[0])
        status, data = client.status(_quoted(folder), "(UIDVALIDITY)")
        match = _UIDVALIDITY.search(data[0] or b"") if status == "OK" and data else None
        if not match:
            raise ExternalFailure("IMAP server reported no UIDVALIDITY")
        return int(match.group(1))

    def _fetch(self, client: imaplib.IMAP4, uid: int) -> bytes:
        status, data = client.uid("FETCH", str(uid), "(BODY.PEEK[])")  # PEEK: never mark the customer's mail read
        if status != "OK":
            raise ExternalFailure(f"IMAP: fetch of UID {uid} failed: {data!r}")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2:
                return item[1]
        raise ExternalFailure(f"IMAP: fetch of UID {uid} returned no body")

    def _cursor(self, folder: str, uidvalidity: int) -> int:
        key = self._key(folder)
        with transaction(self.parts.sessions) as session:
            row = session.execute(select(imap_cursors).where(imap_cursors.c.mailbox == key)).first()
            if row is None:
                session.execute(
                    imap_cursors.insert().values(mailbox=key, uidvalidity=uidvalidity, last_uid=0, updated_at=utcnow())
                )
                return 0
            if row.uidvalidity != uidvalidity:
                # The server renumbered the mailbox: read it again from the start; the ledger's dedupe on
                # Message-ID + body turns the repeats into `duplicate` rows instead of new tasks.
                log.warning("imap: UIDVALIDITY changed for %s; re-reading the mailbox", key)
                self._move(session, key, uidvalidity, 0)
                return 0
            return int(row.last_uid)

    def _store(self, folder: str, raw: bytes, uidvalidity: int, uid: int) -> int:
        settings = self.parts.settings
        with transaction(self.parts.sessions) as session:
            entry = ledger_store.record_arrival(
                session,
                raw_dir=settings.raw_mail_dir,
                raw=raw,
                source="imap",
                max_bytes=settings.inbox.max_message_bytes,
            )
            self._move(session, self._key(folder), uidvalidity, uid)
            return entry.id

    def _move(self, session: Session, key: str, uidvalidity: int, uid: int) -> None:
        session.execute(
            update(imap_cursors)
            .where(imap_cursors.c.mailbox == key)
            .values(uidvalidity=uidvalidity, last_uid=uid, updated_at=utcnow())
        )


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
