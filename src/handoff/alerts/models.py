"""What the alerts feature hands to the API and CLI: alerts, their history and nightly run records."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

# The texts an alert carries that a person or the CRM wrote, masked for readers without the right to contact data
# (`access.disclosure`): a snooze reason or resolution note can quote a contact.
FREE_TEXT = ("account_name", "drivers", "changes", "snooze_reason", "resolution_note")


class Alert(BaseModel):
    id: str
    account_id: str
    account_name: str | None = None
    owner_id: str | None
    cause: str = Field(description="threshold: risk above the churn threshold; jump: risk rose by the jump threshold.")
    status: str = Field(description="open, snoozed or resolved.")
    probability: float = Field(description="Latest calibrated 90-day churn probability.")
    previous_probability: float | None
    drivers: list[str] = Field(description="Top drivers in plain words, strongest first.")
    changes: dict = Field(description="What changed since the last run; `text` is one sentence.")
    opened_on: date
    last_run_date: date
    updated_at: datetime
    snoozed_until: date | None = None
    snooze_reason: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution_note: str | None = None


class AlertEvent(BaseModel):
    alert_id: str
    at: datetime
    run_date: date | None
    kind: str
    actor: str
    detail: dict


class NightlyRun(BaseModel):
    """The record of one `handoff nightly`: `--json` prints it; the `alert_runs` table keeps it."""

    id: str
    run_date: date
    dry_run: bool
    status: str = Field(description="ok, warnings (bad data reported), degraded (a channel failed), failed.")
    started_at: datetime
    finished_at: datetime | None = None
    duration_s: float | None = None
    model_version: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    problems: list[dict] = Field(default_factory=list)
