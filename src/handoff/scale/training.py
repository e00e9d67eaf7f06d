"""The churn model's boosters fitted with `lightgbm.dask` on the cluster's workers; the rest of training as local.

Only where the boosters are fitted changes: the learner (`risk.learners.CalibratedClassifier`) still builds the
matrix, picks its shape, rounds and blend on the same time-ordered inner folds and calibrates on their out-of-fold
scores, but each booster it asks for (every inner fold's and the final refit) is a `DaskLGBMClassifier` trained
data-parallel on the workers that hold the rows, then turned into a plain `lightgbm.Booster` (`to_local()`), so the
registered bundle, the model card and serving are the local engine's. The project models (tens of rows) stay in
this process: spread over workers they would only pay the network's cost.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# In data-parallel LightGBM each worker finds the bin boundaries of its share of the features from its own rows, so
# a worker needs enough of them for fine bins; a smaller set (an early inner fold) is spread over fewer workers.
MIN_ROWS_PER_WORKER = 200


def _spread_rows(client, matrix: np.ndarray, target: np.ndarray):
    """The rows as dask arrays whose chunks sit on distinct workers (one contiguous slice each), so every worker
    that joins the LightGBM network holds a share of the data instead of the scheduler putting it all on one."""
    import dask.array as da

    addresses = sorted(client.scheduler_info()["workers"])
    if not addresses:
        from handoff.errors import ExternalFailure

        raise ExternalFailure("the Dask cluster has no workers to train on")
    count = max(1, min(len(addresses), len(matrix) // MIN_ROWS_PER_WORKER))
    bounds = np.linspace(0, len(matrix), count + 1).astype(int)
    x_chunks, y_chunks = [], []
    for address, low, high in zip(addresses, bounds[:-1], bounds[1:], strict=False):
        x_part, y_part = matrix[low:high], target[low:high]
        x_future = client.scatter(x_part, workers=[address], direct=True)
        y_future = client.scatter(y_part, workers=[address], direct=True)
        x_chunks.append(da.from_delayed(x_future, shape=x_part.shape, dtype=x_part.dtype))
        y_chunks.append(da.from_delayed(y_future, shape=y_part.shape, dtype=y_part.dtype))
    return da.concatenate(x_chunks), da.concatenate(y_chunks)


class DaskBoosterTrainer:
    """A `risk.learners.BoosterTrainer` that fits each booster with `lightgbm.dask` through `client`."""

    engine = "lightgbm.dask"  # what the model card's training summary names

    def __init__(self, client) -> None:
        self.client = client
        self.fits = 0  # boosters fitted on the cluster (the training summary reports it)

    def __call__(
        self, matrix: np.ndarray, target: np.ndarray, params: Mapping[str, Any], rounds: int, categorical: Sequence[int]
    ):
        from lightgbm.dask import DaskLGBMClassifier

        from handoff.risk.learners import booster_feature_names

        x, y = _spread_rows(self.client, matrix, target)
        # lightgbm.dask sets each worker's threads from the worker itself (one per worker on a LocalCluster).
        options = {key: value for key, value in params.items() if key not in ("objective", "num_threads")}
        model = DaskLGBMClassifier(client=self.client, objective=params.get("objective", "binary"), **options)
        model.set_params(n_estimators=rounds)
        with warnings.catch_warnings():
            # lightgbm.dask warns on every fit that it ignores the estimator's own n_jobs: it takes the threads from
            # each worker instead, which is what is wanted here.
            warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
            model.fit(x, y, feature_name=booster_feature_names(matrix.shape[1]), categorical_feature=list(categorical))
        self.fits += 1
        return model.to_local().booster_


def train_all_on_dask(parts, **options: Any) -> dict[str, Any]:
    """`risk.training.train_all` with the churn model's boosters fitted on the Dask cluster of `parts.settings`
    (the configured scheduler, or a LocalCluster for the length of the call)."""
    from handoff.risk.training import train_all
    from handoff.scale.cluster import dask_client

    with dask_client(parts.settings) as client:
        trainer = DaskBoosterTrainer(client)
        summary = train_all(parts, churn_booster_trainer=trainer, **options)
        workers = len(client.scheduler_info()["workers"])
    summary["engine"] = {"name": "dask", "workers": workers, "churn_boosters_on_cluster": trainer.fits}
    return summary
