"""Scoring a whole account base fast (pure pandas): integer account keys for the feature groupbys, and drivers
only for the accounts that can raise an alert."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd


def encode_account_ids(frames: Mapping[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], pd.Index]:
    """The same frames with account ids replaced by integer positions in `accounts.id`.

    `account_features` maps a dozen frames' string `account_id`s onto accounts; doing it once here with Arrow's
    hash lookup is cheaper (measured 4.6 -> 3.2 CPU s for 300 k accounts, identical output; 10.4 -> 3.4 s before
    the features moved to integer positions themselves). Missing ids stay missing (NaN) so fallbacks such as
    usage -> subscription still apply; ids unknown to `accounts` become -1 and fall out of every per-account reindex.
    """
    accounts = frames["accounts"]
    ids = pd.Index(accounts["id"].astype("object"))
    lookup = _positions_in(ids)
    keyed = [name for name, frame in frames.items() if name != "accounts" and "account_id" in frame.columns]
    # Arrow's lookup releases the GIL: two threads encode two frames at once on a 2-core machine.
    with ThreadPoolExecutor(max_workers=2) as pool:
        codes_by_frame = dict(zip(keyed, pool.map(lambda name: lookup(frames[name]["account_id"]), keyed), strict=True))
    out: dict[str, pd.DataFrame] = {}
    for name, frame in frames.items():
        if name == "accounts":
            frame = frame.assign(id=np.arange(len(frame), dtype="int64"))
        elif name in codes_by_frame:
            codes = codes_by_frame[name]
            missing = frame["account_id"].isna().to_numpy()
            if missing.any():
                frame = frame.assign(account_id=np.where(missing, np.nan, codes.astype("float64")))
            else:
                frame = frame.assign(account_id=codes)
        out[name] = frame
    return out, ids


def _positions_in(ids: pd.Index):
    """A function: id column -> int64 positions in `ids` (-1 when absent). Arrow's hash lookup is ~3x faster than
    pandas' `get_indexer` on strings (0.9 s vs 2.8 s for 1.2 M rows); pandas is the fallback."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:  # pragma: no cover - pyarrow ships with pandas 3 and MLflow here
        return lambda column: ids.get_indexer(column.astype("object"))
    value_sets: dict = {}

    def lookup(column: pd.Series) -> np.ndarray:
        # Zero-copy for pandas' arrow-backed `str` columns; NaN and None become nulls for object columns.
        values = pa.array(column, from_pandas=True)
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            values = values.cast(pa.string())
        # Cast the (small) id set to the column's string type rather than the (large) column to the set's.
        if values.type not in value_sets:
            value_sets[values.type] = pa.array(ids.to_numpy(dtype=object), type=values.type)
        found = pc.fill_null(pc.index_in(values, value_set=value_sets[values.type]), -1)
        return found.to_numpy(zero_copy_only=False).astype("int64")

    return lookup


def decode_index(frame: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    """Puts the real account ids back on a frame indexed by the integer positions."""
    decoded = frame.copy(deep=False)
    decoded.index = pd.Index(ids[frame.index.to_numpy(dtype="int64")], name=frame.index.name or "account_id")
    return decoded
