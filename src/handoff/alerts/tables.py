"""Tables owned by the alerts feature: nightly runs, scores, alerts and their history, digests, channel deliveries."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from handoff.store.metadata import metadata

alert_runs = Table(
    "alert_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("run_date", Date, nullable=False, index=True, comment="The as-of date scored; features see data before it."),
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False, comment="ok, warnings, degraded (a channel failed) or failed."),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("duration_s", Float),
    Column("model_version", String(64)),
    Column("counts", JSON, nullable=False, comment="accounts scored, alerts opened/updated, digests, deliveries."),
    Column("stage_seconds", JSON, nullable=False, comment="Wall time of each stage: loop, features, score, ..."),
    Column("problems", JSON, nullable=False, comment="Bad data and failures, one object each; never a crash."),
    comment="One row per `handoff nightly` invocation.",
)

alert_scores = Table(
    "alert_scores",
    metadata,
    Column("run_date", Date, primary_key=True),
    Column("account_id", String(255), primary_key=True),
    Column("probability", Float, nullable=False),
    Column("drivers", JSON, nullable=False, comment="Top drivers in plain words, strongest first."),
    Column("model_version", String(64)),
    comment="The churn score of each active account per run date; the next run compares against it.",
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(255), nullable=False, index=True),
    Column("owner_id", String(255), index=True),
    Column("cause", String(16), nullable=False, comment="threshold (risk above it) or jump (risk rose quickly)."),
    Column("status", String(16), nullable=False, index=True, comment="open, snoozed or resolved."),
    # Set while the alert is open or snoozed and NULL once resolved, so the database itself keeps one live alert
    # per account and cause (NULLs never collide in a unique index on SQLite or PostgreSQL).
    Column("live_key", String(300), unique=True),
    Column("probability", Float, nullable=False),
    Column("previous_probability", Float),
    Column("drivers", JSON, nullable=False),
    Column("changes", JSON, nullable=False, comment="What changed since the last run."),
    Column("opened_on", Date, nullable=False),
    Column("last_run_date", Date, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("snoozed_until", Date),
    Column("snooze_reason", Text),
    Column("snoozed_probability", Float, comment="Risk when snoozed; a jump above it lifts the snooze."),
    Column("resolved_at", DateTime),
    Column("resolved_by", String(255)),
    Column("resolution_note", Text),
    comment="Churn-risk alerts: one live alert per account and cause.",
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(32), nullable=False, index=True),
    Column("at", DateTime, nullable=False),
    Column("run_date", Date),
    Column("kind", String(16), nullable=False, comment="opened, updated, snoozed, unsnoozed, reopened, resolved."),
    Column("actor", String(255), nullable=False),
    Column("detail", JSON, nullable=False),
    comment="The history of every alert.",
)

alert_digests = Table(
    "alert_digests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("run_date", Date, nullable=False),
    Column("owner_id", String(255), nullable=False),
    Column("recipient", String(255)),
    Column("payload", JSON, nullable=False, comment="The digest as sent (alerts, drivers, changes); re-sends use it."),
    Column("subject", String(255), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("run_date", "owner_id"),
    comment="One digest per owner per run date; a re-run sends the same digest, never a second one.",
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest_id", String(32), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("status", String(16), nullable=False, comment="sent or failed."),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("sent_at", DateTime),
    UniqueConstraint("digest_id", "channel"),
    comment="Each digest on each channel; only failed ones are tried again.",
)
