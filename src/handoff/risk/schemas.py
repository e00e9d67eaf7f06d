"""Kickoff estimates and churn scores as the risk service returns them, and the brief it reads; the CLI prints these,
the API's schemas (`api/routes/risk.py`) extend them."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from handoff.crm.dictionary import CONTRACT_TYPES, SEGMENTS
from handoff.schema_types import UtcDateTime

Segment = Literal[SEGMENTS]  # type: ignore[valid-type]
ContractType = Literal[CONTRACT_TYPES]  # type: ignore[valid-type]


# Far above any real project, low enough that no model is asked about 1e235 hours.
MAX_MONEY = 1e11
MAX_HOURS = 1e7


class EstimateBrief(BaseModel):
    """A kickoff brief. Every field is optional: the more a PM gives, the narrower the estimate.

    `account_id` pulls the account's history (segment, past overruns, tickets); `deal_id` fills gaps from the deal
    and its project when the CRM has them.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    account_id: str | None = Field(None, max_length=255, description="CRM account id of the customer.")
    deal_id: str | None = Field(None, max_length=255, description="CRM deal id, when the project comes from one.")
    project_id: str | None = Field(None, max_length=255, description="CRM project id, to backtest against actuals.")
    segment: Segment | None = Field(None, description="Size segment; taken from the account when omitted.")
    product: str | None = Field(None, max_length=255, description="Main product or service delivered.")
    contract_type: ContractType | None = Field(None, description="How the work is billed.")
    team_size: int | None = Field(None, ge=1, le=1000, description="People planned on the project.")
    scope_items: int | None = Field(None, ge=0, le=100_000, description="Deliverables or epics at kickoff.")
    planned_budget: float | None = Field(None, ge=0, le=MAX_MONEY, description="Budget agreed at kickoff.")
    deal_amount: float | None = Field(
        None, ge=0, le=MAX_MONEY, description="Deal value; taken from the deal when omitted."
    )
    sales_estimate_hours: float | None = Field(
        None, ge=0, le=MAX_HOURS, description="The sales team's first effort estimate."
    )
    planned_start: date | None = Field(None, description="Planned start date.")
    description: str | None = Field(None, max_length=50_000, description="Free-text brief.")

    @field_validator("account_id", "deal_id", "project_id", "product", "description")
    @classmethod
    def _blank_is_absent(cls, value: str | None) -> str | None:
        return value or None  # "   " says nothing: it must not make an empty brief look filled in


class Range(BaseModel):
    """An 80 % interval and its median: the truth falls below `p10` one time in ten, above `p90` one in ten."""

    p10: float
    p50: float
    p90: float


class Factor(BaseModel):
    """One reason behind a prediction, in words, with its signed effect in the prediction's unit."""

    feature: str
    text: str = Field(description="Plain words, e.g. '12 scope items (+140 h)'.")
    effect: float = Field(description="Signed contribution: hours, days, or probability points.")
    unit: str


class SimilarProject(BaseModel):
    """A finished past project like this one, and how it really ended."""

    project_id: str
    name: str | None = None
    account_id: str | None = None
    product: str | None = None
    contract_type: str | None = None
    scope_items: float | None = None
    team_size: float | None = None
    planned_budget: float | None = None
    actual_cost: float | None = None
    planned_hours: float | None = None
    actual_hours: float | None = None
    planned_days: float | None = None
    actual_days: float | None = None
    overrun_pct: float | None = None
    similarity: float = Field(description="1 for an identical brief, falling towards 0.")


class OverrunRisk(BaseModel):
    probability: float = Field(description="Calibrated P(actual cost > planned budget x 1.1).")
    expected_overrun_pct: float | None = Field(None, description="Expected (actual cost / budget - 1), median model.")
    expected_overrun_amount: float | None = Field(None, description="expected_overrun_pct x planned budget.")
    threshold_pct: float = 0.10


class Estimate(BaseModel):
    """A kickoff estimate as stored and returned."""

    id: str
    created_at: UtcDateTime
    as_of: date
    account_id: str | None = None
    deal_id: str | None = None
    project_id: str | None = None
    effort_hours: Range
    duration_days: Range
    overrun: OverrunRisk
    factors: dict[str, list[Factor]] = Field(description="Top factors per model: effort, duration, overrun.")
    similar_projects: list[SimilarProject]
    model_versions: dict[str, str]


class ChurnScore(BaseModel):
    """A 90-day churn probability for one account, with the strongest drivers first."""

    account_id: str
    as_of: date
    probability: float = Field(description="Calibrated probability that the account churns within 90 days.")
    drivers: list[Factor]
    model_version: str
