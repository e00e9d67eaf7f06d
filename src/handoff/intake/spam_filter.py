"""The company's own spam filter, asked once per message: rspamd over HTTP (`POST /checkv2`) or SpamAssassin's spamd
(its SPAMC/1.5 protocol over TCP). Errors: `FilterUnavailable` (down, slow, or an answer we cannot read) is the only
one raised; the worker then keeps the message waiting in the ledger and asks again later."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from handoff.intake.gate import RSPAMD_SPAM_ACTIONS

MAX_SYMBOLS_SHOWN = 6  # the reason names the rules that fired; a long tail of small ones says nothing more


class FilterUnavailable(Exception):
    """The filter could not give a verdict now (connection refused, timeout, an error answer)."""


@dataclass(frozen=True)
class FilterVerdict:
    spam: bool
    reason: str  # e.g. "spamd: score 1000.0 >= 5.0 (GTUBE)"


class SpamFilter(Protocol):
    name: str

    def check(self, raw: bytes) -> FilterVerdict: ...


def _symbols(names: Sequence[str]) -> str:
    shown = [name for name in names if name][:MAX_SYMBOLS_SHOWN]
    more = len([n for n in names if n]) - len(shown)
    return f" ({', '.join(shown)}{f', +{more} more' if more > 0 else ''})" if shown else ""


class SpamdFilter:
    """SpamAssassin's `spamd`: `SYMBOLS SPAMC/1.5`, answered with `Spam: True ; 1000.0 / 5.0` and the rule names."""

    name = "spamd"

    def __init__(self, host: str, port: int, timeout_s: float = 10.0) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s

    @classmethod
    def from_address(cls, address: str, timeout_s: float = 10.0) -> SpamdFilter:
        host, _, port = address.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"spamd address must be host:port, not {address!r}")
        return cls(host.strip("[]"), int(port), timeout_s)

    def check(self, raw: bytes) -> FilterVerdict:
        request = b"SYMBOLS SPAMC/1.5\r\nContent-length: %d\r\nUser: handoff\r\n\r\n" % len(raw) + raw
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout_s) as connection:
                connection.settimeout(self.timeout_s)
                connection.sendall(request)
                connection.shutdown(socket.SHUT_WR)  # spamd reads to Content-length; some versions wait for EOF
                chunks = []
                while chunk := connection.recv(65536):
                    chunks.append(chunk)
        except OSError as error:  # refused, reset, timed out (socket.timeout is an OSError)
            raise FilterUnavailable(f"spamd at {self.host}:{self.port}: {type(error).__name__}: {error}") from error
        return self._verdict(b"".join(chunks))

    def _verdict(self, answer: bytes) -> FilterVerdict:
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(None, 2) if lines else []
        if len(status) < 2 or not status[0].startswith("SPAMD/") or status[1] != "0":
            raise FilterUnavailable(f"spamd at {self.host}:{self.port} answered {lines[0][:120] if lines else '?'!r}")
        spam_line = next((line for line in lines[1:] if line.lower().startswith("spam:")), None)
        if spam_line is None:
            raise FilterUnavailable(f"spamd at {self.host}:{self.port} gave no Spam: line")
        flag, _, scores = spam_line.split(":", 1)[1].partition(";")
        score, _, required = (part.strip() for part in scores.partition("/"))
        spam = flag.strip().lower() in ("true", "yes")
        symbols = _symbols([s.strip() for s in body.decode("latin-1").split(",")])
        if spam:
            return FilterVerdict(True, f"spam: spamd score {score} >= {required}{symbols}")
        return FilterVerdict(False, f"spamd: clean, score {score} < {required}")


class RspamdFilter:
    """rspamd's normal worker: `POST {url}/checkv2` with the raw message, answered with JSON (action, score)."""

    name = "rspamd"

    def __init__(self, url: str, timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/") + ("" if url.rstrip("/").endswith("/checkv2") else "/checkv2")
        self.timeout_s = timeout_s
        self._transport = transport

    def check(self, raw: bytes) -> FilterVerdict:
        where = httpx.URL(self.url)
        server = f"{where.scheme}://{where.netloc.decode()}"  # scheme and host only: a URL may carry a secret
        try:
            with httpx.Client(timeout=self.timeout_s, transport=self._transport) as client:
                answer = client.post(self.url, content=raw, headers={"Content-Type": "message/rfc822"})
        except httpx.HTTPError as error:
            raise FilterUnavailable(f"rspamd at {server}: {type(error).__name__}") from error
        if answer.status_code != 200:
            raise FilterUnavailable(f"rspamd at {server} answered {answer.status_code}")
        try:
            result: dict[str, Any] = answer.json()
            action = str(result["action"]).lower()
            score, required = float(result.get("score", 0.0)), result.get("required_score")
        except (ValueError, KeyError, TypeError) as error:
            raise FilterUnavailable(f"rspamd answered something that is not a verdict: {error}") from error
        spam = action in RSPAMD_SPAM_ACTIONS
        symbols = result.get("symbols") or {}
        ranked = sorted(symbols.values() if isinstance(symbols, dict) else [], key=_weight, reverse=True)
        if not spam:
            # A message rspamd's own configuration skips (settings, size) is its decision, recorded as such.
            how = "skipped, not scanned" if result.get("is_skipped") else "clean"
            return FilterVerdict(False, f"rspamd: {how} ({action}), score {score:g} / {required}")
        names = _symbols([str(s.get("name", "")) for s in ranked if isinstance(s, dict)])
        return FilterVerdict(True, f"spam: rspamd {action}, score {score:g} / {required}{names}")


def _weight(symbol: Any) -> float:
    try:
        return float(symbol.get("score", 0.0))
    except (AttributeError, TypeError, ValueError):
        return 0.0


def filters_from_settings(inbox: Any) -> list[SpamFilter]:
    """The filters configured in `InboxSettings` (rspamd first when both are), none when neither is."""
    found: list[SpamFilter] = []
    if inbox.rspamd_url:
        found.append(RspamdFilter(inbox.rspamd_url, inbox.spam_filter_timeout_s))
    if inbox.spamd:
        found.append(SpamdFilter.from_address(inbox.spamd, inbox.spam_filter_timeout_s))
    return found
