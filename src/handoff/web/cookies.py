"""Signed cookie values and CSRF tokens (HMAC-SHA256 under the web secret), and where that secret comes from."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from handoff.settings import Settings

SESSION_COOKIE = "handoff_session"
# Before sign-in there is no session to bind a form to: this random value is, and the sign-in form's token is
# derived from it (so a page on another site cannot post a sign-in with the attacker's own password: login CSRF).
VISITOR_COOKIE = "handoff_visitor"
CSRF_FIELD = "csrf_token"


def web_secret(settings: Settings) -> bytes:
    """`web.secret_key`, or a random one made on first use and kept under HANDOFF_HOME (readable by its owner only)."""
    if settings.web.secret_key is not None:
        return settings.web.secret_key.get_secret_value().encode("utf-8")
    path = settings.ensure_home() / "web-secret"
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def _write_private(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    try:
        os.link(temporary, path)  # two processes starting at once: the first secret wins, both read it
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def _mac(secret: bytes, purpose: str, value: str) -> str:
    digest = hmac.new(secret, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign(secret: bytes, value: str, purpose: str = "cookie") -> str:
    """`value.mac`: a value the browser holds but cannot change or forge."""
    return f"{value}.{_mac(secret, purpose, value)}"


def unsign(secret: bytes, signed: str | None, purpose: str = "cookie") -> str | None:
    """The value when its signature is ours, else None."""
    if not signed or "." not in signed:
        return None
    value, _, mac = signed.rpartition(".")
    return value if hmac.compare_digest(mac, _mac(secret, purpose, value)) else None


def csrf_token(secret: bytes, seed: str) -> str:
    """The token every form carries: bound to the session (or, before sign-in, to the visitor cookie)."""
    return _mac(secret, "csrf", seed)


def csrf_ok(secret: bytes, seed: str | None, token: str | None) -> bool:
    return bool(seed and token) and hmac.compare_digest(str(token), csrf_token(secret, str(seed)))
