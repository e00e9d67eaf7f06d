"""The nightly past one machine: a 10,000,000-account synthetic CRM in Parquet partitions, scored on Dask.

`python -m eval.bench scale` (or `make bench`). Targets: features + scoring + alert decisions (scores stored) of
10 M accounts in <= 10 minutes wall on this 2-core machine, peak memory per worker and in total reported (total
<= 12 GB); the Dask scores equal the local engine's on a 100,000-account sample. Anchor: the local engine scores
1 M accounts in one process (`eval.alerts.bench`: 13 s, 4.6 GB peak RSS). Trivial baseline: the local engine on
the whole base, which holds every row in one process (about 46 GB at 10 M by its measured 4.6 GB per million).
Environment: HANDOFF_BENCH_DASK_ACCOUNTS (default 10000000), HANDOFF_BENCH_DASK_WORKERS (default: the cores),
HANDOFF_BENCH_DASK_MEMORY (per worker, default 5GB), HANDOFF_BENCH_ALERT_SHARE (default 0.01: the riskiest 1 % of
the sample's scores set the churn threshold, a realistic nightly alert volume).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parents[1] / "results" / "scale-bench.json"
TARGET_S = 600.0
TARGET_TOTAL_GB = 12.0
SAMPLE = 100_000
ANCHOR = "local engine: 1,000,000 accounts in 13 s and 4.6 GB peak RSS in one process (eval/results/alerts-bench.json)"


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _worker_peak_rss_mb() -> float:
    import resource as worker_resource

    return round(worker_resource.getrusage(worker_resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _local_sample_scores(directory: Path, model, sample: int) -> pd.Series:
    """The local engine's path (`ChampionScorer`: encode, features, predict) on the first `sample` accounts."""
    from handoff.alerts.scoring import decode_index, encode_account_ids
    from handoff.crm.parquet import partitions
    from handoff.crm.synthetic import AS_OF
    from handoff.risk.features import account_features
    from handoff.scale.sources import FEATURE_ENTITIES

    frames: dict[str, list[pd.DataFrame]] = {name: [] for name in FEATURE_ENTITIES}
    taken = 0
    for partition in partitions(directory):
        for name, frame in partition.read(FEATURE_ENTITIES).items():
            frames[name].append(frame)
        taken += partition.accounts
        if taken >= sample:
            break
    whole = {name: pd.concat(parts, ignore_index=True) for name, parts in frames.items() if parts}
    ids = set(whole["accounts"]["id"].iloc[:sample])
    chosen = {
        name: frame[frame["id" if name == "accounts" else "account_id"].isin(ids)] for name, frame in whole.items()
    }
    encoded, index = encode_account_ids(chosen)
    features = decode_index(account_features(encoded, AS_OF), index)
    return pd.Series(model.predict(features), index=features.index.astype(str))


