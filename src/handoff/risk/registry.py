"""MLflow I/O: log and register product models, move the `champion` alias, and load champions as raw boosters."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from handoff.risk.bundle import ModelBundle

CHAMPION = "champion"
BUNDLE_PATH = "bundle/bundle.json"
MODEL_NAMES = ("effort", "duration", "overrun", "churn")


def registered_name(name: str) -> str:
    return f"handoff-{name}"


def _client(settings) -> MlflowClient:
    # Progress bars for kilobyte downloads would land in every CLI command's stderr.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    settings.ensure_home()
    uri = settings.resolved_tracking_uri
    # MLflow keeps a process-wide URI for `start_run`/`log_model`; set it every time, since tests use many homes.
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _experiment_id(client: MlflowClient, settings, name: str) -> str:
    experiment_name = registered_name(name)
    found = client.get_experiment_by_name(experiment_name)
    if found is not None:
        return found.experiment_id
    location = (settings.mlflow_artifacts_dir / experiment_name).as_uri()
    return client.create_experiment(experiment_name, artifact_location=location)


class HandoffPyfunc(mlflow.pyfunc.PythonModel):
    """The generic MLflow flavour of the same bundle, for `mlflow models serve` and side-by-side benchmarks.

    The product itself never serves through this wrapper (see `load_champion`).
    """

    def load_context(self, context) -> None:
        self.bundle = ModelBundle.from_json(Path(context.artifacts["bundle"]).read_text(encoding="utf-8"))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input).replace({"": np.nan})
        if self.bundle.kind == "interval":
            q = self.bundle.predict(frame)
            return pd.DataFrame({"p10": q[:, 0], "p50": q[:, 1], "p90": q[:, 2]})
        out = pd.DataFrame({"probability": self.bundle.predict(frame)})
        expected = self.bundle.expected_overrun(frame)
        if expected is not None:
            out["expected_overrun_pct"] = expected
        return out


def _signature_frame(example: pd.DataFrame) -> pd.DataFrame:
    """Text columns with gaps as empty strings: MLflow's schema has no nullable string, the wrapper maps '' back."""
    frame = example.copy()
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].astype("object").where(frame[column].notna(), "").astype(str)
        else:
            frame[column] = frame[column].astype("float64")
    return frame


def log_model(
    settings,
    bundle: ModelBundle,
    params: Mapping[str, Any],
    metrics: Mapping[str, float | None],
    baselines: Mapping[str, float | None],
    figures: Mapping[str, Any],
    card: str,
    example: pd.DataFrame,
) -> str:
    """One MLflow run: params, holdout metrics (and baselines), plots, the bundle, a pyfunc model; returns version."""
    import lightgbm
    from mlflow.models import infer_signature

    client = _client(settings)
    experiment_id = _experiment_id(client, settings, bundle.name)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{bundle.name}-train") as run:
        mlflow.log_params({k: (json.dumps(v) if isinstance(v, list | dict) else v) for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None})
        mlflow.log_metrics({f"baseline_{k}": float(v) for k, v in baselines.items() if v is not None})
        for file_name, figure in figures.items():
            mlflow.log_figure(figure, f"plots/{file_name}")
        mlflow.log_text(card, "model_card.md")
        with tempfile.TemporaryDirectory() as folder:
            bundle_file = Path(folder) / "bundle.json"
            bundle_file.write_text(bundle.to_json(), encoding="utf-8")
            mlflow.log_artifact(str(bundle_file), artifact_path="bundle")
            signature_input = _signature_frame(example)
            wrapper = HandoffPyfunc()
            wrapper.bundle = bundle
            signature = infer_signature(signature_input, wrapper.predict(None, signature_input))
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=HandoffPyfunc(),
                artifacts={"bundle": str(bundle_file)},
                signature=signature,
                input_example=signature_input.head(3),
                registered_model_name=registered_name(bundle.name),
                # Listed, not inferred: inference loads the model in a subprocess and costs seconds per model.
                pip_requirements=[
                    f"mlflow=={mlflow.__version__}",
                    f"lightgbm=={lightgbm.__version__}",
                    f"pandas=={pd.__version__}",
                ],
            )
        mlflow.set_tag("handoff.bundle_path", BUNDLE_PATH)
        del run
    version = info.registered_model_version
    if version is None:  # registration happens inside log_model; look it up if this MLflow does not say
        versions = client.search_model_versions(f"name='{registered_name(bundle.name)}'")
        version = max(int(v.version) for v in versions)
    return str(version)


def set_champion(settings, name: str, version: str) -> None:
    _client(settings).set_registered_model_alias(registered_name(name), CHAMPION, str(version))


def champion_version(settings, name: str) -> str | None:
    try:
        return str(_client(settings).get_model_version_by_alias(registered_name(name), CHAMPION).version)
    except MlflowException:
        return None


@dataclass
class ServedModel:
    """A champion ready to serve: the raw LightGBM boosters inside its bundle, its version and holdout metrics."""

    name: str
    version: str
    run_id: str
    bundle: ModelBundle
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def registered_name(self) -> str:
        return registered_name(self.name)

    @property
    def feature_names(self) -> list[str]:
        return self.bundle.feature_names

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Interval models: (n, 3) P10/P50/P90; classifiers: (n,) probability."""
        return self.bundle.predict(features)

    def predict_one(self, record: Mapping[str, Any]) -> dict[str, float]:
        """One feature record (feature name -> value) in, a small dict out, without pandas: the API's hot path."""
        return self.bundle.predict_row(dict(record))

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        return self.bundle.contributions(features)


def load_champion(settings, name: str) -> ServedModel | None:
    """The model behind `models:/handoff-<name>@champion`, rebuilt from its logged bundle (raw boosters, no pyfunc).

    None when no champion exists yet.
    """
    client = _client(settings)
    try:
        version = client.get_model_version_by_alias(registered_name(name), CHAMPION)
    except MlflowException:
        return None
    local = mlflow.artifacts.download_artifacts(
        run_id=version.run_id, artifact_path=BUNDLE_PATH, tracking_uri=settings.resolved_tracking_uri
    )
    bundle = ModelBundle.from_json(Path(local).read_text(encoding="utf-8"))
    metrics = {k: v for k, v in client.get_run(version.run_id).data.metrics.items() if not k.startswith("baseline_")}
    return ServedModel(name, str(version.version), version.run_id, bundle, metrics)


def load_champions(settings, names: tuple[str, ...] = MODEL_NAMES) -> dict[str, ServedModel]:
    """Every champion that exists, by short name (`effort`, `duration`, `overrun`, `churn`)."""
    loaded = {}
    for name in names:
        served = load_champion(settings, name)
        if served is not None:
            loaded[name] = served
    return loaded
