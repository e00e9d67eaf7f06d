"""Point-in-time features and labels from the CRM frames: every number for a cutoff uses only rows before it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from datetime import date, datetime

import numpy as np
import pandas as pd

from handoff.crm.dictionary import ENTITIES_BY_NAME

Frames = Mapping[str, pd.DataFrame]

CHURN_HORIZON_DAYS = 90
OVERRUN_TOLERANCE = 0.10  # "over budget" means actual cost above budget x 1.1

# Words in a kickoff brief that delivery teams associate with risk or extra work; kept short and stable on purpose
# so a feature name reads as the word itself ("mentions 'migration'").
DESCRIPTION_KEYWORDS = (
    "migration",
    "integration",
    "legacy",
    "custom",
    "data",
    "api",
    "compliance",
    "security",
    "training",
    "rollout",
    "mobile",
    "erp",
    "reporting",
    "multi",
    "sign-on",
    "pilot",
    "standard",
    "sap",
)

# Brief fields a kickoff estimate reads; the same names are columns of the `projects` table.
BRIEF_COLUMNS = (
    "account_id",
    "deal_id",
    "product",
    "contract_type",
    "team_size",
    "scope_items",
    "planned_budget",
    "sales_estimate_hours",
    "description",
    "planned_start",
)

CATEGORICAL_PROJECT_FEATURES = ("segment", "product", "contract_type")
CATEGORICAL_ACCOUNT_FEATURES = ("segment", "industry", "plan_tier", "billing_frequency")


def _cutoff(as_of: date | datetime | pd.Timestamp) -> pd.Timestamp:
    """A date cutoff means midnight at the start of that day: rows of that day are not yet known."""
    return pd.Timestamp(as_of).normalize() if not isinstance(as_of, datetime) else pd.Timestamp(as_of)


def _empty(entity_name: str) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="object") for name in ENTITIES_BY_NAME[entity_name].field_names})


def normalise_frames(frames: Frames) -> dict[str, pd.DataFrame]:
    """Typed copies of the CRM frames (dates as datetime64, numbers as float); missing entities become empty frames.

    Idempotent and cheap on frames that are already typed, so callers may pass either raw or normalised frames.
    """
    out: dict[str, pd.DataFrame] = {}
    for name, entity in ENTITIES_BY_NAME.items():
        frame = frames.get(name)
        frame = _empty(name) if frame is None else frame
        changes: dict[str, pd.Series] = {}
        for field in entity.fields:
            if field.name not in frame.columns:
                changes[field.name] = pd.Series(np.nan if field.type in ("int", "float") else None, index=frame.index)
                column = changes[field.name]
            else:
                column = frame[field.name]
            if field.type in ("date", "datetime") and column.dtype != "datetime64[ns]":
                # One resolution everywhere: merge_asof refuses to compare seconds with microseconds.
                if not pd.api.types.is_datetime64_any_dtype(column):
                    column = pd.to_datetime(column, errors="coerce")
                if getattr(column.dt, "tz", None) is not None:
                    column = column.dt.tz_convert("UTC").dt.tz_localize(None)
                changes[field.name] = column.astype("datetime64[ns]")
            elif field.type in ("int", "float") and not pd.api.types.is_float_dtype(column):
                changes[field.name] = pd.to_numeric(column, errors="coerce").astype("float64")
            elif field.type == "bool" and not pd.api.types.is_float_dtype(column):
                if pd.api.types.is_bool_dtype(column):
                    changes[field.name] = column.astype("float64")
                else:
                    mapping = {True: 1.0, False: 0.0, "true": 1.0, "false": 0.0}
                    changes[field.name] = column.map(mapping).astype("float64")
        if changes:
            frame = frame.assign(**changes)
        out[name] = frame
    return out


def load_frames(engine, entities: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """Reads whole CRM tables (all, or the named entities) into typed frames.

    `engine` is a SQLAlchemy engine or connection; the caller owns it, this module only asks pandas to read.
    """
    names = list(entities) if entities is not None else list(ENTITIES_BY_NAME)
    frames = {}
    with engine.connect() if hasattr(engine, "connect") else nullcontext(engine) as connection:
        for name in names:
            frames[name] = pd.read_sql_table(name, connection)
    return normalise_frames(frames)


def _before(frame: pd.DataFrame, column: str, cutoff: pd.Timestamp) -> pd.DataFrame:
    return frame[frame[column] < cutoff]


def _days(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds() / 86400.0


def _usage_with_accounts(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Usage rows may name only their subscription; the subscription says whose they are."""
    usage = f["usage"]
    if usage["account_id"].isna().any():
        owners = f["subscriptions"].set_index("id")["account_id"]
        usage = usage.assign(account_id=usage["account_id"].fillna(usage["subscription_id"].map(owners)))
    return usage


