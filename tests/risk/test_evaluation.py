"""Protocols, metrics, column typing and baselines behind `handoff eval tabular`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from handoff.errors import InvalidInput
from handoff.risk.columns import infer_columns
from handoff.risk.evaluation import (
    binary_labels,
    parse_protocol,
    protocol_splits,
    regression_metrics,
    standardised_accuracy,
)


def test_protocols_parse_as_repeats_by_folds() -> None:
    assert parse_protocol("cv:30x3").repeats == 30 and parse_protocol("cv:30x3").folds == 3
    assert parse_protocol("time:0.2").test_fraction == pytest.approx(0.2)
    for bad in ("cv:5", "cv:1x1", "time:2", "holdout", "cv:5x1"):
        with pytest.raises(InvalidInput):
            parse_protocol(bad)


def test_repeated_cv_tests_every_row_once_per_repeat() -> None:
    splits = protocol_splits(parse_protocol("cv:3x4"), 40, seed=1)
    assert len(splits) == 12
    for repeat in range(3):
        tested = np.concatenate([test for _, test in splits[repeat * 4 : (repeat + 1) * 4]])
        assert sorted(tested.tolist()) == list(range(40))
    for train, test in splits:
        assert not set(train) & set(test)


def test_time_split_tests_only_the_latest_rows() -> None:
    order = np.array([5, 3, 0, 1, 2, 4, 9, 8, 7, 6])  # oldest first
    ((train, test),) = protocol_splits(parse_protocol("time:0.2"), 10, order=order)
    assert sorted(test.tolist()) == [6, 7]
    assert sorted(train.tolist()) == [0, 1, 2, 3, 4, 5, 8, 9]


def test_standardised_accuracy_matches_brute_force_random_guessing() -> None:
    rng = np.random.default_rng(0)
    actual, train = rng.lognormal(3, 1, 30), rng.lognormal(3, 1, 50)
    predicted = actual * rng.uniform(0.5, 1.5, 30)
    guess = np.mean(np.abs(actual[:, None] - train[None, :]))
    expected = 1 - np.mean(np.abs(actual - predicted)) / guess
    assert standardised_accuracy(actual, predicted, train) == pytest.approx(expected)
    # Guessing a training value is, on average, worth exactly zero.
    assert np.mean([standardised_accuracy(actual, np.full(30, t), train) for t in train]) == pytest.approx(0, abs=1e-9)


def test_regression_metrics_count_coverage_inclusively() -> None:
    metrics = regression_metrics(
        np.array([1.0, 2.0, 3.0, 10.0]),
        np.array([1.0, 2.0, 2.0, 2.0]),
        np.array([1.0, 5.0]),
        p10=np.array([1.0, 0.0, 0.0, 0.0]),
        p90=np.array([1.0, 5.0, 5.0, 5.0]),
    )
    assert metrics["mae"] == pytest.approx(9 / 4)
    assert metrics["mdae"] == pytest.approx(0.5)
    assert metrics["coverage80"] == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["Yes", "No", "no", "yes"], [1, 0, 0, 1]),
        ([True, False, True, True], [1, 0, 1, 1]),
        ([0, 1, 1, 0], [0, 1, 1, 0]),
        (["late", "on_time", "on_time", "on_time"], [1, 0, 0, 0]),  # unknown words: the rarer is positive
    ],
)
def test_binary_labels(values: list, expected: list[int]) -> None:
    assert binary_labels(pd.Series(values)).tolist() == expected


def test_binary_labels_refuse_three_classes() -> None:
    with pytest.raises(InvalidInput):
        binary_labels(pd.Series(["a", "b", "c"]))


def test_columns_are_typed_by_what_they_hold() -> None:
    n = 300
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "customerID": [f"C-{i:05d}" for i in range(n)],
            "project_id": np.arange(n),
            "total": [str(v) if i % 50 else " " for i, v in enumerate(rng.normal(100, 10, n).round(2))],
            "plan": rng.choice(["basic", "pro"], n),
            "opened": pd.date_range("2021-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "flag": rng.random(n) < 0.5,
            "constant": 1,
            "notes": [f"free text number {i} about the job" for i in range(n)],
            "hours": rng.lognormal(3, 1, n),
        }
    )
    plan = infer_columns(frame, target="hours", text="notes", drop=["flag"])
    assert plan.numeric == ("total",)
    assert plan.categorical == ("plan",)
    assert plan.datetime == ("opened",)
    assert plan.text == ("notes",)
    assert set(plan.dropped) == {"customerID", "project_id", "flag", "constant"}
    features = plan.features(frame)
    assert list(features.columns) == plan.feature_columns
    assert features["total"].isna().sum() == 6  # blanks become missing numbers
    assert features["opened__year"].iloc[0] == 2021 and features["opened__month"].iloc[40] == 2


def test_unknown_columns_are_refused() -> None:
    frame = pd.DataFrame({"a": [1, 2], "y": [1, 2]})
    with pytest.raises(InvalidInput):
        infer_columns(frame, target="missing")
    with pytest.raises(InvalidInput):
        infer_columns(frame, target="y", drop=["nope"])
