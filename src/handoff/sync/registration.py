"""`handoff sync hooks register`: each configured tool's webhook to handoff made once, an existing one reused."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import delete

from handoff.errors import ExternalFailure, InvalidInput
from handoff.redaction import redact
from handoff.store.db import transaction
from handoff.sync.pullback import hook_secret
from handoff.sync.tables import sync_hook_secrets

if TYPE_CHECKING:  # pragma: no cover - typing only
    from sqlalchemy.orm import Session, sessionmaker

    from handoff.settings import SyncSettings


class HookOwner(Protocol):
    """The webhook half of a connector: look for a hook to `url`, make one, remove one."""

    def find_hook(self, url: str) -> str | None: ...

    def create_hook(self, url: str, secret: str | None) -> str: ...

    def delete_hook(self, hook_id: str) -> None: ...


@dataclass
class HookRegistration:
    target: str
    outcome: str  # created, exists (reused), failed
    url: str | None
    hook_id: str | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _secret(settings: SyncSettings, target: str) -> str | None:
    """The secret the tool signs with, where handoff holds it before the hook exists (Asana hands its own over)."""
    held = {"jira": settings.jira.webhook_secret, "trello": settings.trello.secret}.get(target)
    return held.get_secret_value() if held is not None else None


def register_one(
    sessions: sessionmaker[Session], owner: HookOwner, target: str, url: str, secret: str | None
) -> tuple[str, str]:
    """('exists' or 'created', the hook's id): the tool's hook to `url` made at most once, however often this runs.

    Asana signs with the secret of its handshake, which handoff keeps (`sync_hook_secrets`) and refuses to replace
    (an unsigned handshake could be anybody's). So a hook that exists while its secret is kept is reused; one whose
    secret was lost cannot be checked and is made again; and the kept secret of a hook that no longer exists is
    dropped first, or the new hook's handshake would be refused (409) and Asana would refuse the hook."""
    existing = owner.find_hook(url)
    if target == "asana":
        with sessions() as session:
            kept = hook_secret(session, "asana") is not None
        if existing and kept:
            return "exists", existing
        if existing:
            owner.delete_hook(existing)
        with transaction(sessions) as session:
            session.execute(delete(sync_hook_secrets).where(sync_hook_secrets.c.vendor == "asana"))
    elif existing:
        return "exists", existing
    try:
        return "created", owner.create_hook(url, secret)
    except ExternalFailure:
        # Made meanwhile by another run (a duplicate is Asana's 403 "Duplicated webhook", Trello's 400), or made
        # with its answer lost: the hook found now is reused, never made twice.
        if (found := owner.find_hook(url)) is None:
            raise
    if target == "asana":  # another run's hook, whose handshake secret this run dropped: made again, checkable
        with sessions() as session:
            if hook_secret(session, "asana") is None:
                owner.delete_hook(found)
                return "created", owner.create_hook(url, secret)
    return "exists", found


def register_hooks(
    sessions: sessionmaker[Session],
    settings: SyncSettings,
    *,
    target: str | None = None,
    connectors: dict[str, Any] | None = None,
) -> list[HookRegistration]:
    """One registration per configured target (or only `target`); a failure is reported and never stops the
    others. The hook URL is `settings.hook_url(target)`: `HANDOFF_SYNC__PUBLIC_URL` + `/v1/hooks/<tool>`."""
    from handoff.sync.outbox import close_connectors, configured_connectors

    owned = connectors if connectors is not None else configured_connectors(settings)
    if target is not None and target not in owned:
        raise InvalidInput(f"target {target!r} is not configured (configured: {', '.join(owned) or 'none'})")
    results: list[HookRegistration] = []
    try:
        for name in [target] if target else list(owned):
            url = settings.hook_url(name)
            if not url:
                detail = "set HANDOFF_SYNC__PUBLIC_URL (where the tools reach this service)"
                results.append(HookRegistration(name, "failed", None, detail=detail))
                continue
            owner: HookOwner = owned[name]
            try:
                outcome, hook_id = register_one(sessions, owner, name, url, _secret(settings, name))
                results.append(HookRegistration(name, outcome, url, hook_id))
            except (InvalidInput, ExternalFailure) as error:
                results.append(HookRegistration(name, "failed", url, detail=redact(str(error))[:500]))
    finally:
        if connectors is None:
            close_connectors(owned)
    return results
