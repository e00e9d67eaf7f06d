"""The Dask engine against the local one on the same CRM and champion: same scores, same alerts, same digests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from handoff.alerts.tables import alert_digests, alert_scores, alerts
from handoff.crm.loader import write_frames
from handoff.settings import DaskSettings, Settings
from handoff.wiring import Parts, churn_scorer, nightly_job

D1, D2 = date(2026, 10, 1), date(2026, 10, 15)


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A light LocalCluster (one worker thread in this process) reached by its address, as a remote one is."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def _threshold(parts: Parts) -> float:
    """Alert on the riskiest fifth (a small demo model's scores sit wherever its training put them)."""
    return float(churn_scorer(parts).score(D1, {})["probability"].quantile(0.8))


def _local_parts(tmp_path: Path, champion, threshold: float) -> Parts:
    settings = Settings(home=tmp_path / "local-home", _env_file=None, mlflow_tracking_uri=champion.tracking_uri)
    parts = Parts(settings)
    parts.migrate()
    write_frames(parts.engine, champion.frames, replace=True)
    alerts_settings = settings.alerts.model_copy(update={"churn_threshold": threshold})
    return Parts(settings.model_copy(update={"alerts": alerts_settings}))


def _state(parts: Parts) -> dict[str, pd.DataFrame]:
    with parts.sessions() as session:
        scores = pd.DataFrame(session.execute(select(alert_scores)).mappings().all())
        opened = pd.DataFrame(session.execute(select(alerts)).mappings().all())
        digests = session.execute(select(alert_digests)).all()
    scores = scores.sort_values(["run_date", "account_id"]).reset_index(drop=True)
    keep = ["account_id", "cause", "status", "probability", "previous_probability", "drivers", "opened_on"]
    opened = opened[[*keep, "last_run_date", "owner_id"]].sort_values(["account_id", "cause"]).reset_index(drop=True)
    told = sorted(
        (row.run_date, row.owner_id, tuple(sorted(item["account_id"] for item in row.payload["alerts"])))
        for row in digests
    )
    return {"scores": scores, "alerts": opened, "digests": pd.DataFrame(told)}


def test_dask_engine_scores_and_alerts_exactly_as_the_local_one(demo, champion, tmp_path, scheduler) -> None:
    threshold = _threshold(demo)
    local = _local_parts(tmp_path, champion, threshold)
    # About 60 accounts per partition: five partitions on the demo's 300, so the ranges and their edges matter.
    dask_settings = demo.settings.model_copy(
        update={
            "engine": "dask",
            "dask": DaskSettings(scheduler=scheduler, partition_accounts=60),
            "alerts": demo.settings.alerts.model_copy(update={"churn_threshold": threshold}),
        }
    )
    on_dask = Parts(dask_settings)
    try:
        runs = {}
        for name, parts in (("local", local), ("dask", on_dask)):
            runs[name] = [nightly_job(parts, run_date=day, channels=[], sleep=lambda _: None) for day in (D1, D2)]
        for local_run, dask_run in zip(runs["local"], runs["dask"], strict=True):
            assert dask_run.status == local_run.status, dask_run.problems
            assert dask_run.model_version == local_run.model_version == champion.version
            assert dask_run.counts["partitions"] == 5
            same = ("accounts_scored", "alert_candidates", "alerts_open", "alerts_update", "alerts_reopen")
            assert {k: dask_run.counts.get(k) for k in same} == {k: local_run.counts.get(k) for k in same}
            assert dask_run.counts.get("alerts_open", 0) + dask_run.counts.get("alerts_update", 0) > 0
            assert sorted(map(str, dask_run.problems)) == sorted(map(str, local_run.problems))
        expected, got = _state(local), _state(on_dask)
    finally:
        on_dask.close()
        local.close()

    assert len(got["scores"]) == len(expected["scores"]) > 0
    pd.testing.assert_frame_equal(
        got["scores"].drop(columns="probability"), expected["scores"].drop(columns="probability")
    )
    np.testing.assert_allclose(got["scores"]["probability"], expected["scores"]["probability"], rtol=0, atol=1e-12)
    assert (got["scores"]["drivers"].map(len) > 0).sum() > 0  # candidates carry their drivers, as locally
    pd.testing.assert_frame_equal(
        got["alerts"].drop(columns=["probability", "previous_probability"]),
        expected["alerts"].drop(columns=["probability", "previous_probability"]),
    )
    np.testing.assert_allclose(got["alerts"]["probability"], expected["alerts"]["probability"], rtol=0, atol=1e-12)
    assert len(expected["alerts"]) > 0 and (expected["alerts"]["last_run_date"] == D2).any()
    pd.testing.assert_frame_equal(got["digests"], expected["digests"])


def test_dask_engine_reads_parquet_partitions_and_scores_as_the_local_features_do(
    sqlite_parts, champion, tmp_path, scheduler
) -> None:
    from handoff.alerts.scoring import decode_index, encode_account_ids
    from handoff.crm.parquet import write_synthetic
    from handoff.crm.synthetic import AS_OF, synthetic_frames
    from handoff.risk.features import account_features
    from handoff.risk.registry import load_champion

    settings = sqlite_parts.settings.model_copy(
        update={
            "engine": "dask",
            "mlflow_tracking_uri": champion.tracking_uri,
            "dask": DaskSettings(scheduler=scheduler, source="parquet"),
        }
    )
    manifest = write_synthetic(settings.crm_parquet_dir, 3000, seed=5, partition_accounts=1000)
    assert [p["accounts"] for p in manifest["partitions"]] == [1000, 1000, 1000]
    parts = Parts(settings)
    try:
        run = nightly_job(parts, run_date=AS_OF, channels=[], sync_loop=False, sleep=lambda _: None)
        with parts.sessions() as session:
            stored = dict(session.execute(select(alert_scores.c.account_id, alert_scores.c.probability)).all())
    finally:
        parts.close()
    assert run.status in ("ok", "warnings"), run.problems
    assert run.counts["partitions"] == 3

    # The local engine's path on the whole base at once, from the same generator chunks.
    chunks = [synthetic_frames(1000, 5, first=first) for first in (0, 1000, 2000)]
    frames = {name: pd.concat([chunk[name] for chunk in chunks], ignore_index=True) for name in chunks[0]}
    encoded, ids = encode_account_ids(frames)
    features = decode_index(account_features(encoded, AS_OF), ids)
    expected = pd.Series(load_champion(settings, "churn").predict(features), index=features.index.astype(str))
    assert run.counts["accounts_scored"] == len(expected) == len(stored) > 2500
    got = pd.Series(stored).reindex(expected.index)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)


