"""Tables owned by the intake feature (join `handoff.store.metadata.metadata`): the ledger, threads, IMAP cursors."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, DateTime, Integer, String, Table, Text, UniqueConstraint

from handoff.store.metadata import metadata

# Every message that ever arrived, one row each, written before any processing.
ledger = Table(
    "intake_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False, comment="smtp, imap, http, webhook, file, notes"),
    Column("kind", String(16), nullable=False, comment="email or notes"),
    Column("notes_format", String(16), comment="text, markdown or vtt for notes"),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("raw_path", String(512), comment="raw bytes under settings.raw_mail_dir; empty when refused for size"),
    Column("raw_size", BigInteger, nullable=False),
    Column("raw_sha256", String(64), nullable=False),
    Column("message_id", Text, comment="Message-ID as written"),
    Column("message_key", String(255), nullable=False, comment="Message-ID used for dedupe ('' when absent)"),
    Column("body_hash", String(64), nullable=False, comment="sha256 of the whitespace-normalised body"),
    # True on the first copy, NULL on later ones: the unique constraint admits one first copy per message.
    Column("first_copy", Boolean, nullable=True),
    Column("duplicate_of", Integer),
    Column("status", String(16), nullable=False, index=True, comment="received, parsed, processed"),
    Column(
        "outcome",
        String(20),
        index=True,
        comment="tasks_created, threaded, duplicate, no_tasks, rejected, spam, bulk, failed",
    ),
    Column("reason", Text),
    Column("released_by", String(255), comment="who released it from spam or bulk (it then skips the gate)"),
    Column("released_at", DateTime(timezone=True)),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_by", String(64)),
    Column("lease_until", DateTime(timezone=True), index=True),
    Column("sender_email", String(255), index=True, comment="the original author (the customer)"),
    Column("sender_name", String(255)),
    Column("forwarded_by", String(255)),
    Column("subject", Text),
    Column("sent_at", DateTime(timezone=True)),
    Column("thread_id", String(40), index=True),
    Column("contact_id", String(255)),
    Column("account_id", String(255), index=True),
    Column("project_id", String(255)),
    Column("links", JSON, comment="confidence of each link and how it was made"),
    Column("details", JSON, comment="parse summary: forward hops, attachments, defects"),
    Column("task_ids", JSON),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("processed_at", DateTime(timezone=True)),
    UniqueConstraint("message_key", "body_hash", "first_copy"),
    comment="Intake ledger: every message received, with its status and outcome.",
)

threads = Table(
    "intake_threads",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("subject_key", String(255), nullable=False, index=True),
    Column("customer", String(255), index=True, comment="customer domain, or address on free-mail domains"),
    Column("account_id", String(255)),
    Column("project_id", String(255)),
    Column("first_ledger_id", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
    comment="Conversations: messages that belong together and share their tasks.",
)

imap_cursors = Table(
    "intake_imap_cursors",
    metadata,
    Column("mailbox", String(255), primary_key=True, comment="user@host:port/mailbox"),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("last_uid", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    comment="How far the IMAP poller has read each mailbox.",
)
