"""Model selection inside the training rows: what the inner folds prefer is what is picked, and the outer test rows
are never seen; the calibration and baseline-comparison numbers `make eval` prints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from handoff.errors import InvalidInput
from handoff.risk import learners
from handoff.risk.evaluation import (
    calibration_report,
    evaluate_split,
    picks,
    prepare_table,
    reliability_curve,
    versus_best_baseline,
)
from handoff.risk.learners import CalibratedClassifier, IntervalRegressor

FAST = {"rounds": (25, 50, 100, 200), "n_folds": 4}


def linear_effort(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Log hours exactly linear in log size and team, with noise: what a ridge on the log scale fits best."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"size": rng.lognormal(3, 0.9, n), "team": rng.uniform(1, 10, n)})
    log_hours = 3.0 + 0.9 * np.log(frame["size"]) + 0.08 * frame["team"] + rng.normal(0, 0.35, n)
    return frame, np.exp(log_hours).to_numpy()


def nonlinear_effort(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Hours driven by a threshold interaction no line can draw: trees find it, ridge cannot."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.uniform(-1, 1, n), "b": rng.uniform(-1, 1, n), "c": rng.uniform(-1, 1, n)})
    log_hours = 5.0 + 1.5 * np.sign(frame["a"] * frame["b"]) + 0.8 * (frame["c"] > 0.3) + rng.normal(0, 0.2, n)
    return frame, np.exp(log_hours).to_numpy()


def test_a_linear_table_picks_the_linear_model() -> None:
    frame, hours = linear_effort(120, seed=1)
    model = IntervalRegressor(random_state=0, **FAST).fit(frame, hours)
    assert model.selection["picked"] == "linear", model.selection
    assert model.weight == 0.0
    scores = model.selection["inner_score"]
    assert scores["linear"] < scores["lightgbm"]


def test_a_nonlinear_table_picks_lightgbm() -> None:
    frame, hours = nonlinear_effort(800, seed=2)
    model = IntervalRegressor(random_state=0, **FAST).fit(frame, hours)
    assert model.selection["picked"] == "lightgbm", model.selection
    assert model.selection["inner_score"]["lightgbm"] < 0.7 * model.selection["inner_score"]["linear"]


def test_classifiers_pick_by_inner_log_loss_too() -> None:
    rng = np.random.default_rng(3)
    n = 1500
    frame = pd.DataFrame({"u": rng.normal(size=n), "v": rng.normal(size=n)})
    linear_labels = (rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 1.2 * frame["u"] - 0.8 * frame["v"])))).astype(int)
    xor_labels = (rng.random(n) < np.where(frame["u"] * frame["v"] > 0, 0.85, 0.1)).astype(int)
    linear = CalibratedClassifier(random_state=0, **FAST).fit(frame, linear_labels.to_numpy())
    xor = CalibratedClassifier(random_state=0, **FAST).fit(frame, xor_labels)
    assert linear.selection["picked"] == "linear", linear.selection
    assert xor.selection["picked"] == "lightgbm", xor.selection


def test_the_picked_shape_is_the_inner_folds_best() -> None:
    frame, hours = nonlinear_effort(400, seed=4)
    model = IntervalRegressor(random_state=0, **FAST).fit(frame, hours)
    by_shape = model.selection["inner_mae_by_shape"]
    assert set(by_shape) == set(learners.GBM_SHAPES)
    assert model.shape == min(by_shape, key=by_shape.get)
    restored = IntervalRegressor.from_dict(model.to_dict())
    assert restored.shape == model.shape and restored.selection == model.selection
    with pytest.raises(ValueError, match="unknown GBM shape"):
        IntervalRegressor(shapes=("huge",))


def test_the_outer_test_rows_are_never_seen() -> None:
    """Scrambling the test rows' targets changes nothing the learner picked or predicted: it never saw them."""
    frame, hours = linear_effort(90, seed=5)
    frame["effort"] = hours
    table = prepare_table(frame, target="effort", task="regression")
    train_idx, test_idx = np.arange(60), np.arange(60, 90)
    first = evaluate_split(table, train_idx, test_idx, learner_options=FAST)
    scrambled = table.target.copy()
    scrambled[test_idx] = np.random.default_rng(0).permutation(scrambled[test_idx]) * 3.0
    table.target = scrambled
    second = evaluate_split(table, train_idx, test_idx, learner_options=FAST)
    assert first["selection"] == second["selection"]
    np.testing.assert_array_equal(first["predictions"], second["predictions"])
    assert first["metrics"]["mae"] != second["metrics"]["mae"]  # the scrambling did reach the score


