"""The error hierarchy. Domain code raises these; the API and CLI map them to status codes and exit codes.

HandoffError
├── InvalidInput        the caller sent something we cannot use (API 400/422, CLI exit 2)
│   ├── ImportRejected  a CRM import with row-level problems; nothing was written
│   └── TooLarge        over a configured size limit (API 413)
├── NotFound            the thing asked for does not exist (API 404)
├── Conflict            the request clashes with the current state (API 409)
├── PermissionDenied    the caller's role may not do this (API 403)
├── NotReady            a model or dependency is missing (API 503, CLI exit 3)
│   └── NoChampion      no champion model is registered for a job: train one
└── ExternalFailure     a server we talk to failed (SMTP, IMAP, LLM, webhook); retryable
    ├── PermanentFailure  refused in a way a retry cannot change (HTTP 401/403/404, a bad address)
    └── OutcomeUnknown    a write whose answer never came: it may or may not have happened
"""

from __future__ import annotations


class HandoffError(Exception):
    """Base class: `str(error)` is one line a person can act on."""


class InvalidInput(HandoffError):
    pass


class ImportRejected(InvalidInput):
    """Carries every problem found, so a user fixes the file in one pass."""

    def __init__(self, problems: list) -> None:
        self.problems = problems
        super().__init__(f"import rejected: {len(problems)} problem(s); nothing was written")


class TooLarge(InvalidInput):
    pass


class NotFound(HandoffError):
    pass


class Conflict(HandoffError):
    pass


class PermissionDenied(HandoffError):
    pass


class BadSignature(HandoffError):
    """A webhook delivery whose signature is missing or wrong (HTTP 401): nothing in it is used."""


class NotReady(HandoffError):
    pass


class NoChampion(NotReady):
    """The registry holds no champion for a model the job needs; `handoff train` makes one."""


class ExternalFailure(HandoffError):
    pass


class PermanentFailure(ExternalFailure):
    """An outside party refused in a way a retry cannot change: no address, a malformed URL, an HTTP 4xx."""


class OutcomeUnknown(ExternalFailure):
    """A write was sent but its answer was lost (a timeout, a dropped connection, a 5xx): the other side may have
    done it. Never repeat such a write blindly; look first for what it would have made (`handoff.sync`)."""
