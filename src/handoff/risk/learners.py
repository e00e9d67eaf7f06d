"""Pure tabular learners: LightGBM quantile intervals with conformal calibration, and calibrated LightGBM classifiers.

Both learners share one recipe, all of it inside `fit` (so inside whatever training fold the caller gives them):

1. `FrameEncoder` fixes the feature columns and the category levels seen in training; at predict time unseen levels
   and absent columns become missing values, so serving never fails on a new category.
2. Model selection on K inner folds: out-of-fold predictions of LightGBM in each of a few fixed shapes (`GBM_SHAPES`:
   shallow, default, deep) at several numbers of boosting rounds, and of a standardised linear model (ridge on log
   hours / logistic regression). The shape, the rounds and the blend weight between the GBM and the linear model
   (0 = the linear model alone, 1 = the GBM alone) are picked on these out-of-fold predictions only, and `selection`
   says what was picked and the inner scores behind it: small tables (tens of projects) often prefer the linear
   model, large ones the GBM. A fixed grid rather than a sampler (Optuna): on tens to hundreds of rows the inner-fold
   noise is larger than what a longer search finds, and a grid costs a known number of fits and gives the same
   answer on every machine. With `periods` (churn snapshots by cutoff) the inner folds are time-ordered: each
   validates one of the latest periods with a model trained on the periods before it.
3. The same out-of-fold predictions calibrate: conformalised quantile regression (CQR) for the interval, isotonic or
   sigmoid for the probability. Then every model is refitted on all rows.

The prediction is a weighted sum of the booster's raw score and the linear score, so per-feature contributions
(LightGBM `pred_contrib` plus the linear terms) still sum exactly to the raw prediction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
import pandas as pd

from handoff.risk import single_row

FORMAT_VERSION = 1
MAX_LEVELS = 200  # category levels kept per column (most frequent first); rarer ones read as missing
LINEAR_MAX_LEVELS = 30  # one-hot columns per categorical feature in the linear model
MAX_SUPPORT = 30  # at most this many distinct whole target values count as a discrete scale
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # share of the GBM in the final score; ties go to the simpler model
GBM_SHAPES = ("shallow", "default", "deep")  # the LightGBM candidates every fit compares on its inner folds


# --------------------------------------------------------------------------------------------------------------------
# Encoding: DataFrame or dict -> float matrix, with category levels frozen at fit time


class FrameEncoder:
    """Turns feature frames into the float matrix the models read: numbers as they are, categories as level codes."""

    def __init__(self) -> None:
        self.columns: list[str] = []
        self.kinds: dict[str, str] = {}  # "numeric" | "categorical" | "datetime"
        self.levels: dict[str, list[str]] = {}
        self._codes: dict[str, dict[str, int]] = {}
        self._level_index: dict[str, pd.Index] = {}

    def fit(self, frame: pd.DataFrame) -> FrameEncoder:
        self.columns = [str(column) for column in frame.columns]
        for column in frame.columns:
            values = frame[column]
            name = str(column)
            if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
                self.kinds[name] = "numeric"
            elif pd.api.types.is_datetime64_any_dtype(values):
                self.kinds[name] = "datetime"
            else:
                self.kinds[name] = "categorical"
                counts = values.dropna().astype(str).value_counts(sort=False)
                # Most frequent first, ties by name, so the levels do not depend on row order.
                ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
                self.levels[name] = [level for level, _ in ordered[:MAX_LEVELS]]
        self._index_levels()
        return self

    def _index_levels(self) -> None:
        self._codes = {name: {level: code for code, level in enumerate(levels)} for name, levels in self.levels.items()}
        self._level_index = {name: pd.Index(levels, dtype=object) for name, levels in self.levels.items()}

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, name in enumerate(self.columns) if self.kinds[name] == "categorical"]

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The model matrix for a frame; absent columns and unseen levels become NaN."""
        out = np.full((len(frame), len(self.columns)), np.nan)
        for j, name in enumerate(self.columns):
            if name not in frame.columns:
                continue
            values = frame[name]
            kind = self.kinds[name]
            if kind == "categorical":
                if not pd.api.types.is_string_dtype(values) or values.dtype == object:
                    values = values.astype("string")  # 3 -> "3", as the levels were recorded
                # A hash lookup, not Series.map: ~5x faster on a million rows (the nightly scoring run).
                codes = self._level_index[name].get_indexer(values).astype(float)
                codes[codes < 0] = np.nan  # unseen level or missing
                out[:, j] = codes
            elif kind == "datetime":
                stamps = pd.to_datetime(values, errors="coerce", utc=True)
                out[:, j] = _days_since_epoch(stamps)
            else:
                if pd.api.types.is_bool_dtype(values):
                    values = values.astype(float)
                out[:, j] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return out

    def row(self, record: Mapping[str, Any]) -> np.ndarray:
        """The model matrix for one record, without pandas (the serving fast path)."""
        values = [math.nan] * len(self.columns)
        for j, name in enumerate(self.columns):
            value = record.get(name)
            if value is None:
                continue
            codes = self._codes.get(name)
            if codes is not None:  # categorical
                values[j] = codes.get(_level_text(value), math.nan)
            elif self.kinds[name] == "datetime":
                values[j] = _days_since_epoch(pd.to_datetime(pd.Series([value]), errors="coerce", utc=True))[0]
            else:
                try:  # not contextlib.suppress: a context manager per value tripled this method's time
                    values[j] = float(value)
                except (TypeError, ValueError):
                    values[j] = math.nan  # unreadable reads as unknown
        return np.array([values], dtype=float)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "kinds": self.kinds, "levels": self.levels}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FrameEncoder:
        encoder = cls()
        encoder.columns = list(data["columns"])
        encoder.kinds = dict(data["kinds"])
        encoder.levels = {name: list(levels) for name, levels in data["levels"].items()}
        encoder._index_levels()
        return encoder


def _level_text(value: Any) -> str:
    # The same text pandas' astype("string") gives for training values (True -> "True", 3 -> "3", 2.5 -> "2.5").
    return str(value)


def _days_since_epoch(stamps: pd.Series) -> np.ndarray:
    nanos = stamps.astype("int64").to_numpy(dtype=float)
    nanos[stamps.isna().to_numpy()] = np.nan
    return nanos / 86_400e9


# --------------------------------------------------------------------------------------------------------------------
# The linear companion model: standardised design (median-imputed, log1p of skewed counts, one-hot levels)


# How far past its training range (as a share of that range) a linear design column may go before it is held:
# a line may extrapolate somewhat (large projects cost more than any seen so far), but never to infinity.
LINEAR_EXTRAPOLATION = 1.0


