"""The nightly's scoring and alert decisions on Dask: each partition's features, scores and drivers on a worker.

A partition is an account-id range with every CRM row of those accounts (`scale.sources`), so the point-in-time
features of an account need nothing from another partition. Per partition a worker reads its rows, builds the
features (`risk.features`, the same code as the local engine), scores them with the champion, reads yesterday's
scores of the same range, marks the alert candidates (at or above the churn threshold, a jump, or a live alert),
explains only those, and writes the partition's scores in one batch. The client gets back only the candidates and
a per-partition summary, and runs the alert rules on them (`alerts.nightly.decide_account`, as the local engine
does), so memory on the client grows with the alerts, not with the accounts.
"""

from __future__ import annotations

import resource
import time
from collections import defaultdict
from datetime import date
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, insert, select

from handoff.alerts.digest import DigestItem
from handoff.alerts.rules import Score, Thresholds
from handoff.alerts.tables import alert_scores
from handoff.scale.sources import FEATURE_ENTITIES, Partition, partition_bounds, worker_engine

WRITE_BATCH_ROWS = 5000
_CANDIDATE_COLUMNS = {
    "probability": "float64",
    "drivers": "object",
    "previous_probability": "float64",
    "previous_drivers": "object",
    "owner_id": "object",
    "account_name": "object",
}
_SUMMARY_COLUMNS = (
    "accounts",
    "candidates",
    "without_owner",
    "read_s",
    "features_s",
    "predict_s",
    "drivers_s",
    "store_s",
    "peak_rss_mb",
)


def _text(value: Any) -> str | None:
    """A stored text cell, or None for a missing or blank one (NULL, NaN from Parquet, "")."""
    return value.strip() or None if isinstance(value, str) else None


def _candidate_meta() -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in _CANDIDATE_COLUMNS.items()})
    frame.index = pd.Index([], dtype="object", name="account_id")
    return frame


def _summary_meta() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="float64") for name in _SUMMARY_COLUMNS})


@cache
def _model(version: str, bundle_json: str):
    """The champion, rebuilt once per worker process from its bundle (no registry round trip per partition)."""
    from handoff.risk.bundle import ModelBundle
    from handoff.risk.registry import ServedModel

    return ServedModel("churn", version, "", ModelBundle.from_json(bundle_json))


def _previous(db: tuple[str, float], previous_date: date | None, partition: Partition) -> pd.DataFrame:
    """Yesterday's scores (the latest earlier run) of this partition's accounts: probability and drivers."""
    if previous_date is None:
        return pd.DataFrame({"probability": pd.Series(dtype="float64"), "drivers": pd.Series(dtype="object")})
    first, last, inclusive = partition_bounds(partition)
    query = select(alert_scores.c.account_id, alert_scores.c.probability, alert_scores.c.drivers).where(
        alert_scores.c.run_date == previous_date, alert_scores.c.account_id >= first
    )
    if last is not None:
        query = query.where(alert_scores.c.account_id <= last if inclusive else alert_scores.c.account_id < last)
    with worker_engine(*db).connect() as connection:
        rows = connection.execute(query).all()
    return pd.DataFrame(
        {"probability": [row.probability for row in rows], "drivers": [tuple(row.drivers or ()) for row in rows]},
        index=pd.Index([row.account_id for row in rows], dtype="object"),
    )


