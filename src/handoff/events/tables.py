"""Event tables (join `handoff.store.metadata.metadata`): subscriptions, the outbox of events, one delivery each."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Index, Integer, String, Table, Text

from handoff.store.metadata import metadata

hook_subscriptions = Table(
    "hook_subscriptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("target_url", Text, nullable=False),
    Column("events", JSON, nullable=False, comment='The event types delivered, e.g. ["task.accepted"].'),
    Column("secret", String(128), nullable=False, comment="Signs each delivery (HMAC-SHA256); shown once at creation."),
    Column("key_id", String(32), nullable=False, comment="The API key that subscribed: its role masks what is sent."),
    Column("status", String(16), nullable=False, index=True, comment="active, or removed (deleted, 410, key revoked)."),
    Column("removed_reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("removed_at", DateTime(timezone=True)),
    comment="Subscriptions to events (Zapier REST hooks, Make webhooks): `POST /v1/hooks/subscriptions`.",
)

hook_events = Table(
    "hook_events",
    metadata,
    Column("id", String(40), primary_key=True, comment="evt_…: the same on every delivery attempt."),
    Column("type", String(32), nullable=False),
    Column("subject", String(255), nullable=False, comment="What it is about, e.g. task:tsk_… or ledger:12."),
    Column("account_id", String(255), comment="The account the resource belongs to (scopes and audits)."),
    Column("data", JSON, nullable=False, comment="The resource as the API returns it, unmasked; masked per delivery."),
    Column("created_at", DateTime(timezone=True), nullable=False),
    comment="The event outbox, written in the transaction of the change it reports (only while someone subscribes).",
)

hook_deliveries = Table(
    "hook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(40), nullable=False, index=True),
    Column("subscription_id", String(32), nullable=False, index=True),
    Column("status", String(16), nullable=False, comment="pending, sent, failed (gave up) or cancelled."),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("claimed_until", DateTime(timezone=True), comment="a deliverer holds the row until then"),
    Column("last_status_code", Integer, comment="The target's last HTTP status; null when it never answered."),
    Column("last_error", Text, comment="redacted"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    Index("ix_hook_deliveries_due", "status", "next_attempt_at"),
    comment="One row per event and subscription: the delivery log `GET /v1/hooks/subscriptions/{id}/deliveries`.",
)
