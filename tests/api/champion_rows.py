"""A plausible feature row for a trained bundle: what MLflow needs to infer a champion's signature in API tests."""

from __future__ import annotations

import pandas as pd


def example_row(bundle) -> pd.DataFrame:
    """One plausible feature row, enough for MLflow to infer the model's signature."""
    encoder = bundle.learners["main"].encoder
    row = {}
    for column in bundle.feature_names:
        kind = encoder.kinds[column]
        if kind == "categorical":
            row[column] = (encoder.levels[column] or ["unknown"])[0]
        else:
            row[column] = pd.Timestamp("2026-01-05") if kind == "datetime" else 1.0
    return pd.DataFrame([row])