def active_accounts(frames: Frames, as_of: date) -> pd.DataFrame:
    """Accounts that were customers on the cutoff: created before it and not lost (by a churn event) before it.

    The `status` column is today's state and would leak the future, so only churn events decide.
    """
    f = normalise_frames(frames)
    cutoff = _cutoff(as_of)
    accounts = f["accounts"]
    accounts = accounts[(accounts["created_at"] < cutoff) & (accounts["status"].astype("object") != "prospect")]
    events = _before(f["churn_events"], "churned_at", cutoff).sort_values("churned_at", kind="stable")
    last = events.groupby("account_id")["is_reactivation"].last()
    lost = last.index[last.fillna(0.0) < 0.5]
    return accounts[~accounts["id"].isin(lost)].set_index("id")


def account_features(frames: Frames, as_of: date) -> pd.DataFrame:
    """One row per account active on `as_of` (index `account_id`), built only from rows dated before `as_of`.

    Vectorised: one filter and one groupby per entity, so a million accounts cost seconds, not hours.
    """
    f = normalise_frames(frames)
    t = _cutoff(as_of)
    accounts = active_accounts(f, as_of)
    out = pd.DataFrame(index=pd.Index(accounts.index, name="account_id"))
    out["tenure_days"] = _days(t - accounts["created_at"])
    for column in ("segment", "industry"):
        out[column] = accounts[column].astype("object")

    # Subscriptions: the latest one started before the cutoff; its end only counts once it has happened.
    subs = _before(f["subscriptions"], "start_date", t).sort_values("start_date", kind="stable")
    latest = subs.groupby("account_id").last()
    out["plan_tier"] = latest["plan_tier"].astype("object").reindex(out.index)
    out["billing_frequency"] = latest["billing_frequency"].astype("object").reindex(out.index)
    for column in ("seats", "mrr", "auto_renew", "is_trial", "upgraded", "downgraded"):
        out[column] = latest[column].reindex(out.index)
    out["days_to_renewal"] = _days(latest["renewal_date"] - t).reindex(out.index)
    out["subscription_ended"] = (latest["end_date"] < t).astype("float64").reindex(out.index)
    out["downgrades_365"] = (
        subs[subs["start_date"] >= t - pd.Timedelta(days=365)].groupby("account_id")["downgraded"].sum()
    ).reindex(out.index, fill_value=0.0)

    # Usage: level and trend over the last 30 days against the 30 before.
    usage = _usage_with_accounts(f)
    last_use = _before(usage, "day", t).groupby("account_id")["day"].max()
    recent = usage[(usage["day"] < t) & (usage["day"] >= t - pd.Timedelta(days=90))]
    age = _days(t - recent["day"])
    events = recent["events"].fillna(0.0)
    errors = recent["errors"].fillna(0.0)
    usage_parts = pd.DataFrame(
        {
            "account_id": recent["account_id"],
            "usage_events_30": events.where(age <= 30, 0.0),
            "usage_events_prev_30": events.where((age > 30) & (age <= 60), 0.0),
            "usage_events_90": events,
            "usage_errors_30": errors.where(age <= 30, 0.0),
            "usage_minutes_30": (recent["duration_seconds"].fillna(0.0) / 60.0).where(age <= 30, 0.0),
        }
    )
    sums = usage_parts.groupby("account_id").sum().reindex(out.index, fill_value=0.0)
    out = out.join(sums)
    out["usage_trend"] = np.log1p(out["usage_events_30"]) - np.log1p(out["usage_events_prev_30"])
    out["usage_error_rate_30"] = out["usage_errors_30"] / (out["usage_events_30"] + 1.0)
    # Big customers use more; use per seat says how healthy the account is, whatever its size.
    out["usage_per_seat_30"] = out["usage_events_30"] / out["seats"].where(out["seats"] > 0)
    features_30 = recent[age <= 30].groupby("account_id")["feature"].nunique()
    out["usage_features_30"] = features_30.reindex(out.index, fill_value=0).astype("float64")
    out["days_since_last_use"] = _days(t - last_use).reindex(out.index)

    # Tickets: volume, escalations and severity in 90 days; satisfaction only from tickets closed before the cutoff.
    tickets = _before(f["tickets"], "opened_at", t)
    tickets = tickets[tickets["opened_at"] >= t - pd.Timedelta(days=365)]
    t_age = _days(t - tickets["opened_at"])
    closed = tickets["closed_at"] < t
    urgent = tickets["priority"].astype("object").isin(("high", "urgent")).astype("float64")
    ticket_parts = pd.DataFrame(
        {
            "account_id": tickets["account_id"],
            "tickets_90": (t_age <= 90).astype("float64"),
            "tickets_365": 1.0,
            "ticket_escalations_90": tickets["escalated"].fillna(0.0).where(t_age <= 90, 0.0),
            "tickets_urgent_90": urgent.where(t_age <= 90, 0.0),
            "tickets_open": (~closed).astype("float64"),
        }
    )
    out = out.join(ticket_parts.groupby("account_id").sum().reindex(out.index, fill_value=0.0))
    closed_tickets = tickets[closed]
    out["ticket_satisfaction_365"] = closed_tickets.groupby("account_id")["satisfaction"].mean().reindex(out.index)
    out["ticket_resolution_hours_365"] = (
        closed_tickets.groupby("account_id")["resolution_hours"].mean().reindex(out.index)
    )

    # Surveys: the latest CSAT and NPS, and how many low answers in half a year.
    surveys = _before(f["surveys"], "responded_at", t).sort_values("responded_at", kind="stable")
    kind = surveys["kind"].astype("object")
    out["nps_last"] = surveys[kind == "nps"].groupby("account_id")["score"].last().reindex(out.index)
    out["csat_last"] = surveys[kind == "csat"].groupby("account_id")["score"].last().reindex(out.index)
    recent_surveys = surveys[surveys["responded_at"] >= t - pd.Timedelta(days=180)]
    r_kind = recent_surveys["kind"].astype("object")
    low = ((r_kind == "nps") & (recent_surveys["score"] <= 6)) | ((r_kind == "csat") & (recent_surveys["score"] <= 2))
    out["low_surveys_180"] = low.groupby(recent_surveys["account_id"]).sum().reindex(out.index, fill_value=0)
    out["low_surveys_180"] = out["low_surveys_180"].astype("float64")

    # Activities: inbound mail volume and tone, how long since we last talked, owner changes.
    activities = _before(f["activities"], "occurred_at", t)
    last_contact = activities.groupby("account_id")["occurred_at"].max()
    out["days_since_last_contact"] = _days(t - last_contact).reindex(out.index)
    activities = activities[activities["occurred_at"] >= t - pd.Timedelta(days=365)]
    a_age = _days(t - activities["occurred_at"])
    a_kind = activities["kind"].astype("object")
    inbound = ((a_kind == "email") & (activities["direction"].astype("object") == "inbound")).astype("float64")
    sentiment = activities["sentiment"]
    activity_parts = pd.DataFrame(
        {
            "account_id": activities["account_id"],
            "inbound_emails_30": inbound.where(a_age <= 30, 0.0),
            "inbound_emails_prev_60": inbound.where((a_age > 30) & (a_age <= 90), 0.0),
            "negative_emails_90": (inbound * (sentiment < -0.3)).where(a_age <= 90, 0.0),
            "meetings_90": ((a_kind == "meeting") | (a_kind == "call")).astype("float64").where(a_age <= 90, 0.0),
            "owner_changes_365": (a_kind == "owner_change").astype("float64"),
        }
    )
    out = out.join(activity_parts.groupby("account_id").sum().reindex(out.index, fill_value=0.0))
    inbound_90 = activities[(inbound > 0) & (a_age <= 90)]
    out["email_sentiment_90"] = inbound_90.groupby("account_id")["sentiment"].mean().reindex(out.index)

    # Projects: delays and overruns of those finished before the cutoff; running ones already past their end.
    projects = _before(f["projects"], "planned_start", t)
    finished = projects[projects["actual_end"] < t]
    running_late = projects[~(projects["actual_end"] < t) & (projects["planned_end"] < t)]
    out["projects_started"] = projects.groupby("account_id").size().reindex(out.index, fill_value=0).astype(float)
    out["projects_late_running"] = running_late.groupby("account_id").size().reindex(out.index, fill_value=0)
    out["projects_late_running"] = out["projects_late_running"].astype("float64")
    overrun = finished["actual_cost"] / finished["planned_budget"] - 1.0
    out["project_overrun_mean"] = overrun.groupby(finished["account_id"]).mean().reindex(out.index)
    delay = _days(finished["actual_end"] - finished["planned_end"])
    out["project_delay_days_mean"] = delay.groupby(finished["account_id"]).mean().reindex(out.index)

    # Invoices: what is overdue on the cutoff and how late the last year's were paid.
    invoices = _before(f["invoices"], "issued_at", t)
    unpaid_on_cutoff = ~(invoices["paid_at"] < t)
    overdue = unpaid_on_cutoff & (invoices["due_at"] < t)
    paid = invoices[(invoices["paid_at"] < t) & (invoices["issued_at"] >= t - pd.Timedelta(days=365))]
    out["invoices_overdue"] = overdue.groupby(invoices["account_id"]).sum().reindex(out.index, fill_value=0)
    out["invoices_overdue"] = out["invoices_overdue"].astype("float64")
    overdue_amount = invoices["amount"].where(overdue, 0.0)
    out["overdue_amount"] = overdue_amount.groupby(invoices["account_id"]).sum().reindex(out.index, fill_value=0.0)
    pay_delay = _days(paid["paid_at"] - paid["due_at"])
    out["payment_delay_days_365"] = pay_delay.groupby(paid["account_id"]).mean().reindex(out.index)

    churns = _before(f["churn_events"], "churned_at", t)
    out["past_churns"] = (
        churns[churns["is_reactivation"].fillna(0.0) < 0.5]
        .groupby("account_id")
        .size()
        .reindex(out.index, fill_value=0)
    ).astype("float64")

    for column in CATEGORICAL_ACCOUNT_FEATURES:
        out[column] = out[column].astype("object")
    return out


