"""Status, assignee and due date back from Jira, Asana and Trello: signatures, vendor payloads read, changes decided."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

# The fields a tool's change can carry back onto a handoff task. A field missing from a RemoteState is unknown (the
# vendor did not say), which is not the same as None (the vendor said: no assignee, no due date).
FIELDS = ("status", "assignee_email", "due_date")
REMOTE_STATUSES = ("open", "done")


# ---- signatures ------------------------------------------------------------------------------------------------


def _equal(given: str | None, expected: str) -> bool:
    # compare_digest takes the same time wherever the strings differ, so a signature cannot be guessed byte by byte.
    return bool(given) and hmac.compare_digest(given.strip().encode(), expected.encode())


def jira_signature(secret: str, body: bytes) -> str:
    """`X-Hub-Signature` of a Jira admin webhook with a secret: `sha256=` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def jira_signed(secret: str, body: bytes, header: str | None) -> bool:
    return _equal((header or "").lower(), jira_signature(secret, body))


def asana_signature(secret: str, body: bytes) -> str:
    """`X-Hook-Signature`: hex HMAC-SHA256 of the raw body under the handshake's `X-Hook-Secret`."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def asana_signed(secret: str, body: bytes, header: str | None) -> bool:
    return _equal((header or "").lower(), asana_signature(secret, body))


def trello_signature(secret: str, body: bytes, callback_url: str) -> str:
    """`X-Trello-Webhook`: base64 HMAC-SHA1 of the body followed by the callback URL, under the app's secret."""
    return base64.b64encode(hmac.new(secret.encode(), body + callback_url.encode(), hashlib.sha1).digest()).decode()


def trello_signed(secret: str, body: bytes, callback_url: str, header: str | None) -> bool:
    return _equal(header, trello_signature(secret, body, callback_url))


