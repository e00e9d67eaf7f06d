"""Trello: the card parameters (idList, due, idMembers, the marker in desc) and the connector."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from handoff.errors import InvalidInput
from handoff.sync.inbound import RemoteState, trello_state
from handoff.sync.model import PushTask, RemoteLink, plain_description, unknown_person
from handoff.sync.people import People, match_board_members

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.extraction.model import TeamMember
    from handoff.sync.http import VendorHttp

NAME = "trello"
CARDS_PATH = "/1/cards"
MEMBER_SEARCH_PATH = "/1/search/members"
READ_FIELDS = "dueComplete,due,idList,idMembers,dateLastActivity"
MEMBER_FIELDS = "username,fullName"
WEBHOOKS_PATH = "/1/webhooks"
MEMBER_IDS_SETTING = "HANDOFF_SYNC__TRELLO__MEMBER_IDS"
NAME_LIMIT = 16_384  # Trello's documented limits on a card's name and desc
DESC_LIMIT = 16_384
# Trello's due is a moment; a handoff due date is a day: the card is due at the end of it (UTC).
DUE_TIME = time(17, 0)


def card_params(task: PushTask, *, list_id: str, member_ids: list[str]) -> dict[str, str]:
    """The query parameters of `POST /1/cards`, as Trello documents them; the desc ends with the marker."""
    params = {
        "idList": list_id,
        "name": " ".join(task.title.split())[:NAME_LIMIT],
        "desc": plain_description(task)[-DESC_LIMIT:],
        "pos": "bottom",
    }
    if task.due_date:
        params["due"] = _due(task)
    if member_ids:
        params["idMembers"] = ",".join(member_ids)
    return params


def _due(task: PushTask) -> str:
    return datetime.combine(task.due_date, DUE_TIME).isoformat() + "Z" if task.due_date else "null"


def update_params(
    task: PushTask,
    fields: Sequence[str],
    *,
    member_ids: list[str] | None,
    list_id: str | None = None,
    done_list_id: str | None = None,
) -> dict[str, str]:
    """The query parameters of `PUT /1/cards/{id}`: the edited fields as values. `idMembers` replaces the card's
    members (empty: none); `member_ids` None leaves them as they are (an assignee Trello does not know). Trello has
    no priority: a priority edit rewrites the desc, whose fact lines carry it (and which keeps the marker).

    Done is `dueComplete` (Trello's own "complete" mark), and with a done list (`done_list_id`) the card moves
    there too; reopened, it is not complete and goes back to `list_id`, the task's mapped list. A card is never
    archived (`closed`): an archived card leaves the board, and a person would not see it done. A move (`place`)
    goes to `list_id`, except for a done card in the done list, which stays there until it is reopened."""
    params: dict[str, str] = {}
    if "title" in fields:
        params["name"] = " ".join(task.title.split())[:NAME_LIMIT]
    if "due_date" in fields:
        params["due"] = _due(task)
    if "assignee" in fields and member_ids is not None:
        params["idMembers"] = ",".join(member_ids)
    if "priority" in fields:
        params["desc"] = plain_description(task)[-DESC_LIMIT:]
    done = task.status == "done"
    if "status" in fields:
        params["dueComplete"] = "true" if done else "false"
        if done_list_id:
            params["idList"] = done_list_id if done else (list_id or "")
    if "place" in fields and list_id and not (done and done_list_id):
        params["idList"] = list_id
    if not params.get("idList"):
        params.pop("idList", None)
    return params


def holds_marker(card: dict[str, Any], task: PushTask) -> bool:
    """A card is the task's when its desc names the marker as a whole word (tsk_1 is not tsk_10)."""
    desc = card.get("desc") or ""
    return f"({task.marker})" in desc


@dataclass
class TrelloConnector:
    http: VendorHttp
    list_id: str
    done_list_id: str | None = None
    name: str = NAME
    member_ids: dict[str, str] = field(default_factory=dict)  # HANDOFF_SYNC__TRELLO__MEMBER_IDS
    # The roster the board's members are matched to (`people.match_board_members`); None: the mapping only.
    roster: list[TeamMember] | None = None
    _people: People | None = field(default=None, init=False, repr=False)

    def find(self, task: PushTask) -> RemoteLink | None:
        list_id = task.destination or self.list_id
        cards = self.http.get(f"/1/lists/{list_id}/cards", params={"fields": "name,desc,shortUrl"}) or []
        for card in cards:
            if holds_marker(card, task):
                return self._link(card)
        return None

    def create(self, task: PushTask) -> RemoteLink:
        member = self.member_id(task.assignee_email) if task.assignee_email else None
        params = card_params(task, list_id=task.destination or self.list_id, member_ids=[member] if member else [])
        link = self._link(self.http.post(CARDS_PATH, params=params))
        if task.assignee_email and not member:
            link = replace(link, note=unknown_person(task, "Trello", MEMBER_IDS_SETTING, kept=False))
        return link

    def update(self, remote_id: str, task: PushTask, fields: Sequence[str]) -> str | None:
        member_ids: list[str] | None = []
        note = None
        if "assignee" in fields and task.assignee_email:
            member = self.member_id(task.assignee_email)
            member_ids = [member] if member else None
            if member is None:
                note = unknown_person(task, "Trello", MEMBER_IDS_SETTING, kept=True)
        place = task.destination or self.list_id
        params = update_params(task, fields, member_ids=member_ids, list_id=place, done_list_id=self.done_list_id)
        if "idList" in params:  # a list on another board needs its board too
            board = self.board_id(params["idList"])
            if board:
                params["idBoard"] = board
        if params:
            self.http.put(f"{CARDS_PATH}/{remote_id}", params=params)
        return note

    def read(self, remote_id: str) -> RemoteState | None:
        card = self.http.get(f"{CARDS_PATH}/{remote_id}", params={"fields": READ_FIELDS}, missing_ok=True)
        if not card:
            return None
        return trello_state(card, done_list_id=self.done_list_id, people=self.people().by_remote)

    def board_id(self, list_id: str | None = None) -> str | None:
        """The board of `list_id` (default: the configured list)."""
        path = f"/1/lists/{list_id or self.list_id}"
        board = (self.http.get(path, params={"fields": "idBoard"}) or {}).get("idBoard")
        return board if isinstance(board, str) else None

    def find_hook(self, url: str) -> str | None:
        """The id of this token's webhook that delivers to `url`, or None (Trello lists webhooks by token)."""
        token = self.http.params.get("token", "")
        for hook in self.http.get(f"/1/tokens/{token}/webhooks") or []:
            if isinstance(hook, dict) and hook.get("callbackURL") == url:
                return str(hook["id"])
        return None

    def create_hook(self, url: str, secret: str | None) -> str:
        """A webhook on the list's board (cards moved to the done list included); Trello checks `url` with a HEAD."""
        if not secret:
            raise InvalidInput("set HANDOFF_SYNC__TRELLO__SECRET first: /v1/hooks/trello refuses unsigned deliveries")
        board = self.board_id()
        if board is None:
            raise InvalidInput(f"the Trello list {self.list_id} names no board; check HANDOFF_SYNC__TRELLO__LIST_ID")
        params = {"callbackURL": url, "idModel": board, "description": "handoff: card changes back to handoff"}
        return str(self.http.post(WEBHOOKS_PATH, params=params)["id"])

    def delete_hook(self, hook_id: str) -> None:
        self.http.delete(f"{WEBHOOKS_PATH}/{hook_id}")

    def people(self) -> People:
        """The board's members matched to the roster, read once per connector (one push, pull or delivery)."""
        if self._people is None:
            members: list[dict[str, Any]] = []
            if self.roster:
                board = self.board_id()
                if board is not None:
                    members = self.http.get(f"/1/boards/{board}/members", params={"fields": MEMBER_FIELDS}) or []
            self._people = match_board_members(members, self.roster or [], self.member_ids)
        return self._people

    def member_id(self, email: str) -> str | None:
        """The member id of a roster member: matched on the board, else Trello's member search by email."""
        if known := self.people().remote_of(email):
            return known
        found = self.http.get(MEMBER_SEARCH_PATH, params={"query": email, "limit": "1"}) or []
        return str(found[0]["id"]) if found and found[0].get("id") else None

    def _link(self, card: dict[str, Any]) -> RemoteLink:
        return RemoteLink(self.name, str(card["id"]), card.get("shortUrl") or card.get("url"))
