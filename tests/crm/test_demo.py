"""The demo CRM history: deterministic, referentially whole, causally informative and free of label leaks."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from handoff.crm.demo import generate
from handoff.crm.dictionary import ENTITIES, ENTITIES_BY_NAME
from handoff.crm.frames import dtypes

END = date(2026, 10, 31)
END_TS = pd.Timestamp(END) + pd.Timedelta(days=1)  # anything on the last day is fine


@pytest.fixture(scope="module")
def history() -> dict[str, pd.DataFrame]:
    """Big enough for the causal checks to be stable, small enough to build in a few seconds."""
    return generate(accounts=700, seed=11, end=END)


def test_same_seed_same_history_and_other_seed_differs() -> None:
    first = generate(accounts=60, seed=3)
    second = generate(accounts=60, seed=3)
    other = generate(accounts=60, seed=4)
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name])
    assert not first["accounts"].equals(other["accounts"])
    assert not first["usage"].equals(other["usage"])


def test_frames_have_exactly_the_dictionary_fields_and_dtypes(history) -> None:
    assert list(history) == [e.name for e in ENTITIES]
    for ent in ENTITIES:
        frame = history[ent.name]
        assert list(frame.columns) == list(ent.field_names), ent.name
        for column, dtype in dtypes(ent).items():
            assert frame[column].dtype == dtype, (ent.name, column, frame[column].dtype)
        assert len(frame) > 0, ent.name
        assert frame[ent.key].is_unique, ent.name
        for f in ent.fields:
            if f.required:
                assert frame[f.name].notna().all(), (ent.name, f.name)
            if f.choices:
                assert set(frame[f.name].dropna()) <= set(f.choices), (ent.name, f.name)


def test_every_reference_resolves(history) -> None:
    for ent in ENTITIES:
        for f in ent.fields:
            if not f.references:
                continue
            target, key = f.references.split(".")
            values = set(history[ent.name][f.name].dropna())
            dangling = values - set(history[target][key])
            assert not dangling, f"{ent.name}.{f.name}: {sorted(dangling)[:5]}"


def test_contacts_and_team_look_like_the_brief(history) -> None:
    team = history["team_members"]
    assert 40 <= len(team) <= 60
    assert set(team.role) >= {"sales", "pm", "engineer", "account_owner"}
    assert team.email.str.endswith("@handoff-demo.com").all()
    assert team.aliases.str.contains("@").all()
    accounts = history["accounts"].set_index("id")
    assert accounts.domain.is_unique
    assert set(accounts.owner_id) <= set(team[team.role == "account_owner"].id)
    contacts = history["contacts"]
    per_account = contacts.groupby("account_id").size()
    assert per_account.between(2, 5).all()
    domains = contacts.email.str.split("@").str[1]
    assert (domains == contacts.account_id.map(accounts.domain)).all()
    assert 0.6 < history["projects"].sales_estimate_hours.notna().mean() < 0.8


def test_status_agrees_with_churn_events(history) -> None:
    accounts = history["accounts"].set_index("id")
    churned = set(history["churn_events"].account_id)
    assert set(accounts.index[accounts.status == "churned"]) == churned
    assert 0.1 < len(churned) / len(accounts) < 0.6


def test_nothing_is_known_before_it_happens(history) -> None:
    """No row is dated after the history's end; outcomes appear only once they happened."""
    for ent in ENTITIES:
        if ent.time_field and ent.name != "projects":  # a planned start may lie ahead: it is a plan
            assert (history[ent.name][ent.time_field].dropna() < END_TS).all(), ent.name
    for entity_name, column in (
        ("tickets", "closed_at"),
        ("invoices", "paid_at"),
        ("tasks", "completed_at"),
        ("deals", "closed_at"),
        ("projects", "actual_end"),
        ("projects", "actual_start"),
    ):
        assert (history[entity_name][column].dropna() < END_TS).all(), (entity_name, column)
    projects = history["projects"]
    unfinished = projects[projects.status.isin(["active", "planned"])]
    assert unfinished[["actual_end", "actual_hours", "actual_cost"]].isna().all().all()
    assert projects.loc[projects.status == "planned", "actual_start"].isna().all()
    done = projects[projects.status == "done"]
    assert done[["actual_start", "actual_end", "actual_hours", "actual_cost"]].notna().all().all()
    tasks = history["tasks"]
    assert tasks.loc[tasks.status != "done", ["actual_hours", "completed_at"]].isna().all().all()
    deals = history["deals"]
    assert deals.loc[deals.stage == "open", "closed_at"].isna().all()
    assert (deals.stage == "open").any() and (projects.status == "active").any()
    tickets = history["tickets"]
    assert tickets.loc[tickets.closed_at.isna(), ["resolution_hours", "satisfaction"]].isna().all().all()


