"""People who sign in to the web app: invitations as one-time links, argon2 passwords, and their sessions."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from handoff.access.keys import Principal
from handoff.access.tables import users, web_sessions
from handoff.clock import naive_utcnow
from handoff.errors import InvalidInput, NotFound

# People take the API keys' roles; `integration` is a machine's and stays a key (`handoff keys create`).
PEOPLE_ROLES = ("admin", "pm", "sales", "account_owner")
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024  # argon2 takes any length; a bound keeps a megabyte "password" from costing memory
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


@dataclass(frozen=True)
class User:
    id: str
    email: str
    name: str
    role: str
    owner_id: str | None
    has_password: bool
    created_at: datetime
    last_sign_in_at: datetime | None
    disabled_at: datetime | None
    language: str | None = None  # the web app's language they chose; None: their browser's (`web.i18n`)

    def principal(self) -> Person:
        """The caller the API's permission table, masking and audit see for this person."""
        return Person(key_id=self.id, name=self.name, role=self.role, owner_id=self.owner_id)


@dataclass(frozen=True)
class Person(Principal):
    """A signed-in person as a `Principal`: `key_id` holds the user id; the audit log and labels name `user:<id>`."""

    @property
    def actor(self) -> str:
        return f"user:{self.key_id}"


def _digest(token: str) -> str:
    # Tokens carry 256 random bits: a plain sha256 is enough to keep a database read from yielding live links.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@cache
def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) defaults


def _user(row: Any) -> User:
    return User(
        id=row.id,
        email=row.email,
        name=row.name,
        role=row.role,
        owner_id=row.owner_id,
        has_password=row.password_hash is not None,
        created_at=row.created_at,
        last_sign_in_at=row.last_sign_in_at,
        disabled_at=row.disabled_at,
        language=row.language,
    )


def normalise_email(email: str) -> str:
    address = email.strip().lower()
    if not _EMAIL.match(address):
        raise InvalidInput(f"{email!r} is not an email address")
    return address


def invite(
    session: Session,
    *,
    email: str,
    role: str,
    name: str | None = None,
    owner_id: str | None = None,
    link_ttl: timedelta,
) -> tuple[str, User]:
    """A new person (or a fresh link for one already invited: role, name and owner are then updated).

    Returns the sign-in link's token (shown once; only its hash is kept) and the person."""
    address = normalise_email(email)
    if role not in PEOPLE_ROLES:
        hint = ": machines get an API key (`handoff keys create`)" if role == "integration" else ""
        raise InvalidInput(f"a person's role is one of {', '.join(PEOPLE_ROLES)}, not {role!r}{hint}")
    if role == "account_owner" and not owner_id:
        raise InvalidInput("an account_owner needs --owner TEAM_MEMBER_ID: they see only that owner's accounts")
    token = secrets.token_urlsafe(32)
    now = naive_utcnow()
    link = {"link_hash": _digest(token), "link_expires_at": now + link_ttl}
    found = session.execute(select(users.c.id).where(users.c.email == address)).scalar()
    if found is None:
        user_id = uuid.uuid4().hex
        session.execute(
            users.insert().values(
                id=user_id,
                email=address,
                name=(name or address.split("@")[0]).strip()[:255],
                role=role,
                owner_id=owner_id,
                created_at=now,
                **link,
            )
        )
    else:
        user_id = found
        changes: dict[str, Any] = {"role": role, "owner_id": owner_id, "disabled_at": None, **link}
        if name:
            changes["name"] = name.strip()[:255]
        session.execute(update(users).where(users.c.id == user_id).values(**changes))
    return token, get_user(session, user_id)


