"""The adversarial probe of issue 16: a real `handoff up` under fuzzed HTTP, hostile mail, a `kill -9` and planted
secrets, counted.

Run: `python -m eval.run security` (or `make eval`, or `python -m eval.security.probe`). Writes
`eval/results/security-probe.json` (`HANDOFF_PROBE_RESULTS` names another file). Sizes: `HANDOFF_PROBE_FUZZ` fuzzed
values per route (default 24), `HANDOFF_PROBE_MAILS` hostile and ordinary mails (default 300),
`HANDOFF_PROBE_CRASH_MAILS` the burst the service is killed in (default 200), `HANDOFF_PROBE_BIG_MAIL` 0 leaves the
1 MB mail out, `HANDOFF_PROBE_TRAIN` 0 starts without champions (the model routes then answer their documented
503). The run fails (exit 1) on any finding: a 5xx the OpenAPI document does not promise, a role answer that
differs from `access.roles.may_call`, a lost or twice-processed mail, a secret found, a forged sender credited.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

RESULTS = Path(__file__).resolve().parents[1] / "results" / "security-probe.json"
ROLES = ("admin", "pm", "sales", "account_owner", "integration")
# Fuzzed as admin (every permission: the values reach every handler) and as an account owner (the scoped paths).
FUZZ_ROLES = ("admin", "account_owner")
INBOX = "tasks@handoff.local"
STRANGER = "eve@evil.example"
FUZZ_VALUES: tuple[Any, ...] = (
    -1, 0, 2**70, -(2**63), 1e308, "NaN", "", " ", "é中文🙂ｆｕｌｌ", "a\x00b", "\x00", "x" * 5000, "../../etc/passwd",
    "' OR 1=1 --", "<script>alert(1)</script>", "%00", "\r\nX-Injected: 1", True, None, [], {}, [1, "a"],
    {"$gt": ""}, "2026-02-30", "9999-12-31T99:99:99", "-0", "1e9999",
)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _size(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass
class Findings:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    documented_503: Counter = field(default_factory=Counter)  # by route: e.g. no champion model loaded
    server_errors: list[dict[str, Any]] = field(default_factory=list)
    matrix_mismatches: list[dict[str, Any]] = field(default_factory=list)
    mails_sent: int = 0
    mails_refused: Counter = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    failed_outcomes: list[dict[str, Any]] = field(default_factory=list)
    misattributed: list[dict[str, Any]] = field(default_factory=list)
    # An ordinary ask not credited to its customer: the misattribution count could not tell anything then.
    control_not_credited: list[str] = field(default_factory=list)
    secret_hits: list[dict[str, Any]] = field(default_factory=list)
    crash: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)

    def failures(self) -> int:
        return sum(
            len(x)
            for x in (self.server_errors, self.matrix_mismatches, self.lost, self.duplicates, self.failed_outcomes,
                      self.misattributed, self.control_not_credited, self.secret_hits)
        )  # fmt: skip


class Service:
    """`handoff up` in its own process group (so `kill -9` takes the whole tree), its output in a log file."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env
        self.api = f"http://127.0.0.1:{env['HANDOFF_API__PORT']}"
        self.smtp_port = int(env["HANDOFF_INBOX__SMTP_PORT"])
        self.log = home.parent / "service.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 300) -> None:
        import httpx

        train = "--train" if _size("HANDOFF_PROBE_TRAIN", 1) else "--no-train"
        command = [sys.executable, "-m", "handoff", "up", train, "--no-scheduler"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"handoff up exited ({self.process.returncode}): {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.api}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"handoff up did not answer within {timeout_s} s")

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "handoff", *args], env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"handoff {' '.join(args)}: {done.stderr[-2000:]}")
        return done.stdout


# --- HTTP -------------------------------------------------------------------------------------------------------


