"""Tables owned by the CRM <-> project loop (join `handoff.store.metadata.metadata`)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, String, Table

from handoff.store.metadata import metadata

loop_progress = Table(
    "loop_progress",
    metadata,
    Column("project_id", String(255), primary_key=True),
    Column("signature", String(255), nullable=False, comment="Status and task counts last written as an event."),
    Column("activity_id", String(255), nullable=False),
    Column("recorded_at", DateTime, nullable=False),
    comment="The last progress event written per project, so an unchanged project writes no new event.",
)
