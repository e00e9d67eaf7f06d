"""The churn model fitted in this process and with lightgbm.dask on a LocalCluster: wall time and holdout numbers.

The same demo CRM history (`handoff train --from demo`), the same training set and learner; only where the boosters
are fitted differs. Writes eval/results/scale-train-bench.json with the machine snapshot.
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import datetime
from pathlib import Path

RESULT = Path(__file__).resolve().parents[1] / "results" / "scale-train-bench.json"
HEADLINE = ("roc_auc", "brier", "log_loss", "ece")


def _fit(churn, trainer=None) -> dict:
    from handoff.risk.training import baseline_metrics, fit_bundle, holdout_metrics

    options = {"booster_trainer": trainer} if trainer is not None else None
    started = time.perf_counter()
    bundle = fit_bundle(churn, learner_options=options)
    wall = time.perf_counter() - started
    metrics = holdout_metrics(bundle, churn)
    return {
        "fit_wall_s": round(wall, 1),
        "holdout": {key: metrics[key] for key in HEADLINE},
        "baseline_brier": baseline_metrics(churn)["brier"],
        "selection": bundle.info["selection"]["main"]["picked"],
        "gbm_shape": bundle.info["selection"]["main"]["gbm_shape"],
    }


def main() -> dict:
    from distributed import Client, LocalCluster

    from eval.machine import snapshot
    from handoff.risk.training import churn_training_set, demo_frames, history_end
    from handoff.scale.training import DaskBoosterTrainer

    accounts = int(os.environ.get("HANDOFF_BENCH_TRAIN_ACCOUNTS", "3000"))
    workers = int(os.environ.get("HANDOFF_BENCH_TRAIN_WORKERS", "2"))
    frames = demo_frames(accounts=accounts)
    churn = churn_training_set(frames, history_end(frames))
    before = snapshot()
    local = _fit(churn)
    started = time.perf_counter()
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        cluster_start_s = time.perf_counter() - started
        trainer = DaskBoosterTrainer(client)
        on_dask = _fit(churn, trainer)
        on_dask["boosters_on_cluster"] = trainer.fits
    on_dask["cluster_start_s"] = round(cluster_start_s, 1)
    result = {
        "bench": "scale-train-dask",
        "when": datetime.now().isoformat(timespec="seconds"),
        "machine_before": {**before, "python": platform.python_version()},
        "machine_after": snapshot(),
        "demo_accounts": accounts,
        "train_rows": len(churn.x_train),
        "holdout_rows": len(churn.x_holdout),
        "workers": workers,
        "local": local,
        "dask": on_dask,
        "dask_over_local_wall": round(on_dask["fit_wall_s"] / max(local["fit_wall_s"], 1e-9), 2),
    }
    RESULT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