def test_nothing_happens_after_an_account_left(history) -> None:
    churned_at = history["churn_events"].set_index("account_id").churned_at
    for entity_name, column in (
        ("usage", "day"),
        ("activities", "occurred_at"),
        ("tickets", "opened_at"),
        ("surveys", "responded_at"),
        ("invoices", "issued_at"),
        ("subscriptions", "start_date"),
        ("deals", "created_at"),
        ("deals", "closed_at"),
        ("projects", "actual_end"),
    ):
        frame = history[entity_name]
        cutoff = frame.account_id.map(churned_at)
        late = frame[cutoff.notna() & (frame[column] > cutoff)]
        assert late.empty, (entity_name, column, late.head())
    subscriptions = history["subscriptions"]
    open_subscriptions = subscriptions[subscriptions.end_date.isna()]
    assert not open_subscriptions.account_id.isin(churned_at.index).any()


def _snapshots(history: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Point-in-time features every quarter for live accounts, labelled with churn in the next 90 days."""
    accounts = history["accounts"].set_index("id")
    churned_at = history["churn_events"].set_index("account_id").churned_at
    usage, surveys = history["usage"], history["surveys"]
    rows = []
    for snap in pd.date_range("2023-07-01", "2026-07-01", freq="QS"):
        live = accounts[(accounts.created_at < snap - pd.Timedelta(days=180))]
        live = live[~live.index.isin(churned_at[churned_at <= snap].index)]
        label = live.index.isin(churned_at[(churned_at > snap) & (churned_at <= snap + pd.Timedelta(days=90))].index)
        window = usage[(usage.day < snap) & (usage.day >= snap - pd.Timedelta(days=112))]
        half = (snap - window.day).dt.days // 56
        recent = window[half == 0].groupby("account_id").events.mean()
        before = window[half == 1].groupby("account_id").events.mean()
        trend = np.log((recent + 1) / (before + 1)).reindex(live.index).fillna(0)
        nps = surveys[(surveys.responded_at < snap) & (surveys.kind == "nps")]
        last_nps = nps.groupby("account_id").score.last().reindex(live.index).fillna(7)
        rows.append(pd.DataFrame({"churn": label, "trend": trend.to_numpy(), "nps": last_nps.to_numpy()}))
    return pd.concat(rows, ignore_index=True)


def _auc(label: pd.Series, score: pd.Series) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(label, score))


def test_falling_usage_and_low_nps_precede_churn_but_do_not_give_it_away(history) -> None:
    snapshots = _snapshots(history)
    assert snapshots.churn.sum() > 50
    trend_auc = _auc(snapshots.churn, -snapshots.trend)
    nps_auc = _auc(snapshots.churn, -snapshots.nps)
    assert 0.55 < trend_auc < 0.85
    assert 0.55 < nps_auc < 0.85


def test_project_overruns_follow_their_causes(history) -> None:
    done = history["projects"][lambda p: p.status == "done"]
    overrun = done.actual_cost / done.planned_budget > 1.1
    assert 0.2 < overrun.mean() < 0.7
    sap = done.description.str.contains("SAP")
    assert overrun[sap].mean() > overrun[~sap].mean() + 0.05
    with_estimate = done.dropna(subset=["sales_estimate_hours"])
    log_ratio = np.log(with_estimate.sales_estimate_hours / with_estimate.actual_hours)
    assert log_ratio.median() < -0.1  # optimistic
    assert np.corrcoef(np.log(with_estimate.sales_estimate_hours), np.log(with_estimate.actual_hours))[0, 1] > 0.5
    assert log_ratio.std() > 0.2  # but noisy: a model can learn its error


def test_the_dictionary_entities_are_all_generated(history) -> None:
    assert set(history) == set(ENTITIES_BY_NAME)
