"""Limits on what one request or one key may ask: body size (413) and contact listings per key per minute (429)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    """Raised from inside `receive`: a route that reads the body itself meets it here; FastAPI's JSON parsing wraps
    it in a 400 "error parsing the body", which the error handlers turn back into this 413 (`api.errors`)."""


class BodyLimitMiddleware:
    """Checks Content-Length up front and counts streamed (chunked) bytes as they arrive."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunked = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _refuse(send, 400, "InvalidInput", "Content-Length is not a number")
                    return
                if declared > self.max_bytes:
                    await _refuse(send, 413, "TooLarge", self._message(declared))
                    return
            elif name == b"transfer-encoding":
                chunked = True
        if not chunked:  # no body, or one the server holds to its declared length: nothing to count
            await self.app(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self._message(seen))
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as too_large:
            if not started:
                await _refuse(send, 413, "TooLarge", str(too_large))

    def _message(self, size: int) -> str:
        return f"request body of {size} bytes is over the {self.max_bytes}-byte limit"


async def _refuse(send: Send, status: int, error: str, detail: str) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class KeyRateLimiter:
    """A token bucket per API key, shared by every thread of the process: `per_minute` requests, refilled evenly.

    In memory, so several processes (uvicorn `--workers`, two `handoff up`) each keep their own buckets: a key then
    gets up to `per_minute` times the number of processes. `handoff up` serves from one process.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, when counted)

    def take(self, key_id: str) -> float:
        """0 when the request may go ahead (and it is counted); otherwise the seconds until one token is back."""
        if self.per_minute <= 0:  # 0 turns the limit off
            return 0.0
        rate = self.per_minute / 60.0
        with self._lock:  # the check and the count are one step, or concurrent requests would all pass the check
            now = self.clock()
            tokens, then = self._buckets.get(key_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - then) * rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / rate
