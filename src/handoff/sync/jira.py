"""Jira Cloud (REST v3): the issue payload with an ADF description, the label marker, and the connector."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from handoff.errors import InvalidInput, PermanentFailure
from handoff.sync.inbound import RemoteState, jira_state
from handoff.sync.model import PushTask, RemoteLink, facts, unknown_person
from handoff.sync.people import People

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.sync.http import VendorHttp

NAME = "jira"
CREATE_PATH = "/rest/api/3/issue"
SEARCH_PATH = "/rest/api/3/search/jql"
USER_SEARCH_PATH = "/rest/api/3/user/search"
SUMMARY_LIMIT = 255  # Jira refuses a longer summary
LABEL = "handoff"
READ_FIELDS = "status,assignee,duedate,updated"
ACCOUNT_IDS_SETTING = "HANDOFF_SYNC__JIRA__ACCOUNT_IDS"
TRANSITIONS_PATH = CREATE_PATH + "/{id}/transitions"
DONE_CATEGORY = "done"  # Jira's status categories: new (To Do), indeterminate (In Progress), done
WEBHOOKS_PATH = "/rest/webhooks/1.0/webhook"  # admin webhooks: an administrator's API token registers them
HOOK_EVENTS = ["jira:issue_updated"]


def _text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def _paragraph(*inline: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(inline)}


def adf_document(task: PushTask) -> dict[str, Any]:
    """The description as an Atlassian Document Format doc: the text, a fact list, the evidence as a quote.

    Only nodes Jira renders (paragraph, bulletList, blockquote, text with a strong mark); ADF refuses empty text
    nodes, so blank lines are dropped."""
    content: list[dict[str, Any]] = []
    for block in (task.description or "").split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        if lines:
            inline: list[dict[str, Any]] = []
            for number, line in enumerate(lines):
                if number:
                    inline.append({"type": "hardBreak"})
                inline.append(_text(line))
            content.append(_paragraph(*inline))
    items = [
        {
            "type": "listItem",
            "content": [
                _paragraph({"type": "text", "text": f"{label}: ", "marks": [{"type": "strong"}]}, _text(value))
            ],
        }
        for label, value in facts(task)
    ]
    if items:
        content.append({"type": "bulletList", "content": items})
    if task.evidence and task.evidence.strip():
        content.append({"type": "blockquote", "content": [_paragraph(_text(task.evidence.strip()))]})
    content.append(_paragraph(_text(f"handoff task {task.id}")))
    return {"type": "doc", "version": 1, "content": content}


def summary_text(task: PushTask) -> str:
    return " ".join(task.title.split())[:SUMMARY_LIMIT]


def issue_payload(
    task: PushTask, *, project_key: str, issue_type: str, account_id: str | None, priority: str | None = None
) -> dict[str, Any]:
    """The body of `POST /rest/api/3/issue`; the marker is a label, which JQL finds again."""
    fields: dict[str, Any] = {
        "project": {"key": project_key},
        "issuetype": {"name": issue_type},
        "summary": summary_text(task),
        "description": adf_document(task),
        "labels": [LABEL, task.marker],
    }
    if task.due_date:
        fields["duedate"] = task.due_date.isoformat()
    if account_id:
        fields["assignee"] = {"accountId": account_id}
    if priority:
        fields["priority"] = {"name": priority}
    return {"fields": fields}


KEEP = object()  # an assignee handoff cannot name in Jira: the issue's assignee is left as it is


def edit_payload(
    task: PushTask, fields: Sequence[str], *, account_id: str | None | object, priority: str | None
) -> dict[str, Any]:
    """The body of `PUT /rest/api/3/issue/{id}`: only the edited fields, as values (an empty due date or assignee
    clears Jira's). `account_id` is `KEEP` for an assignee Jira does not know; a priority Jira has no name for is
    left out."""
    values: dict[str, Any] = {}
    if "title" in fields:
        values["summary"] = summary_text(task)
    if "due_date" in fields:
        values["duedate"] = task.due_date.isoformat() if task.due_date else None
    if "assignee" in fields and account_id is not KEEP:
        values["assignee"] = {"accountId": account_id} if account_id else None
    if "priority" in fields and priority:
        values["priority"] = {"name": priority}
    return {"fields": values}


def pick_transition(transitions: Any, *, done: bool) -> str | None:
    """The id of the first transition (`GET .../transitions`) into a status of the done category (`done`), or out
    of it (`not done`: a To Do status before an In Progress one); None when the workflow offers none from here."""
    offered = [t for t in (transitions or []) if isinstance(t, dict) and t.get("id") is not None]

    def category(transition: dict[str, Any]) -> Any:
        return ((transition.get("to") or {}).get("statusCategory") or {}).get("key")

    if done:
        wanted = [t for t in offered if category(t) == DONE_CATEGORY]
    else:
        wanted = [t for t in offered if category(t) == "new"] + [t for t in offered if category(t) == "indeterminate"]
    return str(wanted[0]["id"]) if wanted else None


def moved_note(key: str | None, project_key: str, destination: str) -> str:
    """What a move Jira cannot make says on the link."""
    return (
        f"Jira does not move an issue to another project through its edit API: {key or 'the issue'} stays in "
        f"{project_key}; move it to {destination} in Jira (Move) if it should go there. The link is kept"
    )


def hook_payload(url: str, *, project_key: str, secret: str) -> dict[str, Any]:
    """The body of `POST /rest/webhooks/1.0/webhook`: issue updates of the project, to `url`, signed."""
    return {
        "name": f"handoff ({project_key})",
        "url": url,
        "events": HOOK_EVENTS,
        "filters": {"issue-related-events-section": f'project = "{project_key}"'},
        "excludeBody": False,
        "secret": secret,
    }


def _hook_id(hook: dict[str, Any]) -> str:
    """An admin webhook's id: the last part of its `self` URL (`.../rest/webhooks/1.0/webhook/3`)."""
    return str(hook.get("id") or str(hook.get("self") or "").rstrip("/").rsplit("/", 1)[-1])


def search_payload(task: PushTask, *, project_key: str) -> dict[str, Any]:
    """The body of `POST /rest/api/3/search/jql` that finds the task's issue by its label."""
    jql = f'project = "{project_key}" AND labels = "{task.marker}" ORDER BY created ASC'
    return {"jql": jql, "fields": ["summary", "labels"], "maxResults": 1}


@dataclass
class JiraConnector:
    http: VendorHttp
    base_url: str
    project_key: str
    issue_type: str = "Task"
    name: str = NAME
    people: People = field(default_factory=People)  # HANDOFF_SYNC__JIRA__ACCOUNT_IDS
    priorities: dict[str, str] = field(default_factory=dict)

    def find(self, task: PushTask) -> RemoteLink | None:
        project_key = task.destination or self.project_key
        answer = self.http.post(SEARCH_PATH, json=search_payload(task, project_key=project_key), idempotent=True)
        for issue in (answer or {}).get("issues") or []:
            return self._link(issue)
        return None

    def create(self, task: PushTask) -> RemoteLink:
        account_id = self.account_id(task.assignee_email) if task.assignee_email else None
        project_key = task.destination or self.project_key
        payload = issue_payload(
            task,
            project_key=project_key,
            issue_type=self.issue_type,
            account_id=account_id,
            priority=self.priorities.get(task.priority or ""),
        )
        link = self._link(self.http.post(CREATE_PATH, json=payload))
        if task.assignee_email and not account_id:
            link = replace(link, note=unknown_person(task, "Jira", ACCOUNT_IDS_SETTING, kept=False))
        return link

    def update(self, remote_id: str, task: PushTask, fields: Sequence[str]) -> str | None:
        note, account_id = None, None
        if "assignee" in fields and task.assignee_email:
            account_id = self.account_id(task.assignee_email) or KEEP
            if account_id is KEEP:
                note = unknown_person(task, "Jira", ACCOUNT_IDS_SETTING, kept=True)
        payload = edit_payload(task, fields, account_id=account_id, priority=self.priorities.get(task.priority or ""))
        if payload["fields"]:
            self.http.put(f"{CREATE_PATH}/{quote(remote_id)}", json=payload)
        if "place" in fields:
            note = self._place_note(remote_id, task) or note
        if "status" in fields:
            self.transition(remote_id, done=task.status == "done")
        return note

    def transition(self, remote_id: str, *, done: bool) -> None:
        """Closes (a transition into a done-category status) or reopens the issue. Its status is read first, so an
        issue already there is left alone: a retry after a lost answer, or a close already made in Jira, makes no
        second transition. A workflow with no such transition from the issue's status is refused, naming it."""
        issue = self.http.get(f"{CREATE_PATH}/{quote(remote_id)}", params={"fields": "status"}) or {}
        status = (issue.get("fields") or {}).get("status") or {}
        if ((status.get("statusCategory") or {}).get("key") == DONE_CATEGORY) == done:
            return
        path = TRANSITIONS_PATH.format(id=quote(remote_id))
        chosen = pick_transition((self.http.get(path) or {}).get("transitions"), done=done)
        if chosen is None:
            goal = "a done status" if done else "a To Do or In Progress status"
            raise PermanentFailure(
                f"Jira offers no transition from {status.get('name') or 'its status'!r} to {goal} for "
                f"{issue.get('key') or remote_id}; add one to the workflow (or change it in Jira), then run "
                "handoff sync push --retry-failed"
            )
        self.http.post(path, json={"transition": {"id": chosen}})  # a lost answer is looked at again next round

    def _place_note(self, remote_id: str, task: PushTask) -> str | None:
        wanted = task.destination or self.project_key
        issue = self.http.get(f"{CREATE_PATH}/{quote(remote_id)}", params={"fields": "project"}) or {}
        now = ((issue.get("fields") or {}).get("project") or {}).get("key")
        return moved_note(issue.get("key"), now, wanted) if now and now != wanted else None

    def read(self, remote_id: str) -> RemoteState | None:
        issue = self.http.get(f"{CREATE_PATH}/{remote_id}", params={"fields": READ_FIELDS}, missing_ok=True)
        return jira_state(issue, people=self.people.by_remote) if issue else None

    def account_id(self, email: str) -> str | None:
        """The Atlassian accountId of the user with this email: the explicit mapping first (people whose email Jira
        hides are found by no search), then Jira's user search; None when neither knows them."""
        if mapped := self.people.remote_of(email):
            return mapped
        users = self.http.get(USER_SEARCH_PATH, params={"query": email}) or []
        exact = [user for user in users if (user.get("emailAddress") or "").lower() == email.lower()]
        for user in exact or users:
            if user.get("accountId") and user.get("active", True):
                return str(user["accountId"])
        return None

    def find_hook(self, url: str) -> str | None:
        """The id of the admin webhook that already delivers to `url`, or None."""
        for hook in self.http.get(WEBHOOKS_PATH) or []:
            if isinstance(hook, dict) and hook.get("url") == url:
                return _hook_id(hook)
        return None

    def create_hook(self, url: str, secret: str | None) -> str:
        """An admin webhook for the project's issue updates, signed with `secret` (`X-Hub-Signature`)."""
        if not secret:
            raise InvalidInput(
                "set HANDOFF_SYNC__JIRA__WEBHOOK_SECRET first: /v1/hooks/jira refuses unsigned deliveries"
            )
        body = hook_payload(url, project_key=self.project_key, secret=secret)
        return _hook_id(self.http.post(WEBHOOKS_PATH, json=body) or {})

    def delete_hook(self, hook_id: str) -> None:
        self.http.delete(f"{WEBHOOKS_PATH}/{quote(hook_id)}")

    def _link(self, issue: dict[str, Any]) -> RemoteLink:
        key = issue.get("key")
        url = f"{self.base_url.rstrip('/')}/browse/{key}" if key else None
        return RemoteLink(self.name, str(issue["id"]), url, key)
