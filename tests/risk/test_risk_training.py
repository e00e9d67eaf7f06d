"""Training on the small demo: promotion rules, champions served from MLflow, and behavioural checks on the models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from handoff.risk import features as feats
from handoff.risk import registry, training

pytestmark = pytest.mark.slow


def test_first_models_become_champions_with_cards(trained) -> None:
    models = trained.summary["models"]
    assert set(models) == {"effort", "duration", "overrun", "churn"}
    for name, result in models.items():
        assert result["promoted"] is True and result["version"] == "1"
        assert result["champion_metrics"] is None
        assert registry.champion_version(trained.settings, name) == "1"
        card = (trained.cards_dir / f"{name}.md").read_text()
        assert "Holdout metrics" in card and "trivial baseline" in card and "Intended use" in card


def test_a_worse_model_is_not_promoted(trained, demo_frames) -> None:
    effort = training.project_training_sets(demo_frames)["effort"]
    shuffled = effort.y_train.copy()
    shuffled["y"] = np.random.default_rng(0).permutation(shuffled["y"].to_numpy())
    effort.y_train = shuffled
    result = training.train_one(
        trained.settings,
        effort,
        source="test",
        cards_dir=trained.cards_dir / "shuffled",
        learner_options={"n_folds": 3},
    )
    assert result["promoted"] is False
    assert result["metrics"]["mae"] > result["champion_metrics"]["mae"]
    assert registry.champion_version(trained.settings, "effort") == "1"
    assert int(result["version"]) > 1  # registered all the same, for the record


def test_promotion_needs_a_strictly_better_primary_metric() -> None:
    assert training.beats("churn", {"brier": 0.05}, None)
    assert training.beats("churn", {"brier": 0.05}, {"brier": 0.06})
    assert not training.beats("churn", {"brier": 0.06}, {"brier": 0.06})
    assert not training.beats("effort", {"mae": 120.0}, {"mae": 100.0})


def test_champion_loaded_from_mlflow_predicts_like_the_trained_model(trained, demo_frames, champions) -> None:
    sets = training.project_training_sets(demo_frames)
    sets["churn"] = training.churn_training_set(demo_frames, training.history_end(demo_frames))
    for name, served in champions.items():
        recomputed = training.holdout_metrics(served.bundle, sets[name])
        assert recomputed == pytest.approx(trained.summary["models"][name]["metrics"], rel=1e-9, nan_ok=True)
        rows = sets[name].x_holdout.head(5)
        batch = served.predict(rows)
        for i, record in enumerate(rows.to_dict("records")):
            one = served.predict_one(record)
            expected = batch[i] if served.bundle.kind == "interval" else [batch[i]]
            assert list(one.values())[: len(np.atleast_1d(expected))] == pytest.approx(list(np.atleast_1d(expected)))


def test_pyfunc_flavour_serves_the_same_numbers(trained, demo_frames, champions) -> None:
    import mlflow

    registry._client(trained.settings)  # points MLflow at this home
    pyfunc = mlflow.pyfunc.load_model("models:/handoff-churn@champion")
    churn = training.churn_training_set(demo_frames, training.history_end(demo_frames))
    rows = churn.x_holdout.head(30)
    served = champions["churn"].predict(rows)
    via_pyfunc = pyfunc.predict(registry._signature_frame(rows))["probability"].to_numpy()
    assert via_pyfunc == pytest.approx(served)


def test_interval_coverage_on_the_holdout_is_sensible(trained) -> None:
    for name in ("effort", "duration"):
        metrics = trained.summary["models"][name]["metrics"]
        # ~40 holdout projects on the small demo: 80 % +- two binomial standard deviations, roughly.
        assert 0.6 <= metrics["coverage80"] <= 0.97, (name, metrics)
        assert metrics["mae"] < trained.summary["models"][name]["baselines"]["mae"]


def test_more_scope_items_never_mean_less_effort(demo_frames, champions) -> None:
    briefs = demo_frames["projects"].tail(40)[list(feats.BRIEF_COLUMNS)].copy()
    small = feats.project_features(demo_frames, as_of=feats_date(), briefs=briefs.assign(scope_items=3))
    large = feats.project_features(demo_frames, as_of=feats_date(), briefs=briefs.assign(scope_items=30))
    effort_small = champions["effort"].predict(small)[:, 1]
    effort_large = champions["effort"].predict(large)[:, 1]
    assert np.mean(effort_large >= effort_small) >= 0.9
    assert effort_large.mean() > effort_small.mean()


def test_much_lower_usage_does_not_lower_churn_risk(demo_frames, champions) -> None:
    rows = feats.account_features(demo_frames, feats_date())
    # A 75 % drop in the last 30 days' use, everything else as it was.
    quiet_events = rows["usage_events_30"] * 0.25
    quiet = rows.assign(
        usage_events_30=quiet_events,
        usage_minutes_30=rows["usage_minutes_30"] * 0.25,
        usage_per_seat_30=rows["usage_per_seat_30"] * 0.25,
        usage_trend=np.log1p(quiet_events) - np.log1p(rows["usage_events_prev_30"]),
    )
    before = champions["churn"].predict(rows)
    after = champions["churn"].predict(quiet)
    assert after.mean() > before.mean()
    assert np.mean(after >= before - 1e-9) >= 0.8


def feats_date():
    return pd.Timestamp("2026-06-01").date()


def test_a_crm_without_finished_projects_still_trains_churn(tmp_path, demo_frames) -> None:
    """One check on finished projects once refused all four models, so a churn-only CRM could get no alerts."""
    from handoff.errors import NotReady
    from handoff.settings import Settings
    from handoff.wiring import Parts
    from tests.risk.conftest import FAST

    frames = {name: frame.iloc[0:0] if name == "projects" else frame for name, frame in demo_frames.items()}
    parts = Parts(Settings(home=tmp_path / "home", _env_file=None))
    summary = training.train_all(
        parts, source="demo", frames=frames, cards_dir=tmp_path / "cards", learner_options=FAST
    )
    assert list(summary["models"]) == ["churn"] and summary["models"]["churn"]["promoted"]
    assert set(summary["skipped"]) == {"effort", "duration", "overrun"}
    assert all("finished projects" in reason for reason in summary["skipped"].values())
    with pytest.raises(NotReady, match="finished projects"):  # asked for project models only: nothing to train
        training.train_all(parts, source="demo", frames=frames, models=("effort",))
