"""What one caller is shown of records that quote customer mail: whole (and audited) or masked, in every free text."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.access import audit
from handoff.access.keys import Principal
from handoff.access.masking import ContactMask, distinctive_local_parts
from handoff.access.roles import allows
from handoff.access.scope import EVERYTHING, AccountScope, account_scope


def load_local_parts(session: Session) -> frozenset[str]:
    """The distinctive local parts of every CRM contact's address ("jennifer.liu" of jennifer.liu@example.com)."""
    from handoff.store.crm_tables import CRM_TABLES

    contacts = CRM_TABLES["contacts"]
    return distinctive_local_parts(session.scalars(select(contacts.c.email).where(contacts.c.email.is_not(None))))


class KnownContacts:
    """`load_local_parts`, read again at most every `ttl_s`: contacts change rarely, reads are every request."""

    def __init__(self, ttl_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._lock = threading.Lock()
        self._parts: frozenset[str] | None = None
        self._read_at = 0.0

    def get(self, session: Session) -> frozenset[str]:
        with self._lock:
            if self._parts is not None and self.clock() - self._read_at < self.ttl_s:
                return self._parts
        parts = load_local_parts(session)
        with self._lock:
            self._parts, self._read_at = parts, self.clock()
        return parts


@dataclass(frozen=True)
class Disclosure:
    """One caller's view: contact data whole only for a role with `contact_data` on an account its scope sees."""

    session: Session
    actor: str
    contact_data: bool
    scope: AccountScope
    mask: ContactMask

    def show(
        self, record: dict[str, Any], *, free_text: Iterable[str], subject: str, account_id: str | None
    ) -> dict[str, Any]:
        """`record` with every field in `free_text` masked, or whole; a whole read that shows contact data in any of
        those fields is one line in the audit log (in the caller's transaction), a masked read none."""
        fields = [name for name in free_text if name in record]
        if self.contact_data and self.scope.sees(account_id):
            holding = [name for name in fields if self.mask.finds(record[name])]
            if holding:
                audit.record(self.session, self.actor, audit.READ_CONTACT_DATA, subject, {"fields": holding})
            return record
        return {**record, **{name: self.mask.deep(record[name]) for name in fields}}


def disclosure_for(session: Session, caller: Principal, known: KnownContacts | None = None) -> Disclosure:
    """The view of `caller`; `known` caches the contacts' local parts (without it they are read now)."""
    local_parts = known.get(session) if known is not None else load_local_parts(session)
    return Disclosure(
        session=session,
        actor=caller.actor,
        contact_data=allows(caller.role, "contact_data"),
        scope=account_scope(session, caller),
        mask=ContactMask(local_parts),
    )


def operator_disclosure(session: Session, *, actor: str, contact_data: bool = False) -> Disclosure:
    """The view of the operator at the machine (the CLI's listings): every account, and contact data masked as for
    a role without `contact_data` unless they ask for it whole, each such read then audited under `actor`. Whoever
    runs the CLI can read the database anyway; masking keeps addresses out of terminals, scrollback and pasted
    output, and the audit log says who chose to see them."""
    return Disclosure(
        session=session,
        actor=actor,
        contact_data=contact_data,
        scope=EVERYTHING,
        mask=ContactMask(load_local_parts(session)),
    )