def churn_labels(frames: Frames, accounts: pd.Index, as_of: date, horizon_days: int = CHURN_HORIZON_DAYS) -> pd.Series:
    """1 when the account has a (non-reactivation) churn event in [as_of, as_of + horizon)."""
    f = normalise_frames(frames)
    t = _cutoff(as_of)
    events = f["churn_events"]
    window = events[
        (events["churned_at"] >= t)
        & (events["churned_at"] < t + pd.Timedelta(days=horizon_days))
        & (events["is_reactivation"].fillna(0.0) < 0.5)
    ]
    return pd.Series(accounts.isin(window["account_id"]).astype("int64"), index=accounts, name="churned")


def monthly_cutoffs(last: date, count: int, horizon_days: int = CHURN_HORIZON_DAYS, step_months: int = 1) -> list[date]:
    """`count` month starts `step_months` apart, oldest first; the newest is at least `horizon_days` before `last`,
    so every label window ends inside the known history."""
    newest = (pd.Timestamp(last) - pd.Timedelta(days=horizon_days)).to_period("M").to_timestamp()
    return [(newest - pd.DateOffset(months=k * step_months)).date() for k in range(count - 1, -1, -1)]


def churn_dataset(frames: Frames, cutoffs: Iterable[date]) -> pd.DataFrame:
    """Stacked account features at several cutoffs, with columns `as_of` and `churned` (the label)."""
    f = normalise_frames(frames)
    parts = []
    for cutoff in cutoffs:
        features = account_features(f, cutoff)
        labels = churn_labels(f, features.index, cutoff)
        parts.append(features.assign(as_of=pd.Timestamp(cutoff), churned=labels.to_numpy()))
    return pd.concat(parts) if parts else pd.DataFrame()


