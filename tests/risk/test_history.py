"""The project-history features: each issue sees only the training issues strictly before it in time."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from handoff.errors import InvalidInput
from handoff.risk.evaluation import fold_features, prepare_table
from handoff.risk.history import HISTORY_COLUMNS, earlier_issue_features, rank_of


def _unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.normal(size=(n, 8)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_an_issue_never_sees_its_own_later_or_test_points() -> None:
    rng = np.random.default_rng(3)
    n = 60
    embeddings, target = _unit_rows(rng, n), rng.integers(1, 13, size=n).astype(float)
    order = rng.permutation(n)  # oldest first, not the row order
    rank = rank_of(order, n)
    train_idx, test_idx = order[:45], order[45:]
    everyone = np.arange(n)
    before = earlier_issue_features(embeddings, target, rank, train_idx, everyone, neighbours=3)
    for row in (order[0], order[10], order[44], order[50]):
        # Rewrite the points of this issue, of every later one and of every test issue, and their text (but this
        # issue's own: its features rightly depend on what it says).
        changed = (rank >= rank[row]) | np.isin(everyone, test_idx)
        target_after, embeddings_after = target.copy(), embeddings.copy()
        target_after[changed] = 100.0
        others = changed & (everyone != row)
        embeddings_after[others] = _unit_rows(rng, int(others.sum()))
        after = earlier_issue_features(embeddings_after, target_after, rank, train_idx, everyone, neighbours=3)
        pd.testing.assert_series_equal(before.iloc[row], after.iloc[row])


def test_history_is_what_the_earlier_training_issues_say() -> None:
    rng = np.random.default_rng(5)
    n = 40
    embeddings, target = _unit_rows(rng, n), rng.integers(1, 9, size=n).astype(float)
    rank = np.arange(n)
    train_idx = np.arange(30)
    features = earlier_issue_features(embeddings, target, rank, train_idx, np.arange(n), neighbours=4)
    assert list(features.columns) == list(HISTORY_COLUMNS)
    assert features.iloc[0, 1:].isna().all()  # the first issue has no history
    for row in (1, 7, 29, 35):
        earlier = np.arange(min(row, 30))
        similarity = embeddings[earlier] @ embeddings[row]
        nearest = earlier[np.argsort(-similarity)[: min(4, len(earlier))]]
        assert features.loc[row, "history__log_count"] == pytest.approx(np.log1p(len(earlier)))
        assert features.loc[row, "history__median"] == pytest.approx(np.median(target[earlier]))
        assert features.loc[row, "history__recent_median"] == pytest.approx(np.median(target[earlier][-30:]))
        assert features.loc[row, "history__similar_mean"] == pytest.approx(target[nearest].mean())
        assert features.loc[row, "history__similar_top"] == pytest.approx(similarity.max())


def _hash_embed(texts: list[str]) -> np.ndarray:
    seeds = [int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) for text in texts]
    return np.vstack([_unit_rows(np.random.default_rng(seed), 1) for seed in seeds])


def test_fold_features_ignore_the_test_issues_points() -> None:
    rng = np.random.default_rng(11)
    n = 50
    frame = pd.DataFrame(
        {
            "title": [f"issue {i} about {rng.choice(['login', 'export', 'search'])}" for i in range(n)],
            "storypoint": rng.integers(1, 9, size=n),
        }
    )
    train_idx, test_idx = np.arange(40), np.arange(40, n)
    table = prepare_table(
        frame, target="storypoint", task="regression", text="title", embed=_hash_embed, history_neighbours=3
    )
    train, test = fold_features(table, train_idx, test_idx)
    assert set(HISTORY_COLUMNS) <= set(train.columns) and set(HISTORY_COLUMNS) <= set(test.columns)
    # Every test issue sees all 40 training issues (they all came before it), none of the other test issues.
    assert test["history__log_count"].to_numpy() == pytest.approx(np.log1p(40))
    assert test["history__median"].to_numpy() == pytest.approx(np.median(table.target[train_idx]))
    table.target[test_idx] = 1000.0
    train_again, test_again = fold_features(table, train_idx, test_idx)
    pd.testing.assert_frame_equal(train, train_again)
    pd.testing.assert_frame_equal(test, test_again)


def test_history_needs_text_and_a_regression_target() -> None:
    frame = pd.DataFrame({"size": range(20), "late": [0, 1] * 10})
    with pytest.raises(InvalidInput):
        prepare_table(frame, target="late", task="classification", history_neighbours=3)
