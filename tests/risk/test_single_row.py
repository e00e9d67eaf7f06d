"""The prepared one-row LightGBM path gives `Booster.predict`'s numbers, from any thread, and lets boosters go."""

from __future__ import annotations

import gc
from concurrent.futures import ThreadPoolExecutor

import lightgbm as lgb
import numpy as np
import pytest

from handoff.risk import single_row

pytestmark = pytest.mark.slow  # trains boosters of each kind


def _booster(objective: str, seed: int = 0, **params) -> lgb.Booster:
    """A small booster over 5 numeric features (NaNs learnt as missing) and one categorical."""
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(400, 6))
    matrix[:, 5] = rng.integers(0, 6, size=400)
    matrix[rng.random(400) < 0.15, 1] = np.nan
    signal = matrix[:, 0] * 2 + np.nan_to_num(matrix[:, 1]) + (matrix[:, 5] == 3)
    target = (signal + rng.normal(size=400) > 0.5).astype(float) if objective == "binary" else signal
    dataset = lgb.Dataset(matrix, label=target, categorical_feature=[5], params={"verbose": -1})
    params = {"objective": objective, "verbose": -1, "num_leaves": 15, "min_data_in_leaf": 5, **params}
    return lgb.train(params, dataset, num_boost_round=40)


def _rows(seed: int = 1) -> np.ndarray:
    """Rows the models never saw, with missing values and categories unseen (9), negative and missing."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(scale=2.0, size=(60, 6))
    rows[:, 5] = rng.choice([0, 1, 2, 3, 4, 5, 9, -1, np.nan], size=60)
    rows[rng.random(60) < 0.3, 1] = np.nan
    rows[rng.random(60) < 0.1, 0] = np.nan
    return rows


@pytest.mark.parametrize(("objective", "params"), [("binary", {}), ("quantile", {"alpha": 0.9}), ("regression", {})])
def test_every_output_matches_booster_predict(objective: str, params: dict) -> None:
    booster = _booster(objective, **params)
    for row in _rows():
        matrix = row[None, :]
        np.testing.assert_allclose(single_row.predict_row(booster, row), booster.predict(matrix), rtol=1e-12)
        np.testing.assert_allclose(
            single_row.predict_row(booster, row, "raw"), booster.predict(matrix, raw_score=True), rtol=1e-12
        )
        np.testing.assert_allclose(
            single_row.predict_row(booster, row, "contrib"),
            booster.predict(matrix, pred_contrib=True)[0],
            rtol=1e-12,
            atol=1e-12,
        )


def test_the_binary_value_is_a_probability_and_raw_its_logit() -> None:
    """Guards the test above from passing on two outputs that happen to be the same kind."""
    booster = _booster("binary")
    row = _rows()[0]
    value, raw = single_row.predict_row(booster, row)[0], single_row.predict_row(booster, row, "raw")[0]
    assert 0.0 < value < 1.0
    assert value == pytest.approx(1.0 / (1.0 + np.exp(-raw)))


def test_a_row_of_the_wrong_width_is_refused() -> None:
    booster = _booster("regression")
    with pytest.raises(ValueError, match="expected 6 features"):
        single_row.predict_row(booster, np.zeros(5))


def test_threads_share_one_booster_and_get_each_their_own_answer() -> None:
    booster = _booster("binary")
    rows = _rows()
    expected = booster.predict(rows, pred_contrib=True)

    def explain(i: int) -> np.ndarray:
        return single_row.predict_row(booster, rows[i % len(rows)], "contrib")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(explain, range(800)))
    for i, answer in enumerate(answers):
        np.testing.assert_allclose(answer, expected[i % len(rows)], rtol=1e-12, atol=1e-12)


def test_prepared_handles_go_with_their_booster() -> None:
    booster = _booster("regression", seed=3)
    single_row.predict_row(booster, _rows()[0], "contrib")
    assert booster in single_row._prepared
    before = len(single_row._prepared)
    del booster
    gc.collect()
    assert len(single_row._prepared) == before - 1


def test_multiclass_boosters_are_left_to_the_general_path() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(300, 3))
    labels = rng.integers(0, 3, size=300)
    booster = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1}, lgb.Dataset(matrix, label=labels), 5
    )
    assert not single_row.supports(booster)
    assert single_row.supports(_booster("binary"))


def test_a_booster_reloaded_in_place_is_prepared_again() -> None:
    """`model_from_string` frees the old model: a handle prepared for it must not be used (it would crash)."""
    booster = _booster("regression", seed=4)
    other = _booster("regression", seed=5)
    row = _rows()[0]
    single_row.predict_row(booster, row)
    booster.model_from_string(other.model_to_string())
    np.testing.assert_allclose(single_row.predict_row(booster, row), other.predict(row[None, :]), rtol=1e-12)
