"""Jira, Asana and Trello webhooks: signature first, then one delivery applied once (a replay changes nothing)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from handoff.errors import BadSignature, Conflict, InvalidInput
from handoff.store.db import transaction
from handoff.sync import inbound
from handoff.sync.people import explicit
from handoff.sync.pullback import apply_remote, first_delivery, hook_secret, settle_delivery, store_hook_secret

if TYPE_CHECKING:  # pragma: no cover - typing only
    from sqlalchemy.orm import Session, sessionmaker

    from handoff.settings import SyncSettings


@dataclass
class HookAnswer:
    outcome: str  # applied, unchanged, stale, unlinked, ignored, duplicate, handshake
    task_ids: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "task_ids": self.task_ids}


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("the webhook body is not JSON") from None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), None)


def _once(
    sessions: sessionmaker[Session], vendor: str, delivery_id: str, states: list[inbound.RemoteState]
) -> HookAnswer:
    """The delivery recorded and its states applied in one transaction: a replay, or a second copy racing the first,
    finds the delivery row and changes nothing."""
    with transaction(sessions) as session:
        if not first_delivery(session, vendor, delivery_id):
            return HookAnswer("duplicate")
        outcomes, task_ids = [], []
        for state in states:
            outcome, task_id = apply_remote(session, state)
            outcomes.append(outcome)
            if task_id:
                task_ids.append(task_id)
        best = next((o for o in ("applied", "unchanged", "stale", "unlinked") if o in outcomes), "ignored")
        settle_delivery(session, vendor, delivery_id, best, task_ids[0] if task_ids else None)
    return HookAnswer(best, task_ids)


def receive_jira(
    sessions: sessionmaker[Session], settings: SyncSettings, body: bytes, headers: Mapping[str, str]
) -> HookAnswer:
    secret = settings.jira.webhook_secret
    if secret is None:
        raise BadSignature("Jira webhooks are refused until HANDOFF_SYNC__JIRA__WEBHOOK_SECRET is set")
    if not inbound.jira_signed(secret.get_secret_value(), body, _header(headers, "X-Hub-Signature")):
        raise BadSignature("the X-Hub-Signature of this Jira delivery does not match")
    state = inbound.jira_hook(_json(body), people=explicit(settings.jira.account_ids).by_remote)
    delivery = (_header(headers, "X-Atlassian-Webhook-Identifier") or "").strip() or inbound.body_id(body)
    return _once(sessions, "jira", delivery, [state] if state else [])


def receive_asana(
    sessions: sessionmaker[Session], settings: SyncSettings, body: bytes, headers: Mapping[str, str]
) -> HookAnswer:
    """The handshake (`X-Hook-Secret`, echoed back and kept) or signed events, whose tasks are read from Asana."""
    offered = _header(headers, "X-Hook-Secret")
    if offered is not None:
        with transaction(sessions) as session:
            # A handshake is unsigned: once a secret is kept, a second one could be anybody's, so it is refused.
            kept = hook_secret(session, "asana")
            if kept is not None and kept != offered.strip():
                raise Conflict("an Asana webhook secret is already kept; a new handshake is refused")
            store_hook_secret(session, "asana", offered.strip())
        return HookAnswer("handshake", headers={"X-Hook-Secret": offered.strip()})
    with sessions() as session:
        secret = hook_secret(session, "asana")
    if secret is None or not inbound.asana_signed(secret, body, _header(headers, "X-Hook-Signature")):
        raise BadSignature("the X-Hook-Signature of this Asana delivery does not match (or no handshake was made)")
    gids = inbound.asana_hook(_json(body))
    states = _read(sessions, settings, "asana", gids) if gids else []
    return _once(sessions, "asana", inbound.body_id(body), states)


def _read(
    sessions: sessionmaker[Session], settings: SyncSettings, target: str, remote_ids: list[str]
) -> list[inbound.RemoteState]:
    """Items a delivery names without their state (Asana's events, Trello's member actions), each read as it is
    now, before any transaction opens; the roster names the tool's people."""
    from handoff.sync.outbox import close_connectors, configured_connectors, roster_of

    connectors = configured_connectors(settings, roster=roster_of(sessions) if target == "trello" else None)
    try:
        connector = connectors.get(target)
        if connector is None:
            return []
        return [state for remote_id in remote_ids[:100] if (state := connector.read(remote_id)) is not None]
    finally:
        close_connectors(connectors)


def receive_trello(
    sessions: sessionmaker[Session], settings: SyncSettings, body: bytes, headers: Mapping[str, str]
) -> HookAnswer:
    trello, callback_url = settings.trello, settings.hook_url("trello")
    if trello.secret is None or not callback_url:
        raise BadSignature(
            "Trello webhooks are refused until HANDOFF_SYNC__TRELLO__SECRET and __CALLBACK_URL "
            "(or HANDOFF_SYNC__PUBLIC_URL) are set"
        )
    signed = inbound.trello_signed(
        trello.secret.get_secret_value(), body, callback_url, _header(headers, "X-Trello-Webhook")
    )
    if not signed:
        raise BadSignature("the X-Trello-Webhook signature of this delivery does not match")
    payload = _json(body)
    action_id, state = inbound.trello_hook(payload, done_list_id=trello.done_list_id)
    states = [state] if state else []
    if (card_id := inbound.trello_member_card(payload)) is not None:
        states = _read(sessions, settings, "trello", [card_id])
    return _once(sessions, "trello", action_id or inbound.body_id(body), states)


RECEIVERS = {"jira": receive_jira, "asana": receive_asana, "trello": receive_trello}
