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