def _keyword_columns(descriptions: pd.Series) -> dict[str, pd.Series]:
    text = descriptions.fillna("").astype("object").astype(str).str.lower()
    columns = {
        f"mentions_{word}": text.str.contains(rf"\b{re.escape(word)}", regex=True).astype("float64")
        for word in DESCRIPTION_KEYWORDS
    }
    columns["description_words"] = text.str.split().str.len().astype("float64")
    return columns


def _history_asof(events: pd.DataFrame, time: str, values: list[str], queries: pd.DataFrame) -> pd.DataFrame:
    """Per query (account_id, cutoff), the running sums of `values` over the account's events strictly before cutoff.

    One sort and one `merge_asof`: a running total per account, looked up at each query's cutoff.
    """
    events = events.dropna(subset=[time, "account_id"]).sort_values(time, kind="stable")
    running = events.groupby("account_id")[values].cumsum()
    running["_count"] = events.groupby("account_id").cumcount() + 1.0
    running["account_id"] = events["account_id"].astype("object")
    running["_time"] = events[time].astype("datetime64[ns]")
    left = queries.reset_index(drop=True).assign(_row=lambda q: np.arange(len(q)))
    left["account_id"] = left["account_id"].astype("object")
    left["_cutoff"] = pd.to_datetime(left["_cutoff"]).astype("datetime64[ns]")
    left = left.dropna(subset=["_cutoff"]).sort_values("_cutoff", kind="stable")
    right = running.sort_values("_time", kind="stable")
    merged = pd.merge_asof(
        left,
        right,
        left_on="_cutoff",
        right_on="_time",
        by="account_id",
        allow_exact_matches=False,
        direction="backward",
    )
    merged = merged.set_index("_row").reindex(np.arange(len(queries)))
    result = merged[[*values, "_count"]].fillna(0.0)
    result.index = queries.index
    return result


