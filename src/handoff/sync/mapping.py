"""Where a project's or an account's tasks go in each tool: the mapping checked, and the destination of one task."""

from __future__ import annotations

import re
from typing import Any

from handoff.errors import InvalidInput

TARGETS = ("jira", "asana", "trello")
KINDS = ("projects", "accounts")  # a project's entry wins over its account's
# What each tool calls the place: a Jira project key, an Asana project gid, a Trello list id.
_SHAPES = {
    "jira": re.compile(r"^[A-Z][A-Z0-9_]{0,254}$"),
    "asana": re.compile(r"^[0-9]{1,64}$"),
    "trello": re.compile(r"^[0-9a-fA-F]{24}$"),
}
MAX_ENTRIES = 10_000


def checked(document: Any) -> dict[str, dict[str, dict[str, str]]]:
    """The mapping `{target: {projects|accounts: {handoff id: destination}}}`, or InvalidInput naming every problem."""
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise InvalidInput("the sync mapping must be a mapping of jira, asana and trello")
    problems: list[str] = []
    result: dict[str, dict[str, dict[str, str]]] = {}
    count = 0
    for target, section in document.items():
        if target not in TARGETS:
            problems.append(f"{target!r} is no target (jira, asana, trello)")
            continue
        if not isinstance(section, dict):
            problems.append(f"{target} must map projects and accounts")
            continue
        for kind, entries in section.items():
            if kind not in KINDS or not isinstance(entries, dict):
                problems.append(f"{target}.{kind} is unknown or not a mapping (projects, accounts)")
                continue
            for handoff_id, place in entries.items():
                count += 1
                if not isinstance(handoff_id, str) or not handoff_id or len(handoff_id) > 255:
                    problems.append(f"{target}.{kind}: {handoff_id!r} is no handoff id")
                elif not isinstance(place, str) or not _SHAPES[target].match(place):
                    problems.append(f"{target}.{kind}.{handoff_id}: {place!r} is no {target} destination")
                else:
                    result.setdefault(target, {}).setdefault(kind, {})[handoff_id] = place
    if count > MAX_ENTRIES:
        problems.append(f"{count} entries is over the limit of {MAX_ENTRIES}")
    if problems:
        raise InvalidInput("sync mapping refused: " + "; ".join(problems[:20]))
    return result


def destination(mapping: dict, target: str, *, project_id: str | None, account_id: str | None) -> str | None:
    """The task's place in `target`: its project's, else its account's, else None (the target's configured one)."""
    section = mapping.get(target) or {}
    if project_id and (place := (section.get("projects") or {}).get(project_id)):
        return place
    if account_id and (place := (section.get("accounts") or {}).get(account_id)):
        return place
    return None
