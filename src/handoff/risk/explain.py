"""Per-row LightGBM contributions turned into plain words a PM or account owner reads: "12 scope items (+140 h)"."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from handoff.risk.features import DESCRIPTION_KEYWORDS

InverseLink = Callable[[np.ndarray], np.ndarray]


def identity(values: np.ndarray) -> np.ndarray:
    return values


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def effects_in_units(contributions: pd.DataFrame, inverse_link: InverseLink = identity) -> pd.DataFrame:
    """Each feature's share of (prediction - baseline) in the prediction's own unit (hours, days, probability).

    Contributions add up on the model's raw scale (log-hours, log-odds). On that scale they are exact; to speak in
    hours or probability points we split the gap between the prediction and the baseline in proportion to them.
    With the identity link this returns the contributions unchanged.
    """
    raw = contributions.drop(columns=["bias"]).to_numpy(dtype="float64")
    bias = contributions["bias"].to_numpy(dtype="float64")
    total = raw.sum(axis=1)
    gap = inverse_link(bias + total) - inverse_link(bias)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(np.abs(total) > 1e-12, gap / total, 0.0)
    return pd.DataFrame(raw * scale[:, None], index=contributions.index, columns=contributions.columns[:-1])


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:,.1f}".rstrip("0").rstrip(".")


def _label(value: Any) -> str:
    return str(value).replace("_", " ")


def _days_phrase(value: float, what: str) -> str:
    return f"{_number(value)} days {what}"


# Feature name -> how its value reads. Values arrive as they are in the feature row (NaN when unknown).
PHRASES: dict[str, Callable[[Any], str]] = {
    "scope_items": lambda v: f"{_number(v)} scope items",
    "team_size": lambda v: f"team of {_number(v)}",
    "contract_type": lambda v: f"contract type: {_label(v)}",
    "product": lambda v: f"product: {_label(v)}",
    "segment": lambda v: f"{_label(v)} customer",
    "industry": lambda v: f"industry: {_label(v)}",
    "planned_budget": lambda v: f"planned budget {_number(v)}",
    "deal_amount": lambda v: f"deal size {_number(v)}",
    "sales_estimate_hours": lambda v: f"sales estimate {_number(v)} h",
    "budget_per_scope_item": lambda v: f"budget of {_number(v)} per scope item",
    "sales_hours_per_scope_item": lambda v: f"sales estimate of {_number(v)} h per scope item",
    "description_words": lambda v: f"brief of {_number(v)} words",
    "account_tenure_days": lambda v: f"customer for {_number(v / 30.4)} months",
    "account_past_projects": lambda v: f"{_number(v)} earlier projects with this customer",
    "account_past_overrun_mean": lambda v: f"this customer's past projects ended {v:+.0%} against budget",
    "account_past_overrun_share": lambda v: f"{v:.0%} of this customer's past projects overran",
    "account_past_delay_days_mean": lambda v: f"this customer's past projects ended {v:+.0f} days vs plan",
    "account_tickets_365": lambda v: f"{_number(v)} support tickets in the last year",
    "account_escalations_365": lambda v: f"{_number(v)} escalated tickets in the last year",
    "tenure_days": lambda v: f"customer for {_number(v / 30.4)} months",
    "plan_tier": lambda v: f"plan: {_label(v)}",
    "billing_frequency": lambda v: f"billed {_label(v)}",
    "seats": lambda v: f"{_number(v)} seats",
    "mrr": lambda v: f"MRR {_number(v)}",
    "auto_renew": lambda v: "renews automatically" if v >= 0.5 else "does not renew automatically",
    "is_trial": lambda v: "on a trial" if v >= 0.5 else "paying plan (not a trial)",
    "upgraded": lambda v: "recently upgraded" if v >= 0.5 else "no recent upgrade",
    "downgraded": lambda v: "current plan is a downgrade" if v >= 0.5 else "current plan is not a downgrade",
    "downgrades_365": lambda v: f"{_number(v)} downgrades in the last year",
    "days_to_renewal": lambda v: f"renewal in {_number(v)} days" if v >= 0 else f"renewal {_number(-v)} days overdue",
    "subscription_ended": lambda v: "subscription has ended" if v >= 0.5 else "subscription running",
    "usage_events_30": lambda v: f"{_number(v)} product uses in the last 30 days",
    "usage_events_prev_30": lambda v: f"{_number(v)} product uses in the 30 days before",
    "usage_events_90": lambda v: f"{_number(v)} product uses in 90 days",
    "usage_errors_30": lambda v: f"{_number(v)} product errors in 30 days",
    "usage_minutes_30": lambda v: f"{_number(v)} minutes of use in 30 days",
    "usage_trend": lambda v: f"usage {'down' if v < 0 else 'up'} {abs(math.expm1(v)):.0%} month over month",
    "usage_per_seat_30": lambda v: f"{_number(v)} uses per seat in 30 days",
    "usage_error_rate_30": lambda v: f"{v:.1%} of uses hit an error",
    "usage_features_30": lambda v: f"{_number(v)} features used in 30 days",
    "days_since_last_use": lambda v: _days_phrase(v, "since last product use"),
    "tickets_90": lambda v: f"{_number(v)} support tickets in 90 days",
    "tickets_365": lambda v: f"{_number(v)} support tickets in a year",
    "ticket_escalations_90": lambda v: f"{_number(v)} escalated tickets in 90 days",
    "tickets_urgent_90": lambda v: f"{_number(v)} high-priority tickets in 90 days",
    "tickets_open": lambda v: f"{_number(v)} tickets still open",
    "ticket_satisfaction_365": lambda v: f"ticket satisfaction {v:.1f}/5",
    "ticket_resolution_hours_365": lambda v: f"tickets take {_number(v)} h to resolve",
    "nps_last": lambda v: f"last NPS answer {_number(v)}/10",
    "csat_last": lambda v: f"last CSAT answer {_number(v)}/5",
    "low_surveys_180": lambda v: f"{_number(v)} low survey scores in 6 months",
    "days_since_last_contact": lambda v: _days_phrase(v, "since the last contact"),
    "inbound_emails_30": lambda v: f"{_number(v)} emails from the customer in 30 days",
    "inbound_emails_prev_60": lambda v: f"{_number(v)} emails from the customer in the 60 days before",
    "negative_emails_90": lambda v: f"{_number(v)} negative emails in 90 days",
    "meetings_90": lambda v: f"{_number(v)} calls or meetings in 90 days",
    "owner_changes_365": lambda v: f"{_number(v)} account owner changes in a year",
    "email_sentiment_90": lambda v: f"email tone {v:+.2f} (-1 angry .. +1 happy)",
    "projects_started": lambda v: f"{_number(v)} projects so far",
    "projects_late_running": lambda v: f"{_number(v)} running projects past their planned end",
    "project_overrun_mean": lambda v: f"finished projects ended {v:+.0%} against budget",
    "project_delay_days_mean": lambda v: f"finished projects ended {v:+.0f} days vs plan",
    "invoices_overdue": lambda v: f"{_number(v)} overdue invoices",
    "overdue_amount": lambda v: f"{_number(v)} overdue",
    "payment_delay_days_365": lambda v: f"invoices paid {v:+.0f} days vs due date",
    "past_churns": lambda v: f"churned {_number(v)} times before",
}


def _mention(word: str) -> Callable[[Any], str]:
    def render(value: Any) -> str:
        return f"brief mentions '{word}'" if value >= 0.5 else f"brief does not mention '{word}'"

    return render


PHRASES.update({f"mentions_{word}": _mention(word) for word in DESCRIPTION_KEYWORDS})


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def phrase(feature: str, value: Any) -> str:
    """How a feature's value reads in words; unknown values say so."""
    if _missing(value):
        return f"{_label(feature)}: unknown"
    render = PHRASES.get(feature)
    if render is None:
        return f"{_label(feature)}: {value:,.4g}" if isinstance(value, int | float) else f"{_label(feature)}: {value}"
    try:
        return render(value)
    except (TypeError, ValueError):
        return f"{_label(feature)}: {value}"


