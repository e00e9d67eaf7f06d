"""A real HTTP server on loopback that records every request and answers as told, for webhook tests and demos."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: dict = field(default_factory=lambda: {"errcode": 0, "errmsg": "ok"})
    headers: dict[str, str] = field(default_factory=dict)


class HttpReceiver:
    """`with HttpReceiver() as hooks:` listens on `hooks.url(path)`; `hooks.requests` lists what arrived.

    `answer(path, replies)` scripts the replies for a path (e.g. two 503s then a 200); after the script the
    default reply (200, `{"errcode": 0}`, which Slack, WeCom and DingTalk clients all accept) is used.
    `check` may veto a request (return a Reply), e.g. to reject a bad signature like a real server would.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.requests: list[ReceivedRequest] = []
        self._scripts: dict[str, list[Reply]] = {}
        self.check: Callable[[ReceivedRequest], Reply | None] | None = None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/") -> str:
        assert self._server is not None, "start the receiver first"
        return f"http://{self.host}:{self._server.server_address[1]}{path}"

    def answer(self, path: str, replies: list[Reply]) -> None:
        with self._lock:
            self._scripts[path] = list(replies)

    def received(self, path: str) -> list[ReceivedRequest]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def _reply_for(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            script = self._scripts.get(request.path)
            if script:
                return script.pop(0)
        if self.check is not None and (veto := self.check(request)) is not None:
            return veto
        return Reply()

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urllib.parse.urlsplit(self.path)
                request = ReceivedRequest(
                    "POST",
                    parts.path,
                    dict(urllib.parse.parse_qsl(parts.query)),
                    {key.lower(): value for key, value in self.headers.items()},
                    self.rfile.read(length),
                )
                reply = receiver._reply_for(request)
                data = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                return

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HttpReceiver:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
