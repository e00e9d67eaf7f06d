"""API keys: made once and shown once, stored as a sha256 hash, looked up per request with a short cache."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from handoff.access.roles import ROLES
from handoff.access.tables import api_keys
from handoff.errors import InvalidInput, NotFound

KEY_PREFIX = "hk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name, role and the team member it acts for."""

    key_id: str
    name: str
    role: str
    owner_id: str | None

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: str
    owner_id: str | None
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def hash_key(key: str) -> str:
    # A plain sha256 is enough here, unlike for passwords: the key carries 256 random bits, so there is nothing to
    # brute-force or look up in a rainbow table, and a slow hash (bcrypt/argon2) would cost ~50-100 ms per request.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(
    session: Session, *, role: str, name: str | None = None, owner_id: str | None = None
) -> tuple[str, ApiKey]:
    """Returns the key itself (shown once, never stored) and its record."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "account_owner" and not owner_id:
        raise InvalidInput("an account_owner key needs --owner TEAM_MEMBER_ID: it sees only that owner's accounts")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(
        id=uuid.uuid4().hex,
        name=name or f"{role}-key",
        role=role,
        owner_id=owner_id,
        prefix=key[:10],
        created_at=_now(),
        revoked_at=None,
    )
    session.execute(
        api_keys.insert().values(
            id=record.id,
            name=record.name,
            role=record.role,
            owner_id=record.owner_id,
            prefix=record.prefix,
            key_hash=hash_key(key),
            created_at=record.created_at,
        )
    )
    return key, record


def list_keys(session: Session, *, include_revoked: bool = False) -> list[ApiKey]:
    query = select(api_keys).order_by(api_keys.c.created_at)
    if not include_revoked:
        query = query.where(api_keys.c.revoked_at.is_(None))
    return [ApiKey(**{k: v for k, v in row._mapping.items() if k != "key_hash"}) for row in session.execute(query)]


def revoke_key(session: Session, key_id: str) -> ApiKey:
    """By id or by the printed prefix; revoking twice is harmless."""
    row = session.execute(
        select(api_keys.c.id).where((api_keys.c.id == key_id) | (api_keys.c.prefix == key_id))
    ).first()
    if row is None:
        raise NotFound(f"no API key {key_id!r}")
    session.execute(
        update(api_keys).where(api_keys.c.id == row.id, api_keys.c.revoked_at.is_(None)).values(revoked_at=_now())
    )
    return next(k for k in list_keys(session, include_revoked=True) if k.id == row.id)


def has_active_admin(session: Session) -> bool:
    query = select(api_keys.c.id).where(api_keys.c.role == "admin", api_keys.c.revoked_at.is_(None)).limit(1)
    return session.execute(query).first() is not None


def lookup(session: Session, key: str) -> Principal | None:
    """The active key's principal, or None for an unknown or revoked key."""
    digest = hash_key(key)
    row = session.execute(
        select(api_keys.c.id, api_keys.c.name, api_keys.c.role, api_keys.c.owner_id, api_keys.c.key_hash).where(
            api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None)
        )
    ).first()
    # The index lookup finds the row by hash; comparing again in constant time keeps the final yes/no from leaking
    # how many leading characters matched (belt and braces: the hash of a random key leaks nothing useful anyway).
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return Principal(key_id=row.id, name=row.name, role=row.role, owner_id=row.owner_id)


class KeyCache:
    """Remembers recent lookups for `ttl_s` seconds so scoring stays fast; a revocation is seen within the TTL."""

    def __init__(self, sessions: sessionmaker[Session], ttl_s: float = 5.0) -> None:
        self._sessions = sessions
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str) -> tuple[bool, Principal | None]:
        """(True, the answer) when a fresh lookup of this key is remembered, else (False, None); no database."""
        hit = self._entries.get(key) if self._ttl_s > 0 else None
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def authenticate(self, key: str) -> Principal | None:
        known, principal = self.cached(key)
        if known:
            return principal
        with self._sessions() as session:
            principal = lookup(session, key)
        if self._ttl_s > 0:
            with self._lock:
                if len(self._entries) > 10_000:  # unknown keys from a scanner must not grow memory without bound
                    self._entries.clear()
                self._entries[key] = (time.monotonic() + self._ttl_s, principal)
        return principal
