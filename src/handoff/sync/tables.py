"""Sync tables (join `handoff.store.metadata.metadata`): the outbox and its links, webhook deliveries, hook secrets."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Index, Integer, String, Table, Text

from handoff.store.metadata import metadata

task_sync = Table(
    "task_sync",
    metadata,
    Column("task_id", String(255), primary_key=True, comment="CRM tasks.id"),
    Column("target", String(16), primary_key=True, comment="jira, asana or trello"),
    Column(
        "status",
        String(16),
        nullable=False,
        index=True,
        comment="pending (to push), sent (linked), failed (refused; `handoff sync push --retry-failed`), skipped",
    ),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), comment="a pending row is not pushed before this"),
    Column("claimed_until", DateTime(timezone=True), comment="a pusher holds the row until then (one push at once)"),
    Column("last_error", Text, comment="redacted: what the target answered last"),
    Column("remote_id", String(255), comment="the target's id of the issue, task or card"),
    Column("remote_key", String(64), comment="the human key where the target has one (Jira's PROJ-12)"),
    Column("remote_url", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, comment="when the task was accepted"),
    Column("sent_at", DateTime(timezone=True)),
    Column(
        "remote_state",
        JSON,
        comment="what the target said last (status, assignee_email, due_date): the next change is read against it",
    ),
    Column(
        "remote_changed_at",
        DateTime(timezone=True),
        comment="when the target last changed the item, as it says; an older change arriving later is stale",
    ),
    Column(
        "pending_update",
        JSON,
        comment="handoff edits not yet sent to the item: {fields: [title, due_date, assignee, priority], edit: n}",
    ),
    Index("ix_task_sync_remote", "target", "remote_id"),  # a webhook names the remote item, not the task
    comment="The outbox of accepted tasks to Jira, Asana and Trello, written in the acceptance's transaction.",
)

sync_deliveries = Table(
    "sync_deliveries",
    metadata,
    Column("vendor", String(16), primary_key=True, comment="jira, asana or trello"),
    Column(
        "delivery_id",
        String(255),
        primary_key=True,
        comment="the vendor's delivery id (Jira's X-Atlassian-Webhook-Identifier, Trello's action id) or a body hash",
    ),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(32), nullable=False, comment="applied, unchanged, stale, unlinked or ignored"),
    Column("task_id", String(255), comment="the handoff task it concerned, when one was found"),
    comment="Webhook deliveries seen, so a replayed delivery changes nothing twice.",
)

sync_hook_secrets = Table(
    "sync_hook_secrets",
    metadata,
    Column("vendor", String(16), primary_key=True, comment="asana: the secret of its X-Hook-Secret handshake"),
    Column("secret", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    comment="Secrets a vendor handed over in a webhook handshake, to check the signatures of later deliveries.",
)
