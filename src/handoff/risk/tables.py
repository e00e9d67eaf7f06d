"""Tables owned by the risk feature: every kickoff estimate given, kept for backtests against the actuals."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, DateTime, Float, String, Table

from handoff.store.metadata import metadata

risk_estimates = Table(
    "risk_estimates",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("account_id", String(255), index=True),
    Column("deal_id", String(255), index=True),
    Column("project_id", String(255), index=True, comment="Set when the estimate is for a known project."),
    Column("as_of", Date, nullable=False, comment="History cutoff: the estimate saw CRM rows before this date."),
    Column("brief", JSON, nullable=False, comment="The brief as received, for replay."),
    Column("effort_p10", Float, nullable=False),
    Column("effort_p50", Float, nullable=False),
    Column("effort_p90", Float, nullable=False),
    Column("duration_p10", Float, nullable=False),
    Column("duration_p50", Float, nullable=False),
    Column("duration_p90", Float, nullable=False),
    Column("overrun_probability", Float, nullable=False, comment="P(actual cost > planned budget x 1.1)."),
    Column("expected_overrun_pct", Float),
    Column("factors", JSON, nullable=False, comment="Top factors per model, in plain words."),
    Column("similar_projects", JSON, nullable=False),
    Column("model_versions", JSON, nullable=False, comment="Registered model name -> version that answered."),
    comment="Kickoff estimates as given, so actual effort, duration and cost can later be compared with them.",
)
