"""Point-in-time features: nothing dated on or after the cutoff changes them, and the as-of lookups are right."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pandas.testing as pdt

from handoff.crm.dictionary import ENTITIES_BY_NAME
from handoff.risk import features as feats

CUTOFF = date(2025, 6, 1)


def _plant_future(frames: dict[str, pd.DataFrame], cutoff: date) -> dict[str, pd.DataFrame]:
    """Copies of real rows moved to on/after the cutoff (every entity), and the future filled into running projects.

    The copies keep their accounts, so any feature that peeks past the cutoff would change.
    """
    t = pd.Timestamp(cutoff)
    rng = np.random.default_rng(3)
    planted = {}
    for name, frame in frames.items():
        entity = ENTITIES_BY_NAME[name]
        if entity.time_field is None or frame.empty:
            planted[name] = frame
            continue
        copies = frame.sample(n=min(len(frame), 400), replace=True, random_state=1).copy()
        copies["id"] = [f"FUTURE-{name}-{i}" for i in range(len(copies))]
        offsets = pd.to_timedelta(rng.integers(0, 200, len(copies)), unit="D")
        copies[entity.time_field] = t + offsets
        for field in entity.fields:  # every other date of a future row lies in the future too
            if field.type in ("date", "datetime") and field.name != entity.time_field:
                copies[field.name] = copies[field.name].where(copies[field.name].isna(), t + offsets)
        if name == "churn_events":
            copies["is_reactivation"] = 0.0
        planted[name] = pd.concat([frame, copies], ignore_index=True)
    # Projects already started but not finished before the cutoff: their endings arrive from the future.
    projects = planted["projects"]
    running = (projects["planned_start"] < t) & ~(projects["actual_end"] < t)
    projects.loc[running, "actual_end"] = t + pd.Timedelta(days=3)
    projects.loc[running, "actual_hours"] = 99_999.0
    projects.loc[running, "actual_cost"] = projects.loc[running, "planned_budget"] * 9
    return planted


def test_a_day_beyond_nanosecond_timestamps_reads_as_unknown_instead_of_failing_the_table() -> None:
    days = [date(9999, 12, 31), date(1, 1, 1), date(2026, 12, 1), None]
    tasks = feats.normalise_frames({"tasks": pd.DataFrame({"id": list("abcd"), "due_date": days})})["tasks"]
    assert tasks["due_date"].dtype == "datetime64[ns]"
    assert tasks["due_date"].isna().tolist() == [True, True, False, True]
    assert tasks["due_date"].iloc[2] == pd.Timestamp(2026, 12, 1)


def test_normalising_some_entities_types_them_as_normalising_all_does(demo_frames) -> None:
    raw = {name: frame.astype("object") for name, frame in demo_frames.items()}  # as a store returns them, untyped
    some = feats.normalise_frames(raw, entities=("projects", "accounts"))
    everything = feats.normalise_frames(raw)
    assert set(some) == {"projects", "accounts"} and len(everything) > 2
    for name in some:
        pd.testing.assert_frame_equal(some[name], everything[name])
    assert feats.normalise_frames({}, entities=("tasks",))["tasks"].empty


def test_account_features_ignore_rows_on_or_after_the_cutoff(demo_frames) -> None:
    planted = _plant_future(demo_frames, CUTOFF)
    before = feats.account_features(demo_frames, CUTOFF)
    after = feats.account_features(planted, CUTOFF)
    assert len(before) > 100
    pdt.assert_frame_equal(before, after)
    # The planted rows are real signal: a month later they show, so the equality above is not vacuous.
    later = CUTOFF.replace(month=CUTOFF.month + 1)
    assert not feats.account_features(demo_frames, later).equals(feats.account_features(planted, later))


def test_project_features_ignore_the_future(demo_frames) -> None:
    planted = _plant_future(demo_frames, CUTOFF)
    # Kickoff features of every past project (each at its own planned start) ...
    original = demo_frames["projects"]
    known = original.index[original["planned_start"] < pd.Timestamp(CUTOFF)]
    pdt.assert_frame_equal(feats.project_features(demo_frames).loc[known], feats.project_features(planted).loc[known])
    later = original.index[original["planned_start"] >= pd.Timestamp(CUTOFF) + pd.Timedelta(days=60)]
    assert not feats.project_features(demo_frames).loc[later].equals(feats.project_features(planted).loc[later])
    # ... and a new brief estimated on the cutoff day.
    briefs = original.loc[known[:20], list(feats.BRIEF_COLUMNS)]
    pdt.assert_frame_equal(
        feats.project_features(demo_frames, as_of=CUTOFF, briefs=briefs),
        feats.project_features(planted, as_of=CUTOFF, briefs=briefs),
    )


def test_history_lookup_matches_a_brute_force_count(demo_frames) -> None:
    projects = demo_frames["projects"].dropna(subset=["planned_start"]).head(80)
    history = feats.project_features(demo_frames).loc[projects.index]
    tickets = demo_frames["tickets"]
    for index, row in projects.iterrows():
        cutoff = row["planned_start"]
        mine = tickets[(tickets["account_id"] == row["account_id"]) & (tickets["opened_at"] < cutoff)]
        in_year = mine[mine["opened_at"] >= cutoff - pd.Timedelta(days=365)]
        assert history.loc[index, "account_tickets_365"] == len(in_year)
        finished = demo_frames["projects"]
        finished = finished[
            (finished["account_id"] == row["account_id"])
            & (finished["actual_end"] < cutoff)
            & finished["actual_cost"].notna()
        ]
        assert history.loc[index, "account_past_projects"] == len(finished)


def test_active_accounts_follow_churn_events_not_todays_status() -> None:
    frames = {
        "accounts": pd.DataFrame(
            {
                "id": ["a", "b", "c", "d"],
                "name": list("abcd"),
                "created_at": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01", "2025-07-01"]),
                "status": ["churned", "churned", "active", "active"],
            }
        ),
        "churn_events": pd.DataFrame(
            {
                "id": ["e1", "e2", "e3"],
                "account_id": ["a", "b", "b"],
                "churned_at": pd.to_datetime(["2025-09-01", "2024-06-01", "2024-09-01"]),
                "is_reactivation": [False, False, True],
            }
        ),
    }
    # a churns after the cutoff (still active on it), b came back, d did not exist yet.
    assert sorted(feats.account_features(frames, CUTOFF).index) == ["a", "b", "c"]
    labels = feats.churn_labels(frames, pd.Index(["a", "b", "c"]), date(2025, 6, 15))
    assert labels.to_dict() == {"a": 1, "b": 0, "c": 0}


def test_churn_dataset_stacks_monthly_cutoffs_with_labels(demo_frames) -> None:
    cutoffs = feats.monthly_cutoffs(DEMO_END_FOR_LABELS, 3)
    data = feats.churn_dataset(demo_frames, cutoffs)
    assert sorted(data["as_of"].dt.date.unique()) == cutoffs
    assert set(data["churned"].unique()) <= {0, 1}
    # every label window ends inside the history
    assert max(cutoffs) <= date(2026, 8, 2)


DEMO_END_FOR_LABELS = date(2026, 10, 31)


def test_usage_without_account_is_credited_through_its_subscription() -> None:
    frames = {
        "accounts": pd.DataFrame(
            {"id": ["a"], "name": ["a"], "created_at": pd.to_datetime(["2024-01-01"]), "status": ["active"]}
        ),
        "subscriptions": pd.DataFrame(
            {"id": ["s1"], "account_id": ["a"], "start_date": pd.to_datetime(["2024-01-01"])}
        ),
        "usage": pd.DataFrame(
            {
                "id": ["u1", "u2"],
                "account_id": [None, "a"],
                "subscription_id": ["s1", None],
                "day": pd.to_datetime(["2025-05-20", "2025-05-25"]),
                "events": [5, 7],
            }
        ),
    }
    assert feats.account_features(frames, CUTOFF).loc["a", "usage_events_30"] == 12