def test_cli_writes_the_parquet_crm_and_runs_the_nightly_on_dask(tmp_path, champion, scheduler) -> None:
    import json

    from typer.testing import CliRunner

    from handoff.cli.main import build_app
    from handoff.crm.synthetic import AS_OF

    env = {
        "HANDOFF_HOME": str(tmp_path / "home"),
        "HANDOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "HANDOFF_MLFLOW_TRACKING_URI": champion.tracking_uri,
        "HANDOFF_DASK__SCHEDULER": scheduler,
        "HANDOFF_DASK__SOURCE": "parquet",
        "HANDOFF_DASK__PARTITION_ACCOUNTS": "400",
    }
    runner = CliRunner()
    made = runner.invoke(build_app(), ["demo-data", "--accounts", "1000", "--format", "parquet", "--json"], env=env)
    assert made.exit_code == 0, made.output
    written = json.loads(made.output)
    assert [p["accounts"] for p in written["partitions"]] == [400, 400, 200] and written["rows"] > 15_000
    again = runner.invoke(build_app(), ["demo-data", "--accounts", "10", "--format", "parquet"], env=env)
    # An existing CRM is never mixed into (the CLI's `run` prints the Conflict as one line).
    assert again.exit_code != 0 and "--replace" in str(again.exception)

    nightly = ["nightly", "--engine", "dask", "--date", AS_OF.isoformat(), "--json"]
    dry = runner.invoke(build_app(), [*nightly, "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["counts"]["accounts_scored"] > 900
    store = Parts(Settings(_env_file=None, home=tmp_path / "home", database_url=env["HANDOFF_DATABASE_URL"]))
    with store.sessions() as session:
        assert session.execute(select(alert_scores)).first() is None  # a dry run writes nothing
    store.close()
    run = runner.invoke(build_app(), nightly, env=env)
    assert run.exit_code == 0, run.output
    record = json.loads(run.output)
    assert record["counts"]["partitions"] == 3 and record["counts"]["accounts_scored"] > 900
    bad = runner.invoke(build_app(), ["nightly", "--engine", "spark"], env=env)
    assert bad.exit_code != 0 and "local or dask" in str(bad.exception)


def test_engine_settings_come_from_the_environment_and_size_the_local_cluster(monkeypatch) -> None:
    import os

    import psutil
    from pydantic import ValidationError

    from handoff.scale.cluster import local_cluster_shape

    monkeypatch.setenv("HANDOFF_ENGINE", "dask")
    monkeypatch.setenv("HANDOFF_DASK__SCHEDULER", "tcp://10.0.0.5:8786")
    monkeypatch.setenv("HANDOFF_DASK__PARTITION_ACCOUNTS", "100000")
    settings = Settings(_env_file=None)
    assert settings.engine == "dask" and settings.dask.scheduler == "tcp://10.0.0.5:8786"
    assert settings.dask.partition_accounts == 100_000 and settings.dask.source == "database"
    monkeypatch.setenv("HANDOFF_ENGINE", "spark")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)

    # Unset: one single-threaded worker per core, half the machine's memory shared between them.
    shape = local_cluster_shape(None, None)
    cores = os.cpu_count() or 1
    assert shape["n_workers"] == cores and shape["threads_per_worker"] == 1
    assert shape["memory_limit"] == psutil.virtual_memory().total // 2 // cores
    assert local_cluster_shape(3, "2GB") == {"n_workers": 3, "threads_per_worker": 1, "memory_limit": "2GB"}