def get_user(session: Session, user_id: str) -> User:
    row = session.execute(select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFound(f"no user {user_id!r}")
    return _user(row)


def find_user(session: Session, email: str) -> User:
    row = session.execute(select(users).where(users.c.email == email.strip().lower())).first()
    if row is None:
        raise NotFound(f"no user with email {email!r}")
    return _user(row)


def list_users(session: Session) -> list[User]:
    return [_user(row) for row in session.execute(select(users).order_by(users.c.created_at))]


def has_admin(session: Session) -> bool:
    query = select(users.c.id).where(users.c.role == "admin", users.c.disabled_at.is_(None)).limit(1)
    return session.execute(query).first() is not None


def peek_link(session: Session, token: str) -> User | None:
    """Whom a sign-in link is for, while it is unused and unexpired; it stays unused (a mail scanner's GET must not
    spend it: only `redeem_link`, on the person's POST, does)."""
    row = session.execute(select(users).where(users.c.link_hash == _digest(token))).first()
    if (
        row is None
        or row.disabled_at is not None
        or row.link_expires_at is None
        or row.link_expires_at <= naive_utcnow()
    ):
        return None
    return _user(row)


def redeem_link(session: Session, token: str) -> User | None:
    """Spends a sign-in link: the person it was for, or None when it is unknown, used, expired or disabled."""
    user = peek_link(session, token)
    if user is None:
        return None
    spent = session.execute(
        update(users)
        .where(users.c.id == user.id, users.c.link_hash == _digest(token))
        .values(link_hash=None, link_expires_at=None, last_sign_in_at=naive_utcnow())
    )
    return user if spent.rowcount == 1 else None  # two tabs racing on one link: only one signs in


def set_password(session: Session, user_id: str, password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"a password has at most {MAX_PASSWORD_CHARS} characters")
    session.execute(update(users).where(users.c.id == user_id).values(password_hash=_hasher().hash(password)))


@cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so that an unknown address costs as long as a wrong password and
    the answer's timing does not tell which addresses have accounts."""
    return _hasher().hash(secrets.token_urlsafe(16))


def check_password(session: Session, email: str, password: str) -> User | None:
    """The person when the password is theirs (and they are not disabled), else None."""
    from argon2.exceptions import InvalidHashError, VerificationError

    row = session.execute(select(users).where(users.c.email == email.strip().lower())).first()
    stored = row.password_hash if row is not None and row.password_hash else _dummy_hash()
    try:
        _hasher().verify(stored, password[:MAX_PASSWORD_CHARS])
    except (VerificationError, InvalidHashError):
        return None
    if row is None or not row.password_hash or row.disabled_at is not None:
        return None
    values: dict[str, Any] = {"last_sign_in_at": naive_utcnow()}
    if _hasher().check_needs_rehash(row.password_hash):  # the parameters were raised since: upgrade on the way in
        values["password_hash"] = _hasher().hash(password)
    session.execute(update(users).where(users.c.id == row.id).values(**values))
    return _user(row)


def disable(session: Session, email: str) -> User:
    """Stops a person signing in and ends their sessions now."""
    user = find_user(session, email)
    now = naive_utcnow()
    session.execute(update(users).where(users.c.id == user.id).values(disabled_at=now, link_hash=None))
    session.execute(
        update(web_sessions)
        .where(web_sessions.c.user_id == user.id, web_sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )
    return get_user(session, user.id)


# ---- sessions ------------------------------------------------------------------------------------------------------


def start_session(session: Session, user_id: str, *, ttl: timedelta) -> str:
    """A new session token for the cookie; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    now = naive_utcnow()
    session.execute(
        web_sessions.insert().values(
            id_hash=_digest(token), user_id=user_id, created_at=now, expires_at=now + ttl, ended_at=None
        )
    )
    return token


def set_language(session: Session, user_id: str, language: str | None, *, known: tuple[str, ...]) -> None:
    """The person's language for every browser they sign in from; `known` are the locales the app has (None: the
    browser's choice again)."""
    if language is not None and language not in known:
        raise InvalidInput(f"language must be one of {', '.join(known)}, not {language!r}")
    session.execute(update(users).where(users.c.id == user_id).values(language=language))


def session_user(session: Session, token: str, now: datetime | None = None) -> User | None:
    """The person a live session token belongs to; None when it is unknown, ended, expired or they are disabled."""
    row = session.execute(
        select(users, web_sessions.c.expires_at.label("session_expires"))
        .join(web_sessions, web_sessions.c.user_id == users.c.id)
        .where(web_sessions.c.id_hash == _digest(token), web_sessions.c.ended_at.is_(None))
    ).first()
    if row is None or row.session_expires <= (now or naive_utcnow()) or row.disabled_at is not None:
        return None
    return _user(row)


def end_session(session: Session, token: str) -> None:
    session.execute(
        update(web_sessions)
        .where(web_sessions.c.id_hash == _digest(token), web_sessions.c.ended_at.is_(None))
        .values(ended_at=naive_utcnow())
    )
