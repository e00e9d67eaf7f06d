"""Point-in-time features and labels from the CRM frames: every number for a cutoff uses only rows before it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from handoff.crm.dictionary import ENTITIES_BY_NAME

Frames = Mapping[str, pd.DataFrame]

CHURN_HORIZON_DAYS = 90
# Activities that are no contact with the customer: handoff's own notes (the loop's project progress, a task done in
# Jira) and CRM bookkeeping. Counting them would make an account nobody spoke to for months look recently contacted.
NOT_CONTACT_KINDS = ("event", "owner_change")
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


def _parse_datetimes(column: pd.Series) -> pd.Series:
    """Dates and datetimes as the stores return them (ISO text from SQLite, date objects from PostgreSQL); anything
    else is unknown. A fixed ISO 8601 parse keeps one odd cell from sending every row through dateutil."""
    try:
        return pd.to_datetime(column, errors="coerce", format="ISO8601")
    except ValueError:  # offsets that differ row to row: compare them in UTC
        return pd.to_datetime(column, errors="coerce", format="ISO8601", utc=True)


def _nanoseconds(column: pd.Series) -> pd.Series:
    """Datetimes at nanosecond resolution; a day it cannot hold (before 1677 or after 2262, say a task "due" in the
    year 9999) reads as unknown rather than failing the whole table, and with it a churn score or a nightly run."""
    if column.dtype != "datetime64[ns]":
        column = column.where(column.between(pd.Timestamp.min, pd.Timestamp.max))
    return column.astype("datetime64[ns]")


def normalise_frames(frames: Frames, entities: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """Typed copies of the CRM frames (dates as datetime64, numbers as float); missing entities become empty frames.

    `entities` limits the output to those (all by default): typing nine empty tables cost the estimate's project
    history more than its two real ones. Idempotent and cheap on frames that are already typed, so callers may pass
    either raw or normalised frames.
    """
    out: dict[str, pd.DataFrame] = {}
    for name in ENTITIES_BY_NAME if entities is None else entities:
        entity = ENTITIES_BY_NAME[name]
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
                    column = _parse_datetimes(column)
                if getattr(column.dt, "tz", None) is not None:
                    column = column.dt.tz_convert("UTC").dt.tz_localize(None)
                changes[field.name] = _nanoseconds(column)
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


class _Accounts:
    """Row -> position of its account among the active ones, found once per entity; aggregates are numpy bincounts.

    Hashing account ids is the expensive part at a million accounts, so it happens once per entity, and every
    aggregate after that runs on integer positions.
    """

    def __init__(self, ids: pd.Index) -> None:
        self.ids = ids
        self.n = len(ids)

    def rows(self, frame: pd.DataFrame, column: str = "account_id") -> tuple[pd.DataFrame, np.ndarray]:
        """The rows of active accounts and their positions."""
        codes = self.ids.get_indexer(frame[column])
        keep = codes >= 0
        return frame[keep], codes[keep]

    def sum(self, codes: np.ndarray, values: Any = None) -> np.ndarray:
        if values is None:
            return np.bincount(codes, minlength=self.n).astype("float64")
        weights = np.nan_to_num(np.asarray(values, dtype="float64"), nan=0.0)
        return np.bincount(codes, weights=weights, minlength=self.n)

    def mean(self, codes: np.ndarray, values: Any) -> np.ndarray:
        values = np.asarray(values, dtype="float64")
        known = ~np.isnan(values)
        total = np.bincount(codes[known], weights=values[known], minlength=self.n)
        count = np.bincount(codes[known], minlength=self.n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def latest_positions(self, codes: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each account with rows: (its code, the row position of its latest row), ties to the later row."""
        order = np.lexsort((np.arange(len(codes)), times, codes))
        sorted_codes = codes[order]
        last = np.r_[sorted_codes[1:] != sorted_codes[:-1], True] if len(order) else np.array([], dtype=bool)
        return sorted_codes[last], order[last]

    def max_time(self, codes: np.ndarray, times: pd.Series) -> np.ndarray:
        """Latest timestamp per account as float days before nothing: returned as datetime64[ns] (NaT when none)."""
        values = times.to_numpy(dtype="datetime64[ns]").view("int64")
        known = ~times.isna().to_numpy()
        out = np.full(self.n, np.iinfo("int64").min, dtype="int64")
        np.maximum.at(out, codes[known], values[known])
        return out.view("datetime64[ns]")

    def place(self, codes: np.ndarray, values: np.ndarray, fill: Any = np.nan, dtype: Any = "float64") -> np.ndarray:
        out = np.full(self.n, fill, dtype=dtype)
        out[codes] = values
        return out


def _age_days(t: pd.Timestamp, times: pd.Series) -> np.ndarray:
    return (t.to_datetime64().astype("datetime64[ns]") - times.to_numpy(dtype="datetime64[ns]")) / np.timedelta64(
        1, "D"
    )


