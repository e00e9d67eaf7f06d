"""Secrets out of text: URLs cut to scheme + host, tokens blanked, upstream errors summarised, log records cleaned.

The one place that decides what a secret looks like. Everything that can surface text from another system — a log
line, a stored error, a run record, a task note, an API answer — passes it through `redact` or `summarise_error`.
"""

from __future__ import annotations

import http
import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable

MARK = "***"

# A URL in free text: scheme, optional user:password@, host[:port], then anything up to whitespace or a quote. The
# path and query go: a Slack or WeCom webhook carries its secret there, a DingTalk one its signature.
_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.\-]{1,15})://(?:[^\s/?#@'\"<>]*@)?([^\s/?#'\"<>]+)[^\s'\"<>]*")
# Credentials in headers as an echoing server or a client's debug log prints them.
_AUTH_SCHEME = re.compile(
    r"(?i)\b(bearer)(\s+|[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._~+/=\-]{6,}|\b(Basic)(\s+)[A-Za-z0-9+/]{12,}=*"
)
# Tokens recognisable by their own shape: OpenAI-style `sk-…`, handoff's `hk_…` and `whsec_…`, Slack's `xox?-…`.
_TOKEN = re.compile(
    r"\b(?:sk-[A-Za-z0-9_\-]{8,}|hk_[A-Za-z0-9_\-]{8,}|whsec_[A-Za-z0-9_\-]{8,}|xox[abprs]-[A-Za-z0-9\-]{8,})"
)
# `"api_key": "…"`, `x-api-key: …`, `password=…`, `sign=…` in JSON, headers and query strings.
_NAMED = re.compile(
    r"(?i)([\"']?\b(?:x-api-key|api[_-]?key|key|authorization|password|passwd|secret|access[_-]?token|token|sign|signature)"
    r"[\"']?\s*[:=]\s*[\"']?)(?!(?i:bearer|basic)\b)([^\s\"',&}<>`]{4,})"
)

_known_secrets: set[str] = set()
_known_lock = threading.Lock()


def _pieces(value: str) -> list[str]:
    """A secret and the parts of it that are secret alone: a webhook URL's path and its query values."""
    pieces = [value]
    if "://" in value:
        parts = urllib.parse.urlsplit(value)
        pieces.append(parts.path)
        pieces += [item for _, item in urllib.parse.parse_qsl(parts.query)]
        if parts.password:
            pieces.append(parts.password)
    # Short values ("not-needed", "/send") would blank ordinary words; a real secret is longer.
    return [piece for piece in pieces if len(piece) >= 8]


def register_secrets(values: Iterable[str | None]) -> None:
    """Remembers configured secrets (keys, passwords, webhook URLs) so `redact` blanks them wherever they appear."""
    with _known_lock:
        for value in values:
            if value:
                _known_secrets.update(_pieces(value))


def redact_url(url: str | None) -> str:
    """`https://hooks.slack.com/services/T/B/X?k=v` -> `https://hooks.slack.com`; user and password go too."""
    if not url:
        return ""
    parts = urllib.parse.urlsplit(str(url))
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}" if parts.scheme else MARK


def redact(text: str | None, secrets: Iterable[str | None] = ()) -> str:
    """The text with every known or recognisable secret replaced by `***` and every URL cut to scheme + host."""
    if not text:
        return text or ""
    with _known_lock:
        known = sorted(_known_secrets, key=len, reverse=True)
    given = sorted((piece for value in secrets if value for piece in _pieces(value)), key=len, reverse=True)
    for secret in [*given, *known]:
        text = text.replace(secret, MARK)
    text = _URL.sub(lambda m: f"{m.group(1)}://{m.group(2)}", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1) or m.group(3)}{m.group(2) or m.group(4)}{MARK}", text)
    text = _NAMED.sub(lambda m: f"{m.group(1)}{MARK}", text)
    return _TOKEN.sub(MARK, text)


def summarise_error(error: BaseException, limit: int = 200) -> str:
    """`AuthenticationError: HTTP 401 Unauthorized`: the type, and for an HTTP answer its status and reason only.

    An upstream error's body is never kept: servers echo the request (an `Authorization` header, the key) into it.
    Any other error keeps a short, redacted message, which is handoff's own text or the library's.
    """
    name = type(error).__name__
    response = getattr(error, "response", None)
    status = getattr(error, "status_code", None)
    if not isinstance(status, int):
        status = getattr(response, "status_code", None)
    if isinstance(status, int):
        reason = getattr(response, "reason_phrase", None) or _phrase(status)
        return f"{name}: HTTP {status} {reason}".rstrip()
    return f"{name}: {redact(str(error))[:limit]}".rstrip(": ")


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def protect(secrets: Iterable[str | None]) -> None:
    """What every entry point runs once it has its Settings: the secrets are known and log records are redacted."""
    register_secrets(secrets)
    install_log_redaction()


_installed = False


def install_log_redaction() -> None:
    """Every log record of the process, handoff's and every library's (httpx logs request URLs, openai the response
    headers at debug), is redacted as it is made, before any handler sees it; once per process, idempotent."""
    global _installed
    with _known_lock:
        if _installed:
            return
        _installed = True
    make_record = logging.getLogRecordFactory()

    def redacting_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string: logging reports it later, as it always would
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # The traceback's last line repeats the error's message, which may hold an upstream body.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(redacting_record)
