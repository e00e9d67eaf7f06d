"""Tables owned by the access feature: hashed API keys with their role, and the audit log of contact-data reads."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Integer, String, Table

from handoff.store.metadata import metadata

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("role", String(32), nullable=False, comment="admin, pm, sales, account_owner or integration."),
    Column("owner_id", String(255), comment="Team member the key acts for; account owners see only their accounts."),
    Column("prefix", String(16), nullable=False, comment="The key's first characters, to recognise it in lists."),
    Column("key_hash", String(64), nullable=False, unique=True, comment="sha256 hex of the key; the key is not kept."),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
    Column("expires_at", DateTime, comment="After this moment (UTC) the key is refused with 401; null: never."),
    Column("rotated_from", String(32), comment="The key this one replaced (`handoff keys rotate`)."),
    comment="API keys, stored hashed; `handoff keys create` prints a key once.",
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False, index=True),
    Column("actor", String(255), nullable=False, comment="key:<id> (<name>) for people and scripts, ai:<component>."),
    Column("action", String(64), nullable=False, comment="What was done, e.g. read_contact_data."),
    Column("subject", String(255), nullable=False, comment="What it was done to, e.g. ledger:12 or contact:c-1."),
    Column("detail", JSON),
    comment="Who read contact data (or did another audited thing), what, and when.",
)

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(320), nullable=False, unique=True, comment="Lower-cased; what a person signs in with."),
    Column("name", String(255), nullable=False),
    Column("role", String(32), nullable=False, comment="admin, pm, sales or account_owner: the API keys' roles."),
    Column("owner_id", String(255), comment="The team member this person is; account owners see only their accounts."),
    Column("password_hash", String(255), comment="argon2id; null until the person sets a password."),
    Column("link_hash", String(64), unique=True, comment="sha256 hex of the pending one-time sign-in link's token."),
    Column("link_expires_at", DateTime, comment="When the pending sign-in link stops working (UTC)."),
    Column("created_at", DateTime, nullable=False),
    Column("last_sign_in_at", DateTime),
    Column("disabled_at", DateTime, comment="Set: the person can no longer sign in and their sessions end."),
    Column("language", String(16), comment="The web app's language they chose (en, zh_CN); null: the browser's."),
    comment="People who sign in to the web app; `handoff users invite` makes one and prints a sign-in link.",
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True, comment="sha256 hex of the session token in the cookie."),
    Column("user_id", String(32), nullable=False, index=True),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False, comment="The session ends here whatever happens (UTC)."),
    Column("ended_at", DateTime, comment="Signed out (or the person was disabled)."),
    comment="Signed-in web sessions; the cookie holds a signed random token, the table only its hash.",
)