def _since(t: pd.Timestamp, latest: np.ndarray) -> np.ndarray:
    days = (t.to_datetime64().astype("datetime64[ns]") - latest) / np.timedelta64(1, "D")
    return np.where(np.isnat(latest), np.nan, days)


def _days_to_next_renewal(t: pd.Timestamp, renewal: pd.Series) -> np.ndarray:
    """Days from the cutoff to the first renewal on or after it, reading the stored date as a yearly anniversary.

    A CRM keeps a subscription's renewal date as today's state: it moves a year on at every renewal and stops moving
    when the account leaves. Read as it is for a past cutoff, it tells the future (a near date then marks an account
    that later left, a far one an account that stayed). Rolled back by whole years to the first anniversary on or
    after the cutoff it says only what was known then; at today's cutoff it is the stored date itself. A date
    already past stays past (negative: overdue).
    """
    stamps = renewal.to_numpy(dtype="datetime64[ns]")
    known = ~np.isnat(stamps)
    day = np.where(known, stamps, np.datetime64(t.normalize())).astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    into_month = day - month.astype("datetime64[D]")
    cutoff = t.to_datetime64().astype("datetime64[ns]")
    years = np.maximum((month - np.datetime64(t, "M")).astype("int64") // 12, 0)

    def rolled(k: np.ndarray) -> np.ndarray:
        start = month - (12 * k).astype("timedelta64[M]")
        length = (start + np.timedelta64(1, "M")).astype("datetime64[D]") - start.astype("datetime64[D]")
        # 29 February rolled to a common year is the 28th
        return (start.astype("datetime64[D]") + np.minimum(into_month, length - 1)).astype("datetime64[ns]")

    nearest = rolled(years)
    before = (nearest < cutoff) & (years > 0)  # the anniversary in the cutoff's own month, earlier that month
    nearest = np.where(before, rolled(years - 1), nearest)
    days = (nearest - cutoff) / np.timedelta64(1, "D")
    return np.where(known, days, np.nan)


def account_features(frames: Frames, as_of: date) -> pd.DataFrame:
    """One row per account active on `as_of` (index `account_id`), built only from rows dated before `as_of`.

    Vectorised: each entity is filtered once and its account ids hashed once; every aggregate is a numpy bincount
    on integer positions, so a million accounts cost seconds, not hours.
    """
    f = normalise_frames(frames)
    t = _cutoff(as_of)
    accounts = active_accounts(f, as_of)
    index = pd.Index(accounts.index, name="account_id")
    acc = _Accounts(index)
    col: dict[str, Any] = {}
    col["tenure_days"] = _age_days(t, accounts["created_at"])
    col["segment"] = accounts["segment"].astype("object").to_numpy()
    col["industry"] = accounts["industry"].astype("object").to_numpy()

    # Subscriptions: the latest one started before the cutoff; its end only counts once it has happened.
    subs, s_codes = acc.rows(_before(f["subscriptions"], "start_date", t))
    owner, latest = acc.latest_positions(s_codes, subs["start_date"].to_numpy(dtype="datetime64[ns]").view("int64"))
    chosen = subs.iloc[latest]
    col["plan_tier"] = acc.place(owner, chosen["plan_tier"].astype("object").to_numpy(), None, object)
    col["billing_frequency"] = acc.place(owner, chosen["billing_frequency"].astype("object").to_numpy(), None, object)
    for column in ("seats", "mrr", "auto_renew", "is_trial", "upgraded", "downgraded"):
        col[column] = acc.place(owner, chosen[column].to_numpy(dtype="float64"))
    col["days_to_renewal"] = acc.place(owner, _days_to_next_renewal(t, chosen["renewal_date"]))
    ended = (chosen["end_date"] < t).to_numpy(dtype="float64")
    col["subscription_ended"] = acc.place(owner, ended)
    recent_subs = (subs["start_date"] >= t - pd.Timedelta(days=365)).to_numpy()
    col["downgrades_365"] = acc.sum(s_codes[recent_subs], subs["downgraded"].to_numpy(dtype="float64")[recent_subs])

    # Usage: level and trend over the last 30 days against the 30 before.
    usage = _before(_usage_with_accounts(f), "day", t)
    usage, u_codes = acc.rows(usage)
    last_use = acc.max_time(u_codes, usage["day"])
    age = _age_days(t, usage["day"])
    window = age <= 90
    codes90, age90 = u_codes[window], age[window]
    events = usage["events"].to_numpy(dtype="float64")[window]
    errors = usage["errors"].to_numpy(dtype="float64")[window]
    minutes = usage["duration_seconds"].to_numpy(dtype="float64")[window] / 60.0
    last30, prev30 = age90 <= 30, (age90 > 30) & (age90 <= 60)
    col["usage_events_30"] = acc.sum(codes90[last30], events[last30])
    col["usage_events_prev_30"] = acc.sum(codes90[prev30], events[prev30])
    col["usage_events_90"] = acc.sum(codes90, events)
    col["usage_errors_30"] = acc.sum(codes90[last30], errors[last30])
    col["usage_minutes_30"] = acc.sum(codes90[last30], minutes[last30])
    col["usage_trend"] = np.log1p(col["usage_events_30"]) - np.log1p(col["usage_events_prev_30"])
    col["usage_error_rate_30"] = col["usage_errors_30"] / (col["usage_events_30"] + 1.0)
    # Big customers use more; use per seat says how healthy the account is, whatever its size.
    seats = np.where(col["seats"] > 0, col["seats"], np.nan)
    col["usage_per_seat_30"] = col["usage_events_30"] / seats
    feature_codes = pd.factorize(usage["feature"].to_numpy()[window][last30])[0]
    named = feature_codes >= 0
    width = int(feature_codes.max(initial=0)) + 1
    pairs = pd.unique(codes90[last30][named].astype("int64") * width + feature_codes[named])
    col["usage_features_30"] = acc.sum(pairs // width)
    col["days_since_last_use"] = _since(t, last_use)

    # Tickets: volume, escalations and severity in 90 days; satisfaction only from tickets closed before the cutoff.
    tickets = _before(f["tickets"], "opened_at", t)
    tickets, k_codes = acc.rows(tickets[tickets["opened_at"] >= t - pd.Timedelta(days=365)])
    k_age = _age_days(t, tickets["opened_at"])
    in90 = k_age <= 90
    closed = (tickets["closed_at"] < t).to_numpy()
    urgent = tickets["priority"].isin(("high", "urgent")).to_numpy(dtype=bool)
    escalated = tickets["escalated"].to_numpy(dtype="float64")
    col["tickets_90"] = acc.sum(k_codes[in90])
    col["tickets_365"] = acc.sum(k_codes)
    col["ticket_escalations_90"] = acc.sum(k_codes[in90], escalated[in90])
    col["tickets_urgent_90"] = acc.sum(k_codes[in90 & urgent])
    col["tickets_open"] = acc.sum(k_codes[~closed])
    col["ticket_satisfaction_365"] = acc.mean(k_codes[closed], tickets["satisfaction"].to_numpy("float64")[closed])
    col["ticket_resolution_hours_365"] = acc.mean(
        k_codes[closed], tickets["resolution_hours"].to_numpy("float64")[closed]
    )

    # Surveys: the latest CSAT and NPS, and how many low answers in half a year.
    surveys, v_codes = acc.rows(_before(f["surveys"], "responded_at", t))
    # Comparisons on the (Arrow) string columns themselves: converting a million strings to objects costs more.
    is_nps = (surveys["kind"] == "nps").to_numpy(dtype=bool, na_value=False)
    is_csat = (surveys["kind"] == "csat").to_numpy(dtype=bool, na_value=False)
    score = surveys["score"].to_numpy("float64")
    v_times = surveys["responded_at"].to_numpy(dtype="datetime64[ns]").view("int64")
    for name, mask in (("nps_last", is_nps), ("csat_last", is_csat)):
        owner, latest = acc.latest_positions(v_codes[mask], v_times[mask])
        col[name] = acc.place(owner, score[mask][latest])
    recent = (surveys["responded_at"] >= t - pd.Timedelta(days=180)).to_numpy()
    low = (is_nps & (score <= 6)) | (is_csat & (score <= 2))
    col["low_surveys_180"] = acc.sum(v_codes[recent & low])

    # Activities: inbound mail volume and tone, how long since we last talked, owner changes.
    activities, a_codes = acc.rows(_before(f["activities"], "occurred_at", t))
    a_age = _age_days(t, activities["occurred_at"])
    year = a_age <= 365
    a_kind = activities["kind"]

    def kind_is(*names: str) -> np.ndarray:
        return a_kind.isin(names).to_numpy(dtype=bool)

    contact = ~kind_is(*NOT_CONTACT_KINDS)
    col["days_since_last_contact"] = _since(t, acc.max_time(a_codes[contact], activities["occurred_at"][contact]))

    inbound = kind_is("email") & (activities["direction"] == "inbound").to_numpy(dtype=bool, na_value=False)
    sentiment = activities["sentiment"].to_numpy("float64")
    with np.errstate(invalid="ignore"):
        negative = sentiment < -0.3
    col["inbound_emails_30"] = acc.sum(a_codes[inbound & (a_age <= 30)])
    col["inbound_emails_prev_60"] = acc.sum(a_codes[inbound & (a_age > 30) & (a_age <= 90)])
    col["negative_emails_90"] = acc.sum(a_codes[inbound & negative & (a_age <= 90)])
    col["meetings_90"] = acc.sum(a_codes[kind_is("meeting", "call") & (a_age <= 90)])
    col["owner_changes_365"] = acc.sum(a_codes[kind_is("owner_change") & year])
    mail90 = inbound & (a_age <= 90)
    col["email_sentiment_90"] = acc.mean(a_codes[mail90], sentiment[mail90])

    # Projects: delays and overruns of those finished before the cutoff; running ones already past their end.
    projects, p_codes = acc.rows(_before(f["projects"], "planned_start", t))
    finished = (projects["actual_end"] < t).to_numpy()
    late = ~finished & (projects["planned_end"] < t).to_numpy()
    col["projects_started"] = acc.sum(p_codes)
    col["projects_late_running"] = acc.sum(p_codes[late])
    overrun = (projects["actual_cost"] / projects["planned_budget"] - 1.0).to_numpy("float64")
    col["project_overrun_mean"] = acc.mean(p_codes[finished], overrun[finished])
    delay = _days(projects["actual_end"] - projects["planned_end"]).to_numpy("float64")
    col["project_delay_days_mean"] = acc.mean(p_codes[finished], delay[finished])

    # Invoices: what is overdue on the cutoff and how late the last year's were paid.
    invoices, i_codes = acc.rows(_before(f["invoices"], "issued_at", t))
    overdue = (~(invoices["paid_at"] < t) & (invoices["due_at"] < t)).to_numpy()
    col["invoices_overdue"] = acc.sum(i_codes[overdue])
    col["overdue_amount"] = acc.sum(i_codes[overdue], invoices["amount"].to_numpy("float64")[overdue])
    paid = ((invoices["paid_at"] < t) & (invoices["issued_at"] >= t - pd.Timedelta(days=365))).to_numpy()
    pay_delay = _days(invoices["paid_at"] - invoices["due_at"]).to_numpy("float64")
    col["payment_delay_days_365"] = acc.mean(i_codes[paid], pay_delay[paid])

    churns, c_codes = acc.rows(_before(f["churn_events"], "churned_at", t))
    lost = churns["is_reactivation"].fillna(0.0).to_numpy("float64") < 0.5
    col["past_churns"] = acc.sum(c_codes[lost])

    out = pd.DataFrame(col, index=index)
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


def _history_asof_or_nan(
    events: pd.DataFrame, time: str, values: list[str], queries: pd.DataFrame, index: pd.Index
) -> pd.DataFrame:
    """`_history_asof` for the queries that have an account; rows without one get NaN."""
    if queries.empty:
        return pd.DataFrame(np.nan, index=index, columns=[*values, "_count"])
    return _history_asof(events, time, values, queries).reindex(index)


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

    # reindex, not map: `map` of all-missing ids casts a datetime lookup to float and raises.
    created = pd.Series(
        accounts["created_at"].reindex(rows["account_id"].astype("object")).to_numpy(), index=rows.index
    )
    out["account_tenure_days"] = _days(cutoff - pd.to_datetime(created))

    queries = pd.DataFrame({"account_id": rows["account_id"].astype("object"), "_cutoff": cutoff}, index=rows.index)
    # A bare brief (no account) has no history: its history features are NaN, not zero.
    queries = queries[queries["account_id"].notna()]
    # Past projects enter the history on the day they ended: their actuals are unknown before that.
    past = f["projects"]
    past = past[past["actual_end"].notna() & past["actual_cost"].notna() & (past["planned_budget"] > 0)]
    past = past.assign(
        _overrun=past["actual_cost"] / past["planned_budget"] - 1.0,
        _overran=(past["actual_cost"] > past["planned_budget"] * (1 + OVERRUN_TOLERANCE)).astype("float64"),
        _delay=_days(past["actual_end"] - past["planned_end"]).fillna(0.0),
    )
    hist = _history_asof_or_nan(past, "actual_end", ["_overrun", "_overran", "_delay"], queries, rows.index)
    n = hist["_count"]
    out["account_past_projects"] = n
    out["account_past_overrun_mean"] = (hist["_overrun"] / n).where(n > 0)
    out["account_past_overrun_share"] = (hist["_overran"] / n).where(n > 0)
    out["account_past_delay_days_mean"] = (hist["_delay"] / n).where(n > 0)

    tickets = f["tickets"].assign(_escalated=f["tickets"]["escalated"].fillna(0.0))
    now = _history_asof_or_nan(tickets, "opened_at", ["_escalated"], queries, rows.index)
    year_ago = _history_asof_or_nan(
        tickets,
        "opened_at",
        ["_escalated"],
        queries.assign(_cutoff=queries["_cutoff"] - pd.Timedelta(days=365)),
        rows.index,
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
