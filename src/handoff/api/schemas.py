"""API request and response shapes shared across routes (feature-specific ones live beside their routes)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from handoff.intake.ledger import MAX_ID
from handoff.schema_types import UtcDateTime


def examples(*values: dict[str, Any]) -> ConfigDict:
    """A model's whole-body examples for the OpenAPI document (what connector builders show and try first);
    `tests/api/test_openapi_examples.py` checks each against the model's own schema."""
    return ConfigDict(json_schema_extra={"examples": list(values)})


# FastAPI drops every null from the OpenAPI document, so a required field that may be null gets a value here: the
# entry is a second copy of mail 1038 (its `error` "" where a real duplicate holds null).
LEDGER_ENTRY_EXAMPLE: dict[str, Any] = {
    "id": 1042,
    "source": "smtp",
    "kind": "email",
    "status": "processed",
    "outcome": "duplicate",
    "display_status": "duplicate",
    "reason": "same Message-ID and body as ledger entry 1038",
    "error": "",
    "message_id": "<CAF3k9x2@mail.acme-logistics.com>",
    "subject": "Re: Kickoff next week",
    "sender": "j***@acme-logistics.com",
    "forwarded_by": "m***@handoff.example",
    "sent_at": "2026-12-07T09:14:00Z",
    "received_at": "2026-12-07T09:14:05Z",
    "thread_id": "thr_5c1e0a9b",
    "contact_id": "C-000123",
    "account_id": "A-00042",
    "project_id": "P-00087",
    "attempts": 1,
    "duplicate_of": 1038,
    "raw_size": 18342,
    "released_by": None,
    "released_at": None,
    "task_ids": [],
    "links": {},
}

CONTACT_EXAMPLE: dict[str, Any] = {
    "id": "C-000123",
    "account_id": "A-00042",
    "first_name": "Jennifer",
    "last_name": "Liu",
    "title": "Head of Operations",
    "email": "j***@acme-logistics.com",
    "phone": "+49 *** ** 12",
    "is_primary": True,
}


class HealthPublic(BaseModel):
    model_config = examples({"status": "ok", "version": "0.1.0"})

    status: str = Field(description="ok while the process serves requests.")
    version: str


class ReadinessPublic(BaseModel):
    model_config = examples(
        {
            "status": "ready",
            "database": True,
            "models": {"churn": "3", "effort": "2", "duration": "2", "overrun": "2"},
            "missing_models": [],
        }
    )

    status: str = Field(description="ready when the database answers; degraded when it does not.")
    database: bool
    models: dict[str, str] = Field(description="Loaded champion models: short name -> registered version.")
    missing_models: list[str] = Field(description="Models with no champion yet (their routes answer 503).")


class ModelReloadPublic(BaseModel):
    model_config = examples(
        {"models": {"churn": "4", "effort": "2", "duration": "2", "overrun": "2"}, "changed": ["churn"]}
    )

    models: dict[str, str] = Field(description="Champion models served from now on: short name -> registered version.")
    changed: list[str] = Field(description="Models whose champion alias had moved and were loaded again.")


class WhoAmIPublic(BaseModel):
    model_config = examples(
        {
            "key_id": "9b2f4c1d8e7a4b6c9d0e1f2a3b4c5d6e",
            "name": "maria-keller",
            "role": "account_owner",
            "owner_id": "TM-007",
            "permissions": [
                "alerts:manage",
                "alerts:read",
                "churn:read",
                "contact_data",
                "contacts:read",
                "tasks:read",
            ],
        }
    )

    key_id: str
    name: str
    role: str
    owner_id: str | None
    permissions: list[str]


class LedgerEntryPublic(BaseModel):
    """One message in the ledger: where it came from and what became of it."""

    model_config = examples(LEDGER_ENTRY_EXAMPLE)

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
    model_config = examples(
        {"entries": [LEDGER_ENTRY_EXAMPLE], "counts": {"tasks_created": 118, "no_tasks": 40, "failed": 2}}
    )

    entries: list[LedgerEntryPublic]
    counts: dict[str, int] = Field(description="All ledger rows by display status.")


class ReceiptPublic(BaseModel):
    """A message is durable in the ledger; processing happens in the worker."""

    model_config = examples(
        {"id": 1042, "status": "received", "message_id": "<CAF3k9x2@mail.acme-logistics.com>", "reason": None}
    )

    id: int
    status: str
    message_id: str | None = None
    reason: str | None = None


class NotesRequest(BaseModel):
    model_config = examples(
        {
            "text": "# Kickoff with Acme\n- Jennifer sends the data export by Friday\n- We book the training room",
            "format": "markdown",
            "sent_at": "2026-12-07T15:00:00Z",
            "author": "Maria Keller",
        }
    )

    text: str = Field(min_length=1, max_length=2_000_000, description="Meeting notes: plain text, Markdown or WebVTT.")
    format: str | None = Field(None, description="text, markdown or vtt; detected when omitted.")
    sent_at: datetime | None = Field(None, description="When the meeting happened; due dates resolve against it.")
    author: str | None = Field(None, max_length=255, description="Who took the notes.")


class RetryRequest(BaseModel):
    model_config = examples({"ids": [1040, 1041]}, {})

    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        None, max_length=10_000, description="Failed entries to retry; omitted: all failed."
    )


class RetryPublic(BaseModel):
    model_config = examples({"retried": [1040, 1041]})

    retried: list[int]


class ContactPublic(BaseModel):
    model_config = examples(CONTACT_EXAMPLE)

    id: str
    account_id: str
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    email: str | None = Field(None, description="Masked without the contact_data right.")
    phone: str | None = Field(None, description="Masked without the contact_data right.")
    is_primary: bool | None = None


class AuditEntryPublic(BaseModel):
    model_config = examples(
        {
            "id": 5531,
            "at": "2026-12-07T10:02:11Z",
            "actor": "key:9b2f4c1d8e7a4b6c9d0e1f2a3b4c5d6e",
            "action": "read_contact_data",
            "subject": "account:A-00042",
            "detail": {"contacts": ["C-000123"]},
        }
    )

    id: int
    at: UtcDateTime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any] | None


class SnoozeRequest(BaseModel):
    model_config = examples({"until": "2026-12-21", "reason": "Renewal call booked for the 18th; the CSM is on it."})

    until: date = Field(description="Quiet until this day (inclusive); a jump in risk lifts it early.")
    reason: str = Field(min_length=1, max_length=2000, description="Why: kept in the alert's history.")


class ResolveRequest(BaseModel):
    model_config = examples({"note": "Renewed for two years after the QBR."})

    note: str | None = Field(None, max_length=2000)
