"""Churn's training snapshots: one row per active account per cutoff, features only from before it, labels after."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from handoff.crm.dictionary import ENTITIES_BY_NAME
from handoff.risk import features as feats
from handoff.risk import training

# Dates that record an outcome, unknown until it happened; planned dates (renewal, due, planned end) are known early.
OUTCOME_DATES = {
    "tickets": ("closed_at",),
    "invoices": ("paid_at",),
    "subscriptions": ("end_date",),
    "projects": ("actual_start", "actual_end"),
    "deals": ("closed_at",),
    "tasks": ("completed_at",),
}
OUTCOME_VALUES = {"tickets": ("satisfaction", "resolution_hours"), "projects": ("actual_hours", "actual_cost")}


def known_at(frames: dict[str, pd.DataFrame], cutoff: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The CRM as it stood on the cutoff: rows dated on or after it are gone, outcomes after it are not yet known."""
    out = {}
    for name, frame in frames.items():
        time_field = ENTITIES_BY_NAME[name].time_field
        if time_field is not None:
            frame = frame[frame[time_field] < cutoff]
        frame = frame.copy()
        for column in OUTCOME_DATES.get(name, ()):
            later = ~(frame[column] < cutoff)
            frame.loc[later, column] = pd.NaT
            for value in OUTCOME_VALUES.get(name, ()) if column != "actual_start" else ():
                frame.loc[later, value] = np.nan
        out[name] = frame
    return out


@pytest.fixture(scope="module")
def churn_set(demo_frames) -> training.TrainingSet:
    return training.churn_training_set(demo_frames, training.history_end(demo_frames))


def test_each_account_appears_once_per_cutoff_over_several_cutoffs(churn_set) -> None:
    periods = churn_set.periods_train
    assert periods is not None and len(periods) == len(churn_set.x_train)
    cutoffs = sorted(pd.Timestamp(c) for c in churn_set.summary["train_cutoffs"])
    assert len(cutoffs) == training.CHURN_TRAIN_CUTOFFS >= 4
    assert sorted(periods.unique()) == cutoffs


def test_snapshot_features_use_only_what_was_known_at_each_cutoff(demo_frames, churn_set) -> None:
    """Rebuilt from the CRM as it stood on each cutoff, every training row comes out the same: nothing later leaked."""
    periods = churn_set.periods_train.to_numpy()
    checked = 0
    for cutoff in pd.to_datetime(churn_set.summary["train_cutoffs"])[-3:]:
        rows = churn_set.x_train[periods == cutoff].reset_index(drop=True)
        past = feats.account_features(known_at(demo_frames, cutoff), cutoff.date()).reset_index(drop=True)
        assert len(rows) > 50
        pdt.assert_frame_equal(rows, past[rows.columns], check_dtype=False)
        checked += 1
        # Not vacuous: the same view a quarter later (with what happened since) gives other numbers.
        later = cutoff + pd.DateOffset(months=3)
        moved = feats.account_features(known_at(demo_frames, later), later.date())
        assert not moved.reindex(columns=rows.columns).head(len(rows)).reset_index(drop=True).equals(rows)
    assert checked == 3


def test_labels_come_from_the_ninety_days_after_each_cutoff(demo_frames, churn_set) -> None:
    events = demo_frames["churn_events"]
    lost = events[events["is_reactivation"].fillna(0.0) < 0.5]
    periods = churn_set.periods_train.to_numpy()
    cutoff = pd.Timestamp(churn_set.summary["train_cutoffs"][-1])
    accounts = feats.account_features(demo_frames, cutoff.date()).index
    window = lost[(lost["churned_at"] >= cutoff) & (lost["churned_at"] < cutoff + pd.Timedelta(days=90))]
    expected = accounts.isin(window["account_id"]).astype(int)
    np.testing.assert_array_equal(churn_set.y_train["y"].to_numpy()[periods == cutoff], expected)
    assert expected.sum() > 0
    # No training label window reaches into the holdout period.
    first_holdout = pd.Timestamp(churn_set.summary["holdout_cutoffs"][0])
    assert max(pd.to_datetime(churn_set.summary["train_cutoffs"])) + pd.Timedelta(days=90) <= first_holdout
    assert churn_set.x_holdout.shape[0] > 0


def test_the_churn_learner_validates_forward_in_time(churn_set) -> None:
    from tests.risk.conftest import FAST

    bundle = training.fit_bundle(churn_set, learner_options={**FAST, "rounds": (25, 50, 100)})
    selection = bundle.learners["main"].selection
    assert selection["inner_folds"] == "time-ordered"
    # Only the latest periods are scored, each by models of the periods before it; the earliest are never scored.
    latest = sorted(churn_set.periods_train.unique())[-FAST["n_folds"] :]
    assert selection["inner_rows"] == int(churn_set.periods_train.isin(latest).sum())
    assert bundle.info["selection"]["main"]["picked"] in ("linear", "lightgbm", "blend")


def test_a_renewal_date_rolled_forward_later_does_not_change_a_past_snapshot(demo_frames) -> None:
    """CRMs move an open subscription's renewal date a year on at each renewal (and freeze it when the account
    leaves): the stored date is today's state. A past snapshot must read the same whatever it says now."""
    cutoff = pd.Timestamp("2025-04-01")
    subscriptions = demo_frames["subscriptions"]
    open_now = subscriptions["end_date"].isna()
    rolled = subscriptions.assign(
        renewal_date=subscriptions["renewal_date"].where(
            ~open_now, subscriptions["renewal_date"] + pd.DateOffset(years=2)
        )
    )
    before = feats.account_features(demo_frames, cutoff.date())
    after = feats.account_features({**demo_frames, "subscriptions": rolled}, cutoff.date())
    pdt.assert_frame_equal(before, after)
    # Today's date itself is read as stored: a renewal ten days after the cutoff is ten days away.
    today = feats._days_to_next_renewal(cutoff, pd.Series(pd.to_datetime(["2025-04-11", "2027-04-11", "2025-03-01"])))
    np.testing.assert_array_equal(today, [10.0, 10.0, -31.0])
    assert before["days_to_renewal"].between(-3660, 366).all()
