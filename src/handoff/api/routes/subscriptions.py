"""Event subscriptions (Zapier REST hooks, Make webhooks): subscribe a URL, list, unsubscribe, read deliveries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from handoff.api.deps import PartsDep, SessionDep
from handoff.api.errors import AUTHED, R400, R404, R413
from handoff.api.schemas import examples
from handoff.api.security import Caller
from handoff.errors import NotFound
from handoff.events.model import EVENT_TYPES, MAX_TARGET_URL_CHARS
from handoff.schema_types import UtcDateTime

router = APIRouter(prefix="/v1/hooks/subscriptions", tags=["hooks"])
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
SubscriptionId = Annotated[str, Path(min_length=1, max_length=32)]

SUBSCRIPTION_EXAMPLE: dict[str, Any] = {
    "id": "sub_7d3e9a1b5c2f4e6a8b0c",
    "target_url": "https://hooks.zapier.com/hooks/standard/123/abc/",
    "events": ["task.accepted", "estimate.created"],
    "status": "active",
    "removed_reason": None,
    "key_id": "9b2f4c1d8e7a4b6c9d0e1f2a3b4c5d6e",
    "created_at": "2026-12-07T12:00:00Z",
    "removed_at": None,
}
DELIVERY_EXAMPLE: dict[str, Any] = {
    "event_id": "evt_2a7c9e1f3b5d4a6c8e0f1a2b3c4d5e6f",
    "type": "task.accepted",
    "subject": "task:tsk_3f9a1c2e7b4d5a60",
    "status": "sent",
    "attempts": 2,
    "last_status_code": 200,
    "last_error": None,
    "created_at": "2026-12-07T12:05:10Z",
    "last_attempt_at": "2026-12-07T12:06:11Z",
    "next_attempt_at": None,
    "sent_at": "2026-12-07T12:06:11Z",
}


class SubscriptionRequest(BaseModel):
    """Where to POST events, and which ones."""

    model_config = examples(
        {
            "target_url": "https://hooks.zapier.com/hooks/standard/123/abc/",
            "events": ["task.accepted", "estimate.created"],
        }
    )

    target_url: str = Field(
        min_length=8,
        max_length=MAX_TARGET_URL_CHARS,
        description="http(s) URL; private and loopback addresses only with HANDOFF_HOOKS__ALLOW_PRIVATE_TARGETS.",
        examples=["https://hooks.zapier.com/hooks/standard/123/abc/"],
    )
    events: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES), examples=[["task.accepted"]])


class SubscriptionPublic(BaseModel):
    model_config = examples(SUBSCRIPTION_EXAMPLE)

    id: str
    target_url: str
    events: list[str]
    status: str = Field(description="active, or removed (unsubscribed, the target answered 410, key revoked).")
    removed_reason: str | None = None
    key_id: str = Field(description="The key that subscribed: events are masked for its role.")
    created_at: UtcDateTime
    removed_at: UtcDateTime | None = None


class SubscriptionCreatedPublic(SubscriptionPublic):
    model_config = examples({**SUBSCRIPTION_EXAMPLE, "secret": "whsec_example-only-3q2X7wLmP0fK9sVbN4cR8tYh1uJ6"})

    secret: str = Field(
        description="Signs every delivery: X-Handoff-Signature = sha256=HMAC-SHA256(secret, timestamp + '.' + body). "
        "Shown only in this answer."
    )


class SubscriptionPagePublic(BaseModel):
    model_config = examples({"subscriptions": [SUBSCRIPTION_EXAMPLE]})

    subscriptions: list[SubscriptionPublic]


class DeliveryPublic(BaseModel):
    model_config = examples(DELIVERY_EXAMPLE)

    event_id: str = Field(description="The same on every attempt: receivers dedupe on it.")
    type: str
    subject: str
    status: str = Field(description="pending (to try again), sent, failed (gave up), cancelled.")
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: UtcDateTime
    last_attempt_at: UtcDateTime | None = None
    next_attempt_at: UtcDateTime | None = None
    sent_at: UtcDateTime | None = None


class DeliveryPagePublic(BaseModel):
    model_config = examples({"deliveries": [DELIVERY_EXAMPLE]})

    deliveries: list[DeliveryPublic]


@router.post(
    "",
    name="create_hook_subscription",
    status_code=201,
    summary="Subscribe a target URL to events; the answer holds the signing secret, once.",
    response_model=SubscriptionCreatedPublic,
    responses={**AUTHED, **R413},
)
def create_hook_subscription(
    body: SubscriptionRequest, session: SessionDep, parts: PartsDep, caller: Caller
) -> SubscriptionCreatedPublic:
    from handoff.events.delivery import check_reachable
    from handoff.events.outbox import create_subscription

    check_reachable(body.target_url, allow_private=parts.settings.hooks.allow_private_targets)
    record, secret = create_subscription(
        session, target_url=body.target_url, events=list(body.events), key_id=caller.key_id
    )
    return SubscriptionCreatedPublic(**record, secret=secret)


@router.get(
    "",
    name="list_hook_subscriptions",
    summary="Subscriptions, oldest first (no secrets); `include_removed` adds unsubscribed ones.",
    response_model=SubscriptionPagePublic,
    responses={**AUTHED},
)
def list_hook_subscriptions(
    session: SessionDep, caller: Caller, include_removed: bool = False
) -> SubscriptionPagePublic:
    """`caller` is what checks the key and `hooks:manage`: without it the route answered anyone (the probe found it)."""
    from handoff.events.outbox import list_subscriptions

    found = list_subscriptions(session, include_removed=include_removed)
    return SubscriptionPagePublic(subscriptions=[SubscriptionPublic(**record) for record in found])


@router.delete(
    "/{subscription_id}",
    name="delete_hook_subscription",
    status_code=204,
    summary="Unsubscribe: nothing more is sent, undelivered events are cancelled.",
    responses={**AUTHED, **R404},
)
def delete_hook_subscription(subscription_id: SubscriptionId, session: SessionDep, caller: Caller) -> Response:
    from handoff.events.outbox import remove_subscription

    if not remove_subscription(session, subscription_id, reason=f"unsubscribed by {caller.actor}"):
        raise NotFound(f"no active subscription {subscription_id!r}")
    return Response(status_code=204)


@router.get(
    "/{subscription_id}/deliveries",
    name="list_hook_deliveries",
    summary="The subscription's delivery log, newest first: each event, its attempts and the target's last answer.",
    response_model=DeliveryPagePublic,
    responses={**AUTHED, **R400, **R404},
)
def list_hook_deliveries(
    subscription_id: SubscriptionId,
    session: SessionDep,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeliveryPagePublic:
    from handoff.events.outbox import list_deliveries

    found = list_deliveries(session, subscription_id, limit=limit)
    return DeliveryPagePublic(deliveries=[DeliveryPublic(**record) for record in found])
