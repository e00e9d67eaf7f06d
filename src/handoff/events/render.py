"""Each event's resource as the API returns it: the route's public schema, masked for the subscriber's role.

The shapes and the free-text fields are the routes' own (`api.routes.tasks.FREE_TEXT`, …), so an event can never
show more than `GET` of the same resource shows the same key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from handoff.access.disclosure import Disclosure


@dataclass(frozen=True)
class Shape:
    """The free-text fields to mask and the schema that checks and orders the result."""

    free_text: tuple[str, ...]
    schema: Callable[[], type[Any] | None]


def _task() -> Shape:
    from handoff.api.routes.tasks import FREE_TEXT, TaskPublic

    return Shape(FREE_TEXT, lambda: TaskPublic)


def _estimate() -> Shape:
    from handoff.api.routes.risk import EstimatePublic

    return Shape((), lambda: EstimatePublic)


def _alert() -> Shape:
    from handoff.api.routes.alerts import FREE_TEXT, AlertPublic

    return Shape(FREE_TEXT, lambda: AlertPublic)


def _message() -> Shape:
    from handoff.api.routes.intake import FREE_TEXT
    from handoff.api.schemas import LedgerEntryPublic

    return Shape(FREE_TEXT, lambda: LedgerEntryPublic)


def _digest() -> Shape:
    return Shape(("owner_name", "recipient", "subject", "alerts"), lambda: None)


SHAPES: dict[str, Callable[[], Shape]] = {
    "task": _task,
    "estimate": _estimate,
    "alert": _alert,
    "digest": _digest,
    "message": _message,
}


def shown(view: Disclosure, event_type: str, subject: str, account_id: str | None, data: dict[str, Any]) -> dict | None:
    """The event's data as `view` may see it, or None when the resource is outside the key's account scope."""
    if not view.scope.sees(account_id):
        return None
    shape = SHAPES[event_type.split(".", 1)[0]]()
    masked = view.show(data, free_text=shape.free_text, subject=subject, account_id=account_id)
    schema = shape.schema()
    return masked if schema is None else schema(**masked).model_dump(mode="json")