def main() -> dict:
    from distributed import Client, LocalCluster
    from sqlalchemy import select

    from eval.alerts.bench import train_champion
    from eval.machine import snapshot
    from handoff.alerts.tables import alert_scores
    from handoff.crm.parquet import write_synthetic
    from handoff.crm.synthetic import AS_OF
    from handoff.settings import DaskSettings, Settings
    from handoff.wiring import Parts, nightly_job

    accounts = int(os.environ.get("HANDOFF_BENCH_DASK_ACCOUNTS", "10000000"))
    workers = int(os.environ.get("HANDOFF_BENCH_DASK_WORKERS", str(os.cpu_count() or 2)))
    memory = os.environ.get("HANDOFF_BENCH_DASK_MEMORY", "5GB")
    share = float(os.environ.get("HANDOFF_BENCH_ALERT_SHARE", "0.01"))
    size = 250_000
    stages: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        started = time.perf_counter()
        model, champion_settings = train_champion(home / "champion")
        stages["train_small_champion (not counted)"] = time.perf_counter() - started

        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, memory_limit=memory, dashboard_address=None, processes=True
            ) as cluster,
            Client(cluster) as client,
        ):
            settings = Settings(
                home=home / "nightly",
                _env_file=None,
                mlflow_tracking_uri=champion_settings.resolved_tracking_uri,
                engine="dask",
                # Partitions store their scores one transaction at a time on SQLite; the next one waits its turn.
                database_busy_timeout_s=600.0,
                dask=DaskSettings(scheduler=cluster.scheduler_address, source="parquet", partition_accounts=size),
            )
            settings.ensure_home()
            started = time.perf_counter()

            def mapper(function, *lists):
                from distributed import as_completed

                return (future.result() for future in as_completed(client.map(function, *lists, pure=False)))

            manifest = write_synthetic(
                settings.crm_parquet_dir, accounts, seed=0, partition_accounts=size, mapper=mapper, replace=True
            )
            stages["generate_parquet (not counted)"] = time.perf_counter() - started
            raw_rows = sum(part["rows"] for part in manifest["partitions"])
            client.run(lambda: __import__("gc").collect())

            started = time.perf_counter()
            sample = _local_sample_scores(settings.crm_parquet_dir, model, SAMPLE)
            stages["local_engine_on_sample (not counted)"] = time.perf_counter() - started
            threshold = float(np.quantile(sample.to_numpy(), 1 - share))
            alerts = settings.alerts.model_copy(update={"churn_threshold": min(max(threshold, 1e-6), 1 - 1e-6)})
            parts = Parts(settings.model_copy(update={"alerts": alerts}))
            parts.migrate()
            # Worker peaks from here on are the nightly's: restart them so generation's peak does not count.
            client.restart()
            started = time.perf_counter()
            run = nightly_job(parts, run_date=AS_OF, channels=[], sync_loop=False, sleep=lambda _: None)
            nightly_s = time.perf_counter() - started
            worker_peaks = client.run(_worker_peak_rss_mb)
            with parts.sessions() as session:
                stored = dict(
                    session.execute(
                        select(alert_scores.c.account_id, alert_scores.c.probability).where(
                            alert_scores.c.account_id.in_(list(sample.index))
                        )
                    ).all()
                )
            parts.close()
    got = pd.Series(stored, dtype="float64").reindex(sample.index)
    difference = float(np.nanmax(np.abs(got.to_numpy() - sample.to_numpy()))) if len(got) else float("nan")
    equal = bool(got.notna().all()) and difference <= 1e-12
    peaks = sorted(worker_peaks.values(), reverse=True)
    total_mb = round(sum(peaks) + _peak_rss_mb(), 1)
    per_partition_s = sum(
        run.stage_seconds.get(f"worker_{s}", 0.0) for s in ("read", "features", "predict", "drivers", "decide_store")
    ) / max(1, run.counts.get("partitions", 1))
    cpu_per_partition_s = run.stage_seconds.get("worker_cpu", 0.0) / max(1, run.counts.get("partitions", 1))
    result = {
        "bench": "scale-nightly-dask",
        "when": datetime.now().isoformat(timespec="seconds"),
        "machine": {**snapshot(), "python": platform.python_version()},
        "accounts": accounts,
        "raw_crm_rows": raw_rows,
        "partitions": run.counts.get("partitions"),
        "accounts_per_partition": size,
        "workers": workers,
        "worker_memory_limit": memory,
        "run_status": run.status,
        "problems": run.problems[:5],
        "accounts_scored": run.counts.get("accounts_scored"),
        "alert_candidates": run.counts.get("alert_candidates"),
        "alerts_opened": run.counts.get("alerts_open", 0),
        "churn_threshold": alerts.churn_threshold,
        "nightly_wall_s": round(nightly_s, 1),
        "nightly_stage_seconds": run.stage_seconds,
        "worker_seconds_per_partition": round(per_partition_s, 2),
        "worker_cpu_seconds_per_partition": round(cpu_per_partition_s, 2),
        "target_s": TARGET_S,
        "meets_time_target": nightly_s <= TARGET_S,
        "peak_rss_mb_per_worker": peaks,
        "peak_rss_mb_client_and_scheduler": _peak_rss_mb(),
        "peak_rss_mb_total": total_mb,
        "target_total_gb": TARGET_TOTAL_GB,
        "meets_memory_target": total_mb <= TARGET_TOTAL_GB * 1024,
        "sample_accounts_compared": int(got.notna().sum()),
        "sample_max_abs_difference": difference,
        "sample_scores_equal": equal,
        "other_stage_seconds": {name: round(value, 1) for name, value in stages.items()},
        "anchor": ANCHOR,
        "trivial_baseline": "the local engine on the whole base: every row in one process (~4.6 GB per million)",
    }
    print(f"{accounts:,} accounts, {raw_rows:,} raw rows in {result['partitions']} partitions on {workers} workers")
    for name, value in {**result["other_stage_seconds"], **run.stage_seconds}.items():
        print(f"  {name:<40}{value:>10.1f} s")
    print(
        f"nightly on Dask (features + scoring + alert decisions, scores stored): {nightly_s:.1f} s wall "
        f"(target <= {TARGET_S:.0f} s: {'met' if result['meets_time_target'] else 'MISSED'}); "
        f"{per_partition_s:.1f} worker-s ({cpu_per_partition_s:.1f} CPU s) per {size:,}-account partition"
    )
    print(
        f"peak RSS per worker {peaks} MB, client+scheduler {_peak_rss_mb()} MB, total {total_mb} MB "
        f"(target <= {TARGET_TOTAL_GB:.0f} GB: {'met' if result['meets_memory_target'] else 'MISSED'})"
    )
    print(
        f"Dask vs local scores on {result['sample_accounts_compared']:,} sample accounts: max |diff| {difference:.2e} "
        f"({'equal' if equal else 'NOT EQUAL'}); {result['alerts_opened']:,} alerts opened at threshold "
        f"{alerts.churn_threshold:.4f}"
    )
    print(f"anchor: {ANCHOR}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


if __name__ == "__main__":
    main()