def _body_fields(document: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    """The JSON body's property names from its schema, so fuzzed values reach the fields a handler reads."""
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    reference = schema.get("$ref", "")
    if reference.startswith("#/components/schemas/"):
        schema = document["components"]["schemas"][reference.rsplit("/", 1)[1]]
    return sorted(schema.get("properties", {})) or ["id", "text"]


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            found.append({
                "path": path,
                "method": method.upper(),
                "operation_id": operation.get("operationId", ""),
                "secured": bool(operation.get("security")),
                "parameters": operation.get("parameters", []),
                "has_body": "requestBody" in operation,
                "body_fields": _body_fields(document, operation),
                "documented": set(operation.get("responses", {})),
            })  # fmt: skip
    return found


def _url(operation: dict[str, Any], path_value: Any = "probe-missing") -> str:
    text = path_value if isinstance(path_value, str) else json.dumps(path_value)
    return re.sub(r"\{[^}]+\}", lambda _: quote(text, safe="") or "%20", operation["path"])


class Http:
    """Counts every answer; a 5xx the operation does not document is a finding (with the route and payload)."""

    def __init__(self, base: str, findings: Findings) -> None:
        import httpx

        self.client = httpx.Client(base_url=base, timeout=120)
        self.findings = findings

    def send(self, operation: dict[str, Any] | None, method: str, url: str, *, payload: str = "", **kwargs: Any):
        import httpx

        self.findings.requests += 1
        try:
            answer = self.client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            self.findings.server_errors.append({"route": f"{method} {url[:200]}", "payload": payload[:300],
                                                "status": None, "error": repr(error)[:300]})  # fmt: skip
            return None
        self.findings.statuses[answer.status_code] += 1
        promised = operation is not None and str(answer.status_code) in operation["documented"]
        if answer.status_code == 503 and promised:
            self.findings.documented_503[f"{method} {operation['path']}"] += 1
        if answer.status_code >= 500 and not (answer.status_code == 503 and promised):
            self.findings.server_errors.append({"route": f"{method} {url[:200]}", "payload": payload[:300],
                                                "status": answer.status_code, "body": answer.text[:300]})  # fmt: skip
        return answer


def probe_role_matrix(http: Http, operations: list[dict[str, Any]], keys: dict[str, str]) -> None:
    """No key and a wrong key: 401 on every secured route; each role: 403 exactly where `may_call` says no."""
    from handoff.access.roles import ROUTE_PERMISSIONS, SIGNED_ROUTES, may_call

    for operation in operations:
        if not operation["secured"] or operation["operation_id"] in SIGNED_ROUTES:
            continue
        url, method = _url(operation), operation["method"]
        body = {"json": {}} if operation["has_body"] else {}
        for label, headers in (("no key", {}), ("wrong key", {"Authorization": "Bearer hk_wrong_" + "x" * 32})):
            answer = http.send(operation, method, url, headers=headers, payload=label, **body)
            if answer is not None and answer.status_code != 401:
                http.findings.matrix_mismatches.append({"route": f"{method} {url}", "caller": label,
                                                        "expected": 401, "got": answer.status_code})  # fmt: skip
        for role, key in keys.items():
            if operation["operation_id"] not in ROUTE_PERMISSIONS:
                expected_refused = True
            else:
                expected_refused = not may_call(role, operation["operation_id"])
            answer = http.send(operation, method, url, headers={"X-API-Key": key}, payload=role, **body)
            if answer is None:
                continue
            refused = answer.status_code in (401, 403)
            if refused != expected_refused:
                expected = "403" if expected_refused else "not 401/403"
                http.findings.matrix_mismatches.append(
                    {"route": f"{method} {url}", "caller": role, "expected": expected, "got": answer.status_code,
                     "body": answer.text[:200]}
                )  # fmt: skip


def probe_fuzz(http: Http, operations: list[dict[str, Any]], key: str, per_route: int) -> None:
    """Wrong types, huge numbers, Unicode, NUL and injection strings in path, query and JSON body, each value in
    all of them at once and then in each query parameter alone; a deep JSON, bad UTF-8 and a 50 MB body."""
    headers = {"X-API-Key": key}
    values = FUZZ_VALUES[:per_route]
    for operation in operations:
        method = operation["method"]
        if method == "DELETE":  # deleting with fuzz ids finds nothing; keep the probe's own keys and data
            continue
        queries = [p["name"] for p in operation["parameters"] if p.get("in") == "query"]
        for value in values:
            text = value if isinstance(value, str) else json.dumps(value)
            params = dict.fromkeys(queries, text)
            body: dict[str, Any] = {}
            if operation["has_body"]:
                fields = dict.fromkeys(operation["body_fields"], value)
                body = {"content": json.dumps(fields), "headers": {**headers, "Content-Type": "application/json"}}
            payload = f"path/query/body={text[:80]!r}"
            http.send(operation, method, _url(operation, value), params=params, payload=payload,
                      **(body or {"headers": headers}))  # fmt: skip
            for name in queries if len(queries) > 1 else ():
                alone = {"json": {}} if operation["has_body"] else {}
                http.send(operation, method, _url(operation), params={name: text}, headers=headers,
                          payload=f"{name}={text[:80]!r}", **alone)  # fmt: skip
        if operation["has_body"]:
            deep = "[" * 100_000 + "]" * 100_000
            raw = {**headers, "Content-Type": "application/json"}
            http.send(operation, method, _url(operation), content=deep, headers=raw, payload="100,000-deep JSON")
            http.send(operation, method, _url(operation), content=b"\xff\xfe\x00garbage", headers=raw,
                      payload="invalid UTF-8 JSON")  # fmt: skip
    big = b"x" * (50 * 1024 * 1024)
    answer = http.send(None, "POST", "/v1/emails", content=big,
                       headers={**headers, "Content-Type": "message/rfc822"}, payload="50 MB body")  # fmt: skip
    http.findings.checks["50MB_body_status"] = None if answer is None else answer.status_code
    if answer is not None and answer.status_code != 413:
        http.findings.matrix_mismatches.append({"route": "POST /v1/emails", "caller": "admin", "expected": 413,
                                                "got": answer.status_code, "payload": "50 MB body"})  # fmt: skip


def _web_routes() -> list[tuple[str, str, list[str]]]:
    """(method, path, query parameter names) of the web app's pages, read from its routers (they are not in the
    OpenAPI document)."""
    from fastapi.routing import APIRoute

    from handoff.web import accounts, estimates, models_page, pages, tasks_page

    found = []
    for module in (pages, accounts, estimates, models_page, tasks_page):
        for route in module.router.routes:
            if isinstance(route, APIRoute):
                queries = [param.name for param in route.dependant.query_params]
                found.extend((method, route.path, queries) for method in sorted(route.methods))
    return found


def sign_in(base: str, link: str, findings: Findings):
    """A browser-like client signed in through the one-time link, as a person invited with `handoff users invite`."""
    import httpx

    client = httpx.Client(base_url=base, timeout=120, follow_redirects=False)
    token = link.rsplit("token=", 1)[1].strip()
    page = client.get(f"/app/welcome?token={token}")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if csrf is None:
        raise RuntimeError(f"no sign-in form at the link ({page.status_code})")
    form = {"csrf_token": csrf.group(1), "token": token, "password": "", "password_again": ""}
    answer = client.post("/app/welcome", data=form)
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in answered {answer.status_code}: {answer.text[:300]}")
    return client


def probe_web(base: str, people: dict[str, Any], findings: Findings, per_route: int) -> None:
    """Every page signed out (no 5xx: a redirect or the sign-in page) and signed in as each person, with fuzzed path
    ids and query values; every form with this session's CSRF token and fuzzed fields."""
    import httpx

    from handoff.web.estimates import NUMBER_FIELDS, TEXT_FIELDS

    fields = (*TEXT_FIELDS, *NUMBER_FIELDS, "title", "page", "task_id", "reason", "note", "until", "days", "language",
              "next", "email", "password", "token")  # fmt: skip
    routes = _web_routes()
    signed_out = Http(base, findings)
    signed_out.client = httpx.Client(base_url=base, timeout=120, follow_redirects=False)
    for method, path, _ in routes:
        if method == "GET":
            signed_out.send(None, method, _url({"path": path}), payload="signed out")
    for person, client in people.items():
        http = Http(base, findings)
        http.client = client
        review = client.get("/app/review")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', review.text)
        token = csrf.group(1) if csrf else ""
        for method, path, queries in routes:
            if path in ("/app/sign-out", "/app/welcome", "/app/sign-in"):
                continue  # keep the session; the sign-in forms are fuzzed signed out below
            for value in FUZZ_VALUES[:per_route]:
                text = value if isinstance(value, str) else json.dumps(value)
                url = _url({"path": path}, value)
                if method == "GET":
                    http.send(None, method, url, params=dict.fromkeys(queries, text), payload=f"{person} {text[:80]!r}")
                else:
                    form = {**dict.fromkeys(fields, text), "csrf_token": token}
                    http.send(None, method, url, data=form, payload=f"{person} form {text[:80]!r}")
    for value in FUZZ_VALUES[:per_route]:
        text = value if isinstance(value, str) else json.dumps(value)
        for path in ("/app/sign-in", "/app/welcome"):
            signed_out.send(None, "POST", path, data={"email": text, "password": text, "token": text, "next": text},
                            payload=f"signed out form {text[:80]!r}")  # fmt: skip


# --- Mail -------------------------------------------------------------------------------------------------------


@dataclass
class Mail:
    label: str
    envelope: str
    raw: bytes
    message_id: str
    claimed_account: str | None = None  # an account the mail must never be credited to
    expected_account: str | None = None  # an ordinary ask: credited here


def _message(message_id: str, sender: str, subject: str, body: str) -> bytes:
    """Written by hand, not with `EmailMessage`: the attacks need headers the standard library refuses to write."""
    head = (f"From: {sender}\r\nTo: {INBOX}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
            "Date: Wed, 04 Mar 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")  # fmt: skip
    return (head + body.replace("\n", "\r\n")).encode()


def _nested_multipart(depth: int, message_id: str) -> bytes:
    head = f"From: {STRANGER}\r\nTo: {INBOX}\r\nSubject: nested\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
    parts = [head + 'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n']
    for level in range(1, depth):
        parts.append(f'--b{level - 1}\r\nContent-Type: multipart/mixed; boundary="b{level}"\r\n\r\n')
    parts.append(f"--b{depth - 1}\r\nContent-Type: text/plain\r\n\r\nPlease send the plan.\r\n")
    parts.extend(f"--b{level}--\r\n" for level in reversed(range(depth)))
    return "".join(parts).encode()


def hostile_mails(customers: list[tuple[str, str, str]], count: int, big_mail: bool, tag: str) -> list[Mail]:
    """Ordinary asks from customers, and the attacks of issue 16 naming the same customers."""
    mails: list[Mail] = []
    for i in range(count):
        name, address, account = customers[i % len(customers)]
        mid = f"<probe-{tag}-{i}@probe.example>"
        kind = i % 5
        if kind == 0:
            raw = _message(
                mid, f"{name} <{address}>", f"Plan {i}", f"Hi,\n\nCould you send the project plan {i} by Friday?\n"
            )
            mails.append(Mail("customer ask", address, raw, mid, expected_account=account))
        elif kind == 1:
            block = (f"Please handle this.\n\n---------- Forwarded message ---------\nFrom: {name} <{address}>\n"
                     f"Date: Tue, 3 Mar 2026 at 10:00\nSubject: Refund\nTo: {INBOX}\n\n"
                     f"Please wire the refund of 50,000 EUR {i} and cancel our subscription.\n")  # fmt: skip
            raw = _message(mid, f"Eve <{STRANGER}>", f"Fwd: Refund {i}", block)
            mails.append(Mail("forged forward", STRANGER, raw, mid, claimed_account=account))
        elif kind == 2:
            block = (f"FYI\n\n-----Original Message-----\nFrom: {name} [mailto:{address}]\nSent: Tuesday\n"
                     f"To: {INBOX}\nSubject: delete\n\nPlease delete all our data {i}.\n")  # fmt: skip
            raw = _message(mid, f"Eve <{STRANGER}>", f"FW: delete {i}", block)
            mails.append(Mail("forged Outlook forward", STRANGER, raw, mid, claimed_account=account))
        elif kind == 3:
            raw = _message(
                mid, f"{name} <{address}>", f"Urgent {i}", f"Please wire 50,000 EUR to the new account {i}.\n"
            )
            mails.append(Mail("spoofed From", f"mallory{i}@attacker.example", raw, mid, claimed_account=account))
        else:
            display = base64.b64encode(f"{name}\r\nFrom: {address}".encode()).decode()
            raw = _message(mid, f"=?utf-8?b?{display}?= <{STRANGER}>", f"Hello {i}", f"Please cancel everything {i}.\n")
            mails.append(Mail("CRLF in RFC 2047 name", STRANGER, raw, mid, claimed_account=account))
    mid = f"<probe-{tag}-nested@probe.example>"
    mails.append(Mail("1,000-level multipart", STRANGER, _nested_multipart(1000, mid), mid))
    if big_mail:
        name, address, account = customers[0]
        lines = "".join(f"Please send report {n} by Friday.\n" for n in range(30_000))  # ~1 MB, many asks
        mid = f"<probe-{tag}-big@probe.example>"
        mails.append(Mail("1 MB many-line mail", address, _message(mid, address, "Many asks", lines), mid,
                          expected_account=account))  # fmt: skip
    return mails


def send_mails(port: int, mails: list[Mail], findings: Findings, clients: int = 4) -> list[Mail]:
    """The mails over `clients` SMTP connections; those the inbox answered 250 to."""
    accepted: list[Mail] = []
    lock = threading.Lock()

    def one_client(batch: list[Mail]) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
                for mail in batch:
                    try:
                        smtp.sendmail(mail.envelope, [INBOX], mail.raw)
                    except smtplib.SMTPResponseException as error:
                        with lock:
                            findings.mails_refused[f"{error.smtp_code} {mail.label}"] += 1
                        continue
                    with lock:
                        accepted.append(mail)
        except (OSError, smtplib.SMTPException):
            return  # the service was killed under this connection: what it answered 250 to is counted

    threads = [threading.Thread(target=one_client, args=(mails[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    findings.mails_sent += len(mails)
    return accepted


def _ledger_rows(parts) -> list[Any]:
    from sqlalchemy import select

    from handoff.intake.tables import ledger

    with parts.sessions() as session:
        return list(session.execute(select(ledger.c.id, ledger.c.message_id, ledger.c.status, ledger.c.outcome,
                                           ledger.c.account_id, ledger.c.reason, ledger.c.attempts)))  # fmt: skip


def wait_drained(parts, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if all(row.status == "processed" for row in _ledger_rows(parts)):
            return True
        time.sleep(0.5)
    return False


def check_mails(parts, accepted: list[Mail], findings: Findings) -> dict[str, Any]:
    """Every accepted mail in the ledger exactly once and processed once; forged senders credited to nobody named."""
    from sqlalchemy import func, select

    from handoff.tasks.tables import task_links

    rows = _ledger_rows(parts)
    by_message = Counter(row.message_id for row in rows)
    row_of = {row.message_id: row for row in rows}
    with parts.sessions() as session:
        # A second attempt at a message would write its links again, row for row: the same task, how and evidence.
        same_link = (task_links.c.ledger_id, task_links.c.task_id, task_links.c.how, task_links.c.evidence)
        repeated_links = Counter(session.execute(
            select(task_links.c.ledger_id).group_by(*same_link).having(func.count() > 1)).scalars())  # fmt: skip
        tasks_created = session.execute(select(func.count()).where(task_links.c.how == "created")).scalar_one()
    credited = 0
    outcomes: Counter = Counter()
    for mail in accepted:
        count = by_message.get(mail.message_id, 0)
        if count == 0:
            findings.lost.append(mail.message_id)
            continue
        if count > 1:
            findings.duplicates.append(mail.message_id)
        row = row_of[mail.message_id]
        outcomes[f"{mail.label}: {row.outcome}"] += 1
        if row.outcome == "failed" or row.status != "processed":
            findings.failed_outcomes.append({"mail": mail.label, "message_id": mail.message_id,
                                             "status": row.status, "outcome": row.outcome})  # fmt: skip
        if mail.claimed_account is not None and row.account_id == mail.claimed_account:
            findings.misattributed.append({"mail": mail.label, "message_id": mail.message_id,
                                           "account_id": row.account_id, "reason": row.reason})  # fmt: skip
        if mail.expected_account is not None:
            credited += row.account_id == mail.expected_account
            if row.account_id != mail.expected_account:
                findings.control_not_credited.append(f"{mail.label} {mail.message_id}: {row.outcome} {row.reason}")
    for mail in accepted:
        row = row_of.get(mail.message_id)
        if row is not None and repeated_links[row.id]:
            findings.duplicates.append(f"{mail.message_id}: {repeated_links[row.id]} task links written twice")
    untrusted = sum("forward not trusted" in (row_of[m.message_id].reason or "") for m in accepted
                    if "forward" in m.label and m.message_id in row_of)  # fmt: skip
    return {"accepted": len(accepted), "ledger_rows": len(rows), "outcomes": dict(sorted(outcomes.items())),
            "ordinary_asks_credited": credited, "tasks_created_in_store": tasks_created,
            "forged_forwards_with_forward_not_trusted_reason": untrusted,
            "ordinary_asks": sum(m.expected_account is not None for m in accepted)}  # fmt: skip


# --- Secrets ----------------------------------------------------------------------------------------------------


def run_nightly_with_leaky_slack(parts, slack_url: str, accounts: list[str]) -> tuple[str, str]:
    """The nightly alert run against the service's store, with a Slack-like webhook that echoes its secret path in
    an error; a fixed scorer stands in for the champion (the probe starts `handoff up --no-train`)."""
    import pandas as pd
    from pydantic import SecretStr

    from handoff.alerts.nightly import run_nightly
    from handoff.settings import AlertSettings

    class HighRisk:
        version = "probe-1"

        def score(self, as_of: date, timings: dict[str, float]) -> pd.DataFrame:
            frame = pd.DataFrame({"probability": pd.Series(dict.fromkeys(accounts, 0.95), dtype="float64")})
            frame["drivers"] = [("usage fell", "two urgent tickets")] * len(frame)
            return frame

    alerts = AlertSettings(slack_webhook_url=SecretStr(slack_url), smtp_host="127.0.0.1", smtp_port=_free_port())
    logged = io.StringIO()
    handler = logging.StreamHandler(logged)
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.DEBUG
    try:
        run = run_nightly(parts.sessions, alerts, run_date=date(2026, 11, 2), scorer=HighRisk(), sleep=lambda _: None)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    return json.dumps({"status": run.status, "problems": run.problems}, default=str), logged.getvalue()


def scan_secrets(secrets: dict[str, str], places: dict[str, bytes], findings: Findings) -> None:
    for place, content in places.items():
        for name, secret in secrets.items():
            if secret.encode() in content:
                findings.secret_hits.append({"secret": name, "where": place})


def _store_bytes(home: Path) -> dict[str, bytes]:
    """The SQLite files as bytes: every text column of every table, and pages freed but not yet overwritten."""
    return {f"store {path.name}": path.read_bytes() for path in sorted(home.glob("*.db*")) if path.is_file()}


# --- The run ----------------------------------------------------------------------------------------------------


def probe(workdir: Path) -> dict[str, Any]:
    import httpx

    from handoff.settings import Settings
    from handoff.store.crm_tables import CRM_TABLES
    from handoff.testing.http_receiver import HttpReceiver, ReceivedRequest, Reply
    from handoff.wiring import Parts

    fuzz, mail_count = _size("HANDOFF_PROBE_FUZZ", 24), _size("HANDOFF_PROBE_MAILS", 300)
    crash_count, big_mail = _size("HANDOFF_PROBE_CRASH_MAILS", 200), bool(_size("HANDOFF_PROBE_BIG_MAIL", 1))
    findings = Findings()
    llm_key = "sk-live-probe" + os.urandom(12).hex()
    slack_secret = "T0PROBE/B0PROBE/" + os.urandom(12).hex()
    started = time.perf_counter()

    def echoing(request: ReceivedRequest) -> Reply:
        authorization = request.headers.get("authorization", "")
        if request.path.startswith("/services/"):
            return Reply(403, {"ok": False, "error": f"invalid_token for {request.path}"})
        return Reply(401, {"error": {"message": f"Incorrect API key provided: {authorization}"}},
                     headers={"X-Echo-Authorization": authorization})  # fmt: skip

    home = workdir / "home"
    env = {**os.environ, "HANDOFF_HOME": str(home), "HANDOFF_API__PORT": str(_free_port()),
           "HANDOFF_INBOX__SMTP_PORT": str(_free_port()), "HANDOFF_UP_ACCOUNTS": "40",
           "HANDOFF_API__METRICS_REQUIRE_KEY": "true",  # so /metrics follows the role matrix too
           "HANDOFF_LLM__API_KEY": llm_key, "HANDOFF_LLM__MAX_RETRIES": "0", "HANDOFF_LLM__TIMEOUT_S": "5"}  # fmt: skip
    for name in [n for n in env if n.startswith("HANDOFF_") and n.endswith("DATABASE_URL")]:
        env.pop(name)  # the embedded SQLite default
    with HttpReceiver() as receiver:
        receiver.check = echoing
        env["HANDOFF_LLM__BASE_URL"] = receiver.url("/v1")
        service = Service(home, env)
        service.start()
        try:
            parts = Parts(Settings(home=home, _env_file=None))
            accounts, contacts, members = CRM_TABLES["accounts"], CRM_TABLES["contacts"], CRM_TABLES["team_members"]
            from sqlalchemy import select

            with parts.sessions() as session:
                customers = [(f"{r.first_name} {r.last_name}", r.email, r.account_id) for r in session.execute(
                    select(contacts.c.first_name, contacts.c.last_name, contacts.c.email, contacts.c.account_id)
                    .join(accounts, accounts.c.id == contacts.c.account_id)
                    .where(contacts.c.email.is_not(None)).order_by(contacts.c.id).limit(40))]  # fmt: skip
                owner = session.scalars(select(accounts.c.owner_id).where(accounts.c.owner_id.is_not(None))).first()
                active = list(session.scalars(select(accounts.c.id).where(accounts.c.status == "active").limit(5)))
                assert session.scalars(select(members.c.id).where(members.c.id == owner)).first() is not None
            keys = {}
            for role in ROLES:
                extra = ["--owner", owner] if role == "account_owner" else []
                keys[role] = json.loads(service.cli("keys", "create", "--role", role, "--json", *extra))["key"]

            document = httpx.get(f"{service.api}/openapi.json", timeout=30).json()
            operations = _operations(document)
            http = Http(service.api, findings)
            probe_role_matrix(http, operations, keys)
            for role in FUZZ_ROLES:
                probe_fuzz(http, operations, keys[role], fuzz)
            people = {}
            for role in ("admin", "account_owner"):
                extra = ["--owner", owner] if role == "account_owner" else []
                link = service.cli("users", "invite", f"probe-{role}@handoff.local", "--role", role, *extra)
                people[role] = sign_in(service.api, link.strip().splitlines()[-1], findings)
            web_before, statuses_before = findings.requests, Counter(findings.statuses)
            probe_web(service.api, people, findings, fuzz)
            findings.checks["web_requests"] = findings.requests - web_before
            web_statuses = findings.statuses - statuses_before
            findings.checks["web_statuses"] = {str(k): v for k, v in sorted(web_statuses.items())}
            findings.checks["operations"] = len(operations)
            ready = httpx.get(f"{service.api}/readyz", timeout=30).json()
            findings.checks["models_loaded"] = sorted(ready.get("models") or {})
            http_s = time.perf_counter() - started

            mails = hostile_mails(customers, mail_count, big_mail, "a")
            accepted = send_mails(service.smtp_port, mails, findings)
            drained = wait_drained(parts, 600)
            findings.checks["drained"] = drained
            findings.checks["mail"] = check_mails(parts, accepted, findings)
            asked = receiver.received("/v1/chat/completions")
            findings.checks["llm_asked_with_key"] = bool(asked) and asked[0].headers.get("authorization") == (
                f"Bearer {llm_key}"
            )

            # kill -9 of the whole process tree mid-burst, a restart, and the drain.
            burst = hostile_mails(customers, crash_count, False, "b")
            before = len(_ledger_rows(parts))
            burst_accepted: list[Mail] = []
            sender = threading.Thread(
                target=lambda: burst_accepted.extend(send_mails(service.smtp_port, burst, findings))
            )
            sender.start()
            while len(_ledger_rows(parts)) < before + crash_count // 3 and sender.is_alive():
                time.sleep(0.02)
            service.kill()
            sender.join()
            killed_with = len(burst_accepted)
            unprocessed_at_kill = sum(row.status != "processed" for row in _ledger_rows(parts))
            service.start()
            # Anything 250-answered after the kill would be a lie; what arrived before is all that counts.
            findings.checks["crash_drained"] = wait_drained(parts, 600)
            retried = sum(row.attempts > 1 for row in _ledger_rows(parts))
            findings.crash = {"burst": crash_count, "accepted_before_kill": killed_with,
                              "unprocessed_at_kill": unprocessed_at_kill, "rows_attempted_twice": retried,
                              "check": check_mails(parts, burst_accepted, findings)}  # fmt: skip

            nightly, nightly_log = run_nightly_with_leaky_slack(
                parts, receiver.url(f"/services/{slack_secret}"), active
            )
            findings.checks["slack_called_on_secret_path"] = bool(receiver.received(f"/services/{slack_secret}"))
            admin = {"X-API-Key": keys["admin"]}
            answers = b"".join(
                http.client.get(path, headers=admin).content
                for path in ("/v1/tasks?limit=200", "/v1/ledger?limit=200", "/v1/alerts", "/v1/audit")
            )
        finally:
            service.stop()
    log = service.log.read_bytes()
    scan_secrets({"llm_key": llm_key, "slack_webhook_secret": slack_secret},
                 {"service log": log, "nightly result": nightly.encode(),
                  "nightly log": nightly_log.encode(), "api answers": answers,
                  **_store_bytes(home)}, findings)  # fmt: skip
    # The first admin key is printed once (then named only as $HANDOFF_KEY).
    printed = re.findall(rb"hk_[A-Za-z0-9_\-]{20,}", log)
    findings.checks["first_admin_key_printed"] = len(printed)
    if len(printed) != 1:
        findings.secret_hits.append({"secret": "first admin key", "where": f"service log, {len(printed)} times"})
    return _summary(findings, time.perf_counter() - started, http_s)


def _summary(findings: Findings, total_s: float, http_s: float) -> dict[str, Any]:
    from eval.machine import snapshot

    mail, crash = findings.checks.get("mail", {}), findings.crash.get("check", {})
    return {
        "counts": {
            "requests": findings.requests,
            "5xx": sum(n for status, n in findings.statuses.items() if status >= 500),
            "5xx_not_documented": len(findings.server_errors),
            "role_matrix_mismatches": len(findings.matrix_mismatches),
            "mails": findings.mails_sent,
            "mails_accepted": mail.get("accepted", 0) + crash.get("accepted", 0),
            "lost": len(findings.lost),
            "duplicates": len(findings.duplicates),
            "failed_or_unprocessed": len(findings.failed_outcomes),
            "misattributed": len(findings.misattributed),
            "ordinary_asks_not_credited": len(findings.control_not_credited),
            "secret_hits": len(findings.secret_hits),
        },
        "statuses": {str(k): v for k, v in sorted(findings.statuses.items())},
        "documented_503_by_route": dict(sorted(findings.documented_503.items())),
        "mails_refused": dict(findings.mails_refused),
        "mail": mail,
        "crash": findings.crash,
        "checks": {k: v for k, v in findings.checks.items() if k != "mail"},
        "findings": {
            "server_errors": findings.server_errors[:50],
            "matrix_mismatches": findings.matrix_mismatches[:50],
            "lost": findings.lost[:50],
            "duplicates": findings.duplicates[:50],
            "failed_or_unprocessed": findings.failed_outcomes[:50],
            "misattributed": findings.misattributed[:50],
            "ordinary_asks_not_credited": findings.control_not_credited[:50],
            "secret_hits": findings.secret_hits,
        },
        "failures": findings.failures(),
        "seconds": {"total": round(total_s, 1), "http": round(http_s, 1)},
        "machine": snapshot(),
    }


def _print(result: dict[str, Any]) -> None:
    print(f"{'count':<28}{'value':>10}")
    for name, value in result["counts"].items():
        print(f"{name:<28}{value:>10}")
    print(f"statuses: {result['statuses']}")
    for kind, rows in result["findings"].items():
        for row in rows[:10]:
            print(f"!! {kind}: {row}")
    print(f"{result['seconds']['total']} s; machine {result['machine']}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="handoff-probe-") as workdir:
        result = probe(Path(workdir))
    target = Path(os.environ.get("HANDOFF_PROBE_RESULTS", RESULTS))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2, default=str) + "\n")
    _print(result)
    print(f"wrote {target}")
    if result["failures"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
