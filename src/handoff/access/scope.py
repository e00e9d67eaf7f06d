"""Which accounts a caller may see: an account owner their own, every other role all (the API and web app alike)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.orm import Session

from handoff.access.keys import Principal
from handoff.access.roles import SCOPED_ROLES

# An owner key made without a team member: it owns nothing, and no row's owner can equal this.
_NO_OWNER = "\x00no-owner"


@dataclass(frozen=True)
class AccountScope:
    """`accounts` None: every account. Otherwise the ids the caller owns (`owner_id` in the CRM), possibly none.

    A record with no account (an unlinked ledger entry, a task from an unknown sender) belongs to no owner, so a
    scoped caller never sees it. Alerts carry the owner they were raised for, so they are matched on `owner_id`.
    """

    accounts: frozenset[str] | None
    owner_id: str | None = None

    @property
    def everything(self) -> bool:
        return self.accounts is None

    def sees(self, account_id: str | None) -> bool:
        return self.accounts is None or (account_id is not None and account_id in self.accounts)

    def sees_owner(self, owner_id: str | None) -> bool:
        """For records that name their owner rather than their account (alerts)."""
        return self.accounts is None or (owner_id is not None and owner_id == self.owner_id)

    def where(self, account_column: ColumnElement) -> ColumnElement[bool]:
        """A SQL condition on a column holding account ids: true for everything, the owned ids otherwise."""
        if self.accounts is None:
            return true()
        if not self.accounts:
            return false()
        return account_column.in_(sorted(self.accounts))

    def keep(self, account_ids: Iterable[str]) -> list[str]:
        """The ids of `account_ids` this caller may see, in their order."""
        return [account_id for account_id in account_ids if self.sees(account_id)]


EVERYTHING = AccountScope(None)


def account_scope(session: Session, caller: Principal) -> AccountScope:
    """Reads the CRM only for scoped roles: other callers get `EVERYTHING` without a query (the churn hot path)."""
    if caller.role not in SCOPED_ROLES:
        return EVERYTHING
    from handoff.store.crm_tables import CRM_TABLES

    owner = caller.owner_id or _NO_OWNER
    accounts = CRM_TABLES["accounts"]
    owned = session.scalars(select(accounts.c.id).where(accounts.c.owner_id == owner))
    return AccountScope(frozenset(owned), owner_id=owner)
