"""Who a tool's user is on the roster: explicit mappings first, then Trello board members matched by handle or name."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from handoff.extraction.model import TeamMember


def _key(text: str) -> str:
    """A name or handle as compared: case, accents, spacing and a leading @ do not count."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode() or text
    return " ".join(folded.lower().lstrip("@").split())


@dataclass(frozen=True)
class People:
    """The tool's user ids of roster members, both ways: `remote_of(email)` for a push, `email_of(id)` for a change
    coming back. Built once per push, pull or delivery; a person handoff does not know has neither."""

    by_email: dict[str, str] = field(default_factory=dict)  # roster email (lower case) -> the tool's user id

    @property
    def by_remote(self) -> dict[str, str]:
        return {remote: email for email, remote in self.by_email.items()}

    def remote_of(self, email: str | None) -> str | None:
        return self.by_email.get(email.lower()) if email else None

    def email_of(self, remote_id: str | None) -> str | None:
        return self.by_remote.get(remote_id) if remote_id else None


def explicit(mapping: Mapping[str, str] | None) -> People:
    """People from a setting (`HANDOFF_SYNC__JIRA__ACCOUNT_IDS`, `HANDOFF_SYNC__TRELLO__MEMBER_IDS`): email -> id."""
    return People({email.strip().lower(): str(remote).strip() for email, remote in (mapping or {}).items() if remote})


def match_board_members(
    members: Iterable[Mapping[str, Any]], roster: Iterable[TeamMember], mapping: Mapping[str, str] | None = None
) -> People:
    """Trello board members matched to the roster: the explicit mapping, then the member's username against a
    roster member's aliases (`@ana`) or email's local part, then the full name against the roster name.

    Trello shows no member's email to another member, so names are what there is. A match must be unique on both
    sides: two roster members called "Sam Lee", or a handle two people answer to, match nobody rather than the
    wrong one."""
    known = dict(explicit(mapping).by_email)
    taken = set(known.values())
    people = [member for member in roster if member.email and member.email.lower() not in known]
    by_handle: dict[str, list[str]] = {}
    by_name: dict[str, list[str]] = {}
    for member in people:
        email = (member.email or "").lower()
        for handle in {*member.aliases, email.split("@")[0]}:
            if handle.strip():
                by_handle.setdefault(_key(handle), []).append(email)
        by_name.setdefault(_key(member.name), []).append(email)
    claimed: dict[str, list[str]] = {}
    for board_member in members:
        member_id = board_member.get("id")
        if not isinstance(member_id, str) or member_id in taken:
            continue
        username, full_name = board_member.get("username"), board_member.get("fullName")
        found = by_handle.get(_key(username), []) if isinstance(username, str) and username else []
        if len(set(found)) != 1 and isinstance(full_name, str) and full_name.strip():
            found = by_name.get(_key(full_name), [])
        if len(set(found)) == 1:
            claimed.setdefault(found[0], []).append(member_id)
    for email, member_ids in claimed.items():
        if len(member_ids) == 1:  # two board members who both look like Ana: neither is taken for her
            known[email] = member_ids[0]
    return People(known)
