"""Tables owned by the tasks feature (join `handoff.store.metadata.metadata`).

The task row itself is the CRM `tasks` table; these tables hold what extraction knew about it (per-field
confidence and evidence, where it came from, its embedding for dedupe), the messages linked to it, and every
reviewer decision as a label.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Float, Integer, LargeBinary, String, Table, Text

from handoff.store.metadata import metadata

task_extractions = Table(
    "task_extractions",
    metadata,
    Column("task_id", String(255), primary_key=True, comment="CRM tasks.id"),
    Column("ledger_id", Integer, index=True, comment="the intake ledger row the task was first read from"),
    Column("thread_id", String(40), index=True),
    Column("account_id", String(255), index=True),
    Column("extractor", String(120), nullable=False, comment="offline, llm:<model>:<prompt>, or a fallback"),
    Column("confidence", Float, nullable=False, comment="that this is a task at all"),
    Column("fields", JSON, nullable=False, comment="{field: {value, confidence, evidence}} as extracted"),
    Column("assignee_name", String(255), comment="the assignee as written when not on the roster"),
    Column("evidence", Text, nullable=False),
    Column("notes", JSON, comment="e.g. why the LLM path fell back"),
    Column("embedding", LargeBinary, comment="float32 MiniLM vector of title + evidence, for dedupe"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    comment="What extraction knew about each suggested task.",
)

task_links = Table(
    "task_links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", String(255), nullable=False, index=True),
    Column("ledger_id", Integer, index=True),
    Column("how", String(16), nullable=False, comment="created, duplicate (linked), thread (updated)"),
    Column("similarity", Float, comment="cosine similarity to the task when linked as a duplicate"),
    Column("evidence", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    comment="Every message that raised, repeated or updated a task.",
)

task_labels = Table(
    "task_labels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", String(255), nullable=False, index=True),
    Column("action", String(16), nullable=False, comment="accept, edit, reject"),
    Column("field", String(32), nullable=False, comment="title, assignee, due, priority, or task (accept/reject)"),
    Column("old_value", Text),
    Column("new_value", Text),
    Column("correct", Integer, nullable=False, comment="1 when the extracted value was kept, 0 when corrected"),
    Column("extractor", String(120)),
    Column("reviewer", String(255), nullable=False),
    Column("reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    comment="Reviewer decisions as labels: per-field accuracy is measured from them.",
)