@dataclass
class LinearDesign:
    """Maps the encoder's matrix to a standardised linear design; remembers which feature each column belongs to."""

    medians: list[float] = field(default_factory=list)
    log_columns: list[int] = field(default_factory=list)
    log_twins: list[int] = field(default_factory=list)
    missing_flags: list[int] = field(default_factory=list)
    onehot: dict[int, list[int]] = field(default_factory=dict)  # feature index -> level codes kept
    means: list[float] = field(default_factory=list)
    scales: list[float] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)  # design column -> feature index
    lows: list[float] = field(default_factory=list)  # each design column's training range, widened
    highs: list[float] = field(default_factory=list)
    _plan: dict[str, np.ndarray] | None = field(default=None, init=False, repr=False, compare=False)
    _scaling: tuple[np.ndarray, ...] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def fit(cls, matrix: np.ndarray, categorical: Sequence[int]) -> LinearDesign:
        design = cls()
        is_categorical = set(categorical)
        n_features = matrix.shape[1]
        for j in range(n_features):
            column = matrix[:, j]
            present = column[~np.isnan(column)]
            if j in is_categorical:
                codes, counts = np.unique(present.astype(int), return_counts=True)
                pairs = sorted(zip(codes.tolist(), counts.tolist(), strict=True), key=lambda t: (-t[1], t[0]))
                kept = [int(code) for code, _ in pairs]
                design.onehot[j] = kept[:LINEAR_MAX_LEVELS]
                design.medians.append(0.0)
                continue
            design.medians.append(float(np.median(present)) if present.size else 0.0)
            if 0 < present.size < len(column):
                design.missing_flags.append(j)  # "not known" often means something (no sales estimate given)
            if not present.size or present.min() < 0 or len(np.unique(present)) < 10:
                continue
            # Skewed counts and sizes enter on the log scale; other non-negative measures get a log1p twin beside
            # them, a cheap curve (churn falls off with log tenure, not tenure) that the penalty can ignore.
            if _skew(present) > 1.0:
                design.log_columns.append(j)
            else:
                design.log_twins.append(j)
        raw = design._raw(matrix)
        low, high = raw.min(axis=0), raw.max(axis=0)
        margin = LINEAR_EXTRAPOLATION * (high - low)
        design.lows, design.highs = (low - margin).tolist(), (high + margin).tolist()
        design.means = raw.mean(axis=0).tolist()
        scales = raw.std(axis=0)
        design.scales = np.where(scales > 1e-12, scales, 1.0).tolist()
        return design

    def _raw(self, matrix: np.ndarray) -> np.ndarray:
        """The unstandardised design, computed for all columns at once (one row costs microseconds, not a loop)."""
        plan = self._plan if self._plan is not None else self._make_plan(matrix.shape[1])
        filled = np.where(np.isnan(matrix), plan["medians"], matrix)
        logged = np.log1p(np.maximum(filled, 0.0))
        blocks = np.concatenate(
            [
                matrix[:, plan["onehot_source"]] == plan["onehot_code"],
                np.isnan(matrix[:, plan["flag_source"]]),
                filled[:, plan["plain_source"]],
                logged[:, plan["log_source"]],
            ],
            axis=1,
            dtype=float,
        )
        return blocks[:, plan["order"]]

    def _make_plan(self, n_features: int) -> dict[str, np.ndarray]:
        """Where each design column comes from, in the order the design lists them; `groups` follows the same order.

        Per feature j, in order: one column per kept level (categorical); else a missing flag (when kept), the
        median-filled value (log1p of it for skewed columns) and a log1p twin (when kept).
        """
        log_columns, log_twins, flags = set(self.log_columns), set(self.log_twins), set(self.missing_flags)
        blocks: dict[str, list[tuple[int, int]]] = {"onehot": [], "flag": [], "plain": [], "log": []}
        slots: list[tuple[str, int]] = []  # each design column, in order: (its block, its place in that block)
        self.groups = []

        def add(block: str, j: int, code: int = 0) -> None:
            slots.append((block, len(blocks[block])))
            blocks[block].append((j, code))
            self.groups.append(j)

        for j in range(n_features):
            if j in self.onehot:
                for code in self.onehot[j]:
                    add("onehot", j, code)
                continue
            if j in flags:
                add("flag", j)
            add("log" if j in log_columns else "plain", j)
            if j in log_twins:
                add("log", j)
        offsets = dict(zip(blocks, np.cumsum([0, *(len(v) for v in blocks.values())]).tolist(), strict=False))
        self._plan = {
            "medians": np.asarray(self.medians, dtype=float),
            **{f"{name}_source": np.array([j for j, _ in blocks[name]], dtype=int) for name in blocks},
            "onehot_code": np.array([code for _, code in blocks["onehot"]], dtype=float),
            "order": np.array([offsets[block] + place for block, place in slots], dtype=int),
            "blocks": np.array([block for block, _ in slots], dtype=object),
        }
        return self._plan

    def directions(self, signs: Mapping[int, int]) -> np.ndarray:
        """Per design column, the sign its coefficient must have (0: free); a feature's missing flag stays free."""
        plan = self._plan if self._plan is not None else self._make_plan(len(self.medians))
        out = np.zeros(len(self.groups))
        for column, (feature, block) in enumerate(zip(self.groups, plan["blocks"], strict=True)):
            if block in ("plain", "log"):
                out[column] = signs.get(feature, 0)
        return out

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        if self._scaling is None:  # as arrays once: converting four lists on every call cost a row ~10 us
            self._scaling = tuple(np.asarray(v, dtype=float) for v in (self.lows, self.highs, self.means, self.scales))
        lows, highs, means, scales = self._scaling
        raw = self._raw(matrix)
        if lows.size:  # a line extrapolates without bound: inputs far beyond anything seen in training are held
            np.clip(raw, lows, highs, out=raw)
        return (raw - means) / scales

    def to_dict(self) -> dict[str, Any]:
        return {
            "medians": self.medians,
            "log_columns": self.log_columns,
            "log_twins": self.log_twins,
            "missing_flags": self.missing_flags,
            "onehot": {str(k): v for k, v in self.onehot.items()},
            "means": self.means,
            "scales": self.scales,
            "groups": self.groups,
            "lows": self.lows,
            "highs": self.highs,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearDesign:
        return cls(
            medians=list(data["medians"]),
            log_columns=list(data["log_columns"]),
            log_twins=list(data.get("log_twins", [])),
            missing_flags=list(data.get("missing_flags", [])),
            onehot={int(k): list(v) for k, v in data["onehot"].items()},
            means=list(data["means"]),
            scales=list(data["scales"]),
            groups=list(data["groups"]),
            lows=list(data.get("lows", [])),
            highs=list(data.get("highs", [])),
        )


def _skew(values: np.ndarray) -> float:
    std = values.std()
    if std < 1e-12:
        return 0.0
    return float(np.mean(((values - values.mean()) / std) ** 3))


@dataclass
class LinearModel:
    """Coefficients on a `LinearDesign`: score = intercept + design @ coef."""

    design: LinearDesign
    coef: np.ndarray
    intercept: float
    _starts: tuple[np.ndarray, np.ndarray] | None = field(default=None, init=False, repr=False, compare=False)

    def score(self, matrix: np.ndarray) -> np.ndarray:
        z = self.design.transform(matrix)
        if not z.shape[1]:
            return np.full(matrix.shape[0], self.intercept)
        return self.intercept + z @ self.coef

    def contributions(self, matrix: np.ndarray, n_features: int) -> np.ndarray:
        """Per-feature terms plus the intercept in the last column; each row sums to `score`."""
        z = self.design.transform(matrix)
        out = np.zeros((matrix.shape[0], n_features + 1))
        if z.shape[1]:
            # A feature's design columns sit side by side (`LinearDesign.groups` ascends), so one reduceat sums
            # them: ~10x faster than np.add.at on one row.
            features, starts = self._feature_starts()
            out[:, features] = np.add.reduceat(z * self.coef, starts, axis=1)
        out[:, -1] = self.intercept
        return out

    def _feature_starts(self) -> tuple[np.ndarray, np.ndarray]:
        if self._starts is None:
            self._starts = np.unique(np.asarray(self.design.groups, dtype=int), return_index=True)
        return self._starts

    def to_dict(self) -> dict[str, Any]:
        return {"design": self.design.to_dict(), "coef": self.coef.tolist(), "intercept": self.intercept}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearModel:
        return cls(LinearDesign.from_dict(data["design"]), np.asarray(data["coef"], dtype=float), data["intercept"])


RIDGE_ALPHAS = tuple(np.logspace(-2, 3.5, 12).tolist())  # penalties the regressor's inner folds choose from


def _fit_ridge(
    matrix: np.ndarray,
    target: np.ndarray,
    categorical: Sequence[int],
    signs: Mapping[int, int] | None = None,
    alphas: Sequence[float] = (1.0,),
) -> list[LinearModel]:
    """Ridge on the linear design, one model per penalty in `alphas` (one design, fitted once). `signs` (feature
    index -> +1/-1) holds those features' value columns to that direction: a column whose coefficient comes out the
    wrong way is left out and the rest refitted."""
    from sklearn.linear_model import Ridge

    design = LinearDesign.fit(matrix, categorical)
    z = design.transform(matrix)
    if z.shape[1] == 0:
        return [LinearModel(design, np.zeros(0), float(np.mean(target))) for _ in alphas]
    direction = design.directions(signs or {})
    models = []
    for alpha in alphas:
        kept = np.ones(z.shape[1], dtype=bool)
        coef = np.zeros(z.shape[1])
        intercept = float(np.mean(target))
        while kept.any():
            ridge = Ridge(alpha=alpha).fit(z[:, kept], target)
            coef[:] = 0.0
            coef[kept] = ridge.coef_
            intercept = float(ridge.intercept_)
            wrong = kept & (coef * direction < 0)
            if not wrong.any():
                break
            kept &= ~wrong
        if not kept.any():
            coef[:], intercept = 0.0, float(np.mean(target))
        models.append(LinearModel(design, coef.copy(), intercept))
    return models


def _fit_logistic(matrix: np.ndarray, target: np.ndarray, categorical: Sequence[int]) -> LinearModel:
    from sklearn.linear_model import LogisticRegression

    design = LinearDesign.fit(matrix, categorical)
    z = design.transform(matrix)
    if z.shape[1] == 0:
        rate = float(np.clip(target.mean(), 1e-6, 1 - 1e-6))
        return LinearModel(design, np.zeros(0), math.log(rate / (1 - rate)))
    model = LogisticRegression(C=1.0, max_iter=2000).fit(z, target)
    return LinearModel(design, np.asarray(model.coef_[0], dtype=float), float(model.intercept_[0]))


# --------------------------------------------------------------------------------------------------------------------
# LightGBM plumbing


def _default_params(n_rows: int, objective: str, random_state: int) -> dict[str, Any]:
    # Small tables (tens of projects) need small leaves; the caps keep large tables regularised.
    return {
        "objective": objective,
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_data_in_leaf": int(np.clip(n_rows // 40, 3, 40)),
        "min_data_per_group": int(np.clip(n_rows // 20, 5, 100)),
        "cat_smooth": 10.0,
        "cat_l2": 10.0,
        "max_cat_threshold": 32,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "min_data_in_bin": 1 if n_rows < 200 else 3,
        "verbose": -1,
        # One thread: the boxes this runs on are shared, and small fits are dominated by thread start-up anyway.
        "num_threads": 1,
        "deterministic": True,
        "force_col_wise": True,
        "seed": random_state,
    }


def _shape_params(shape: str, n_rows: int) -> dict[str, Any]:
    """The overrides that make one of `GBM_SHAPES` from the default parameters (leaf sizes scale with the rows)."""
    if shape == "default":
        return {}
    if shape == "shallow":  # near-additive: few splits per tree, heavier shrinkage of leaf values
        return {"num_leaves": 4, "min_data_in_leaf": int(np.clip(n_rows // 15, 5, 100)), "lambda_l2": 10.0}
    if shape == "deep":  # interactions: more leaves, smaller ones, fewer features per tree
        return {"num_leaves": 31, "min_data_in_leaf": int(np.clip(n_rows // 100, 2, 20)), "feature_fraction": 0.6}
    raise ValueError(f"unknown GBM shape {shape!r}; use one of {', '.join(GBM_SHAPES)}")


def _check_shapes(shapes: Sequence[str] | None) -> tuple[str, ...]:
    chosen = tuple(shapes or GBM_SHAPES)
    for shape in chosen:
        _shape_params(shape, 100)
    return chosen


def picked_model(weight: float) -> str:
    """What a blend weight means in words: the linear model alone, LightGBM alone, or a blend of the two."""
    return "linear" if weight <= 0.0 else "lightgbm" if weight >= 1.0 else "blend"


def _candidate_scores(weights: Sequence[float], scores: Sequence[float]) -> dict[str, float]:
    """The inner score of each candidate: LightGBM alone, the linear model alone, the best blend between them."""
    out: dict[str, float] = {}
    for weight, score in zip(weights, scores, strict=True):
        name = picked_model(weight)
        out[name] = min(out.get(name, math.inf), float(score))
    return out


def _monotone_vector(columns: Sequence[str], kinds: Mapping[str, str], monotone: Mapping[str, int]) -> list[int]:
    """LightGBM's `monotone_constraints`, one entry per model column; categories cannot be ordered."""
    for name, sign in monotone.items():
        if sign not in (-1, 1):
            raise ValueError(f"monotone direction of {name!r} must be 1 or -1")
        if kinds.get(name) not in (None, "numeric"):
            raise ValueError(f"monotone feature {name!r} must be numeric")
    return [int(monotone.get(name, 0)) for name in columns]


class BoosterTrainer(Protocol):
    """Fits one LightGBM booster: `_train_booster` in this process, or `scale.training`'s on a Dask cluster."""

    def __call__(
        self, matrix: np.ndarray, target: np.ndarray, params: Mapping[str, Any], rounds: int, categorical: Sequence[int]
    ) -> lgb.Booster: ...


def booster_feature_names(n_features: int) -> list[str]:
    """The names boosters know the columns by: LightGBM rejects some characters in real names; mapped back later."""
    return [f"f{i}" for i in range(n_features)]


def _train_booster(
    matrix: np.ndarray, target: np.ndarray, params: Mapping[str, Any], rounds: int, categorical: Sequence[int]
) -> lgb.Booster:
    names = booster_feature_names(matrix.shape[1])
    dataset_params = {key: params[key] for key in ("min_data_in_bin", "verbose") if key in params}
    dataset = lgb.Dataset(
        matrix,
        label=target,
        feature_name=names,
        categorical_feature=list(categorical),
        params=dataset_params,
        free_raw_data=True,
    )
    # keep_training_booster skips a save-and-reload of every model (a third of a small fit's time).
    return lgb.train(dict(params), dataset, num_boost_round=rounds, keep_training_booster=True)


def _predict(
    booster: lgb.Booster,
    matrix: np.ndarray,
    *,
    num_iteration: int | None = None,
    raw_score: bool = False,
    pred_contrib: bool = False,
) -> np.ndarray:
    if matrix.shape[0] == 1 and num_iteration is None and single_row.supports(booster):  # the API's hot path
        values = single_row.predict_row(
            booster, matrix[0], "contrib" if pred_contrib else "raw" if raw_score else "value"
        )
        return values[None, :] if pred_contrib else values
    # Without an explicit thread count every call wakes the whole OpenMP pool: ~3 ms instead of ~0.05 ms for one row.
    threads = 1 if matrix.shape[0] < 20_000 else 0
    return np.asarray(
        booster.predict(
            matrix, num_iteration=num_iteration, num_threads=threads, raw_score=raw_score, pred_contrib=pred_contrib
        )
    )


def _blended_contributions(
    booster: lgb.Booster, linear: LinearModel | None, weight: float, matrix: np.ndarray
) -> np.ndarray:
    """Per-feature contributions (bias last) of the blend: `weight` x booster + (1 - weight) x linear model."""
    return _blend_with_booster_score(booster, linear, weight, matrix)[0]


def _blend_with_booster_score(
    booster: lgb.Booster, linear: LinearModel | None, weight: float, matrix: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """`_blended_contributions`, and the booster's own raw score (its contributions' sum) where it was computed.

    A part with no weight is not computed: TreeSHAP of a 400-tree booster costs ~0.6 ms a row, wasted when the
    blend chose the linear model alone. The score comes free with the contributions, so a caller that needs both
    walks the booster once.
    """
    if linear is None or weight >= 1.0:
        contributions = _predict(booster, matrix, pred_contrib=True)
        return contributions, contributions.sum(axis=1)
    out = (1 - weight) * linear.contributions(matrix, matrix.shape[1])
    if weight <= 0.0:
        return out, None
    contributions = _predict(booster, matrix, pred_contrib=True)
    return out + weight * contributions, contributions.sum(axis=1)


def _inner_folds(n_rows: int, n_folds: int, random_state: int, labels: np.ndarray | None = None):
    from sklearn.model_selection import KFold, StratifiedKFold

    if labels is not None:
        smallest = int(np.bincount(labels.astype(int)).min()) if len(np.unique(labels)) > 1 else 0
        k = max(2, min(n_folds, smallest))
        return list(StratifiedKFold(k, shuffle=True, random_state=random_state).split(np.zeros(n_rows), labels))
    k = max(2, min(n_folds, n_rows // 4))
    return list(KFold(k, shuffle=True, random_state=random_state).split(np.zeros(n_rows)))


def _time_folds(periods: np.ndarray, n_folds: int, labels: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Forward-chaining folds: each of the latest `n_folds` periods is validated by the rows of the periods before it
    (an expanding window), never by its own or a later period's rows."""
    if len(periods) != len(labels):
        raise ValueError("periods must be one value per row")
    distinct = np.unique(periods)
    if len(distinct) < 3:
        raise ValueError(f"time-ordered inner folds need at least 3 periods; got {len(distinct)}")
    folds = []
    for period in distinct[-min(n_folds, len(distinct) - 2) :]:
        train_idx, test_idx = np.flatnonzero(periods < period), np.flatnonzero(periods == period)
        if len(np.unique(labels[train_idx])) < 2:
            continue  # an early period without a single churn teaches nothing to validate
        folds.append((train_idx, test_idx))
    if not folds:
        raise ValueError("no time-ordered inner fold has both classes in its training periods")
    return folds


def _as_frame(X: pd.DataFrame | Mapping[str, Any]) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    raise TypeError("X must be a pandas DataFrame (use predict_row for one record)")


# --------------------------------------------------------------------------------------------------------------------
# Interval regressor


class IntervalRegressor:
    """P10/P50/P90 for a non-negative quantity (hours, days): LightGBM quantiles + ridge, blended, conformalised.

    `alpha=0.2` gives an 80 % interval [p10, p90]. With `log_target` (and a non-negative target) the models work on
    log1p(y): the interval is multiplicative and p50 is the back-transformed median. Raw scores, offsets and
    contributions are in that model space.
    """

    ROUNDS = (25, 50, 100, 200, 400)  # boosting rounds tried on the inner folds (learning rate 0.05)

    def __init__(
        self,
        *,
        alpha: float = 0.2,
        params: dict | None = None,
        random_state: int = 0,
        log_target: bool = True,
        n_folds: int = 5,
        blend: bool = True,
        rounds: Sequence[int] | None = None,
        anchor: str | None = None,
        shapes: Sequence[str] | None = None,
        monotone: Mapping[str, int] | None = None,
    ) -> None:
        if not 0 < alpha < 1:
            raise ValueError("alpha must be between 0 and 1")
        self.alpha = alpha
        self.params = dict(params or {})
        self.random_state = random_state
        self.log_target = log_target
        self.n_folds = n_folds
        self.blend = blend
        self.round_grid = tuple(sorted(rounds or self.ROUNDS))
        self.anchor = anchor
        self.shapes = _check_shapes(shapes)
        self.monotone = dict(monotone or {})  # feature -> +1 (never decreases the answer) or -1
        self.shape = "default"
        self.ridge_alpha = 1.0
        self.encoder = FrameEncoder()
        self.boosters: dict[str, lgb.Booster] = {}
        self.linear: LinearModel | None = None
        self.weight = 1.0  # share of the GBM
        self.rounds: dict[str, int] = {}
        self.conformal_offset = 0.0
        self._residual_band = [0.0, 0.0]
        self.support: list[float] | None = None  # whole values P50 snaps to (story points), when that helps
        self.log_space = False
        self.selection: dict[str, Any] = {}

    @property
    def feature_names(self) -> list[str]:
        return list(self.encoder.columns)

    @property
    def quantiles(self) -> dict[str, float]:
        return {"p10": self.alpha / 2, "p50": 0.5, "p90": 1 - self.alpha / 2}

    # fitting

    def fit(self, X: pd.DataFrame, y) -> IntervalRegressor:
        X = _as_frame(X)
        target = np.asarray(y, dtype=float)
        if target.ndim != 1 or len(target) != len(X):
            raise ValueError("y must be one value per row of X")
        if np.isnan(target).any():
            raise ValueError("y has missing values")
        if len(target) < 8:
            raise ValueError("need at least 8 rows to fit and calibrate an interval")
        self.log_space = bool(self.log_target and target.min() >= 0)
        z = self._to_model(target)
        self.encoder = FrameEncoder().fit(X)
        matrix = self.encoder.matrix(X)
        categorical = self.encoder.categorical_indices
        if self.anchor is not None and self.encoder.kinds.get(self.anchor) != "numeric":
            raise ValueError(f"anchor {self.anchor!r} must be a numeric feature column")
        # With an anchor (a person's estimate of the same quantity) the models learn its error, not the level.
        offset = self._offset(matrix)
        z = z - offset
        base = _default_params(len(X), "quantile", self.random_state)
        # LightGBM refuses monotone constraints under quantile (and L1) loss, so here the linear model alone holds
        # the directions; the blend's GBM share is checked by the model-behaviour tests instead.
        _monotone_vector(self.encoder.columns, self.encoder.kinds, self.monotone)
        signs = {self.encoder.columns.index(name): sign for name, sign in self.monotone.items()}
        shape_params = {shape: {**base, **_shape_params(shape, len(X)), **self.params} for shape in self.shapes}
        max_rounds = max(self.round_grid)
        names = list(self.quantiles)
        folds = _inner_folds(len(z), self.n_folds, self.random_state)

        def p50_mae(scores: np.ndarray) -> float:  # in the target's own units, as the user reads the P50
            return float(np.mean(np.abs(self._from_model(scores + offset) - target)))

        # Out-of-fold P50 of every GBM shape at every round count, and the ridge's median and residual band at every
        # penalty: chosen, like the rest, by the inner folds' MAE in the target's units (a leave-one-out choice in
        # log space favours small projects).
        oof_p50 = {shape: np.zeros((len(self.round_grid), len(z))) for shape in self.shapes}
        oof_ridge = np.zeros((len(RIDGE_ALPHAS), 3, len(z)))
        for train_idx, test_idx in folds:
            for shape, params in shape_params.items():
                booster = _train_booster(
                    matrix[train_idx], z[train_idx], {**params, "alpha": 0.5}, max_rounds, categorical
                )
                for r, rounds in enumerate(self.round_grid):
                    oof_p50[shape][r, test_idx] = _predict(booster, matrix[test_idx], num_iteration=rounds)
            if self.blend:
                fits = _fit_ridge(matrix[train_idx], z[train_idx], categorical, signs, RIDGE_ALPHAS)
                for a, linear in enumerate(fits):
                    oof_ridge[a][:, test_idx] = self._linear_band(
                        linear, matrix[train_idx], z[train_idx], matrix[test_idx]
                    )
        ridge_maes = [p50_mae(band[1]) for band in oof_ridge]
        self.ridge_alpha = float(RIDGE_ALPHAS[int(np.argmin(ridge_maes))])
        oof_lin = oof_ridge[int(np.argmin(ridge_maes))]

        # The shape and rounds of the P50 by inner MAE; the tails then use that shape, their rounds by pinball loss.
        shape_maes = {shape: [p50_mae(p) for p in oof_p50[shape]] for shape in self.shapes}
        self.shape = min(self.shapes, key=lambda shape: (min(shape_maes[shape]), self.shapes.index(shape)))
        params = shape_params[self.shape]
        self.rounds = {"p50": self.round_grid[int(np.argmin(shape_maes[self.shape]))]}
        oof_gbm = {"p50": oof_p50[self.shape]}
        for name in ("p10", "p90"):
            oof_gbm[name] = np.zeros((len(self.round_grid), len(z)))
            for train_idx, test_idx in folds:
                booster = _train_booster(
                    matrix[train_idx], z[train_idx], {**params, "alpha": self.quantiles[name]}, max_rounds, categorical
                )
                for r, rounds in enumerate(self.round_grid):
                    oof_gbm[name][r, test_idx] = _predict(booster, matrix[test_idx], num_iteration=rounds)
            losses = [_pinball(z, p, self.quantiles[name]) for p in oof_gbm[name]]
            self.rounds[name] = self.round_grid[int(np.argmin(losses))]
        gbm_band = np.vstack([oof_gbm[name][self.round_grid.index(self.rounds[name])] for name in names])

        weights = BLEND_WEIGHTS if self.blend else (1.0,)
        maes = [p50_mae(w * gbm_band[1] + (1 - w) * oof_lin[1]) for w in weights]
        self.weight = float(weights[int(np.argmin(maes))])
        band = self.weight * gbm_band + (1 - self.weight) * oof_lin
        band = _uncross(band)  # quantile crossing would make the scores meaningless

        # CQR: how far outside the out-of-fold band each row fell; that quantile widens (or narrows) the band.
        # The plain (1 - alpha) quantile, without split conformal's (n + 1) correction: these scores come from models
        # trained on (K-1)/K of the rows, a little worse than the final model, which already errs on the wide side.
        scores = np.maximum(band[0] - z, z - band[2])
        self.conformal_offset = float(np.quantile(scores, 1 - self.alpha))
        self.selection = {
            "picked": picked_model(self.weight),
            "weight": self.weight,
            "gbm_shape": self.shape,
            "rounds": dict(self.rounds),
            "ridge_alpha": self.ridge_alpha,
            "metric": "inner-fold MAE of P50",
            "inner_score": _candidate_scores(weights, maes),
            "inner_mae_by_shape": {shape: float(min(values)) for shape, values in shape_maes.items()},
            "inner_mae_by_weight": dict(zip([str(w) for w in weights], [float(m) for m in maes], strict=True)),
            "inner_coverage_before": float(np.mean((z >= band[0]) & (z <= band[2]))),
        }
        # A target on a few whole values (story points) has its median on one of them: snap P50 to the nearest
        # value seen in training, but only if that lowers the out-of-fold MAE.
        self.support = None
        values = np.unique(target)
        if len(values) <= MAX_SUPPORT and np.allclose(values, np.round(values)):
            mid = self._from_model(band[1] + offset)
            snapped_mae = float(np.mean(np.abs(_snap(mid, values) - target)))
            self.selection["inner_mae_snapped"] = snapped_mae
            if snapped_mae < float(np.mean(np.abs(mid - target))):
                self.support = values.tolist()

        # Refit on every row.
        self.boosters = {
            name: _train_booster(matrix, z, {**params, "alpha": q}, self.rounds[name], categorical)
            for name, q in self.quantiles.items()
        }
        self.linear = _fit_ridge(matrix, z, categorical, signs, (self.ridge_alpha,))[0] if self.blend else None
        if self.linear is not None:
            residuals = z - self.linear.score(matrix)
            self._residual_band = np.quantile(residuals, [self.alpha / 2, 1 - self.alpha / 2]).tolist()
        else:
            self._residual_band = [0.0, 0.0]
        self.params = params
        return self

    def _offset(self, matrix: np.ndarray) -> np.ndarray:
        """The anchor in model space per row (0 where there is none, so the models carry the level there)."""
        if self.anchor is None:
            return np.zeros(matrix.shape[0])
        values = matrix[:, self.encoder.columns.index(self.anchor)]
        if self.log_space:
            values = np.log1p(np.maximum(values, 0.0))
        return np.where(np.isnan(values), 0.0, values)

    def _linear_band(self, linear: LinearModel, train_matrix, train_z, test_matrix) -> np.ndarray:
        residuals = train_z - linear.score(train_matrix)
        low, high = np.quantile(residuals, [self.alpha / 2, 1 - self.alpha / 2])
        mid = linear.score(test_matrix)
        return np.vstack([mid + low, mid, mid + high])

    def _to_model(self, target: np.ndarray) -> np.ndarray:
        return np.log1p(target) if self.log_space else target

    def _from_model(self, values: np.ndarray) -> np.ndarray:
        return np.expm1(values) if self.log_space else values

    # predicting

    def _band(self, matrix: np.ndarray, p50_score: np.ndarray | None = None) -> np.ndarray:
        """P10/P50/P90 in model space; `p50_score` (the P50 booster's raw score, when known) is not recomputed."""
        band = None
        if self.linear is None or self.weight > 0.0:
            band = np.vstack(
                [
                    p50_score if name == "p50" and p50_score is not None else _predict(self.boosters[name], matrix)
                    for name in ("p10", "p50", "p90")
                ]
            )
        if self.linear is not None and self.weight < 1.0:
            mid = self.linear.score(matrix)
            low, high = self._residual_band
            lin = (1 - self.weight) * np.vstack([mid + low, mid, mid + high])
            band = lin if band is None else self.weight * band + lin
        band = _uncross(band)
        low = np.minimum(band[0] - self.conformal_offset, band[1])
        high = np.maximum(band[2] + self.conformal_offset, band[1])
        return np.vstack([low, band[1], high]) + self._offset(matrix)

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """P10, P50, P90 in the target's units, one row per input row (p10 <= p50 <= p90)."""
        band = self._finish(self._from_model(self._band(self.encoder.matrix(_as_frame(X)))))
        return pd.DataFrame({"p10": band[0], "p50": band[1], "p90": band[2]}, index=X.index)

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        """P50 in model space (log1p units when `log_space`): what `contributions` sums to."""
        return self._band(self.encoder.matrix(_as_frame(X)))[1]

    def predict_row(self, record: Mapping[str, Any]) -> dict[str, float]:
        """One record (a dict of feature values) -> {"p10", "p50", "p90"}; no pandas on this path."""
        return self._quantiles(self._band(self.encoder.row(record)))

    def predict_explain_row(self, record: Mapping[str, Any]) -> tuple[dict[str, float], np.ndarray]:
        """`predict_row` and `contributions_row` of one record, walking the P50 booster once for both."""
        matrix = self.encoder.row(record)
        contributions, p50_score = _blend_with_booster_score(self.boosters["p50"], self.linear, self.weight, matrix)
        self._add_offset(contributions, matrix)
        return self._quantiles(self._band(matrix, p50_score)), contributions[0]

    def _quantiles(self, band: np.ndarray) -> dict[str, float]:
        band = self._finish(self._from_model(band))
        return {"p10": float(band[0, 0]), "p50": float(band[1, 0]), "p90": float(band[2, 0])}

    def _finish(self, band: np.ndarray) -> np.ndarray:
        if self.support is None:
            return band
        mid = _snap(band[1], np.asarray(self.support))
        return np.vstack([np.minimum(band[0], mid), mid, np.maximum(band[2], mid)])

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature contributions to the raw P50 (model space) plus `bias`; each row sums to `predict_raw`."""
        matrix = self.encoder.matrix(_as_frame(X))
        return pd.DataFrame(self._contributions(matrix), columns=[*self.feature_names, "bias"], index=X.index)

    def contributions_row(self, record: Mapping[str, Any]) -> np.ndarray:
        """`contributions` of one record (a dict of feature values): `feature_names` order, `bias` last."""
        return self._contributions(self.encoder.row(record))[0]

    def _contributions(self, matrix: np.ndarray) -> np.ndarray:
        return self._add_offset(_blended_contributions(self.boosters["p50"], self.linear, self.weight, matrix), matrix)

    def _add_offset(self, contributions: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """The anchor's offset belongs to the anchor column: the contributions then sum to the P50 in model space."""
        if self.anchor is not None:
            contributions[:, self.encoder.columns.index(self.anchor)] += self._offset(matrix)
        return contributions

    # serialisation

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: booster model strings, the linear model, the offset, the category levels."""
        return {
            "kind": "IntervalRegressor",
            "format_version": FORMAT_VERSION,
            "alpha": self.alpha,
            "log_target": self.log_target,
            "log_space": self.log_space,
            "anchor": self.anchor,
            "random_state": self.random_state,
            "params": self.params,
            "encoder": self.encoder.to_dict(),
            "boosters": {name: booster.model_to_string() for name, booster in self.boosters.items()},
            "rounds": self.rounds,
            "linear": self.linear.to_dict() if self.linear is not None else None,
            "residual_band": self._residual_band,
            "weight": self.weight,
            "conformal_offset": self.conformal_offset,
            "support": self.support,
            "selection": self.selection,
            "shape": self.shape,
            "monotone": self.monotone,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IntervalRegressor:
        _check_kind(data, "IntervalRegressor")
        model = cls(alpha=data["alpha"], params=data["params"], random_state=data["random_state"])
        model.log_target = data["log_target"]
        model.log_space = data["log_space"]
        model.anchor = data.get("anchor")
        model.encoder = FrameEncoder.from_dict(data["encoder"])
        model.boosters = {name: lgb.Booster(model_str=text) for name, text in data["boosters"].items()}
        model.rounds = dict(data["rounds"])
        model.linear = LinearModel.from_dict(data["linear"]) if data["linear"] is not None else None
        model.blend = model.linear is not None
        model._residual_band = list(data["residual_band"])
        model.weight = float(data["weight"])
        model.conformal_offset = float(data["conformal_offset"])
        model.support = data.get("support")
        model.selection = dict(data.get("selection", {}))
        model.shape = data.get("shape", "default")
        model.monotone = dict(data.get("monotone", {}))
        return model


def _snap(values: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Each value moved to the nearest of the sorted `support` values."""
    right = np.clip(np.searchsorted(support, values), 1, len(support) - 1)
    left = right - 1
    use_left = np.abs(values - support[left]) <= np.abs(support[right] - values)
    return np.where(use_left, support[left], support[right]) if len(support) > 1 else np.full_like(values, support[0])


def _uncross(band: np.ndarray) -> np.ndarray:
    """Tails that crossed the median are pulled back to it; the median stays what the contributions explain."""
    return np.vstack([np.minimum(band[0], band[1]), band[1], np.maximum(band[2], band[1])])


def _pinball(target: np.ndarray, prediction: np.ndarray, q: float) -> float:
    diff = target - prediction
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def _check_kind(data: Mapping[str, Any], kind: str) -> None:
    if data.get("kind") != kind:
        raise ValueError(f"not a serialised {kind}: kind={data.get('kind')!r}")
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"unsupported {kind} format_version {data.get('format_version')!r}")


# --------------------------------------------------------------------------------------------------------------------
# Calibrated classifier


class CalibratedClassifier:
    """P(positive) from a LightGBM/logistic blend, calibrated on out-of-fold scores (isotonic or sigmoid).

    The raw score is a logit (`decision_function`); `contributions` split it per feature. Calibration maps it to a
    probability that means what it says (reliability curve on the diagonal, lower Brier).
    """

    ROUNDS = (50, 100, 200, 400, 700)

    def __init__(
        self,
        *,
        params: dict | None = None,
        random_state: int = 0,
        method: str = "isotonic",
        n_folds: int = 5,
        blend: bool = True,
        rounds: Sequence[int] | None = None,
        shapes: Sequence[str] | None = None,
        monotone: Mapping[str, int] | None = None,
        calibration_periods: int | None = None,
        booster_trainer: BoosterTrainer | None = None,
    ) -> None:
        if method not in ("isotonic", "sigmoid"):
            raise ValueError("method must be 'isotonic' or 'sigmoid'")
        # With time-ordered folds: fit the calibration map on the latest this-many validated periods only (None:
        # all of them), so a drifting base rate is read where it is now.
        self.calibration_periods = calibration_periods
        # Where the boosters are fitted (inner folds and the final refit); not saved: the fitted model is the same kind.
        self.booster_trainer: BoosterTrainer = booster_trainer or _train_booster
        self.params = dict(params or {})
        self.random_state = random_state
        self.method = method
        self.n_folds = n_folds
        self.blend = blend
        self.round_grid = tuple(sorted(rounds or self.ROUNDS))
        self.shapes = _check_shapes(shapes)
        self.monotone = dict(monotone or {})
        self.shape = "default"
        self.encoder = FrameEncoder()
        self.booster: lgb.Booster | None = None
        self.linear: LinearModel | None = None
        self.weight = 1.0
        self.rounds = 0
        self.calibration: dict[str, Any] = {}
        self.selection: dict[str, Any] = {}

    @property
    def feature_names(self) -> list[str]:
        return list(self.encoder.columns)

    def fit(self, X: pd.DataFrame, y, periods=None) -> CalibratedClassifier:
        """Fits on rows `X` with 0/1 labels `y`. `periods` (one sortable value per row, e.g. a snapshot's cutoff)
        makes the inner folds time-ordered: selection and calibration then rest on the latest periods, each scored
        by models that saw only earlier ones."""
        X = _as_frame(X)
        labels = np.asarray(y)
        if labels.ndim != 1 or len(labels) != len(X):
            raise ValueError("y must be one label per row of X")
        labels = labels.astype(float)
        if not np.isin(labels, (0.0, 1.0)).all():
            raise ValueError("y must be 0/1 (or booleans)")
        if len(np.unique(labels)) < 2:
            raise ValueError("y needs both classes")
        self.encoder = FrameEncoder().fit(X)
        matrix = self.encoder.matrix(X)
        categorical = self.encoder.categorical_indices
        base = _default_params(len(X), "binary", self.random_state)
        if self.monotone:
            base["monotone_constraints"] = _monotone_vector(self.encoder.columns, self.encoder.kinds, self.monotone)
        shape_params = {shape: {**base, **_shape_params(shape, len(X)), **self.params} for shape in self.shapes}

        if periods is None:
            folds = _inner_folds(len(labels), self.n_folds, self.random_state, labels)
        else:
            folds = _time_folds(np.asarray(periods), self.n_folds, labels)
        seen = np.zeros(len(labels), dtype=bool)
        oof_gbm = {shape: np.zeros((len(self.round_grid), len(labels))) for shape in self.shapes}
        oof_lin = np.zeros(len(labels))
        for train_idx, test_idx in folds:
            seen[test_idx] = True
            for shape, params in shape_params.items():
                booster = self.booster_trainer(
                    matrix[train_idx], labels[train_idx], params, max(self.round_grid), categorical
                )
                for r, rounds in enumerate(self.round_grid):
                    oof_gbm[shape][r, test_idx] = _predict(
                        booster, matrix[test_idx], num_iteration=rounds, raw_score=True
                    )
            if self.blend:
                linear = _fit_logistic(matrix[train_idx], labels[train_idx], categorical)
                oof_lin[test_idx] = linear.score(matrix[test_idx])

        y_seen = labels[seen]
        losses = {shape: [_log_loss(y_seen, scores[seen]) for scores in oof_gbm[shape]] for shape in self.shapes}
        self.shape = min(self.shapes, key=lambda shape: (min(losses[shape]), self.shapes.index(shape)))
        best = int(np.argmin(losses[self.shape]))
        self.rounds = self.round_grid[best]
        gbm = oof_gbm[self.shape][best][seen]
        weights = BLEND_WEIGHTS if self.blend else (1.0,)
        blend_losses = [_log_loss(y_seen, w * gbm + (1 - w) * oof_lin[seen]) for w in weights]
        self.weight = float(weights[int(np.argmin(blend_losses))])
        raw = self.weight * gbm + (1 - self.weight) * oof_lin[seen]
        recent = np.ones(len(raw), dtype=bool)
        if periods is not None and self.calibration_periods:
            seen_periods = np.asarray(periods)[seen]
            recent = np.isin(seen_periods, np.unique(seen_periods)[-self.calibration_periods :])
        self.calibration = _fit_calibration(raw[recent], y_seen[recent], self.method)
        self.selection = {
            "picked": picked_model(self.weight),
            "weight": self.weight,
            "gbm_shape": self.shape,
            "rounds": self.rounds,
            "metric": "inner-fold log loss",
            "inner_folds": "time-ordered" if periods is not None else "stratified",
            "inner_rows": int(seen.sum()),
            "inner_score": _candidate_scores(weights, blend_losses),
            "inner_logloss_by_shape": {shape: float(min(values)) for shape, values in losses.items()},
            "inner_logloss_by_rounds": dict(zip([str(r) for r in self.round_grid], losses[self.shape], strict=True)),
            "inner_logloss_by_weight": dict(zip([str(w) for w in weights], blend_losses, strict=True)),
        }

        params = shape_params[self.shape]
        self.booster = self.booster_trainer(matrix, labels, params, self.rounds, categorical)
        self.linear = _fit_logistic(matrix, labels, categorical) if self.blend else None
        self.params = params
        return self

    @property
    def boosters(self) -> dict[str, lgb.Booster]:
        return {"score": self.booster} if self.booster is not None else {}

    def _fitted_booster(self) -> lgb.Booster:
        if self.booster is None:
            raise ValueError("CalibratedClassifier is not fitted")
        return self.booster

    def _raw(self, matrix: np.ndarray) -> np.ndarray:
        if self.linear is None or self.weight >= 1.0:
            return _predict(self._fitted_booster(), matrix, raw_score=True)
        raw = (1 - self.weight) * self.linear.score(matrix)
        if self.weight > 0.0:
            raw = raw + self.weight * _predict(self._fitted_booster(), matrix, raw_score=True)
        return raw

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """The raw logit before calibration: what `contributions` sums to."""
        return self._raw(self.encoder.matrix(_as_frame(X)))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated P(positive class), one value per row."""
        return _apply_calibration(self.calibration, self._raw(self.encoder.matrix(_as_frame(X))))

    def predict_row(self, record: Mapping[str, Any]) -> float:
        """Calibrated P(positive) for one record (a dict of feature values); no pandas on this path."""
        return float(self.calibrate(self._raw(self.encoder.row(record)))[0])

    def predict_explain_row(self, record: Mapping[str, Any]) -> tuple[float, np.ndarray]:
        """`predict_row` and `contributions_row` of one record in one pass: the contributions sum to the raw logit."""
        contributions = self.contributions_row(record)
        return float(self.calibrate(np.array([contributions.sum()]))[0]), contributions

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated P(positive) of raw logits, e.g. the sum of a row's contributions (saves a second pass)."""
        return _apply_calibration(self.calibration, raw)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature contributions to the raw logit plus `bias`; each row sums to `decision_function`."""
        matrix = self.encoder.matrix(_as_frame(X))
        return pd.DataFrame(self._contributions(matrix), columns=[*self.feature_names, "bias"], index=X.index)

    def contributions_row(self, record: Mapping[str, Any]) -> np.ndarray:
        """`contributions` of one record (a dict of feature values): `feature_names` order, `bias` last."""
        return self._contributions(self.encoder.row(record))[0]

    def _contributions(self, matrix: np.ndarray) -> np.ndarray:
        return _blended_contributions(self._fitted_booster(), self.linear, self.weight, matrix)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "CalibratedClassifier",
            "format_version": FORMAT_VERSION,
            "method": self.method,
            "random_state": self.random_state,
            "params": self.params,
            "encoder": self.encoder.to_dict(),
            "booster": self.booster.model_to_string() if self.booster is not None else None,
            "rounds": self.rounds,
            "linear": self.linear.to_dict() if self.linear is not None else None,
            "weight": self.weight,
            "calibration": self.calibration,
            "selection": self.selection,
            "shape": self.shape,
            "monotone": self.monotone,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibratedClassifier:
        _check_kind(data, "CalibratedClassifier")
        model = cls(params=data["params"], random_state=data["random_state"], method=data["method"])
        model.encoder = FrameEncoder.from_dict(data["encoder"])
        model.booster = lgb.Booster(model_str=data["booster"])
        model.rounds = int(data["rounds"])
        model.linear = LinearModel.from_dict(data["linear"]) if data["linear"] is not None else None
        model.blend = model.linear is not None
        model.weight = float(data["weight"])
        model.calibration = dict(data["calibration"])
        model.selection = dict(data.get("selection", {}))
        model.shape = data.get("shape", "default")
        model.monotone = dict(data.get("monotone", {}))
        return model


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(values, -35, 35)))


def _log_loss(labels: np.ndarray, raw: np.ndarray) -> float:
    p = np.clip(_sigmoid(raw), 1e-12, 1 - 1e-12)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


TIE_BREAK = 1e-6  # share of the raw sigmoid added after isotonic calibration


def _fit_calibration(raw: np.ndarray, labels: np.ndarray, method: str) -> dict[str, Any]:
    if method == "sigmoid":
        from sklearn.linear_model import LogisticRegression

        platt = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), labels)
        return {"method": "sigmoid", "a": float(platt.coef_[0, 0]), "b": float(platt.intercept_[0])}
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, labels)
    return {"method": "isotonic", "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}


def _apply_calibration(calibration: Mapping[str, Any], raw: np.ndarray) -> np.ndarray:
    if calibration["method"] == "sigmoid":
        return _sigmoid(calibration["a"] * raw + calibration["b"])
    stepped = np.interp(raw, calibration["x"], calibration["y"])
    # Isotonic steps tie many scores; a tiny share of the raw sigmoid keeps the model's ranking (and its ROC-AUC).
    return (1 - TIE_BREAK) * stepped + TIE_BREAK * _sigmoid(raw)
