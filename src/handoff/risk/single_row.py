"""One-row LightGBM predictions through the C API's prepared fast path, for the API's per-request scoring.

`Booster.predict` builds a predictor, parses its parameters and validates its input on every call: about 20 µs of a
30 µs one-row prediction on this machine. `LGBM_BoosterPredictForMatSingleRowFastInit` does that once per booster
and output kind; each later call only walks the trees. LightGBM serialises calls on one booster with its own lock,
so one prepared handle serves every thread. The handles go when their booster does.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Literal

import lightgbm as lgb
import numpy as np

# Private to lightgbm's Python package but the way it calls its own library; tests pin the results to `predict`.
from lightgbm.basic import _LIB, _c_str, _safe_call

Output = Literal["value", "raw", "contrib"]
_PREDICT_TYPE = {"value": 0, "raw": 1, "contrib": 3}  # C_API_PREDICT_NORMAL, _RAW_SCORE, _CONTRIB
_FLOAT64 = 1  # C_API_DTYPE_FLOAT64


class _Prepared:
    """The prepared handles of one booster, one per output kind, made on first use."""

    def __init__(self, booster: lgb.Booster) -> None:
        # Reloading a booster in place (`model_from_string`) frees its model and makes a new handle object, which
        # may reuse the old address: compare handle objects, not addresses (`_for`), or the old preparation crashes.
        self.booster_handle = booster._handle
        self._iterations = booster.best_iteration if booster.best_iteration > 0 else -1  # as `predict` picks
        self.n_features = booster.num_feature()
        self.one_output = booster.num_model_per_iteration() == 1
        self._handles: dict[Output, ctypes.c_void_p] = {}
        self._lock = threading.Lock()

    def handle(self, output: Output) -> ctypes.c_void_p:
        handle = self._handles.get(output)
        if handle is None:
            with self._lock:
                handle = self._handles.get(output)
                if handle is None:
                    handle = ctypes.c_void_p()
                    _safe_call(
                        _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                            self.booster_handle,
                            ctypes.c_int(_PREDICT_TYPE[output]),
                            ctypes.c_int(0),
                            ctypes.c_int(self._iterations),
                            ctypes.c_int(_FLOAT64),
                            ctypes.c_int32(self.n_features),
                            _c_str("num_threads=1"),
                            ctypes.byref(handle),
                        )
                    )
                    self._handles[output] = handle
        return handle

    def __del__(self) -> None:
        try:
            for handle in self._handles.values():
                _LIB.LGBM_FastConfigFree(handle)
        except (AttributeError, TypeError):  # interpreter shutdown: the library may already be unloaded
            pass


_prepared: weakref.WeakKeyDictionary[lgb.Booster, _Prepared] = weakref.WeakKeyDictionary()
_prepared_lock = threading.Lock()


def _for(booster: lgb.Booster) -> _Prepared:
    prepared = _prepared.get(booster)
    if prepared is None or prepared.booster_handle is not booster._handle:
        with _prepared_lock:
            prepared = _prepared[booster] = _Prepared(booster)
    return prepared


def supports(booster: lgb.Booster) -> bool:
    """Whether `predict_row` serves this booster: one output per row (regression, binary), as every model here."""
    return _for(booster).one_output


def predict_row(booster: lgb.Booster, row: np.ndarray, output: Output = "value") -> np.ndarray:
    """`booster.predict(row[None, :], raw_score=output == "raw", pred_contrib=output == "contrib")[0]`, faster.

    `row`: one row of float64 features. Returns one value, or one contribution per feature and the bias last.
    """
    prepared = _for(booster)
    values = np.ascontiguousarray(row, dtype=np.float64)
    if values.shape != (prepared.n_features,):
        raise ValueError(f"expected {prepared.n_features} features, got shape {values.shape}")
    out = np.empty(prepared.n_features + 1 if output == "contrib" else 1)
    written = ctypes.c_int64()
    _safe_call(
        _LIB.LGBM_BoosterPredictForMatSingleRowFast(
            prepared.handle(output),
            values.ctypes.data_as(ctypes.c_void_p),
            ctypes.byref(written),
            out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        )
    )
    return out[: written.value]
