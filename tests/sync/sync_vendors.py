"""A loopback Jira, Asana and Trello: the documented endpoints the connectors use, shape checks, scripted faults."""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jsonschema

SHAPES = json.loads((Path(__file__).parent / "shapes.json").read_text(encoding="utf-8"))

JIRA_EMAIL, JIRA_TOKEN, JIRA_PROJECT = "bot@example.com", "jira-token-0123456789", "HO"
ASANA_TOKEN, ASANA_PROJECT = "asana-token-0123456789", "1200000000000001"
ASANA_WORKSPACE = "1100000000000001"
TRELLO_KEY, TRELLO_TOKEN = "trellokey0123456789", "trellotoken0123456789"
TRELLO_LIST = "5f0000000000000000000001"
JIRA_OTHER_PROJECT = "OPS"  # a second project, for the mapping
ASANA_OTHER_PROJECT = "1200000000000002"  # a second Asana project, for moves
TRELLO_OTHER_LIST = "5f0000000000000000000002"  # a second list on the board, for moves
TRELLO_DONE_LIST = "5f0000000000000000000003"  # the board's "Done" list
# Jira's default workflow as `GET .../transitions` shows it: any status to any other, each with its category.
JIRA_STATUSES = {
    "11": {"name": "To Do", "statusCategory": {"key": "new"}},
    "21": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
    "31": {"name": "Done", "statusCategory": {"key": "done"}},
}
# The people each tool knows, by email (Jira accountIds, Trello member ids).
JIRA_USERS = {"ana@ourco.example": "5b10ac8d82e05b22cc7d4ef5"}
# A Jira user whose email their privacy setting hides: user search by email finds nobody, issues show no email.
JIRA_HIDDEN = {"bo@ourco.example": "5b10ac8d82e05b22cc7d4eb0"}
TRELLO_MEMBERS = {"ana@ourco.example": "5f00000000000000000000aa"}
TRELLO_BOARD = "5f00000000000000000000b0"
# The board's members as Trello shows them to another member: ids, usernames and full names, never an email.
TRELLO_BOARD_MEMBERS = [
    {"id": "5f00000000000000000000aa", "username": "analima", "fullName": "Ana Lima"},
    {"id": "5f00000000000000000000bb", "username": "bo_t", "fullName": "Bo Tanaka"},
    {"id": "5f00000000000000000000cc", "username": "sam", "fullName": "Sam Lee"},
]

CREATE = {"jira": ("POST", "/rest/api/3/issue"), "asana": ("POST", "/api/1.0/tasks"), "trello": ("POST", "/1/cards")}


def _public(hook: dict[str, Any]) -> dict[str, Any]:
    """A stored hook as the vendor shows it: without the secret kept beside it."""
    return {key: value for key, value in hook.items() if not key.startswith("_")}


@dataclass
class Fault:
    """One scripted answer: a status (with Retry-After), or a lost answer (`drop`, `delay_s`), before or after the
    request was carried out (`after`: the issue exists, only its answer is lost)."""

    status: int | None = None
    retry_after: str | None = None
    delay_s: float = 0.0
    drop: bool = False
    after: bool = False


