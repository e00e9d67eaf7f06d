"""The one HTTP client every connector uses: timeouts, backoff on 429 (Retry-After) and 5xx, clear 401/403/404."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from handoff.errors import ExternalFailure, OutcomeUnknown, PermanentFailure
from handoff.redaction import redact

MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 60.0


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110 10.2.3); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass
class VendorHttp:
    """Requests to one vendor. `secrets` are blanked from every error; the hints name the settings to check.

    Reads (and read-only POSTs such as Jira's search) are retried on 429, 5xx and network errors. A write is retried
    only where it cannot have happened: a 429 (refused before any work) or a connection that never opened; any other
    failure after sending raises `OutcomeUnknown`, so the caller looks before writing again."""

    vendor: str
    base_url: str
    timeout_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    params: dict[str, str] = field(default_factory=dict, repr=False)  # Trello's key and token ride in the query
    auth: tuple[str, str] | None = field(default=None, repr=False)
    secrets: list[str] = field(default_factory=list, repr=False)
    auth_hint: str = ""  # the settings a 401/403 points at
    where_hint: str = ""  # the settings a 404 points at
    sleep: Callable[[float], None] = time.sleep
    transport: httpx.BaseTransport | None = None
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.base_url.rstrip("/"),
                timeout=httpx.Timeout(self.timeout_s),
                headers={"Accept": "application/json", **self.headers},
                auth=self.auth,
                transport=self.transport,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def get(self, path: str, *, params: dict[str, Any] | None = None, missing_ok: bool = False) -> Any:
        return self.request("GET", path, params=params, missing_ok=missing_ok, idempotent=True)

    def post(
        self, path: str, *, json: Any = None, params: dict[str, Any] | None = None, idempotent: bool = False
    ) -> Any:
        return self.request("POST", path, json=json, params=params, idempotent=idempotent)

    def put(self, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        """A PUT sets values, so sending it twice is harmless: it is retried like a read."""
        return self.request("PUT", path, json=json, params=params, idempotent=True)

    def delete(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        """Deleting twice leaves the same: retried like a read; a 404 (already gone) is an answer, not an error."""
        return self.request("DELETE", path, params=params, missing_ok=True, idempotent=True)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        missing_ok: bool = False,
        idempotent: bool,
    ) -> Any:
        """The answer's JSON (None for a 404 when `missing_ok`)."""
        what = f"{self.vendor} {method} {path}"
        query = {**self.params, **(params or {})}
        failure: ExternalFailure | None = None
        for attempt in range(1, self.retry.max_attempts + 1):
            wait = self._backoff(attempt)
            try:
                response = self.client.request(method, path, json=json, params=query or None)
            except httpx.ConnectError as error:  # nothing reached the server: safe to send again, even a write
                failure = ExternalFailure(f"{what}: cannot connect ({self._clean(error)})")
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as error:
                if not idempotent:
                    raise OutcomeUnknown(f"{what}: no answer ({type(error).__name__}); it may have been done") from None
                failure = ExternalFailure(f"{what}: no answer ({type(error).__name__})")
            except httpx.HTTPError as error:
                raise PermanentFailure(f"{what}: {self._clean(error)}") from None
            else:
                status = response.status_code
                if status < 300:
                    return response.json() if response.content else None
                if status == 404 and missing_ok:
                    return None
                if status == 429:
                    asked = retry_after_s(response.headers.get("Retry-After"))
                    if asked is not None and asked > self.retry.max_retry_after_s:
                        raise ExternalFailure(f"{what}: HTTP 429, asked to wait {asked:.0f} s; tried again later")
                    failure = ExternalFailure(f"{what}: HTTP 429 (rate limited)")
                    wait = asked if asked is not None else wait
                elif status >= 500:
                    if not idempotent:
                        raise OutcomeUnknown(f"{what}: HTTP {status}; it may have been done")
                    failure = ExternalFailure(f"{what}: HTTP {status}")
                else:
                    raise PermanentFailure(self._refusal(what, response))
            if attempt < self.retry.max_attempts:
                self.sleep(wait)
        assert failure is not None
        raise failure

    def _backoff(self, attempt: int) -> float:
        return min(self.retry.max_backoff_s, self.retry.backoff_s * 2 ** (attempt - 1))

    def _refusal(self, what: str, response: httpx.Response) -> str:
        status = response.status_code
        if status in (401, 403):
            meaning = "the credentials were refused" if status == 401 else "the account may not do this"
            return f"{what}: HTTP {status}, {meaning}{f'; check {self.auth_hint}' if self.auth_hint else ''}"
        if status == 404:
            return f"{what}: HTTP 404, not found{f'; check {self.where_hint}' if self.where_hint else ''}"
        return f"{what}: HTTP {status}: {self._clean(response.text)[:MAX_ERROR_CHARS]}"

    def _clean(self, text: object) -> str:
        return redact(str(text), self.secrets)
