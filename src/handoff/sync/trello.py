"""Trello: the card parameters (idList, due, idMembers, the marker in desc) and the connector."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from handoff.sync.inbound import RemoteState, trello_state
from handoff.sync.model import PushTask, RemoteLink, plain_description

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.sync.http import VendorHttp

NAME = "trello"
CARDS_PATH = "/1/cards"
MEMBER_SEARCH_PATH = "/1/search/members"
READ_FIELDS = "dueComplete,due,idList,dateLastActivity"
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
        params["due"] = datetime.combine(task.due_date, DUE_TIME).isoformat() + "Z"
    if member_ids:
        params["idMembers"] = ",".join(member_ids)
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

    def find(self, task: PushTask) -> RemoteLink | None:
        list_id = task.destination or self.list_id
        cards = self.http.get(f"/1/lists/{list_id}/cards", params={"fields": "name,desc,shortUrl"}) or []
        for card in cards:
            if holds_marker(card, task):
                return self._link(card)
        return None

    def create(self, task: PushTask) -> RemoteLink:
        members = [member] if task.assignee_email and (member := self.member_id(task.assignee_email)) else []
        return self._link(
            self.http.post(
                CARDS_PATH, params=card_params(task, list_id=task.destination or self.list_id, member_ids=members)
            )
        )

    def read(self, remote_id: str) -> RemoteState | None:
        card = self.http.get(f"{CARDS_PATH}/{remote_id}", params={"fields": READ_FIELDS}, missing_ok=True)
        return trello_state(card, done_list_id=self.done_list_id) if card else None

    def member_id(self, email: str) -> str | None:
        found = self.http.get(MEMBER_SEARCH_PATH, params={"query": email, "limit": "1"}) or []
        return str(found[0]["id"]) if found and found[0].get("id") else None

    def _link(self, card: dict[str, Any]) -> RemoteLink:
        return RemoteLink(self.name, str(card["id"]), card.get("shortUrl") or card.get("url"))
