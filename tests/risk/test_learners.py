"""Behaviour of the pure learners on small synthetic tables: interval coverage, calibration, serialisation, reasons."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from handoff.risk.learners import CalibratedClassifier, IntervalRegressor

FAST = {"rounds": (25, 50, 100, 200)}  # a shorter round grid keeps the test suite quick


def effort_table(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Hours that grow with size and depend on the contract type, with multiplicative noise."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "size": rng.lognormal(3, 0.8, n),
            "team": rng.integers(1, 10, n).astype(float),
            "contract": rng.choice(["fixed", "time_and_materials", "retainer"], n),
        }
    )
    mu = (
        2.0
        + 0.7 * np.log(frame["size"])
        + frame["contract"].map({"fixed": 0.0, "time_and_materials": 0.4, "retainer": 0.8})
    )
    hours = np.exp(mu + 0.05 * frame["team"] ** 1.5 + rng.normal(0, 0.45, n))
    return frame, hours.to_numpy()


def churn_table(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A rare positive class (~10 %) with an interaction the booster has to find."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "usage": rng.normal(size=n),
            "tickets": rng.poisson(2, n).astype(float),
            "plan": rng.choice(["basic", "pro", "enterprise"], n),
        }
    )
    logit = -3.0 - 1.2 * frame["usage"] + 0.4 * frame["tickets"] * (frame["plan"] == "basic") + 0.3 * frame["tickets"]
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame, labels.to_numpy()


@pytest.fixture(scope="module")
def regressor() -> IntervalRegressor:
    frame, hours = effort_table(400, seed=1)
    return IntervalRegressor(random_state=0, **FAST).fit(frame, hours)


@pytest.fixture(scope="module")
def classifier() -> CalibratedClassifier:
    frame, labels = churn_table(2500, seed=2)
    return CalibratedClassifier(random_state=0, **FAST).fit(frame, labels)


def test_interval_covers_about_eighty_percent_of_new_rows(regressor: IntervalRegressor) -> None:
    frame, hours = effort_table(4000, seed=3)
    band = regressor.predict(frame)
    coverage = float(np.mean((hours >= band["p10"]) & (hours <= band["p90"])))
    assert 0.74 <= coverage <= 0.86, coverage


def test_uncalibrated_quantiles_cover_differently_so_the_test_above_can_fail(regressor: IntervalRegressor) -> None:
    frame, hours = effort_table(4000, seed=3)
    broken = IntervalRegressor.from_dict({**regressor.to_dict(), "conformal_offset": regressor.conformal_offset + 0.3})
    band = broken.predict(frame)
    assert np.mean((hours >= band["p10"]) & (hours <= band["p90"])) > 0.86


def test_interval_is_ordered_and_in_the_target_units(regressor: IntervalRegressor) -> None:
    frame, hours = effort_table(500, seed=4)
    band = regressor.predict(frame)
    assert list(band.columns) == ["p10", "p50", "p90"]
    assert (band["p10"] <= band["p50"]).all() and (band["p50"] <= band["p90"]).all()
    # The median beats predicting the training median for everyone: the model learned something.
    assert np.mean(np.abs(band["p50"] - hours)) < np.mean(np.abs(np.median(hours) - hours))


def test_regressor_contributions_sum_to_the_raw_median(regressor: IntervalRegressor) -> None:
    frame, _ = effort_table(50, seed=5)
    contributions = regressor.contributions(frame)
    assert list(contributions.columns) == [*regressor.feature_names, "bias"]
    np.testing.assert_allclose(contributions.sum(axis=1), regressor.predict_raw(frame), atol=1e-9)
    np.testing.assert_allclose(np.expm1(regressor.predict_raw(frame)), regressor.predict(frame)["p50"], rtol=1e-9)


def test_regressor_survives_json_and_keeps_category_levels(regressor: IntervalRegressor) -> None:
    restored = IntervalRegressor.from_dict(json.loads(json.dumps(regressor.to_dict())))
    frame, _ = effort_table(100, seed=6)
    pd.testing.assert_frame_equal(restored.predict(frame), regressor.predict(frame))
    assert restored.encoder.levels["contract"] == regressor.encoder.levels["contract"]
    # A level never seen in training reads as missing instead of failing or being confused with a known level.
    unseen = frame.head(1).assign(contract="framework_agreement")
    missing = frame.head(1).assign(contract=None)
    pd.testing.assert_frame_equal(restored.predict(unseen), restored.predict(missing))


def test_predict_row_matches_the_frame_path(regressor: IntervalRegressor) -> None:
    frame, _ = effort_table(20, seed=7)
    for i in range(5):
        record = frame.iloc[i].to_dict()
        expected = regressor.predict(frame.iloc[[i]]).iloc[0].to_dict()
        assert regressor.predict_row(record) == pytest.approx(expected)
    contributions = regressor.contributions_row(frame.iloc[0].to_dict())
    np.testing.assert_allclose(contributions, regressor.contributions(frame.iloc[[0]]).iloc[0].to_numpy(), rtol=1e-12)
    # Absent fields are unknown, not an error (a brief may lack the sales estimate).
    assert set(regressor.predict_row({"size": 30.0})) == {"p10", "p50", "p90"}


def _variants(regressor: IntervalRegressor) -> dict[str, IntervalRegressor]:
    """The fitted blend, and the same model serving its booster alone and its linear part alone."""
    data = regressor.to_dict()
    return {f"weight {w}": IntervalRegressor.from_dict({**data, "weight": w}) for w in (data["weight"], 1.0, 0.0)}


def test_one_pass_row_answers_as_the_two_passes_do(regressor, classifier) -> None:
    frame, _ = effort_table(20, seed=8)
    anchored_frame, hours = expert_table(200, seed=22)
    anchored = IntervalRegressor(random_state=0, anchor="first_estimate", rounds=(25, 50)).fit(anchored_frame, hours)
    models = [*_variants(regressor).items(), ("anchored", anchored)]
    for name, model in models:
        rows = anchored_frame if model is anchored else frame
        for i in range(4):
            record = rows.iloc[i].to_dict()
            prediction, contributions = model.predict_explain_row(record)
            assert prediction == pytest.approx(model.predict_row(record), rel=1e-9), name
            np.testing.assert_allclose(contributions, model.contributions_row(record), rtol=1e-12, err_msg=name)
    churn_frame, _ = churn_table(20, seed=16)
    for i in range(4):
        record = churn_frame.iloc[i].to_dict()
        probability, contributions = classifier.predict_explain_row(record)
        assert probability == pytest.approx(classifier.predict_row(record), rel=1e-9)
        np.testing.assert_allclose(contributions, classifier.contributions_row(record), rtol=1e-12)


def test_one_pass_walks_the_median_booster_once(regressor, monkeypatch) -> None:
    from handoff.risk import learners

    walks: list[object] = []
    real = learners._predict
    monkeypatch.setattr(learners, "_predict", lambda booster, *a, **k: walks.append(booster) or real(booster, *a, **k))
    record = effort_table(1, seed=9)[0].iloc[0].to_dict()
    model = _variants(regressor)["weight 1.0"]
    model.predict_row(record)
    model.contributions_row(record)
    assert walks.count(model.boosters["p50"]) == 2  # the two-pass way, so the count below can tell
    walks.clear()
    model.predict_explain_row(record)
    assert walks.count(model.boosters["p50"]) == 1
    assert len(walks) == 3  # p10 and p90 once each


class _Unreadable:
    """A booster stand-in that fails when asked anything: proves a part with no weight is never computed."""

    def predict(self, *args, **kwargs):
        raise AssertionError("a booster with weight 0 was evaluated")


def test_a_blend_part_without_weight_is_skipped_and_the_answer_stays(regressor, classifier) -> None:
    frame, _ = effort_table(20, seed=14)
    matrix = regressor.encoder.matrix(frame)
    linear_only = IntervalRegressor.from_dict({**regressor.to_dict(), "weight": 0.0})
    linear_only.boosters = {name: _Unreadable() for name in linear_only.boosters}
    np.testing.assert_allclose(linear_only.predict_raw(frame), regressor.linear.score(matrix), rtol=1e-12)
    np.testing.assert_allclose(
        linear_only.contributions(frame).to_numpy(), regressor.linear.contributions(matrix, matrix.shape[1])
    )
    assert linear_only.predict_row(frame.iloc[0].to_dict()) == pytest.approx(
        linear_only.predict(frame).iloc[0].to_dict()
    )

    churn_frame, _ = churn_table(20, seed=15)
    linear_classifier = CalibratedClassifier.from_dict({**classifier.to_dict(), "weight": 0.0})
    linear_classifier.booster = _Unreadable()
    logits = classifier.linear.score(classifier.encoder.matrix(churn_frame))
    np.testing.assert_allclose(linear_classifier.decision_function(churn_frame), logits, rtol=1e-12)
    np.testing.assert_allclose(linear_classifier.contributions(churn_frame).sum(axis=1), logits, atol=1e-9)


def test_inputs_far_beyond_training_give_finite_answers(regressor, classifier) -> None:
    """The linear companion holds inputs at the edge of what it saw; unclipped, 1e200 overflows to inf/NaN."""
    band = regressor.predict_row({"size": 1e200, "team": 1e9, "contract": "fixed"})
    assert all(np.isfinite(list(band.values())))
    assert band["p50"] >= regressor.predict_row({"size": 1e3, "team": 9.0, "contract": "fixed"})["p50"] * 0.5
    assert np.isfinite(classifier.predict_row({"usage": -1e300, "tickets": 1e300, "plan": "basic"}))


def test_calibration_lowers_brier_on_a_skewed_set(classifier: CalibratedClassifier) -> None:
    frame, labels = churn_table(6000, seed=8)
    calibrated = classifier.predict_proba(frame)
    uncalibrated = 1 / (1 + np.exp(-classifier.decision_function(frame)))
    # A booster trained with a heavily weighted positive class is systematically overconfident.
    over = CalibratedClassifier(random_state=0, params={"scale_pos_weight": 8.0}, blend=False, **FAST)
    train_frame, train_labels = churn_table(2500, seed=2)
    over.fit(train_frame, train_labels)
    over_raw = 1 / (1 + np.exp(-over.decision_function(frame)))
    over_calibrated = over.predict_proba(frame)
    assert np.mean((over_calibrated - labels) ** 2) < np.mean((over_raw - labels) ** 2) - 0.01
    assert np.mean((calibrated - labels) ** 2) <= np.mean((uncalibrated - labels) ** 2) + 0.002
    assert abs(calibrated.mean() - labels.mean()) < 0.02


def test_sigmoid_calibration_also_works() -> None:
    frame, labels = churn_table(1500, seed=9)
    model = CalibratedClassifier(method="sigmoid", random_state=0, **FAST).fit(frame, labels)
    test_frame, test_labels = churn_table(3000, seed=10)
    probabilities = model.predict_proba(test_frame)
    assert ((probabilities > 0) & (probabilities < 1)).all()
    assert np.mean((probabilities - test_labels) ** 2) < np.mean((labels.mean() - test_labels) ** 2)


def test_classifier_contributions_sum_to_the_logit(classifier: CalibratedClassifier) -> None:
    frame, _ = churn_table(50, seed=11)
    contributions = classifier.contributions(frame)
    assert list(contributions.columns) == [*classifier.feature_names, "bias"]
    np.testing.assert_allclose(contributions.sum(axis=1), classifier.decision_function(frame), atol=1e-9)


def test_classifier_survives_json_and_scores_rows_alike(classifier: CalibratedClassifier) -> None:
    restored = CalibratedClassifier.from_dict(json.loads(json.dumps(classifier.to_dict())))
    frame, _ = churn_table(100, seed=12)
    np.testing.assert_allclose(restored.predict_proba(frame), classifier.predict_proba(frame))
    assert restored.encoder.levels["plan"] == classifier.encoder.levels["plan"]
    record = frame.iloc[3].to_dict()
    assert restored.predict_row(record) == pytest.approx(classifier.predict_proba(frame.iloc[[3]])[0])
    assert restored.predict_row({**record, "plan": "platinum"}) == pytest.approx(
        restored.predict_row({**record, "plan": None})
    )


def test_bad_inputs_are_refused() -> None:
    frame, labels = churn_table(50, seed=13)
    with pytest.raises(ValueError):
        CalibratedClassifier().fit(frame, np.zeros(len(frame)))
    with pytest.raises(ValueError):
        IntervalRegressor().fit(frame, np.full(len(frame), np.nan))
    with pytest.raises(ValueError):
        IntervalRegressor.from_dict({"kind": "CalibratedClassifier"})


def expert_table(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """An expert whose estimate is good but 30 % low on fixed-price work; some briefs come without an estimate."""
    frame, hours = effort_table(n, seed)
    rng = np.random.default_rng(seed + 100)
    bias = np.where(frame["contract"] == "fixed", 0.7, 1.0)
    estimate = hours * bias * np.exp(rng.normal(0, 0.15, n))
    frame["first_estimate"] = np.where(rng.random(n) < 0.2, np.nan, estimate)
    return frame, hours


def test_an_anchor_makes_the_model_learn_the_experts_error() -> None:
    frame, hours = expert_table(400, seed=20)
    test_frame, test_hours = expert_table(2000, seed=21)
    plain = IntervalRegressor(random_state=0, **FAST).fit(frame, hours)
    anchored = IntervalRegressor(random_state=0, anchor="first_estimate", **FAST).fit(frame, hours)
    has_estimate = test_frame["first_estimate"].notna().to_numpy()

    def mae(model: IntervalRegressor, rows: np.ndarray) -> float:
        return float(np.mean(np.abs(model.predict(test_frame[rows])["p50"] - test_hours[rows])))

    expert_mae = float(np.mean(np.abs(test_frame["first_estimate"][has_estimate] - test_hours[has_estimate])))
    assert mae(anchored, has_estimate) < 0.92 * expert_mae  # it corrects the fixed-price optimism (ideal: 0.76)
    assert mae(anchored, has_estimate) < mae(plain, has_estimate)
    # Without an estimate the anchored model still predicts the level, about as well as the plain one.
    assert mae(anchored, ~has_estimate) < 1.3 * mae(plain, ~has_estimate)
    band = anchored.predict(test_frame)
    coverage = float(np.mean((test_hours >= band["p10"]) & (test_hours <= band["p90"])))
    assert 0.72 <= coverage <= 0.88, coverage
    contributions = anchored.contributions(test_frame.head(20))
    np.testing.assert_allclose(contributions.sum(axis=1), anchored.predict_raw(test_frame.head(20)), atol=1e-9)
    restored = IntervalRegressor.from_dict(json.loads(json.dumps(anchored.to_dict())))
    assert restored.predict_row(test_frame.iloc[0].to_dict()) == pytest.approx(band.iloc[0].to_dict())


def test_story_point_medians_land_on_the_scale() -> None:
    rng = np.random.default_rng(30)
    scale = np.array([1.0, 2.0, 3.0, 5.0, 8.0, 13.0])

    def points(n: int) -> tuple[pd.DataFrame, np.ndarray]:
        frame = pd.DataFrame({"words": rng.lognormal(4, 0.7, n)})
        level = np.clip(np.round(np.log(frame["words"]) - 2 + rng.normal(0, 0.8, n)), 0, 5).astype(int)
        return frame, scale[level]

    frame, target = points(600)
    model = IntervalRegressor(random_state=0, **FAST).fit(frame, target)
    assert model.support == scale.tolist()
    test_frame, test_target = points(1000)
    band = model.predict(test_frame)
    assert set(np.unique(band["p50"])) <= set(scale)
    assert (band["p10"] <= band["p50"]).all() and (band["p50"] <= band["p90"]).all()
    assert np.mean(np.abs(band["p50"] - test_target)) < np.mean(np.abs(np.median(target) - test_target))
    restored = IntervalRegressor.from_dict(json.loads(json.dumps(model.to_dict())))
    assert restored.predict_row(test_frame.iloc[0].to_dict())["p50"] == band["p50"].iloc[0]
