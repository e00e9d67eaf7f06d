"""Customer contacts: masked unless the role has `contact_data`; every unmasked read is in the audit log."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from handoff.access import audit
from handoff.access.keys import Principal
from handoff.access.masking import mask_email, mask_phone
from handoff.access.roles import allows
from handoff.access.scope import account_scope
from handoff.api.deps import SessionDep
from handoff.api.errors import AUTHED, R404, R429, RateLimited
from handoff.api.schemas import CONTACT_EXAMPLE, ContactPublic, examples
from handoff.api.security import Caller
from handoff.errors import NotFound

router = APIRouter(prefix="/v1", tags=["contacts"])


def _count(request: Request, caller: Principal) -> None:
    """One contact listing against the key's budget (`api.contacts_per_minute`), before anything is read."""
    wait_s = request.app.state.contacts_limiter.take(caller.key_id)
    if wait_s > 0:
        limit = request.app.state.contacts_limiter.per_minute
        raise RateLimited(
            f"this key listed contacts {limit} times in the last minute; try again in {math.ceil(wait_s)} s",
            retry_after_s=math.ceil(wait_s),
        )


class ContactPagePublic(BaseModel):
    model_config = examples({"contacts": [CONTACT_EXAMPLE], "masked": True})

    contacts: list[ContactPublic]
    masked: bool = Field(description="True when email and phone are masked for this key's role.")


def _page(session, caller: Principal, rows: list, subject: str) -> ContactPagePublic:
    unmasked = allows(caller.role, "contact_data")
    contacts = []
    for row in rows:
        data = {k: row._mapping.get(k) for k in ContactPublic.model_fields}
        if not unmasked:
            data["email"], data["phone"] = mask_email(data["email"]), mask_phone(data["phone"])
        contacts.append(ContactPublic(**data))
    if unmasked and contacts:
        audit.record(
            session, caller.actor, audit.READ_CONTACT_DATA, subject, {"contacts": [c.id for c in contacts][:1000]}
        )
    return ContactPagePublic(contacts=contacts, masked=not unmasked)


@router.get(
    "/accounts/{account_id}/contacts",
    name="list_account_contacts",
    summary="The contacts of one account.",
    response_model=ContactPagePublic,
    responses={**AUTHED, **R404, **R429},
)
def list_account_contacts(account_id: str, request: Request, session: SessionDep, caller: Caller) -> ContactPagePublic:
    from handoff.store.crm_tables import CRM_TABLES

    _count(request, caller)
    accounts, contacts = CRM_TABLES["accounts"], CRM_TABLES["contacts"]
    exists = session.execute(select(accounts.c.id).where(accounts.c.id == account_id)).first()
    # Another owner's account answers as a missing one: a key cannot probe which accounts exist.
    if exists is None or not account_scope(session, caller).sees(account_id):
        raise NotFound(f"account {account_id} not found")
    rows = list(session.execute(select(contacts).where(contacts.c.account_id == account_id).order_by(contacts.c.id)))
    return _page(session, caller, rows, f"account:{account_id}")


@router.get(
    "/contacts",
    name="export_contacts",
    summary="Bulk export of contacts across accounts (the bulk_export permission).",
    response_model=ContactPagePublic,
    responses={**AUTHED, **R429},
)
def export_contacts(
    request: Request,
    session: SessionDep,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ContactPagePublic:
    from handoff.store.crm_tables import CRM_TABLES

    _count(request, caller)
    contacts = CRM_TABLES["contacts"]
    visible = account_scope(session, caller).where(contacts.c.account_id)
    rows = list(session.execute(select(contacts).where(visible).order_by(contacts.c.id).limit(limit).offset(offset)))
    return _page(session, caller, rows, f"contacts:export:{offset}+{limit}")
