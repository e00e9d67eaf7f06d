"""The sync outbox (join `handoff.store.metadata.metadata`): one row per task and target, and the link once pushed."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table, Text

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
    comment="The outbox of accepted tasks to Jira, Asana and Trello, written in the acceptance's transaction.",
)