def body_id(body: bytes) -> str:
    """The delivery id of a body that carries none: the same bytes sent twice are the same delivery."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


# ---- what a tool says about one item ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteState:
    """One item as its tool described it at `changed_at`; `fields` holds only what the tool said."""

    target: str
    remote_id: str
    changed_at: datetime | None
    fields: dict[str, Any] = field(default_factory=dict)
    key: str | None = None  # Jira's HO-12, for the timeline


def parse_time(value: Any) -> datetime | None:
    """A vendor's timestamp as aware UTC: ISO 8601 (`2026-03-01T10:00:00.000+0000`, `...Z`) or epoch milliseconds."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000.0, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"  # Jira's +0000
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_day(value: Any) -> date | None:
    """A due day from `2026-03-31` or a moment (Trello's `2026-03-31T17:00:00.000Z`); None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _email(value: Any) -> str | None:
    return value.strip().lower() if isinstance(value, str) and "@" in value else None


def _assignee_and_due(
    fields: dict[str, Any], *, email_key: str, due_key: str, people: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """What the fields say of the assignee (None: unassigned; one without an email stays unknown unless `people`,
    the tool's user id -> roster email, knows their `accountId`) and the due day."""
    said: dict[str, Any] = {}
    if "assignee" in fields:
        assignee = fields["assignee"]
        if assignee is None:
            said["assignee_email"] = None
        elif email := _email(_dict(assignee).get(email_key)) or _email((people or {}).get(_id(assignee))):
            said["assignee_email"] = email
    if due_key in fields:
        said["due_date"] = parse_day(fields[due_key])
    return said


def _id(assignee: Any) -> str:
    account = _dict(assignee).get("accountId")
    return account if isinstance(account, str) else ""


def jira_state(issue: Any, *, at: Any = None, people: Mapping[str, str] | None = None) -> RemoteState | None:
    """An issue (`GET /rest/api/3/issue/{id}` or a webhook's `issue`): done when its status category is `done`.

    Jira hides emails by each user's privacy setting: an assignee with an accountId and no email is read through
    `people` (`HANDOFF_SYNC__JIRA__ACCOUNT_IDS`, accountId -> email) and is otherwise left unknown."""
    issue = _dict(issue)
    if not isinstance(issue.get("id"), str | int) or isinstance(issue.get("id"), bool):
        return None
    fields = _dict(issue.get("fields"))
    said: dict[str, Any] = {}
    status = _dict(fields.get("status"))
    category = _dict(status.get("statusCategory")).get("key")
    if isinstance(category, str):
        said["status"] = "done" if category == "done" else "open"
    said.update(_assignee_and_due(fields, email_key="emailAddress", due_key="duedate", people=people))
    changed = parse_time(fields.get("updated")) or parse_time(at)
    key = issue.get("key") if isinstance(issue.get("key"), str) else None
    return RemoteState("jira", str(issue["id"]), changed, said, key)


def asana_state(task: Any) -> RemoteState | None:
    """A task from `GET /api/1.0/tasks/{gid}` (opt_fields completed, assignee.email, due_on, modified_at)."""
    task = _dict(task)
    if not isinstance(task.get("gid"), str):
        return None
    said: dict[str, Any] = {}
    if isinstance(task.get("completed"), bool):
        said["status"] = "done" if task["completed"] else "open"
    said.update(_assignee_and_due(task, email_key="email", due_key="due_on"))
    return RemoteState("asana", task["gid"], parse_time(task.get("modified_at")), said)


def trello_state(
    card: Any, *, done_list_id: str | None = None, at: Any = None, people: Mapping[str, str] | None = None
) -> RemoteState | None:
    """A card (`GET /1/cards/{id}` or a webhook action's `data.card`): done when due complete or in the done list.

    A webhook's card holds only what the action changed, so only those fields are said. Trello shows members by id
    only: `people` (member id -> roster email, `people.match_board_members`) names the assignee, the first member
    it knows; no members is unassigned; members it knows none of leave the assignee unknown."""
    card = _dict(card)
    if not isinstance(card.get("id"), str):
        return None
    said: dict[str, Any] = {}
    done = None
    if isinstance(card.get("dueComplete"), bool):
        done = card["dueComplete"]
    if done_list_id and isinstance(card.get("idList"), str):
        done = bool(done) or card["idList"] == done_list_id
    if done is not None:
        said["status"] = "done" if done else "open"
    if "due" in card:
        said["due_date"] = parse_day(card["due"])
    members = card.get("idMembers")
    if isinstance(members, list):
        known = [email for member in members if (email := _email((people or {}).get(str(member))))]
        if not members or known:
            said["assignee_email"] = known[0] if known else None
    changed = parse_time(at) or parse_time(card.get("dateLastActivity"))
    return RemoteState("trello", card["id"], changed, said)


# ---- webhook bodies --------------------------------------------------------------------------------------------


def jira_hook(payload: Any, *, people: Mapping[str, str] | None = None) -> RemoteState | None:
    """A Jira webhook body: `jira:issue_updated` (or created) with the whole issue; anything else is ignored."""
    payload = _dict(payload)
    if payload.get("webhookEvent") not in ("jira:issue_updated", "jira:issue_created"):
        return None
    return jira_state(payload.get("issue"), at=payload.get("timestamp"), people=people)


def asana_hook(payload: Any) -> list[str]:
    """The gids of the tasks an Asana webhook body says changed; its events carry ids only, the task is read after."""
    gids: list[str] = []
    events = _dict(payload).get("events")
    for event in events if isinstance(events, list) else []:
        resource = _dict(_dict(event).get("resource"))
        gid = resource.get("gid")
        is_task = resource.get("resource_type") == "task" and isinstance(gid, str)
        if is_task and _dict(event).get("action") in ("changed", "added", "undeleted") and gid not in gids:
            gids.append(gid)
    return gids


def trello_hook(payload: Any, *, done_list_id: str | None = None) -> tuple[str | None, RemoteState | None]:
    """(action id, the card's changed fields) of a Trello webhook body; (None, None) for what is not a card update."""
    action = _dict(_dict(payload).get("action"))
    action_id = action.get("id") if isinstance(action.get("id"), str) else None
    if action.get("type") != "updateCard":
        return action_id, None
    data = _dict(action.get("data"))
    card = dict(_dict(data.get("card")))
    list_after = _dict(data.get("listAfter")).get("id")
    if isinstance(list_after, str):
        card["idList"] = list_after
    return action_id, trello_state(card, done_list_id=done_list_id, at=action.get("date"))


MEMBER_ACTIONS = ("addMemberToCard", "removeMemberFromCard")


def trello_member_card(payload: Any) -> str | None:
    """The card id of a Trello member action (someone added to or taken off a card): such an action names the
    member, not the card's members after it, so the card is read after (like Asana's events)."""
    action = _dict(_dict(payload).get("action"))
    if action.get("type") not in MEMBER_ACTIONS:
        return None
    card_id = _dict(_dict(action.get("data")).get("card")).get("id")
    return card_id if isinstance(card_id, str) else None


# ---- deciding what changes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalTask:
    """What the handoff task holds now, in the same terms as a RemoteState."""

    status: str
    assignee_email: str | None
    due_date: date | None

    def as_fields(self) -> dict[str, Any]:
        return {"status": self.status, "assignee_email": self.assignee_email, "due_date": self.due_date}


@dataclass(frozen=True)
class Decision:
    outcome: str  # applied, unchanged, stale
    changes: dict[str, Any] = field(default_factory=dict)  # field -> new value for the handoff task
    remote_fields: dict[str, Any] = field(default_factory=dict)  # the baseline to store on the link
    changed_at: datetime | None = None


def stored_fields(state: Any) -> dict[str, Any]:
    """The link's stored remote state (JSON) back as fields; dates were stored as ISO strings."""
    fields: dict[str, Any] = {}
    for name, value in _dict(state).items():
        if name in FIELDS:
            fields[name] = parse_day(value) if name == "due_date" else value
    return fields


def storable(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value.isoformat() if isinstance(value, date) else value for name, value in fields.items()}


def decide(
    incoming: RemoteState, *, last: dict[str, Any] | None, last_changed_at: datetime | None, task: LocalTask
) -> Decision:
    """What a tool's change does to the handoff task.

    A change older than the last one applied is stale and does nothing. Otherwise only the fields the tool changed
    since what it said last (or, the first time, since what was pushed: the task itself) reach the task, so an edit
    made in handoff meanwhile is not undone by a field the tool did not touch. A done task reopened in the tool is
    open again; a rejected task is never changed."""
    if last_changed_at is not None and incoming.changed_at is not None and incoming.changed_at < last_changed_at:
        return Decision("stale")
    baseline = task.as_fields() | (last or {})
    merged = baseline | incoming.fields
    remote = {name: merged[name] for name in FIELDS if name in merged}
    changed_at = max(filter(None, (incoming.changed_at, last_changed_at)), default=None)
    changes: dict[str, Any] = {}
    if task.status in ("open", "done"):
        for name, value in incoming.fields.items():
            if name == "status" and value not in REMOTE_STATUSES:
                continue
            if value != baseline.get(name) and value != getattr(task, name):
                changes[name] = value
    return Decision("applied" if changes else "unchanged", changes, remote, changed_at)


def describe(target: str, label: str, changes: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of the account's timeline entry for a change that came back from a tool."""
    tool = {"jira": "Jira", "asana": "Asana", "trello": "Trello"}.get(target, target)
    parts = []
    if "status" in changes:
        parts.append("done" if changes["status"] == "done" else "reopened")
    if "assignee_email" in changes:
        parts.append(f"assigned to {changes['assignee_email']}" if changes["assignee_email"] else "unassigned")
    if "due_date" in changes:
        due = changes["due_date"]
        parts.append(f"due {due.isoformat()}" if due else "no due date")
    summary = ", ".join(parts)
    return f"{tool} {label}: {summary}"[:255], f"Changed in {tool} and applied to the handoff task: {summary}."
