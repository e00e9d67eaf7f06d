"""Jira Cloud (REST v3): the issue payload with an ADF description, the label marker, and the connector."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from handoff.sync.inbound import RemoteState, jira_state
from handoff.sync.model import PushTask, RemoteLink, facts

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.sync.http import VendorHttp

NAME = "jira"
CREATE_PATH = "/rest/api/3/issue"
SEARCH_PATH = "/rest/api/3/search/jql"
USER_SEARCH_PATH = "/rest/api/3/user/search"
SUMMARY_LIMIT = 255  # Jira refuses a longer summary
LABEL = "handoff"
READ_FIELDS = "status,assignee,duedate,updated"


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


def issue_payload(task: PushTask, *, project_key: str, issue_type: str, account_id: str | None) -> dict[str, Any]:
    """The body of `POST /rest/api/3/issue`; the marker is a label, which JQL finds again."""
    fields: dict[str, Any] = {
        "project": {"key": project_key},
        "issuetype": {"name": issue_type},
        "summary": " ".join(task.title.split())[:SUMMARY_LIMIT],
        "description": adf_document(task),
        "labels": [LABEL, task.marker],
    }
    if task.due_date:
        fields["duedate"] = task.due_date.isoformat()
    if account_id:
        fields["assignee"] = {"accountId": account_id}
    return {"fields": fields}


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

    def find(self, task: PushTask) -> RemoteLink | None:
        project_key = task.destination or self.project_key
        answer = self.http.post(SEARCH_PATH, json=search_payload(task, project_key=project_key), idempotent=True)
        for issue in (answer or {}).get("issues") or []:
            return self._link(issue)
        return None

    def create(self, task: PushTask) -> RemoteLink:
        account_id = self.account_id(task.assignee_email) if task.assignee_email else None
        project_key = task.destination or self.project_key
        payload = issue_payload(task, project_key=project_key, issue_type=self.issue_type, account_id=account_id)
        return self._link(self.http.post(CREATE_PATH, json=payload))

    def read(self, remote_id: str) -> RemoteState | None:
        issue = self.http.get(f"{CREATE_PATH}/{remote_id}", params={"fields": READ_FIELDS}, missing_ok=True)
        return jira_state(issue) if issue else None

    def account_id(self, email: str) -> str | None:
        """The Atlassian accountId of the user with this email, or None (the issue is then left unassigned)."""
        users = self.http.get(USER_SEARCH_PATH, params={"query": email}) or []
        exact = [user for user in users if (user.get("emailAddress") or "").lower() == email.lower()]
        for user in exact or users:
            if user.get("accountId") and user.get("active", True):
                return str(user["accountId"])
        return None

    def _link(self, issue: dict[str, Any]) -> RemoteLink:
        key = issue.get("key")
        url = f"{self.base_url.rstrip('/')}/browse/{key}" if key else None
        return RemoteLink(self.name, str(issue["id"]), url, key)
