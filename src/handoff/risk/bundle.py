"""A trained product model as one serialisable object: its learners, its feature columns and how to read them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

Kind = Literal["interval", "classifier", "overrun"]
UNITS = {"effort": "h", "duration": "days", "overrun": "pp", "churn": "pp"}


def _learners_module():
    from handoff.risk import learners

    return learners


def as_quantiles(prediction: Any) -> np.ndarray:
    """The learner's interval output as an (n, 3) array of P10, P50, P90."""
    if isinstance(prediction, pd.DataFrame):
        columns = [c for c in ("p10", "p50", "p90") if c in prediction.columns]
        values = prediction[columns].to_numpy(dtype="float64") if len(columns) == 3 else prediction.to_numpy("float64")
    elif isinstance(prediction, dict):
        values = np.column_stack([np.asarray(prediction[k], dtype="float64") for k in ("p10", "p50", "p90")])
    else:
        values = np.asarray(prediction, dtype="float64")
    return values.reshape(-1, 3)


def as_probability(prediction: Any) -> np.ndarray:
    """The learner's class output as an (n,) array of P(positive)."""
    values = np.asarray(prediction.to_numpy() if hasattr(prediction, "to_numpy") else prediction, dtype="float64")
    return values[:, -1] if values.ndim == 2 else values.reshape(-1)


def as_contributions(contributions: Any, feature_names: list[str]) -> pd.DataFrame:
    """Per-row contributions as a frame with one column per feature and `bias` last (LightGBM's layout)."""
    if isinstance(contributions, pd.DataFrame):
        frame = contributions.copy()
        if "bias" not in frame.columns and frame.shape[1] == len(feature_names) + 1:
            frame.columns = [*feature_names, "bias"]
        return frame
    values = np.asarray(contributions, dtype="float64")
    return pd.DataFrame(values.reshape(len(values), -1), columns=[*feature_names, "bias"])


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


@dataclass
class ModelBundle:
    """What `handoff train` fits and the service serves; `learners` holds one learner per role.

    Roles: `main` (an IntervalRegressor for effort and duration, a CalibratedClassifier for overrun and churn) and,
    for overrun only, `amount` (an IntervalRegressor of actual cost / budget - 1, for the expected overrun).
    """

    name: str
    kind: Kind
    feature_names: list[str]
    learners: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)  # training data summary and holdout metrics, for the card

    @property
    def unit(self) -> str:
        return UNITS.get(self.name, "")

    def _frame(self, features: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.feature_names if c not in features.columns]
        if missing:
            features = features.assign(**{c: np.nan for c in missing})
        return features[self.feature_names]

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Interval models: (n, 3) P10/P50/P90. Classifiers (and overrun): (n,) probability."""
        frame = self._frame(features)
        main = self.learners["main"]
        if self.kind == "interval":
            return np.sort(as_quantiles(main.predict(frame)), axis=1)
        return np.clip(as_probability(main.predict_proba(frame)), 0.0, 1.0)

    def predict_row(self, record: dict[str, Any]) -> dict[str, float]:
        """One feature record in, `{p10, p50, p90}` or `{probability[, expected_overrun_pct]}` out; no pandas."""
        return self._prediction(record, self.learners["main"].predict_row(record))

    def predict_explain_row(
        self, record: dict[str, Any], top: int = 5, direction: str = "both"
    ) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """`predict_row` and `explain_row`'s factors of one record; the explained booster is walked once for both."""
        prediction, contributions = self.learners["main"].predict_explain_row(record)
        return self._prediction(record, prediction), self._factors(record, contributions, top, direction)

    def _prediction(self, record: dict[str, Any], main: Any) -> dict[str, float]:
        if self.kind == "interval":
            low, mid, high = sorted(main.values())  # the same order `predict` enforces
            return {"p10": low, "p50": mid, "p90": high}
        out = {"probability": min(max(float(main), 0.0), 1.0)}
        amount = self.learners.get("amount")
        if amount is not None:
            out["expected_overrun_pct"] = float(amount.predict_row(record)["p50"])
        return out

    def inverse_link(self, values: np.ndarray) -> np.ndarray:
        """Maps the main learner's raw score (what contributions add up to) to the prediction's unit."""
        if self.kind == "interval":
            return np.expm1(values) if getattr(self.learners["main"], "log_space", False) else values
        return 1.0 / (1.0 + np.exp(-values))

    def expected_overrun(self, features: pd.DataFrame) -> np.ndarray | None:
        """Median predicted (actual cost / budget - 1); None for models without an amount learner."""
        amount = self.learners.get("amount")
        if amount is None:
            return None
        return as_quantiles(amount.predict(self._frame(features)))[:, 1]

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per-row, per-feature contributions of the main learner (raw model units), `bias` last."""
        frame = self._frame(features)
        return as_contributions(self.learners["main"].contributions(frame), self.feature_names).set_axis(frame.index)

    def contributions_row(self, record: dict[str, Any]) -> np.ndarray:
        """`contributions` of one feature record, in `feature_names` order with `bias` last; no pandas."""
        return self.learners["main"].contributions_row(record)

    def explain_row(
        self, record: dict[str, Any], top: int = 5, direction: str = "both"
    ) -> tuple[float, list[dict[str, Any]]]:
        """One record's raw score (what its contributions sum to) and its `top` factors in the model's unit."""
        values = self.contributions_row(record)
        return float(values.sum()), self._factors(record, values, top, direction)

    def _factors(
        self, record: dict[str, Any], contributions: np.ndarray, top: int, direction: str
    ) -> list[dict[str, Any]]:
        from handoff.risk import explain

        effects = explain.row_effects(contributions, self.inverse_link)
        names = self.learners["main"].feature_names
        return explain.row_factors(record, names, effects, self.unit, top, direction)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "feature_names": list(self.feature_names),
            "learners": {role: learner.to_dict() for role, learner in self.learners.items()},
            "learner_classes": {role: type(learner).__name__ for role, learner in self.learners.items()},
            "info": self.info,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=_jsonable)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelBundle:
        learners_module = _learners_module()
        learners = {
            role: getattr(learners_module, data["learner_classes"][role]).from_dict(payload)
            for role, payload in data["learners"].items()
        }
        return cls(data["name"], data["kind"], list(data["feature_names"]), learners, dict(data.get("info", {})))

    @classmethod
    def from_json(cls, text: str) -> ModelBundle:
        return cls.from_dict(json.loads(text))