def format_effect(effect: float, unit: str) -> str:
    if unit == "pp":
        return f"{effect * 100:+.1f} pts"
    return f"{effect:+,.0f} {unit}" if abs(effect) >= 1 else f"{effect:+.1f} {unit}"


def row_effects(contributions: np.ndarray, inverse_link: InverseLink = identity) -> np.ndarray:
    """`effects_in_units` for one row of contributions (an array, `bias` last), without pandas."""
    raw, bias = contributions[:-1], float(contributions[-1])
    total = float(raw.sum())
    predicted, baseline = inverse_link(np.array([bias + total, bias]))
    return raw * (float(predicted - baseline) / total) if abs(total) > 1e-12 else np.zeros_like(raw)


def _factors(
    features: Sequence[Any],
    effects: np.ndarray,
    values: Sequence[Any],
    unit: str,
    top: int,
    direction: str,
    order: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """The `top` strongest usable effects of one row, largest first; `order` is their ranking when known already.

    A gap in the brief moves the model too, but "deal size: unknown" is no reason a PM can act on: unknown values
    are skipped, and so are zero effects and, for `direction="up"`, everything that lowered the prediction.
    """
    if order is None:
        order = np.argsort(-effects if direction == "up" else -np.abs(effects), kind="stable")
    factors = []
    for j in order:
        effect = float(effects[j])
        if math.isnan(effect) or effect == 0 or (direction == "up" and effect < 0) or _missing(values[j]):
            continue
        feature = str(features[j])
        text = f"{phrase(feature, values[j])} ({format_effect(effect, unit)})"
        factors.append({"feature": feature, "text": text, "effect": effect, "unit": unit})
        if len(factors) == top:
            break
    return factors


def row_factors(
    record: Mapping[str, Any], features: Sequence[str], effects: np.ndarray, unit: str, top: int, direction: str
) -> list[dict[str, Any]]:
    """The strongest effects of one record as `{feature, text, effect, unit}`, largest first; `effects` is an array in
    `features` order. `direction="up"` keeps only what raised the prediction (churn drivers); `both` ranks by size."""
    return _factors(features, effects, [record.get(f) for f in features], unit, top, direction)


def top_factor_table(
    rows: pd.DataFrame, effects: pd.DataFrame, unit: str, top: int = 3, direction: str = "up"
) -> list[list[dict[str, Any]]]:
    """`row_factors` for many rows: the ranking is vectorised, only the chosen cells become text."""
    values = effects.to_numpy(dtype="float64")
    order = np.argsort(-values if direction == "up" else -np.abs(values), axis=1, kind="stable")
    columns = list(effects.columns)
    raw = rows[columns].to_numpy(dtype="object")
    return [_factors(columns, values[i], raw[i], unit, top, direction, order[i]) for i in range(len(values))]
