"""Point-in-time features from a project's own earlier issues: running target statistics and the nearest by text."""

from __future__ import annotations

import numpy as np
import pandas as pd

HISTORY_COLUMNS = (
    "history__log_count",
    "history__median",
    "history__mean",
    "history__recent_median",
    "history__similar_mean",
    "history__similar_median",
    "history__similar_top",
)
RECENT_ISSUES = 30  # the team's latest habits: story-point scales drift over a project's life


def earlier_issue_features(
    embeddings: np.ndarray,
    target: np.ndarray,
    rank: np.ndarray,
    known_idx: np.ndarray,
    query_idx: np.ndarray,
    *,
    neighbours: int = 5,
) -> pd.DataFrame:
    """For each query row, what the known rows strictly earlier than it (by `rank`) say about its target.

    `known_idx` are the rows whose target may be read (the training rows); a query row never sees its own target,
    a row that comes later, or a row outside `known_idx`. `embeddings` are unit length, so a dot product is the
    cosine similarity. Rows with no earlier known row get NaN (the learners treat it as "not known").
    """
    if neighbours < 1:
        raise ValueError("neighbours must be at least 1")
    known_idx = np.asarray(known_idx, dtype=int)
    query_idx = np.asarray(query_idx, dtype=int)
    by_time = known_idx[np.argsort(rank[known_idx], kind="stable")]
    known_rank = rank[by_time]
    known_target = np.asarray(target, dtype=float)[by_time]
    # How many known rows come strictly before each query row.
    counts = np.searchsorted(known_rank, rank[query_idx], side="left")
    similarity = embeddings[query_idx].astype(np.float32) @ embeddings[by_time].astype(np.float32).T
    similarity[np.arange(len(known_rank))[None, :] >= counts[:, None]] = -np.inf

    out = np.full((len(query_idx), len(HISTORY_COLUMNS)), np.nan)
    out[:, 0] = np.log1p(counts)
    for row, count in enumerate(counts):
        if count == 0:
            continue
        earlier = known_target[:count]
        k = min(neighbours, count)
        nearest = np.argpartition(-similarity[row], k - 1)[:k] if k < count else np.arange(count)
        out[row, 1:] = (
            np.median(earlier),
            earlier.mean(),
            np.median(earlier[-RECENT_ISSUES:]),
            known_target[nearest].mean(),
            np.median(known_target[nearest]),
            float(similarity[row, nearest].max()),
        )
    return pd.DataFrame(out, columns=list(HISTORY_COLUMNS))


def rank_of(order: np.ndarray | None, n_rows: int) -> np.ndarray:
    """Each row's position in time (`order` lists rows oldest first); without an order, the row order is time."""
    if order is None:
        return np.arange(n_rows)
    rank = np.empty(n_rows, dtype=int)
    rank[np.asarray(order, dtype=int)] = np.arange(n_rows)
    return rank
