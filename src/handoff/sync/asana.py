"""Asana: the task payload (`{"data": ...}`, assignee by email, `due_on`, `external.gid` marker) and the connector."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from handoff.sync.inbound import RemoteState, asana_state
from handoff.sync.model import PushTask, RemoteLink, plain_description

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.sync.http import VendorHttp

NAME = "asana"
TASKS_PATH = "/api/1.0/tasks"
OPT_FIELDS = "gid,name,permalink_url,external"
READ_FIELDS = "gid,completed,assignee.email,due_on,modified_at"
WEBHOOKS_PATH = "/api/1.0/webhooks"
# The task changes handoff reads back (status, assignee, due date); Asana sends ids only and each task is read.
HOOK_FILTERS = [{"resource_type": "task", "action": "changed"}]


def task_payload(task: PushTask, *, project_gid: str) -> dict[str, Any]:
    """The body of `POST /api/1.0/tasks`. `external.gid` is the marker: `GET /tasks/external:<gid>` finds it again.

    Asana takes a user's email where it takes a user gid, so the assignee needs no lookup."""
    data: dict[str, Any] = {
        "name": " ".join(task.title.split()),
        "notes": plain_description(task),
        "projects": [project_gid],
        "external": {"gid": task.marker, "data": task.id},
    }
    if task.due_date:
        data["due_on"] = task.due_date.isoformat()
    if task.assignee_email:
        data["assignee"] = task.assignee_email
    return {"data": data}


def update_payload(task: PushTask, fields: Sequence[str]) -> dict[str, Any]:
    """The body of `PUT /api/1.0/tasks/{gid}`: the edited fields as values (null clears a due day or assignee).

    Asana has no priority field of its own: a priority edit rewrites the notes, whose fact lines carry it."""
    data: dict[str, Any] = {}
    if "title" in fields:
        data["name"] = " ".join(task.title.split())
    if "due_date" in fields:
        data["due_on"] = task.due_date.isoformat() if task.due_date else None
    if "assignee" in fields:
        data["assignee"] = task.assignee_email or None
    if "priority" in fields:
        data["notes"] = plain_description(task)
    if "status" in fields:
        data["completed"] = task.status == "done"
    return {"data": data}


def external_path(task: PushTask) -> str:
    return f"{TASKS_PATH}/{quote('external:' + task.marker, safe=':')}"


@dataclass
class AsanaConnector:
    http: VendorHttp
    project_gid: str
    name: str = NAME

    def find(self, task: PushTask) -> RemoteLink | None:
        answer = self.http.get(external_path(task), params={"opt_fields": OPT_FIELDS}, missing_ok=True)
        return self._link(answer["data"]) if answer and answer.get("data") else None

    def create(self, task: PushTask) -> RemoteLink:
        payload = task_payload(task, project_gid=task.destination or self.project_gid)
        return self._link(self.http.post(TASKS_PATH, json=payload, params={"opt_fields": OPT_FIELDS})["data"])

    def update(self, remote_id: str, task: PushTask, fields: Sequence[str]) -> str | None:
        payload = update_payload(task, fields)
        if payload["data"]:
            self.http.put(f"{TASKS_PATH}/{quote(remote_id)}", json=payload, params={"opt_fields": "gid"})
        if "place" in fields:
            self.move(remote_id, task)
        return None

    def move(self, remote_id: str, task: PushTask) -> None:
        """Into the task's mapped project, out of the one it was mapped to before (`addProject`, `removeProject`).
        An Asana task can be in several projects; one a person added it to stays. The projects are read first, so
        a retry adds and removes nothing twice."""
        wanted = task.destination or self.project_gid
        before = task.previous_destination or self.project_gid
        path = f"{TASKS_PATH}/{quote(remote_id)}"
        answer = self.http.get(path, params={"opt_fields": "projects"}) or {}
        projects = {str(p.get("gid")) for p in (answer.get("data") or {}).get("projects") or [] if isinstance(p, dict)}
        if wanted not in projects:
            self.http.post(f"{path}/addProject", json={"data": {"project": wanted}}, idempotent=True)
        if before != wanted and before in projects:
            self.http.post(f"{path}/removeProject", json={"data": {"project": before}}, idempotent=True)

    def read(self, remote_id: str) -> RemoteState | None:
        answer = self.http.get(f"{TASKS_PATH}/{quote(remote_id)}", params={"opt_fields": READ_FIELDS}, missing_ok=True)
        return asana_state(answer.get("data")) if answer else None

    def find_hook(self, url: str) -> str | None:
        """The gid of this app's active webhook on the project that delivers to `url`, or None."""
        project = self.http.get(f"/api/1.0/projects/{quote(self.project_gid)}", params={"opt_fields": "workspace"})
        workspace = ((project or {}).get("data") or {}).get("workspace") or {}
        params = {"workspace": workspace.get("gid"), "resource": self.project_gid, "opt_fields": "target,active"}
        for hook in (self.http.get(WEBHOOKS_PATH, params=params) or {}).get("data") or []:
            if isinstance(hook, dict) and hook.get("target") == url and hook.get("active", True):
                return str(hook["gid"])
        return None

    def create_hook(self, url: str, secret: str | None = None) -> str:
        """`POST /webhooks`: Asana makes its `X-Hook-Secret` handshake with `url` before it answers."""
        body = {"data": {"resource": self.project_gid, "target": url, "filters": HOOK_FILTERS}}
        return str(self.http.post(WEBHOOKS_PATH, json=body)["data"]["gid"])

    def delete_hook(self, hook_id: str) -> None:
        self.http.delete(f"{WEBHOOKS_PATH}/{quote(hook_id)}")

    def _link(self, data: dict[str, Any]) -> RemoteLink:
        gid = str(data["gid"])
        url = data.get("permalink_url") or f"https://app.asana.com/0/{self.project_gid}/{gid}"
        return RemoteLink(self.name, gid, url)
