"""Held-out evaluation of the product learners on any table: protocols, metrics and the trivial baselines beside them.

`evaluate_table` is what `handoff eval tabular` prints; `evaluate_split` scores one train/test split (the public
benchmarks use it with their published splits). Everything that learns (column reduction, tuning, calibration,
baselines) sees only the training rows of a split.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from handoff.errors import InvalidInput
from handoff.progress import Progress, no_progress
from handoff.risk.columns import ColumnPlan, TextReducer, embed_texts, infer_columns, text_of
from handoff.risk.history import earlier_issue_features, rank_of
from handoff.risk.learners import CalibratedClassifier, IntervalRegressor

TASKS = ("classification", "regression")
POSITIVE_WORDS = {"yes", "y", "true", "t", "1", "1.0", "positive", "churn", "churned", "delayed"}
NEGATIVE_WORDS = {"no", "n", "false", "f", "0", "0.0", "negative"}

# --------------------------------------------------------------------------------------------------------------------
# Protocols


@dataclass(frozen=True)
class Protocol:
    """`cv:RxK` = R repeats of K-fold (stratified for classification); `time:F` = the latest F of the rows as test."""

    text: str
    kind: str
    repeats: int = 1
    folds: int = 0
    test_fraction: float = 0.0


def parse_protocol(text: str) -> Protocol:
    cleaned = text.strip().lower()
    match = re.fullmatch(r"cv:(\d+)x(\d+)", cleaned)
    if match:
        # "repeats x folds", as the effort literature writes it: cv:30x3 is 30 runs of 3-fold CV.
        repeats, folds = int(match.group(1)), int(match.group(2))
        if folds < 2 or repeats < 1:
            raise InvalidInput(f"protocol {text!r}: need at least 2 folds and 1 repeat")
        return Protocol(text=cleaned, kind="cv", repeats=repeats, folds=folds)
    match = re.fullmatch(r"time:(0?\.\d+)", cleaned)
    if match:
        fraction = float(match.group(1))
        if not 0 < fraction < 1:
            raise InvalidInput(f"protocol {text!r}: the test fraction must be between 0 and 1")
        return Protocol(text=cleaned, kind="time", test_fraction=fraction)
    raise InvalidInput(f"unknown protocol {text!r}; use cv:RxK (e.g. cv:5x5, cv:30x3) or time:F (e.g. time:0.2)")


def protocol_splits(
    protocol: Protocol,
    n_rows: int,
    *,
    labels: np.ndarray | None = None,
    order: np.ndarray | None = None,
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test index pairs. `order` (for time protocols) ranks rows oldest first; None keeps the file order."""
    if protocol.kind == "time":
        ranked = np.arange(n_rows) if order is None else np.asarray(order)
        n_test = math.ceil(n_rows * protocol.test_fraction)
        if n_test < 1 or n_rows - n_test < 8:
            raise InvalidInput(f"{n_rows} rows are too few for protocol {protocol.text}")
        return [(np.sort(ranked[: n_rows - n_test]), np.sort(ranked[n_rows - n_test :]))]
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

    if labels is not None:
        smallest = int(np.bincount(labels.astype(int)).min())
        if smallest < protocol.folds:
            raise InvalidInput(f"the rarer class has {smallest} rows: too few for {protocol.folds}-fold CV")
        splitter = RepeatedStratifiedKFold(n_splits=protocol.folds, n_repeats=protocol.repeats, random_state=seed)
        return list(splitter.split(np.zeros(n_rows), labels))
    if n_rows < 2 * protocol.folds:
        raise InvalidInput(f"{n_rows} rows are too few for {protocol.folds}-fold CV")
    splitter = RepeatedKFold(n_splits=protocol.folds, n_repeats=protocol.repeats, random_state=seed)
    return list(splitter.split(np.zeros(n_rows)))


# --------------------------------------------------------------------------------------------------------------------
# Metrics


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision) and Brier score of P(positive)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels = np.asarray(labels, dtype=float)
    probabilities = np.asarray(probabilities, dtype=float)
    both = len(np.unique(labels)) == 2
    return {
        "roc_auc": float(roc_auc_score(labels, probabilities)) if both else float("nan"),
        "pr_auc": float(average_precision_score(labels, probabilities)) if both else float("nan"),
        "brier": float(np.mean((probabilities - labels) ** 2)),
    }