def score_partition(
    partition: Partition,
    *,
    as_of: date,
    model_version: str,
    model_json: str,
    churn_threshold: float,
    jump_threshold: float,
    live_accounts: frozenset[str],
    previous_date: date | None,
    db: tuple[str, float],
    run_date: date,
    store: bool,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One partition end to end on a worker: (candidate rows, a one-row summary with counts and stage seconds)."""
    from handoff.alerts.nightly import normalise_scores
    from handoff.alerts.scoring import decode_index, encode_account_ids
    from handoff.risk.features import account_features
    from handoff.risk.service import score_churn

    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    frames = partition.read(FEATURE_ENTITIES)
    lap("read_s")
    encoded, ids = encode_account_ids(frames)
    features = decode_index(account_features(encoded, as_of), ids)
    features.index = features.index.astype("object")
    del encoded
    lap("features_s")
    model = _model(model_version, model_json)
    probability = np.asarray(model.predict(features), dtype="float64")
    previous = _previous(db, previous_date, partition)
    previous_p = previous["probability"].reindex(features.index).to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        jumped = (probability - previous_p) >= jump_threshold
    candidate = (probability >= churn_threshold) | jumped | features.index.isin(list(live_accounts))
    lap("predict_s")
    drivers = pd.Series([()] * len(features), index=features.index, dtype="object")
    chosen = features.index[candidate]
    if len(chosen):
        # A contribution pass only for the accounts that can raise an alert, as `ChampionScorer.explain` does.
        explained = normalise_scores(score_churn({"churn": model}, features.loc[chosen], top=3))["drivers"]
        drivers.loc[chosen] = explained.reindex(chosen).to_numpy()
    lap("drivers_s")

    accounts = frames["accounts"]
    owner_of = pd.Series(
        [_text(value) for value in accounts["owner_id"].astype("object")],
        index=accounts["id"].astype("object"),
        dtype="object",
    )
    name_of = pd.Series(accounts["name"].astype("object").to_numpy(), index=owner_of.index, dtype="object")
    owners = owner_of.reindex(features.index)
    if store:
        _store(db, run_date, model_version, features.index, probability, drivers)
    lap("store_s")

    previous_drivers = previous["drivers"].reindex(chosen)
    names = name_of.reindex(chosen)
    candidates = pd.DataFrame(
        {
            "probability": probability[candidate],
            "drivers": drivers.loc[chosen].to_numpy(),
            "previous_probability": previous_p[candidate],
            "previous_drivers": [d if isinstance(d, tuple) else () for d in previous_drivers],
            "owner_id": owners.loc[chosen].to_numpy(),
            # A nameless account is called by its id, as the local engine's owner lookup does.
            "account_name": [n if isinstance(n, str) and n else a for a, n in zip(chosen, names, strict=True)],
        },
        index=pd.Index(chosen, dtype="object", name="account_id"),
    )
    summary = {
        "accounts": float(len(features)),
        "candidates": float(len(chosen)),
        "without_owner": float(owners.isna().sum()),
        **{name: round(value, 4) for name, value in seconds.items()},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    return candidates, pd.DataFrame([summary], columns=list(_SUMMARY_COLUMNS))


def _store(
    db: tuple[str, float], run_date: date, version: str, index: pd.Index, probability: np.ndarray, drivers: pd.Series
) -> None:
    """The partition's scores in batches, in one transaction: a partition is stored whole or not at all."""
    rows = [
        {
            "run_date": run_date,
            "account_id": account,
            "probability": float(p),
            "drivers": list(d),
            "model_version": version,
        }
        for account, p, d in zip(index, probability, drivers, strict=True)
    ]
    with worker_engine(*db).begin() as connection:
        for start in range(0, len(rows), WRITE_BATCH_ROWS):
            connection.execute(insert(alert_scores), rows[start : start + WRITE_BATCH_ROWS])


def _candidates_of(result: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    return result[0]


def _summary_of(result: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    return result[1]


def partitions_for(parts, settings) -> tuple[list[Partition], pd.DataFrame]:
    """The partitions of the configured source and its team members (owner id -> name, email)."""
    section = settings.dask
    if section.source == "parquet":
        from handoff.crm.parquet import partitions, read_team

        return partitions(settings.crm_parquet_dir), read_team(settings.crm_parquet_dir)
    from handoff.scale.sources import database_ranges, database_team

    ranges: list[Partition] = list(
        database_ranges(
            parts.engine, settings.resolved_database_url, settings.database_busy_timeout_s, section.partition_accounts
        )
    )
    return ranges, database_team(parts.engine)


def score_and_decide(
    parts,
    run_date: date,
    *,
    run,
    counts: dict[str, int],
    problems,
    dry_run: bool,
    timings: dict[str, float],
    client=None,
) -> tuple[dict[str, list[DigestItem]], pd.DataFrame]:
    """Scores every active account on the Dask cluster and applies the alert rules to the candidates.

    The same outcome as the local engine's score and alert stages: scores stored for `run_date` (one batch per
    partition), alerts opened, updated or re-opened; returns the digest items per owner and one summary row per
    partition (accounts, candidates, each stage's seconds, the worker's peak RSS). `client`: a running
    `distributed.Client` (default: one from `settings.dask`, for the length of the call).
    """
    from contextlib import nullcontext

    import dask
    import dask.dataframe as dd

    from handoff.alerts.nightly import _live_alerts, decide_account
    from handoff.errors import NotReady
    from handoff.risk.registry import load_champion
    from handoff.scale.cluster import dask_client
    from handoff.store.db import transaction

    settings = parts.settings
    started = time.perf_counter()
    model = load_champion(settings, "churn")
    if model is None:
        raise NotReady("no champion churn model; train one with `handoff train`")
    run.model_version = str(model.version)
    thresholds = Thresholds(churn=settings.alerts.churn_threshold, jump=settings.alerts.jump_threshold)
    with parts.sessions() as session:
        previous_date = session.execute(
            select(func.max(alert_scores.c.run_date)).where(alert_scores.c.run_date < run_date)
        ).scalar_one_or_none()
        live = _live_alerts(session)
    partitions, team = partitions_for(parts, settings)
    # As the local engine's owner lookup: a nameless member is called by id, a blank email is none.
    members = {str(row.id): (_text(row.name) or str(row.id), _text(row.email)) for row in team.itertuples(index=False)}
    if not dry_run:
        with transaction(parts.sessions) as session:
            session.execute(delete(alert_scores).where(alert_scores.c.run_date == run_date))
    timings["dask_prepare"] = round(time.perf_counter() - started, 4)

    summaries = pd.DataFrame(columns=list(_SUMMARY_COLUMNS))
    found = _candidate_meta()
    if partitions:
        common = {
            "as_of": run_date,
            "model_version": str(model.version),
            "model_json": model.bundle.to_json(),
            "churn_threshold": thresholds.churn,
            "jump_threshold": thresholds.jump,
            "live_accounts": frozenset(live),
            "previous_date": previous_date,
            "db": (settings.resolved_database_url, settings.database_busy_timeout_s),
            "run_date": run_date,
            "store": not dry_run,
        }
        clock = time.perf_counter()
        # Object columns stay objects (drivers are tuples, ids are compared as the local engine's are).
        with (
            nullcontext(client) if client is not None else dask_client(settings) as active,
            dask.config.set({"dataframe.convert-string": False}),
        ):
            per_partition = [dask.delayed(score_partition, pure=True)(p, **common) for p in partitions]
            candidates = dd.from_delayed(
                [dask.delayed(_candidates_of)(p) for p in per_partition], meta=_candidate_meta(), verify_meta=False
            )
            summary = dd.from_delayed(
                [dask.delayed(_summary_of)(p) for p in per_partition], meta=_summary_meta(), verify_meta=False
            )
            # One compute for both: each partition's task runs once and feeds the two collections.
            found, summaries = dask.compute(candidates, summary, scheduler=active)
        timings["dask_partitions"] = round(time.perf_counter() - clock, 4)

    counts["accounts_scored"] = int(summaries["accounts"].sum())
    counts["alert_candidates"] = len(found)
    counts["partitions"] = len(partitions)
    for stage in ("read_s", "features_s", "predict_s", "drivers_s", "store_s"):
        timings[f"worker_{stage[:-2]}"] = round(float(summaries[stage].sum()), 4)

    clock = time.perf_counter()
    items_by_owner: dict[str, list[DigestItem]] = defaultdict(list)
    with transaction(parts.sessions) as session:
        for account_id, row in found.sort_index().iterrows():
            previous = row["previous_probability"]
            known = previous == previous  # NaN: no score yesterday
            score = Score(
                account_id=str(account_id),
                probability=float(row["probability"]),
                drivers=tuple(row["drivers"]),
                previous_probability=float(previous) if known else None,
                previous_drivers=tuple(row["previous_drivers"]) if known else (),
            )
            decide_account(
                session,
                score,
                live.get(str(account_id), {}),
                owner=(row["owner_id"], row["account_name"]),
                members=members,
                run_date=run_date,
                thresholds=thresholds,
                counts=counts,
                problems=problems,
                dry_run=dry_run,
                items_by_owner=items_by_owner,
            )
    counts["accounts_without_owner"] = int(summaries["without_owner"].sum())
    timings["alerts"] = round(time.perf_counter() - clock, 4)
    return items_by_owner, summaries
