"""API keys: made once and shown once, stored as a sha256 hash, looked up per request with a short cache."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from handoff.access.roles import ROLES
from handoff.access.tables import api_keys
from handoff.clock import naive_utcnow
from handoff.errors import Conflict, InvalidInput, NotFound

KEY_PREFIX = "hk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name, role and the team member it acts for."""

    key_id: str
    name: str
    role: str
    owner_id: str | None
    expires_at: datetime | None = None

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}"

    def expired(self, now: datetime | None = None) -> bool:
        """Checked on every request, not when the lookup was cached: a key stops at its moment, not 5 s later."""
        return self.expires_at is not None and (now or naive_utcnow()) >= self.expires_at


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: str
    owner_id: str | None
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None
    rotated_from: str | None = None

    def state(self, now: datetime | None = None) -> str:
        """`active`, `revoked 2026-12-01`, `expires 2027-01-01 00:00 UTC` or `expired …`."""
        if self.revoked_at:
            return f"revoked {self.revoked_at:%Y-%m-%d}"
        if self.expires_at:
            word = "expired" if self.expires_at <= (now or naive_utcnow()) else "expires"
            return f"{word} {self.expires_at:%Y-%m-%d %H:%M} UTC"
        return "active"


_SPAN = re.compile(r"^\s*(\d{1,5})\s*([hdw])\s*$", re.IGNORECASE)
_SPAN_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_span(text: str) -> timedelta:
    """`30d`, `12h`, `2w`."""
    match = _SPAN.match(text)
    if match is None:
        raise InvalidInput(f"a span is a number and h, d or w (12h, 30d, 2w), not {text!r}")
    return int(match.group(1)) * _SPAN_UNITS[match.group(2).lower()]


def parse_expiry(text: str, now: datetime | None = None) -> datetime:
    """`30d`, `12h`, `2w` from now; `2027-01-31` (valid through that day, UTC); or an ISO time. Naive UTC out."""
    if _SPAN.match(text):
        return (now or naive_utcnow()) + parse_span(text)
    try:
        if len(text.strip()) == 10:
            return datetime.combine(date.fromisoformat(text.strip()), clock_time.min) + timedelta(days=1)
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"--expires takes 30d, 12h, 2w, a date (2027-01-31) or an ISO time, not {text!r}") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def hash_key(key: str) -> str:
    # A plain sha256 is enough here, unlike for passwords: the key carries 256 random bits, so there is nothing to
    # brute-force or look up in a rainbow table, and a slow hash (bcrypt/argon2) would cost ~50-100 ms per request.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(
    session: Session,
    *,
    role: str,
    name: str | None = None,
    owner_id: str | None = None,
    expires_at: datetime | None = None,
    rotated_from: str | None = None,
) -> tuple[str, ApiKey]:
    """Returns the key itself (shown once, never stored) and its record; `expires_at` is naive UTC or None."""
    if expires_at is not None and expires_at <= naive_utcnow():
        raise InvalidInput(f"the expiry {expires_at:%Y-%m-%d %H:%M} UTC has already passed")
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
        created_at=naive_utcnow(),
        revoked_at=None,
        expires_at=expires_at,
        rotated_from=rotated_from,
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
            expires_at=record.expires_at,
            rotated_from=record.rotated_from,
        )
    )
    return key, record


def list_keys(session: Session, *, include_revoked: bool = False) -> list[ApiKey]:
    query = select(api_keys).order_by(api_keys.c.created_at)
    if not include_revoked:
        query = query.where(api_keys.c.revoked_at.is_(None))
    return [ApiKey(**{k: v for k, v in row._mapping.items() if k != "key_hash"}) for row in session.execute(query)]


def _find(session: Session, key_id: str) -> ApiKey:
    """By id or by the printed prefix."""
    row = session.execute(
        select(api_keys).where((api_keys.c.id == key_id) | (api_keys.c.prefix == key_id)).limit(2)
    ).all()
    if not row:
        raise NotFound(f"no API key {key_id!r}")
    if len(row) > 1:
        raise InvalidInput(f"{key_id!r} is the prefix of more than one key: give the id")
    return ApiKey(**{k: v for k, v in row[0]._mapping.items() if k != "key_hash"})


def revoke_key(session: Session, key_id: str) -> ApiKey:
    """By id or by the printed prefix; revoking twice is harmless."""
    found = _find(session, key_id)
    session.execute(
        update(api_keys)
        .where(api_keys.c.id == found.id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=naive_utcnow())
    )
    return _find(session, found.id)


def rotate_key(
    session: Session, key_id: str, *, grace: timedelta = timedelta(0), expires_at: datetime | None = None
) -> tuple[str, ApiKey, ApiKey]:
    """A new secret for the same name, role and owner; the old key is revoked now, or after `grace` (it expires).

    The new key keeps the old one's lifetime when it had one and `expires_at` is not given. Returns the new key
    (shown once), its record and the old record as it now is.
    """
    old = _find(session, key_id)
    now = naive_utcnow()
    if old.revoked_at is not None or (old.expires_at is not None and old.expires_at <= now):
        raise Conflict(f"key {old.id} is already revoked or expired: create a new one with `handoff keys create`")
    if expires_at is None and old.expires_at is not None:
        expires_at = now + (old.expires_at - old.created_at)
    key, new = create_key(
        session, role=old.role, name=old.name, owner_id=old.owner_id, expires_at=expires_at, rotated_from=old.id
    )
    if grace <= timedelta(0):
        values: dict = {"revoked_at": now}
    else:  # both keys work until the grace ends, so clients can be moved one by one
        values = {"expires_at": min(old.expires_at or now + grace, now + grace)}
    session.execute(update(api_keys).where(api_keys.c.id == old.id).values(**values))
    return key, new, _find(session, old.id)


def has_active_admin(session: Session) -> bool:
    live = (api_keys.c.expires_at.is_(None)) | (api_keys.c.expires_at > naive_utcnow())
    query = select(api_keys.c.id).where(api_keys.c.role == "admin", api_keys.c.revoked_at.is_(None), live).limit(1)
    return session.execute(query).first() is not None


def lookup(session: Session, key: str) -> Principal | None:
    """The key's principal, or None for an unknown or revoked key; an expired one is returned, and refused by the
    caller with its own message (`Principal.expired`)."""
    digest = hash_key(key)
    columns = (api_keys.c.id, api_keys.c.name, api_keys.c.role, api_keys.c.owner_id, api_keys.c.expires_at)
    row = session.execute(
        select(*columns, api_keys.c.key_hash).where(api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None))
    ).first()
    # The index lookup finds the row by hash; comparing again in constant time keeps the final yes/no from leaking
    # how many leading characters matched (belt and braces: the hash of a random key leaks nothing useful anyway).
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return Principal(key_id=row.id, name=row.name, role=row.role, owner_id=row.owner_id, expires_at=row.expires_at)


def principal_by_id(session: Session, key_id: str, now: datetime | None = None) -> Principal | None:
    """The principal of a live key by its id (a subscription acts for the key that made it); None once it is revoked
    or expired."""
    row = session.execute(
        select(api_keys.c.id, api_keys.c.name, api_keys.c.role, api_keys.c.owner_id, api_keys.c.expires_at).where(
            api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    principal = Principal(key_id=row.id, name=row.name, role=row.role, owner_id=row.owner_id, expires_at=row.expires_at)
    return None if principal.expired(now) else principal


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