def reliability_curve(labels: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> list[list[float]]:
    """(mean predicted, observed rate, rows) per equal-mass bin of the predictions, lowest first."""
    labels = np.asarray(labels, dtype=float)
    probabilities = np.asarray(probabilities, dtype=float)
    order = np.argsort(probabilities, kind="stable")
    return [
        [float(probabilities[chunk].mean()), float(labels[chunk].mean()), float(len(chunk))]
        for chunk in np.array_split(order, min(bins, len(order)))
        if len(chunk)
    ]


def calibration_report(
    labels: np.ndarray, probabilities: np.ndarray, reference_rate: float, bins: int = 10
) -> dict[str, Any]:
    """How far probabilities can be taken at their word, on rows the model never saw.

    Brier skill score against always answering `reference_rate` (the training base rate: what one knows without a
    model), 1 - Brier / Brier(rate); expected calibration error over equal-mass bins (the row-weighted mean gap
    between predicted and observed rate); and the reliability curve itself.
    """
    labels = np.asarray(labels, dtype=float)
    probabilities = np.asarray(probabilities, dtype=float)
    if len(labels) != len(probabilities) or not len(labels):
        raise InvalidInput("calibration needs one probability per label, and at least one row")
    curve = reliability_curve(labels, probabilities, bins)
    brier = float(np.mean((probabilities - labels) ** 2))
    reference = float(np.mean((reference_rate - labels) ** 2))
    return {
        "brier": brier,
        "base_rate_brier": reference,
        "brier_skill": 1.0 - brier / reference if reference > 0 else float("nan"),
        "ece": float(sum(rows * abs(predicted - observed) for predicted, observed, rows in curve) / len(labels)),
        "mean_predicted": float(probabilities.mean()),
        "observed_rate": float(labels.mean()),
        "reference_rate": float(reference_rate),
        "bins": curve,
    }


def versus_best_baseline(
    results: Sequence[Mapping[str, Any]], metric: str, *, higher_is_better: bool
) -> dict[str, Any]:
    """The learner beside its best baseline on one metric over the folds of a protocol.

    The standard error is that of the mean per-fold difference (learner - baseline), std / sqrt(folds): repeated CV
    folds overlap, so it is on the small side. `at_least_baseline` holds when the learner is better, or worse by
    less than one standard error.
    """
    learner = np.array([r["metrics"][metric] for r in results], dtype=float)
    names = list(results[0]["baselines"])
    means = {name: float(np.nanmean([r["baselines"][name][metric] for r in results])) for name in names}
    best = max(names, key=means.get) if higher_is_better else min(names, key=means.get)
    baseline = np.array([r["baselines"][best][metric] for r in results], dtype=float)
    diff = learner - baseline
    n = int(np.sum(~np.isnan(diff)))
    se = float(np.nanstd(diff, ddof=1) / math.sqrt(n)) if n > 1 else None  # one split has no spread to measure
    gain = float(np.nanmean(diff)) * (1 if higher_is_better else -1)
    return {
        "metric": metric,
        "higher_is_better": higher_is_better,
        "learner": float(np.nanmean(learner)),
        "learner_se": float(np.nanstd(learner, ddof=1) / math.sqrt(n)) if n > 1 else None,
        "best_baseline": best,
        "baseline": means[best],
        "difference": float(np.nanmean(diff)),
        "difference_se": se,
        "folds": n,
        "at_least_baseline": bool(gain >= 0 or (se is not None and -gain <= se)),
    }


def picks(results: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How often each model (linear, lightgbm, blend) was picked by the inner folds across the outer folds."""
    counts: dict[str, int] = {}
    for result in results:
        name = result.get("selection", {}).get("picked")
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def standardised_accuracy(actual: np.ndarray, predicted: np.ndarray, train_actual: np.ndarray) -> float:
    """SA = 1 - MAE / MAE(P0): P0 guesses each test value with a random training value (Shepperd & MacDonell 2012).

    MAE(P0) is computed exactly as the mean |y_test - y_train| over all pairs instead of by sampling.
    """
    actual = np.asarray(actual, dtype=float)
    pool = np.sort(np.asarray(train_actual, dtype=float))
    # Mean absolute difference to every pool value, via prefix sums (no n_test x n_train matrix).
    prefix = np.concatenate([[0.0], np.cumsum(pool)])
    below = np.searchsorted(pool, actual, side="right")
    total = pool.sum()
    sums = actual * below - prefix[below] + (total - prefix[below]) - actual * (len(pool) - below)
    guess_mae = float(np.mean(sums / len(pool)))
    mae = float(np.mean(np.abs(actual - np.asarray(predicted, dtype=float))))
    return 1.0 - mae / guess_mae if guess_mae > 0 else float("nan")


def regression_metrics(
    actual: np.ndarray,
    p50: np.ndarray,
    train_actual: np.ndarray,
    p10: np.ndarray | None = None,
    p90: np.ndarray | None = None,
) -> dict[str, float]:
    """MAE, median absolute error, standardised accuracy and the share of rows inside [p10, p90]."""
    actual = np.asarray(actual, dtype=float)
    errors = np.abs(actual - np.asarray(p50, dtype=float))
    coverage = float("nan")
    if p10 is not None and p90 is not None:
        coverage = float(np.mean((actual >= np.asarray(p10)) & (actual <= np.asarray(p90))))
    return {
        "mae": float(errors.mean()),
        "mdae": float(np.median(errors)),
        "sa": standardised_accuracy(actual, p50, train_actual),
        "coverage80": coverage,
    }


# --------------------------------------------------------------------------------------------------------------------
# Targets


def binary_labels(values: pd.Series) -> np.ndarray:
    """0/1 labels from booleans, 0/1 numbers or two strings (yes/no, true/false, ...; else the rarer is positive)."""
    present = values.dropna()
    if pd.api.types.is_bool_dtype(values):
        return values.astype(bool).to_numpy().astype(int)
    text = present.astype(str).str.strip().str.lower()
    distinct = sorted(text.unique())
    if len(distinct) != 2:
        raise InvalidInput(f"a classification target needs exactly 2 distinct values; found {len(distinct)}")
    positive = [value for value in distinct if value in POSITIVE_WORDS]
    negative = [value for value in distinct if value in NEGATIVE_WORDS]
    if len(positive) == 1:
        chosen = positive[0]
    elif len(negative) == 1:
        chosen = next(value for value in distinct if value not in negative)
    else:
        chosen = text.value_counts().sort_index().idxmin()
    return (values.astype(str).str.strip().str.lower() == chosen).to_numpy().astype(int)


def numeric_target(values: pd.Series, name: str) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().sum() < len(values.dropna()):
        raise InvalidInput(f"regression target {name!r} has non-numeric values")
    return numbers.to_numpy(dtype=float)


# --------------------------------------------------------------------------------------------------------------------
# Baselines


def _baseline_design(numeric: Sequence[str], categorical: Sequence[str]):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), list(numeric)),
            (
                "levels",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="(missing)"),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=2),
                ),
                list(categorical),
            ),
        ],
        sparse_threshold=0.0,
    )


def _split_kinds(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    numeric = [
        c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])
    ]
    categorical = [c for c in frame.columns if c not in numeric]
    return numeric, categorical


def _as_object(frame: pd.DataFrame, categorical: Sequence[str]) -> pd.DataFrame:
    # sklearn's imputer wants object columns with NaN, not pandas' string dtype with NA.
    out = frame.copy()
    for column in categorical:
        out[column] = out[column].astype(object).where(out[column].notna(), np.nan)
    return out


def logistic_baseline(train: pd.DataFrame, labels: np.ndarray, test: pd.DataFrame) -> np.ndarray:
    """Logistic regression on standardised numbers and one-hot levels: the textbook churn baseline."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    numeric, categorical = _split_kinds(train)
    model = make_pipeline(_baseline_design(numeric, categorical), LogisticRegression(C=1.0, max_iter=2000))
    model.fit(_as_object(train, categorical), labels)
    return model.predict_proba(_as_object(test, categorical))[:, 1]


def median_baseline(target: np.ndarray, n_test: int, alpha: float = 0.2) -> dict[str, np.ndarray]:
    """The training median for everyone, and the training quantiles as its interval."""
    low, mid, high = np.quantile(target, [alpha / 2, 0.5, 1 - alpha / 2])
    return {"p10": np.full(n_test, low), "p50": np.full(n_test, mid), "p90": np.full(n_test, high)}


def log_linear_baseline(
    train: pd.DataFrame, target: np.ndarray, test: pd.DataFrame, alpha: float = 0.2
) -> dict[str, np.ndarray]:
    """Linear regression of log1p(target) on log1p of skewed counts and one-hot levels (lightly ridged: tiny tables
    have more columns than a plain least-squares fit can bear); the interval is its training residual quantiles."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    numeric, categorical = _split_kinds(train)
    train = _as_object(train, categorical)
    test = _as_object(test, categorical)
    for column in numeric:
        values = train[column].dropna()
        if len(values) and values.min() >= 0 and values.skew() > 1.0:
            train[column] = np.log1p(train[column])
            test[column] = np.log1p(test[column].clip(lower=0))
    use_log = bool(target.min() >= 0)
    z = np.log1p(target) if use_log else target
    model = make_pipeline(_baseline_design(numeric, categorical), Ridge(alpha=1.0)).fit(train, z)
    residuals = z - model.predict(train)
    low, high = np.quantile(residuals, [alpha / 2, 1 - alpha / 2])
    # Keep predictions inside a sane range: a tiny training set can extrapolate log-hours to absurd values.
    mid = np.clip(model.predict(test), z.min() - 1.0, z.max() + 1.0)
    back = np.expm1 if use_log else (lambda v: v)
    return {"p10": back(mid + low), "p50": back(mid), "p90": back(mid + high)}


# --------------------------------------------------------------------------------------------------------------------
# Running a protocol


@dataclass
class PreparedTable:
    """A table ready for splitting: features by the plan, the target as numbers, and the text embedded once."""

    plan: ColumnPlan
    task: str
    features: pd.DataFrame
    target: np.ndarray
    embeddings: np.ndarray | None = None
    order: np.ndarray | None = None
    # > 0: add the target's history among earlier training rows and that many most similar earlier rows by text.
    history_neighbours: int = 0


def prepare_table(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str,
    drop: Sequence[str] = (),
    text: str | Sequence[str] | None = None,
    time: str | None = None,
    embed: Callable[[list[str]], np.ndarray] = embed_texts,
    history_neighbours: int = 0,
) -> PreparedTable:
    if task not in TASKS:
        raise InvalidInput(f"unknown task {task!r}; use classification or regression")
    plan = infer_columns(frame, target=target, drop=drop, text=text, time=time)
    frame = frame[frame[target].notna()].reset_index(drop=True)
    labels = binary_labels(frame[target]) if task == "classification" else numeric_target(frame[target], target)
    if len(frame) < 10:
        raise InvalidInput(f"only {len(frame)} rows have a target value; need at least 10")
    if history_neighbours and (not plan.text or task != "regression"):
        raise InvalidInput("history features need a text column and a regression target")
    features = plan.features(frame)
    embeddings = None
    if plan.text:
        texts = text_of(frame, plan.text)
        embeddings = np.asarray(embed(texts))
        # How much was written says something the (length-normalised) embedding does not.
        features["text__log_chars"] = np.log1p([len(text) for text in texts])
    order = None
    if time:
        stamps = pd.to_datetime(frame[time], errors="coerce", format="mixed", utc=True)
        if stamps.notna().mean() < 0.5:
            stamps = pd.to_numeric(frame[time], errors="coerce")
        # Oldest first; rows without a time go first (as "old"), so they can never leak from the future.
        keys = stamps.astype("int64") if hasattr(stamps, "dt") else stamps
        order = np.argsort(np.where(stamps.isna().to_numpy(), -np.inf, np.asarray(keys, dtype=float)), kind="stable")
    return PreparedTable(
        plan=plan,
        task=task,
        features=features,
        target=labels,
        embeddings=embeddings,
        order=order,
        history_neighbours=history_neighbours,
    )


def fold_features(
    table: PreparedTable, train_idx: np.ndarray, test_idx: np.ndarray, *, text_components: int = 32, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and test features for one split; the text reduction is fitted on the training rows only.

    History features read training targets only, each row those of the training rows strictly before it in time.
    """
    train = table.features.iloc[train_idx].reset_index(drop=True)
    test = table.features.iloc[test_idx].reset_index(drop=True)
    if table.embeddings is not None:
        reducer = TextReducer(n_components=text_components, random_state=seed).fit(table.embeddings[train_idx])
        train = pd.concat([train, reducer.transform(table.embeddings[train_idx])], axis=1)
        test = pd.concat([test, reducer.transform(table.embeddings[test_idx])], axis=1)
    if table.history_neighbours:
        rank = rank_of(table.order, len(table.target))
        for_rows = partial(
            earlier_issue_features,
            table.embeddings,
            table.target,
            rank,
            train_idx,
            neighbours=table.history_neighbours,
        )
        train = pd.concat([train, for_rows(train_idx)], axis=1)
        test = pd.concat([test, for_rows(test_idx)], axis=1)
    return train, test


def evaluate_split(
    table: PreparedTable,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    *,
    seed: int = 0,
    learner_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The product learner and the baselines on one split: {"metrics", "baselines", "predictions"}."""
    train, test = fold_features(table, train_idx, test_idx, seed=seed)
    y_train, y_test = table.target[train_idx], table.target[test_idx]
    options = dict(learner_options or {})
    if table.task == "classification":
        model = CalibratedClassifier(random_state=seed, **options).fit(train, y_train)
        probabilities = model.predict_proba(test)
        return {
            "metrics": classification_metrics(y_test, probabilities),
            "baselines": {
                "logistic_regression": classification_metrics(y_test, logistic_baseline(train, y_train, test))
            },
            "predictions": probabilities,
            "selection": _picked(model.selection),
        }
    regressor = IntervalRegressor(random_state=seed, **options).fit(train, y_train)
    band = regressor.predict(test)
    median = median_baseline(y_train, len(test_idx))
    loglinear = log_linear_baseline(train, y_train, test)
    return {
        "metrics": regression_metrics(y_test, band["p50"], y_train, band["p10"], band["p90"]),
        "baselines": {
            "train_median": regression_metrics(y_test, median["p50"], y_train, median["p10"], median["p90"]),
            "log_linear": regression_metrics(y_test, loglinear["p50"], y_train, loglinear["p10"], loglinear["p90"]),
        },
        "predictions": band["p50"].to_numpy(),
        "selection": _picked(regressor.selection),
    }


def _picked(selection: Mapping[str, Any]) -> dict[str, Any]:
    return {key: selection[key] for key in ("picked", "weight", "gbm_shape") if key in selection}


def average(results: Iterable[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over folds (NaN folds skipped)."""
    frame = pd.DataFrame(list(results))
    return {column: float(frame[column].mean()) for column in frame.columns}


def evaluate_table(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str,
    drop: Sequence[str] = (),
    text: str | Sequence[str] | None = None,
    time: str | None = None,
    protocol: str = "cv:5x5",
    seed: int = 0,
    progress: Progress = no_progress,
    learner_options: dict[str, Any] | None = None,
    embed: Callable[[list[str]], np.ndarray] = embed_texts,
) -> dict[str, Any]:
    """The `handoff eval tabular` document: {"task", "n_rows", "protocol", "metrics", "baselines"}."""
    parsed = parse_protocol(protocol)
    table = prepare_table(frame, target=target, task=task, drop=drop, text=text, time=time, embed=embed)
    if not table.plan.feature_columns and not table.plan.text:
        raise InvalidInput("no usable feature columns left after typing and dropping")
    labels = table.target if task == "classification" and parsed.kind == "cv" else None
    splits = protocol_splits(parsed, len(table.target), labels=labels, order=table.order, seed=seed)
    results = [
        evaluate_split(table, train, test, seed=seed, learner_options=learner_options)
        for train, test in progress(splits, "folds", len(splits))
    ]
    baseline_names = list(results[0]["baselines"])
    metric, higher = ("roc_auc", True) if task == "classification" else ("mae", False)
    return {
        "task": task,
        "n_rows": int(len(table.target)),
        "protocol": parsed.text,
        "metrics": average(result["metrics"] for result in results),
        "baselines": {name: average(result["baselines"][name] for result in results) for name in baseline_names},
        "versus_best_baseline": versus_best_baseline(results, metric, higher_is_better=higher),
        "picked": picks(results),
    }
