"""Who is on our side of the mail: the roster's addresses and our own domains (pure; the worker loads it)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from handoff.intake.mime import Address


@dataclass(frozen=True)
class Team:
    """The people whose forwards are believed: a forward block only credits its original sender when one of them
    sent (or forwarded) it; anyone else could have typed the block themselves."""

    addresses: frozenset[str] = frozenset()  # roster (CRM team_members) addresses, lower-case
    domains: frozenset[str] = frozenset()  # configured internal domains and the inbox's own, lower-case

    @classmethod
    def of(cls, addresses: Iterable[str] = (), domains: Iterable[str] = ()) -> Team:
        """Normalised: lower-case, addresses without an @ dropped, domains without a leading @."""
        return cls(
            frozenset(a.strip().lower() for a in addresses if a and "@" in a),
            frozenset(d.strip().lower().lstrip("@") for d in domains if d and d.strip()),
        )

    def includes(self, sender: Address | None) -> bool:
        """A roster address, or an address at one of our domains (subdomains too: mail.example.com)."""
        if sender is None or "@" not in sender.email:
            return False
        if sender.email in self.addresses:
            return True
        domain = sender.domain
        return any(domain == ours or domain.endswith("." + ours) for ours in self.domains)

    @classmethod
    def from_settings(cls, inbox: Any, roster_addresses: Iterable[str | None] = ()) -> Team:
        """The configured internal domains, the inbox's own domains, and the roster's addresses."""
        own = [address.rsplit("@", 1)[1] for address in inbox.recipients if "@" in address]
        return cls.of((a for a in roster_addresses if a), [*inbox.internal_domains, *own])

    @property
    def all_domains(self) -> frozenset[str]:
        """Our domains and the roster's: their senders are staff, never a customer (threads use this)."""
        return self.domains | {address.rsplit("@", 1)[1] for address in self.addresses}


NOBODY = Team()  # a reader told nothing about the team believes no forward
