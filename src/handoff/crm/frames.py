"""CRM entities as pandas DataFrames: one column per dictionary field, one dtype per field type."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from handoff.crm.dictionary import Entity, FieldType, entity

# Nullable dtypes throughout: CRM exports are full of gaps, and a missing int must not turn into a float.
# Dates and datetimes are both datetime64 (dates at midnight) so features can compare them directly.
PANDAS_DTYPES: dict[FieldType, Any] = {
    "str": pd.StringDtype(na_value=np.nan),
    "text": pd.StringDtype(na_value=np.nan),
    "int": "Int64",
    "float": "float64",
    "bool": "boolean",
    "date": "datetime64[ns]",
    "datetime": "datetime64[ns]",
}


def dtypes(ent: Entity) -> dict[str, Any]:
    """The pandas dtype of every field of an entity."""
    return {f.name: PANDAS_DTYPES[f.type] for f in ent.fields}


def empty_frame(name: str) -> pd.DataFrame:
    ent = entity(name)
    return pd.DataFrame({f: pd.Series([], dtype=t) for f, t in dtypes(ent).items()})


def frame_from_rows(name: str, rows: Sequence[Sequence[Any]] | Iterable[Sequence[Any]]) -> pd.DataFrame:
    """Rows given as tuples in the dictionary's field order become a frame with the dictionary's dtypes."""
    ent = entity(name)
    rows = list(rows)
    if not rows:
        return empty_frame(name)
    columns = list(zip(*rows, strict=True))
    return frame_from_columns(name, {f: list(col) for f, col in zip(ent.field_names, columns, strict=True)})


def frame_from_columns(name: str, columns: dict[str, Any]) -> pd.DataFrame:
    """Columns keyed by field name (missing fields are empty) become a frame with the dictionary's dtypes."""
    ent = entity(name)
    length = len(next(iter(columns.values()))) if columns else 0
    data: dict[str, pd.Series] = {}
    for f in ent.fields:
        values = columns.get(f.name)
        if values is None:
            values = [None] * length
        if f.type in ("date", "datetime"):
            series = pd.Series(pd.to_datetime(pd.Series(values, dtype=object), errors="raise"))
            data[f.name] = series.astype("datetime64[ns]")
        else:
            data[f.name] = pd.Series(values, dtype=object if f.type in ("int", "bool") else None).astype(
                PANDAS_DTYPES[f.type]
            )
    return pd.DataFrame(data)