def test_monotone_features_keep_their_direction_in_the_linear_model() -> None:
    """Size raises hours, but in this sample a confounder makes its free coefficient negative; the sign is held."""
    rng = np.random.default_rng(6)
    n = 200
    scope = rng.uniform(1, 20, n)
    frame = pd.DataFrame({"scope": scope, "rushed": scope + rng.normal(0, 0.5, n)})
    hours = np.exp(4.0 - 0.05 * scope + 0.0 * frame["rushed"] + rng.normal(0, 0.1, n)).to_numpy()
    free = IntervalRegressor(random_state=0, blend=True, **FAST).fit(frame, hours)
    held = IntervalRegressor(random_state=0, monotone={"scope": 1}, **FAST).fit(frame, hours)
    small, large = pd.DataFrame({"scope": [2.0], "rushed": [10.0]}), pd.DataFrame({"scope": [18.0], "rushed": [10.0]})
    assert free.linear.score(free.encoder.matrix(large)) < free.linear.score(free.encoder.matrix(small))
    assert held.linear.score(held.encoder.matrix(large)) >= held.linear.score(held.encoder.matrix(small))
    with pytest.raises(ValueError, match="1 or -1"):
        IntervalRegressor(monotone={"scope": 2}, **FAST).fit(frame, hours)


def test_time_ordered_folds_validate_each_period_with_earlier_ones_only() -> None:
    periods = np.repeat(np.arange(6), 20)
    labels = np.tile([0, 1, 0, 0, 0], 24)
    folds = learners._time_folds(periods, 3, labels)
    assert [int(np.unique(periods[test])[0]) for _, test in folds] == [3, 4, 5]
    for train, test in folds:
        assert periods[train].max() < periods[test].min()
    with pytest.raises(ValueError, match="at least 3 periods"):
        learners._time_folds(np.repeat([0, 1], 10), 3, labels[:20])


def test_calibration_report_measures_skill_and_error() -> None:
    rng = np.random.default_rng(7)
    p = rng.uniform(0.0, 0.4, 200_000)
    labels = (rng.random(p.size) < p).astype(float)
    honest = calibration_report(labels, p, reference_rate=float(labels.mean()))
    assert honest["ece"] < 0.005
    assert honest["brier_skill"] == pytest.approx(1 - honest["brier"] / honest["base_rate_brier"])
    assert 0.05 < honest["brier_skill"] < 0.5
    doubled = calibration_report(labels, np.clip(p * 2, 0, 1), reference_rate=float(labels.mean()))
    assert doubled["ece"] == pytest.approx(p.mean(), abs=0.01)  # predicted twice the rate: off by the rate itself
    assert doubled["brier_skill"] < honest["brier_skill"]
    rate = calibration_report(labels, np.full(p.size, labels.mean()), reference_rate=float(labels.mean()))
    assert rate["brier_skill"] == pytest.approx(0.0) and rate["ece"] < 0.01
    curve = reliability_curve(labels, p, bins=10)
    assert len(curve) == 10 and sum(rows for *_, rows in curve) == p.size
    assert [c[0] for c in curve] == sorted(c[0] for c in curve)
    with pytest.raises(InvalidInput):
        calibration_report(labels[:3], p[:2], 0.1)


def test_versus_best_baseline_reports_the_difference_and_its_standard_error() -> None:
    def fold(learner: float, a: float, b: float) -> dict:
        return {"metrics": {"mae": learner}, "baselines": {"a": {"mae": a}, "b": {"mae": b}}, "selection": {}}

    results = [fold(10.0, 12.0, 11.0), fold(12.0, 13.0, 12.5), fold(11.0, 12.0, 10.0)]
    v = versus_best_baseline(results, "mae", higher_is_better=False)
    assert v["best_baseline"] == "b" and v["baseline"] == pytest.approx(11.1666, abs=1e-3)
    diffs = np.array([-1.0, -0.5, 1.0])
    assert v["difference"] == pytest.approx(diffs.mean())
    assert v["difference_se"] == pytest.approx(diffs.std(ddof=1) / np.sqrt(3))
    assert v["at_least_baseline"]
    worse = versus_best_baseline([fold(15.0, 12.0, 11.0), fold(16.0, 13.0, 12.5)], "mae", higher_is_better=False)
    assert not worse["at_least_baseline"]
    assert picks([{"selection": {"picked": "linear"}}, {"selection": {"picked": "linear"}}]) == {"linear": 2}
