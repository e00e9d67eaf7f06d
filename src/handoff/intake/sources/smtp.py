"""The SMTP inbox handoff runs itself (aiosmtpd): accepts mail for configured recipients from allowed domains, and
answers 250 only after the message is durable in the ledger, so a sender never loses a message we acknowledged; 451
(try later) only when the ledger cannot take it, after retrying a busy database for `store_wait_s`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from handoff.intake.ledger import LedgerEntry
from handoff.settings import InboxSettings
from handoff.store.db import is_busy

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.intake.sender_auth import Resolver

log = logging.getLogger(__name__)


class InboxHandler:
    """aiosmtpd handler: envelope checks at MAIL/RCPT time, the ledger write at DATA time."""

    def __init__(
        self, inbox: InboxSettings, receive: Callable[[bytes], LedgerEntry], resolver: Resolver | None = None
    ) -> None:
        self.recipients = {address.strip().lower() for address in inbox.recipients}
        # Our own SPF/DKIM/DMARC (`intake.sender_auth`) when asked for; `resolver` answers its DNS questions.
        self.authserv_id = inbox.own_authserv_id()
        self.dns_timeout_s = inbox.dns_timeout_s
        self.resolver = resolver
        if self.authserv_id is not None and resolver is None:
            from handoff.intake.sender_auth import dns_resolver

            self.resolver = dns_resolver(inbox.dns_timeout_s)
        self.allowed_domains = {domain.strip().lower().lstrip("@") for domain in inbox.allowed_sender_domains}
        self.receive = receive
        self.store_wait_s = inbox.store_wait_s
        self.accepted = 0
        self.busy_retries = 0  # times a busy database was waited out (a 451 avoided)

    def _sender_allowed(self, address: str) -> bool:
        if not self.allowed_domains:
            return True
        domain = address.rsplit("@", 1)[1].lower() if "@" in address else ""
        return any(domain == allowed or domain.endswith("." + allowed) for allowed in self.allowed_domains)

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, mail_options: list) -> str:
        if not self._sender_allowed(address):
            return f"550 5.7.1 sender domain not allowed: {address}"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list) -> str:
        if address.strip().lower() not in self.recipients:
            return f"550 5.1.1 no such mailbox here: {address}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        loop = asyncio.get_running_loop()
        if self.authserv_id is not None:  # DNS questions block: off the event loop
            peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
            raw = await loop.run_in_executor(
                None, self._authenticated, raw, peer, session.host_name or "", envelope.mail_from or ""
            )
        raw = return_path_line(envelope.mail_from) + raw
        give_up_at = loop.time() + self.store_wait_s
        pause = 0.25
        while True:
            try:
                # The ledger write blocks (fsync, database); keep the event loop free for other connections.
                entry = await loop.run_in_executor(None, self.receive, raw)
                break
            except Exception as error:
                # Busy: another writer held the lock past the busy timeout. The attempt rolled back and the raw
                # file is content-addressed, so trying again cannot store the message twice.
                if is_busy(error) and loop.time() + pause < give_up_at:
                    self.busy_retries += 1
                    log.info("smtp inbox: database busy; retrying in %.2f s", pause)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 5.0)
                    continue
                log.exception("smtp inbox: could not store a message")
                return "451 4.3.0 could not store the message; try again later"
        self.accepted += 1
        return f"250 2.0.0 queued as ledger entry {entry.id}"

    def _authenticated(self, raw: bytes, client_ip: str, helo: str, mail_from: str) -> bytes:
        """The message with our own Authentication-Results on top (`intake.sender_auth`); a check that breaks
        stamps `temperror`, which passes nothing and fails nothing: the gate decides as without our check."""
        from handoff.intake import sender_auth

        assert self.authserv_id is not None and self.resolver is not None
        try:
            checked = sender_auth.check(
                raw, client_ip=client_ip, helo=helo, mail_from=mail_from, resolver=self.resolver,
                timeout_s=self.dns_timeout_s,
            )  # fmt: skip
        except Exception as error:
            log.warning("smtp inbox: sender check failed (%s); stamped temperror", type(error).__name__)
            checked = sender_auth.Checked("temperror", "", (), "temperror", "")
        return sender_auth.stamp(raw, checked, self.authserv_id)


def return_path_line(mail_from: str | None) -> bytes:
    """The envelope sender as the final delivery writes it (RFC 5321 4.4), on top of the stored message: the gate
    compares it with the header From. Any Return-Path the sender wrote stays below it and is not read."""
    address = "".join(ch for ch in (mail_from or "") if ch.isprintable() and ch not in "<>\r\n")
    return f"Return-Path: <{address}>\r\n".encode("utf-8", "surrogateescape")


class _LongLineSMTP(SMTP):
    # RFC 5321 caps a line at 1,000 bytes, but real senders write longer ones (a one-line HTML body, an unfolded To:
    # with many addresses): aiosmtpd's default refused those with "500 Line too long" and nothing reached the ledger.
    # The message size limit still bounds the whole.
    line_length_limit = 1 << 20


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _LongLineSMTP(self.handler, **self.SMTP_kwargs)


class SmtpInbox:
    """The inbox server; `start()`/`stop()` around a background thread (aiosmtpd's Controller)."""

    def __init__(
        self,
        inbox: InboxSettings,
        receive: Callable[[bytes], LedgerEntry],
        host: str,
        port: int,
        resolver: Resolver | None = None,
    ) -> None:
        self.handler = InboxHandler(inbox, receive, resolver)
        self.controller = _Controller(
            self.handler,
            hostname=host,
            port=port,
            data_size_limit=inbox.max_message_bytes,
            ident="handoff inbox",
            decode_data=False,
        )

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpInbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def smtp_inbox(
    parts: Any, host: str | None = None, port: int | None = None, resolver: Resolver | None = None
) -> SmtpInbox:
    """An inbox that writes into `parts`' ledger with source 'smtp'; `resolver` answers the DNS questions of our
    own sender checks (default: the system's name servers), when `inbox.sender_auth` is on."""
    from handoff.intake.service import receive_raw

    inbox = parts.settings.inbox
    return SmtpInbox(
        inbox,
        lambda raw: receive_raw(parts, raw, "smtp"),
        host or inbox.smtp_host,
        port if port is not None else inbox.smtp_port,
        resolver,
    )