def project_features(frames: Frames, as_of: date | None = None, briefs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Kickoff features: the brief's own fields plus the account's history before each row's cutoff.

    `briefs` has the `BRIEF_COLUMNS` (default: every row of `projects`); the cutoff is `as_of` when given,
    otherwise each row's `planned_start` (a project is estimated at its kickoff). Actual figures of other
    projects count only once those projects ended before the cutoff.
    """
    f = normalise_frames(frames)
    rows = f["projects"] if briefs is None else briefs.copy()
    for column in BRIEF_COLUMNS:
        if column not in rows.columns:
            rows[column] = None
    if as_of is not None:
        cutoff = pd.Series(_cutoff(as_of), index=rows.index)
    else:
        cutoff = pd.to_datetime(rows["planned_start"], errors="coerce")
    accounts = f["accounts"].set_index("id")
    deals = f["deals"].set_index("id")
    out = pd.DataFrame(index=rows.index)
    segment = rows["account_id"].map(accounts["segment"].astype("object"))
    if "segment" in rows.columns:
        segment = rows["segment"].astype("object").where(rows["segment"].notna(), segment)
    out["segment"] = segment.astype("object")
    out["product"] = rows["product"].astype("object")
    out["contract_type"] = rows["contract_type"].astype("object")
    for column in ("team_size", "scope_items", "planned_budget", "sales_estimate_hours"):
        out[column] = pd.to_numeric(rows[column], errors="coerce").astype("float64")
    deal_amount = rows["deal_id"].map(deals["amount"]) if len(deals) else pd.Series(np.nan, index=rows.index)
    if "deal_amount" in rows.columns:
        deal_amount = pd.to_numeric(rows["deal_amount"], errors="coerce").fillna(deal_amount)
    out["deal_amount"] = pd.to_numeric(deal_amount, errors="coerce").astype("float64")
    out["budget_per_scope_item"] = out["planned_budget"] / out["scope_items"].where(out["scope_items"] > 0)
    out["sales_hours_per_scope_item"] = out["sales_estimate_hours"] / out["scope_items"].where(out["scope_items"] > 0)
    out = out.assign(**_keyword_columns(rows["description"]))

    created = rows["account_id"].map(accounts["created_at"])
    out["account_tenure_days"] = _days(cutoff - pd.to_datetime(created))

    queries = pd.DataFrame({"account_id": rows["account_id"].astype("object"), "_cutoff": cutoff}, index=rows.index)
    # Past projects enter the history on the day they ended: their actuals are unknown before that.
    past = f["projects"]
    past = past[past["actual_end"].notna() & past["actual_cost"].notna() & (past["planned_budget"] > 0)]
    past = past.assign(
        _overrun=past["actual_cost"] / past["planned_budget"] - 1.0,
        _overran=(past["actual_cost"] > past["planned_budget"] * (1 + OVERRUN_TOLERANCE)).astype("float64"),
        _delay=_days(past["actual_end"] - past["planned_end"]).fillna(0.0),
    )
    hist = _history_asof(past, "actual_end", ["_overrun", "_overran", "_delay"], queries)
    n = hist["_count"]
    out["account_past_projects"] = n
    out["account_past_overrun_mean"] = (hist["_overrun"] / n).where(n > 0)
    out["account_past_overrun_share"] = (hist["_overran"] / n).where(n > 0)
    out["account_past_delay_days_mean"] = (hist["_delay"] / n).where(n > 0)

    tickets = f["tickets"].assign(_escalated=f["tickets"]["escalated"].fillna(0.0))
    now = _history_asof(tickets, "opened_at", ["_escalated"], queries)
    year_ago = _history_asof(
        tickets, "opened_at", ["_escalated"], queries.assign(_cutoff=cutoff - pd.Timedelta(days=365))
    )
    out["account_tickets_365"] = now["_count"] - year_ago["_count"]
    out["account_escalations_365"] = now["_escalated"] - year_ago["_escalated"]

    for column in CATEGORICAL_PROJECT_FEATURES:
        out[column] = out[column].astype("object")
    return out


def project_targets(frames: Frames) -> pd.DataFrame:
    """Outcomes of finished projects: effort hours, duration days, overrun flag and overrun share, `planned_start`."""
    f = normalise_frames(frames)
    p = f["projects"]
    done = p[p["actual_end"].notna() & p["actual_start"].notna() & p["actual_hours"].notna() & p["actual_cost"].notna()]
    done = done[done["planned_budget"] > 0]
    return pd.DataFrame(
        {
            "effort_hours": done["actual_hours"],
            "duration_days": _days(done["actual_end"] - done["actual_start"]),
            "overrun": (done["actual_cost"] > done["planned_budget"] * (1 + OVERRUN_TOLERANCE)).astype("int64"),
            "overrun_pct": done["actual_cost"] / done["planned_budget"] - 1.0,
            "planned_start": done["planned_start"],
        },
        index=done.index,
    )