@dataclass
class Vendors:
    """`with Vendors() as tools:` serves all three on one loopback port; `tools.items[vendor]` is what exists."""

    items: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"jira": [], "asana": [], "trello": []})
    hooks: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"jira": [], "asana": [], "trello": []})
    requests: list[tuple[str, str]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    faults: dict[tuple[str, str], list[Fault]] = field(default_factory=dict)
    # The transitions Jira's workflow offers (id -> status it goes to); a test takes the done one away.
    jira_transitions: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(JIRA_STATUSES))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def targets(self) -> dict[str, dict[str, str]]:
        """The sync settings' three targets, pointed at this server with the credentials it accepts."""
        return {
            "jira": {"base_url": self.url, "email": JIRA_EMAIL, "api_token": JIRA_TOKEN, "project_key": JIRA_PROJECT},
            "asana": {"base_url": self.url, "token": ASANA_TOKEN, "project_gid": ASANA_PROJECT},
            "trello": {"base_url": self.url, "key": TRELLO_KEY, "token": TRELLO_TOKEN, "list_id": TRELLO_LIST},
        }

    def fail(self, vendor: str, *faults: Fault, method: str | None = None, path: str | None = None) -> None:
        """Script faults for the vendor's create (or another method and path), used in order, once each."""
        key = (method, path) if method and path else CREATE[vendor]
        with self._lock:
            self.faults.setdefault(key, []).extend(faults)

    def change(self, vendor: str, remote_id: str, *, at: str | None = None, **fields: Any) -> dict[str, Any]:
        """A person's edit in the tool: the item's fields change and its last-modified time moves to `at` (or now)."""
        moment = at or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        with self._lock:
            item = next(item for item in self.items[vendor] if item["id" if vendor != "asana" else "gid"] == remote_id)
            target = item["fields"] if vendor == "jira" else item
            target.update(fields)
            target[{"jira": "updated", "asana": "modified_at", "trello": "dateLastActivity"}[vendor]] = moment
            return json.loads(json.dumps(item))

    def count(self, vendor: str, method: str, path: str) -> int:
        return sum(1 for request in self.requests if request == (method, path))

    # ---- the server ----------------------------------------------------------------------------------------

    def __enter__(self) -> Vendors:
        vendors = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                vendors._handle(self, "GET")

            def do_POST(self) -> None:
                vendors._handle(self, "POST")

            def do_PUT(self) -> None:
                vendors._handle(self, "PUT")

            def do_DELETE(self) -> None:
                vendors._handle(self, "DELETE")

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urllib.parse.urlsplit(handler.path)
        path, query = parts.path, dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append((method, path))
            script = self.faults.get((method, path))
            fault = script.pop(0) if script else None
        if fault and not fault.after:
            self._misbehave(handler, fault, None)
            return
        status, body = self._route(handler, method, path, query, raw)
        if fault:
            self._misbehave(handler, fault, (status, body))
            return
        self._send(handler, status, body)

    def _misbehave(self, handler: BaseHTTPRequestHandler, fault: Fault, done: tuple[int, Any] | None) -> None:
        if fault.delay_s:
            time.sleep(fault.delay_s)
        if fault.drop:
            handler.close_connection = True  # the connection closes with no answer at all
            return
        if fault.status is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._send(handler, fault.status, {"errorMessages": [f"scripted {fault.status}"]}, headers)
        elif done is not None:
            self._send(handler, *done)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if status == 204 else json.dumps(body).encode()  # a 204 has no body
        try:
            handler.send_response(status)
            if data:
                handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a timeout test)
            pass

    def _check(self, shape: str, document: Any) -> str | None:
        try:
            jsonschema.validate(document, SHAPES[shape]["schema"])
        except jsonschema.ValidationError as error:
            problem = f"{shape}: {error.message} at {list(error.absolute_path)}"
            with self._lock:
                self.violations.append(problem)
            return problem
        return None

    def _route(self, handler, method: str, path: str, query: dict[str, str], raw: bytes) -> tuple[int, Any]:
        if path.startswith(("/rest/api/3/", "/rest/webhooks/")):
            return self._jira(handler, method, path, query, raw)
        if path.startswith("/api/1.0/"):
            return self._asana(handler, method, path, query, raw)
        if path.startswith("/1/"):
            return self._trello(method, path, query)
        return 404, {"error": "no such endpoint"}

    # ---- Jira ----------------------------------------------------------------------------------------------

    def _jira(self, handler, method: str, path: str, query: dict[str, str], raw: bytes) -> tuple[int, Any]:
        expected = "Basic " + base64.b64encode(f"{JIRA_EMAIL}:{JIRA_TOKEN}".encode()).decode()
        if handler.headers.get("Authorization") != expected:
            return 401, {"errorMessages": ["You are not authenticated."]}
        if path.startswith("/rest/webhooks/1.0/webhook"):
            return self._jira_webhooks(method, path, raw)
        if (method, path) == ("GET", "/rest/api/3/user/search"):
            account = JIRA_USERS.get(query.get("query", "").lower())
            return 200, [{"accountId": account, "accountType": "atlassian", "active": True}] if account else []
        if method == "GET" and (found := re.fullmatch(r"/rest/api/3/issue/([^/]+)", path)):
            return self._jira_issue(found.group(1))
        body = json.loads(raw or b"null")
        if found := re.fullmatch(r"/rest/api/3/issue/([^/]+)/transitions", path):
            return self._jira_transitions(method, found.group(1), body)
        if method == "PUT" and (found := re.fullmatch(r"/rest/api/3/issue/([^/]+)", path)):
            if problem := self._check("jira_edit_issue", body):
                return 400, {"errorMessages": [problem], "errors": {}}
            with self._lock:
                issue = next((i for i in self.items["jira"] if found.group(1) in (i["id"], i["key"])), None)
                if issue is None:
                    return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
                issue["fields"].update(body["fields"])
                issue["fields"]["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
            return 204, None
        if (method, path) == ("POST", "/rest/api/3/search/jql"):
            if problem := self._check("jira_search_jql", body):
                return 400, {"errorMessages": [problem]}
            labels = re.findall(r'labels = "([^"]+)"', body["jql"])
            with self._lock:
                found = [issue for issue in self.items["jira"] if set(labels) <= set(issue["fields"]["labels"])]
            return 200, {"issues": found[: body.get("maxResults", 50)], "isLast": True}
        if (method, path) == ("POST", "/rest/api/3/issue"):
            problem = self._check("jira_create_issue", body) or (
                self._check("adf", body["fields"]["description"]) if "description" in body.get("fields", {}) else None
            )
            if problem:
                return 400, {"errorMessages": [problem], "errors": {}}
            if body["fields"]["project"].get("key") not in (JIRA_PROJECT, JIRA_OTHER_PROJECT):
                return 400, {"errors": {"project": "valid project is required"}}
            with self._lock:
                number = next(self._ids)
                project = body["fields"]["project"]["key"]
                issue = {"id": str(10000 + number), "key": f"{project}-{number}", "fields": body["fields"]}
                self.items["jira"].append(issue)
            return 201, {"id": issue["id"], "key": issue["key"], "self": f"{self.url}/rest/api/3/issue/{issue['id']}"}
        return 404, {"errorMessages": ["no such endpoint"]}

    def _jira_webhooks(self, method: str, path: str, raw: bytes) -> tuple[int, Any]:
        """Admin webhooks: list, register (checked against the documented body), delete."""
        base = f"{self.url}/rest/webhooks/1.0/webhook"
        if (method, path) == ("GET", "/rest/webhooks/1.0/webhook"):
            with self._lock:
                return 200, [_public(hook) for hook in self.hooks["jira"]]
        if (method, path) == ("POST", "/rest/webhooks/1.0/webhook"):
            body = json.loads(raw or b"null")
            if problem := self._check("jira_register_webhook", body):
                return 400, {"messages": [{"key": problem}]}
            with self._lock:
                number = next(self._ids)
                hook = {"self": f"{base}/{number}", "lastUpdated": 1, **body}
                hook.pop("secret", None)  # Jira never shows the secret again
                self.hooks["jira"].append({**hook, "_secret": body.get("secret")})
            return 201, hook
        if method == "DELETE" and (found := re.fullmatch(r"/rest/webhooks/1.0/webhook/(\d+)", path)):
            with self._lock:
                self.hooks["jira"] = [h for h in self.hooks["jira"] if h["self"] != f"{base}/{found.group(1)}"]
            return 204, None
        return 404, {"errorMessages": ["no such endpoint"]}

    def _jira_transitions(self, method: str, issue_id: str, body: Any) -> tuple[int, Any]:
        """`GET` the transitions from the issue's status (each with `to` and its category); `POST` one of them."""
        with self._lock:
            issue = next((issue for issue in self.items["jira"] if issue["id"] == issue_id), None)
            if issue is None:
                return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
            current = issue["fields"].get("status", JIRA_STATUSES["11"])
            offered = {tid: to for tid, to in self.jira_transitions.items() if to["name"] != current["name"]}
            if method == "GET":
                listed = [{"id": tid, "name": to["name"], "to": to, "isAvailable": True} for tid, to in offered.items()]
                return 200, {"transitions": listed}
            if method != "POST":
                return 405, {"errorMessages": ["method not allowed"]}
        if problem := self._check("jira_transition_issue", body):
            return 400, {"errorMessages": [problem], "errors": {}}
        with self._lock:
            chosen = offered.get(body["transition"]["id"])
            if chosen is None:  # Jira's words for a transition not valid from this status
                return 400, {"errorMessages": ["Transition id is not valid for this issue."], "errors": {}}
            issue["fields"]["status"] = dict(chosen)
            issue["fields"]["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
        return 204, None

    def _jira_issue(self, issue_id: str) -> tuple[int, Any]:
        """`GET /rest/api/3/issue/{id}`: what pull reads (status with its category, assignee, duedate, updated)."""
        emails = {account: email for email, account in JIRA_USERS.items()}  # JIRA_HIDDEN's stay hidden
        with self._lock:
            issue = next((issue for issue in self.items["jira"] if issue["id"] == issue_id), None)
            if issue is None:
                return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
            fields = dict(issue["fields"])
        fields.setdefault("status", {"name": "To Do", "statusCategory": {"key": "new"}})
        fields.setdefault("updated", "2026-01-01T00:00:00.000+0000")
        if assignee := fields.get("assignee"):
            fields["assignee"] = {**assignee, "emailAddress": emails.get(assignee["accountId"])}
        return 200, {"id": issue["id"], "key": issue["key"], "fields": fields}

    # ---- Asana ---------------------------------------------------------------------------------------------

    def _asana(self, handler, method: str, path: str, query: dict[str, str], raw: bytes) -> tuple[int, Any]:
        if handler.headers.get("Authorization") != f"Bearer {ASANA_TOKEN}":
            return 401, {"errors": [{"message": "Not Authorized"}]}
        if method == "GET" and path.startswith("/api/1.0/tasks/external:"):
            gid = urllib.parse.unquote(path.removeprefix("/api/1.0/tasks/external:"))
            with self._lock:
                found = [task for task in self.items["asana"] if task.get("external", {}).get("gid") == gid]
            if not found:
                return 404, {"errors": [{"message": "external: Unknown object"}]}
            return 200, {"data": found[0]}
        if method == "GET" and (found := re.fullmatch(r"/api/1.0/tasks/(\d+)", path)):
            with self._lock:
                task = next((task for task in self.items["asana"] if task["gid"] == found.group(1)), None)
                if task is None:
                    return 404, {"errors": [{"message": "task: Unknown object"}]}
                task = dict(task)
            email = task.get("assignee")
            task["assignee"] = {"gid": "1100", "resource_type": "user", "email": email} if email else None
            task["projects"] = [{"gid": gid, "resource_type": "project"} for gid in task.get("projects") or []]
            task.setdefault("completed", False)
            task.setdefault("modified_at", "2026-01-01T00:00:00.000Z")
            return 200, {"data": task}
        if method == "PUT" and (found := re.fullmatch(r"/api/1.0/tasks/(\d+)", path)):
            body = json.loads(raw or b"null")
            if problem := self._check("asana_update_task", body):
                return 400, {"errors": [{"message": problem}]}
            with self._lock:
                task = next((task for task in self.items["asana"] if task["gid"] == found.group(1)), None)
                if task is None:
                    return 404, {"errors": [{"message": "task: Unknown object"}]}
                task.update(body["data"])
                task["modified_at"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
                return 200, {"data": {"gid": task["gid"]}}
        if method == "POST" and (found := re.fullmatch(r"/api/1.0/tasks/(\d+)/(addProject|removeProject)", path)):
            return self._asana_project_of_task(found.group(1), found.group(2), json.loads(raw or b"null"))
        if path.startswith("/api/1.0/webhooks") or path.startswith("/api/1.0/projects/"):
            return self._asana_webhooks(method, path, query, raw)
        if (method, path) == ("POST", "/api/1.0/tasks"):
            body = json.loads(raw or b"null")
            if problem := self._check("asana_create_task", body):
                return 400, {"errors": [{"message": problem}]}
            data = body["data"]
            if data.get("projects") not in ([ASANA_PROJECT], [ASANA_OTHER_PROJECT]):
                return 404, {"errors": [{"message": "project: Unknown object"}]}
            with self._lock:
                gid = str(1300000000000000 + next(self._ids))
                task = {"gid": gid, "resource_type": "task", **data}
                task["permalink_url"] = f"https://app.asana.com/0/{ASANA_PROJECT}/{gid}"
                self.items["asana"].append(task)
            return 201, {"data": task}
        return 404, {"errors": [{"message": "no such endpoint"}]}

    def _asana_project_of_task(self, gid: str, action: str, body: Any) -> tuple[int, Any]:
        """`addProject` / `removeProject`: the task joins or leaves a project (it stays in the others)."""
        shape = "asana_add_project" if action == "addProject" else "asana_remove_project"
        if problem := self._check(shape, body):
            return 400, {"errors": [{"message": problem}]}
        project = body["data"]["project"]
        if project not in (ASANA_PROJECT, ASANA_OTHER_PROJECT):
            return 404, {"errors": [{"message": "project: Unknown object"}]}
        with self._lock:
            task = next((task for task in self.items["asana"] if task["gid"] == gid), None)
            if task is None:
                return 404, {"errors": [{"message": "task: Unknown object"}]}
            projects = [p for p in task.get("projects") or [] if p != project]
            task["projects"] = [*projects, project] if action == "addProject" else projects
            task["modified_at"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        return 200, {"data": {}}

    def _asana_webhooks(self, method: str, path: str, query: dict[str, str], raw: bytes) -> tuple[int, Any]:
        """Projects (for the workspace) and webhooks: list by workspace and resource, establish with the handshake
        made to the target while the POST waits, delete. A second hook on the same resource and target is a 409."""
        if (method, path) == ("GET", f"/api/1.0/projects/{ASANA_PROJECT}"):
            return 200, {"data": {"gid": ASANA_PROJECT, "workspace": {"gid": ASANA_WORKSPACE}}}
        if (method, path) == ("GET", "/api/1.0/webhooks"):
            if query.get("workspace") != ASANA_WORKSPACE:
                return 400, {"errors": [{"message": "workspace: Missing input"}]}
            with self._lock:
                found = [
                    h
                    for h in self.hooks["asana"]
                    if h["resource"]["gid"] == query.get("resource", h["resource"]["gid"])
                ]
            return 200, {"data": [_public(hook) for hook in found]}
        if (method, path) == ("POST", "/api/1.0/webhooks"):
            body = json.loads(raw or b"null")
            if problem := self._check("asana_create_webhook", body):
                return 400, {"errors": [{"message": problem}]}
            data = body["data"]
            with self._lock:
                twin = any(h["resource"]["gid"] == data["resource"] and h["target"] == data["target"]
                           for h in self.hooks["asana"])  # fmt: skip
            if twin:  # Asana's answer, as its staff describe it (Asana/node-asana#156; n8n-io/n8n#133): a 403
                return 403, {
                    "errors": [
                        {
                            "message": "Duplicated webhook. You already have an existing webhook for the given "
                            "resource and target. Delete the old one before creating another."
                        }
                    ]
                }
            secret = f"{next(self._ids):064x}"
            try:
                answer = httpx.post(data["target"], headers={"X-Hook-Secret": secret}, timeout=5.0)
            except httpx.HTTPError as error:
                return 400, {"errors": [{"message": f"The remote server could not be reached: {error}"}]}
            if answer.status_code not in (200, 204) or answer.headers.get("X-Hook-Secret") != secret:
                return 400, {
                    "errors": [{"message": f"The remote server did not complete the handshake ({answer.status_code})"}]
                }
            with self._lock:
                gid = str(1400000000000000 + next(self._ids))
                hook = {"gid": gid, "resource": {"gid": data["resource"]}, "target": data["target"], "active": True}
                self.hooks["asana"].append({**hook, "_secret": secret})
            return 201, {"data": hook}
        if method == "DELETE" and (found := re.fullmatch(r"/api/1.0/webhooks/(\d+)", path)):
            with self._lock:
                self.hooks["asana"] = [hook for hook in self.hooks["asana"] if hook["gid"] != found.group(1)]
            return 200, {"data": {}}
        return 404, {"errors": [{"message": "no such endpoint"}]}

    # ---- Trello --------------------------------------------------------------------------------------------

    def _trello(self, method: str, path: str, query: dict[str, str]) -> tuple[int, Any]:
        if query.get("key") != TRELLO_KEY or query.get("token") != TRELLO_TOKEN:
            return 401, {"message": "invalid key"}
        lists = (TRELLO_LIST, TRELLO_OTHER_LIST, TRELLO_DONE_LIST)
        if method == "GET" and (found := re.fullmatch(r"/1/lists/([0-9a-f]{24})/cards", path)) and found[1] in lists:
            with self._lock:
                return 200, [dict(card) for card in self.items["trello"] if card["idList"] == found[1]]
        if method == "GET" and (found := re.fullmatch(r"/1/lists/([0-9a-f]{24})", path)) and found[1] in lists:
            return 200, {"id": found[1], "idBoard": TRELLO_BOARD}
        if method == "GET" and path.startswith("/1/lists/"):
            return 404, {"message": "model not found"}
        if (method, path) == ("GET", f"/1/boards/{TRELLO_BOARD}/members"):
            return 200, [dict(member) for member in TRELLO_BOARD_MEMBERS]
        if method == "PUT" and (found := re.fullmatch(r"/1/cards/([0-9a-f]{24})", path)):
            if problem := self._check("trello_update_card", query):
                return 400, {"message": problem}
            with self._lock:
                card = next((card for card in self.items["trello"] if card["id"] == found.group(1)), None)
                if card is None:
                    return 404, {"message": "The requested resource was not found."}
                changes = {key: value for key, value in query.items() if key not in ("key", "token")}
                if (
                    changes.get("idList", TRELLO_LIST) not in lists
                    or changes.get("idBoard", TRELLO_BOARD) != TRELLO_BOARD
                ):
                    return 400, {"message": "invalid value for idList"}
                changes.pop("idBoard", None)
                if changes.get("due") == "null":
                    changes["due"] = None
                card.update(changes)
                card["dateLastActivity"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
                return 200, dict(card)
        if method == "GET" and (found := re.fullmatch(r"/1/cards/([0-9a-f]{24})", path)):
            with self._lock:
                card = next((dict(card) for card in self.items["trello"] if card["id"] == found.group(1)), None)
            if card is None:
                return 404, {"message": "The requested resource was not found."}
            card["dueComplete"] = card.get("dueComplete") in (True, "true")
            members = card.get("idMembers") or []
            card["idMembers"] = members.split(",") if isinstance(members, str) else members
            card.setdefault("dateLastActivity", "2026-01-01T00:00:00.000Z")
            return 200, card
        if (method, path) == ("GET", "/1/search/members"):
            member = TRELLO_MEMBERS.get(query.get("query", "").lower())
            return 200, [{"id": member, "username": "ana"}] if member else []
        if (method, path) == ("GET", f"/1/tokens/{TRELLO_TOKEN}/webhooks"):
            with self._lock:
                return 200, [{k: v for k, v in hook.items()} for hook in self.hooks["trello"]]
        if (method, path) == ("POST", "/1/webhooks"):
            if problem := self._check("trello_create_webhook", query):
                return 400, {"message": problem}
            with self._lock:
                twin = any(h["callbackURL"] == query["callbackURL"] and h["idModel"] == query["idModel"]
                           for h in self.hooks["trello"])  # fmt: skip
            if twin:
                return 400, {"message": "A webhook with that callback, model, and token already exists"}
            try:
                checked = httpx.head(query["callbackURL"], timeout=5.0)
            except httpx.HTTPError:
                checked = None
            if checked is None or checked.status_code != 200:
                return 400, {"message": "URL (callbackURL) did not return 200 status code"}
            with self._lock:
                hook_id = f"{0x6B0000000000000000000000 + next(self._ids):024x}"
                hook = {"id": hook_id, "idModel": query["idModel"], "callbackURL": query["callbackURL"], "active": True}
                hook["description"] = query.get("description", "")
                self.hooks["trello"].append(hook)
            return 200, dict(hook)
        if method == "DELETE" and (found := re.fullmatch(r"/1/webhooks/([0-9a-f]{24})", path)):
            with self._lock:
                self.hooks["trello"] = [hook for hook in self.hooks["trello"] if hook["id"] != found.group(1)]
            return 200, {}
        if (method, path) == ("POST", "/1/cards"):
            if problem := self._check("trello_create_card", query):
                return 400, {"message": problem}
            if query["idList"] not in (TRELLO_LIST, TRELLO_OTHER_LIST):
                return 404, {"message": "could not find the list"}
            with self._lock:
                card_id = f"{0x6A0000000000000000000000 + next(self._ids):024x}"
                card = {key: value for key, value in query.items() if key not in ("key", "token")}
                card |= {"id": card_id, "shortUrl": f"https://trello.com/c/{card_id[-8:]}"}
                self.items["trello"].append(card)
            return 200, card
        return 404, {"message": "no such endpoint"}
