"""API request and response shapes shared across routes (feature-specific ones live beside their routes)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from handoff.intake.ledger import MAX_ID
from handoff.schema_types import UtcDateTime


class HealthPublic(BaseModel):
    status: str = Field(description="ok while the process serves requests.")
    version: str


class ReadinessPublic(BaseModel):
    status: str = Field(description="ready when the database answers; degraded when it does not.")
    database: bool
    models: dict[str, str] = Field(description="Loaded champion models: short name -> registered version.")
    missing_models: list[str] = Field(description="Models with no champion yet (their routes answer 503).")


class ModelReloadPublic(BaseModel):
    models: dict[str, str] = Field(description="Champion models served from now on: short name -> registered version.")
    changed: list[str] = Field(description="Models whose champion alias had moved and were loaded again.")


class WhoAmIPublic(BaseModel):
    key_id: str
    name: str
    role: str
    owner_id: str | None
    permissions: list[str]


class LedgerEntryPublic(BaseModel):
    """One message in the ledger: where it came from and what became of it."""

    id: int
    source: str
    kind: str = Field(description="email or notes.")
    status: str = Field(description="received, parsed or processed: where the message is in the pipeline.")
    outcome: str | None = Field(
        description="tasks_created, threaded, duplicate, no_tasks, rejected, spam (quarantined), bulk or failed."
    )
    display_status: str = Field(description="The outcome once processed, else the status.")
    reason: str | None
    error: str | None
    message_id: str | None
    subject: str | None
    sender: str | None = Field(description="Original sender; masked without the contact_data right.")
    forwarded_by: str | None = Field(description="Who forwarded it; masked without the contact_data right.")
    sent_at: UtcDateTime | None
    received_at: UtcDateTime
    thread_id: str | None
    contact_id: str | None
    account_id: str | None
    project_id: str | None
    attempts: int
    duplicate_of: int | None
    raw_size: int
    released_by: str | None = Field(None, description="Who released it from spam or bulk (it then skipped the gate).")
    released_at: UtcDateTime | None = None
    task_ids: list[str] = Field(default_factory=list)
    links: dict[str, Any] = Field(default_factory=dict)


class LedgerPagePublic(BaseModel):
    entries: list[LedgerEntryPublic]
    counts: dict[str, int] = Field(description="All ledger rows by display status.")


class ReceiptPublic(BaseModel):
    """A message is durable in the ledger; processing happens in the worker."""

    id: int
    status: str
    message_id: str | None = None
    reason: str | None = None


class NotesRequest(BaseModel):
    text: str = Field(min_length=1, max_length=2_000_000, description="Meeting notes: plain text, Markdown or WebVTT.")
    format: str | None = Field(None, description="text, markdown or vtt; detected when omitted.")
    sent_at: datetime | None = Field(None, description="When the meeting happened; due dates resolve against it.")
    author: str | None = Field(None, max_length=255, description="Who took the notes.")


class RetryRequest(BaseModel):
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        None, max_length=10_000, description="Failed entries to retry; omitted: all failed."
    )


class RetryPublic(BaseModel):
    retried: list[int]


class ContactPublic(BaseModel):
    id: str
    account_id: str
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    email: str | None = Field(None, description="Masked without the contact_data right.")
    phone: str | None = Field(None, description="Masked without the contact_data right.")
    is_primary: bool | None = None


class AuditEntryPublic(BaseModel):
    id: int
    at: UtcDateTime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any] | None


class SnoozeRequest(BaseModel):
    until: date = Field(description="Quiet until this day (inclusive); a jump in risk lifts it early.")
    reason: str = Field(min_length=1, max_length=2000, description="Why: kept in the alert's history.")


class ResolveRequest(BaseModel):
    note: str | None = Field(None, max_length=2000)
