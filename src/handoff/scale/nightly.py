"""The nightly's scoring and alert decisions on Dask: each partition's features, scores and alerts on a worker.

A partition is an account-id range with every CRM row of those accounts (`scale.sources`), and every piece of
alert state is per account, so a partition needs nothing from another. The run is one dask.dataframe pipeline:

1. `dd.from_map(score_partition, partitions)`: per partition a worker reads its CRM rows, builds the point-in-time
   features (`risk.features`, the local engine's code), scores them with the champion, reads the range's previous
   scores and live alerts, marks the alert candidates (at or above the churn threshold, a jump, or a live alert)
   and explains only those. A DataFrame of scores, one row per active account.
2. `.map_partitions(decide_and_store)`: in one transaction per partition, the alert rules on its candidates
   (`alerts.nightly.decide_account`, as the local engine calls them) and the partition's scores in batches.
   It returns one row: counts, stage seconds, the problems and the digest items for the owners.

The client gathers those rows only, so its memory grows with the alerts, never with the accounts. A partition is
stored whole or not at all; a re-run of the date replaces its scores and finds the alerts it already opened.
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
from sqlalchemy import delete, func, select

from handoff.alerts.digest import DigestItem
from handoff.alerts.rules import Score, Thresholds
from handoff.alerts.tables import alert_scores, alerts
from handoff.scale.sources import FEATURE_ENTITIES, Partition, partition_bounds, worker_engine

_SCORE_COLUMNS = {
    "probability": "float64",
    "drivers": "object",
    "candidate": "bool",
    "previous_probability": "float64",
    "previous_drivers": "object",
    "live": "object",
    "owner_id": "object",
    "account_name": "object",
}
_STAGES = ("read_s", "features_s", "predict_s", "drivers_s", "decide_store_s")
_SUMMARY_COLUMNS = {
    "accounts": "int64",
    "candidates": "int64",
    "without_owner": "int64",
    **dict.fromkeys(_STAGES, "float64"),
    "cpu_s": "float64",
    "peak_rss_mb": "float64",
    "counts": "object",
    "problems": "object",
    "items": "object",
}


def _empty(columns: dict[str, str], index_name: str | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})
    if index_name:
        frame.index = pd.Index([], dtype="object", name=index_name)
    return frame


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _text(value: Any) -> str | None:
    """A stored text cell, or None for a missing or blank one (NULL, NaN from Parquet, "")."""
    return value.strip() or None if isinstance(value, str) else None


@cache
def _model(version: str, bundle_json: str):
    """The champion, rebuilt once per worker process from its bundle (no registry round trip per partition)."""
    from handoff.risk.bundle import ModelBundle
    from handoff.risk.registry import ServedModel

    return ServedModel("churn", version, "", ModelBundle.from_json(bundle_json))


@cache
def _sessions(url: str, busy_timeout_s: float):
    from handoff.store.db import make_session_factory

    return make_session_factory(worker_engine(url, busy_timeout_s))


def _in_range(column, partition: Partition) -> list:
    first, last, inclusive = partition_bounds(partition)
    conditions = [column >= first]
    if last is not None:
        conditions.append(column <= last if inclusive else column < last)
    return conditions


def _alert_state(db: tuple[str, float], previous_date: date | None, partition: Partition):
    """The range's previous scores (probability, drivers by account) and live alerts (by account and cause)."""
    from handoff.alerts.store import live_alerts

    with _sessions(*db)() as session:
        live = live_alerts(session, *_in_range(alerts.c.account_id, partition))
        if previous_date is None:
            return {}, live
        rows = session.execute(
            select(alert_scores.c.account_id, alert_scores.c.probability, alert_scores.c.drivers).where(
                alert_scores.c.run_date == previous_date, *_in_range(alert_scores.c.account_id, partition)
            )
        ).all()
    return {row.account_id: (row.probability, tuple(row.drivers or ())) for row in rows}, live


def score_partition(
    partition: Partition,
    *,
    as_of: date,
    model_version: str,
    model_json: str,
    churn_threshold: float,
    jump_threshold: float,
    previous_date: date | None,
    db: tuple[str, float],
) -> pd.DataFrame:
    """One partition's scores on a worker: one row per active account (index `account_id`), `_SCORE_COLUMNS`."""
    from handoff.alerts.nightly import normalise_scores
    from handoff.alerts.scoring import decode_index, encode_account_ids
    from handoff.risk.features import account_features
    from handoff.risk.service import score_churn

    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    cpu_started = _cpu_s()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(now - clock, 4)
        clock = now

    frames = partition.read(FEATURE_ENTITIES)
    lap("read_s")
    encoded, ids = encode_account_ids(frames)
    features = decode_index(account_features(encoded, as_of), ids)
    features.index = pd.Index(features.index.astype("object"), name="account_id")
    del encoded
    lap("features_s")
    model = _model(model_version, model_json)
    probability = np.asarray(model.predict(features), dtype="float64")
    previous, live = _alert_state(db, previous_date, partition)
    index = features.index
    previous_p = np.array([previous.get(a, (np.nan,))[0] for a in index], dtype="float64")
    with np.errstate(invalid="ignore"):
        jumped = (probability - previous_p) >= jump_threshold
    candidate = (probability >= churn_threshold) | jumped | index.isin(list(live))
    lap("predict_s")
    drivers = pd.Series([()] * len(index), index=index, dtype="object")
    chosen = index[candidate]
    if len(chosen):
        # A contribution pass only for the accounts that can raise an alert, as `ChampionScorer.explain` does.
        explained = normalise_scores(score_churn({"churn": model}, features.loc[chosen], top=3))["drivers"]
        drivers.loc[chosen] = explained.reindex(chosen).to_numpy()
    lap("drivers_s")

    accounts = frames["accounts"]
    account_ids = accounts["id"].astype("object")
    owner_of = pd.Series([_text(v) for v in accounts["owner_id"].astype("object")], index=account_ids, dtype=object)
    name_of = pd.Series([_text(v) for v in accounts["name"].astype("object")], index=account_ids, dtype=object)
    out = pd.DataFrame(
        {
            "probability": probability,
            "drivers": drivers.to_numpy(),
            "candidate": candidate,
            "previous_probability": previous_p,
            "previous_drivers": [previous[a][1] if a in previous else () for a in index],
            "live": [live.get(a) for a in index],
            "owner_id": owner_of.reindex(index).to_numpy(),
            # A nameless account is called by its id, as the local engine's owner lookup does.
            "account_name": [
                n if isinstance(n, str) else a for a, n in zip(index, name_of.reindex(index), strict=True)
            ],
        },
        index=index,
    )
    out.attrs["seconds"] = seconds
    out.attrs["partition"] = partition
    out.attrs["cpu_started"] = cpu_started
    return out


def decide_and_store(
    scores: pd.DataFrame,
    *,
    run_date: date,
    model_version: str,
    thresholds: Thresholds,
    members: dict[str, tuple[str, str | None]],
    db: tuple[str, float],
    dry_run: bool,
) -> pd.DataFrame:
    """The alert rules on one partition's candidates and its scores, in one transaction; a one-row summary."""
    from handoff.alerts.nightly import _Problems, decide_account
    from handoff.alerts.store import store_scores
    from handoff.store.db import transaction

    started = time.perf_counter()
    counts: dict[str, int] = defaultdict(int)
    problems = _Problems()
    items: dict[str, list[DigestItem]] = defaultdict(list)
    candidates = scores[scores["candidate"].to_numpy(dtype=bool)].sort_index()
    with transaction(_sessions(*db)) as session:
        for account_id, row in zip(candidates.index, candidates.itertuples(index=False), strict=True):
            known = row.previous_probability == row.previous_probability  # NaN: no earlier score
            score = Score(
                account_id=str(account_id),
                probability=float(row.probability),
                drivers=tuple(row.drivers),
                previous_probability=float(row.previous_probability) if known else None,
                previous_drivers=tuple(row.previous_drivers) if known else (),
            )
            decide_account(
                session,
                score,
                row.live or {},
                owner=(row.owner_id, row.account_name),
                members=members,
                run_date=run_date,
                thresholds=thresholds,
                counts=counts,
                problems=problems,
                dry_run=dry_run,
                items_by_owner=items,
            )
        if not dry_run:
            # A partition re-run (its worker died after committing) replaces its own scores instead of clashing.
            in_range = _in_range(alert_scores.c.account_id, scores.attrs["partition"])
            store_scores(session, run_date, scores, model_version, *in_range)
    seconds = {**scores.attrs.get("seconds", {}), "decide_store_s": round(time.perf_counter() - started, 4)}
    summary = {
        "accounts": len(scores),
        "candidates": len(candidates),
        "without_owner": int(scores["owner_id"].isna().sum()),
        **{stage: seconds.get(stage, 0.0) for stage in _STAGES},
        # CPU seconds of the whole partition: on a shared machine they say what the work costs, wall time does not.
        "cpu_s": round(_cpu_s() - scores.attrs.get("cpu_started", _cpu_s()), 4),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "counts": dict(counts),
        "problems": (problems.items, dict(problems.per_kind)),
        "items": dict(items),
    }
    return pd.DataFrame([summary], columns=list(_SUMMARY_COLUMNS))


def partitions_for(parts, settings) -> tuple[list[Partition], pd.DataFrame]:
    """The partitions of the configured source and its team members (id, name, email)."""
    section = settings.dask
    if section.source == "parquet":
        from handoff.crm.parquet import partitions, read_team

        return list(partitions(settings.crm_parquet_dir)), read_team(settings.crm_parquet_dir)
    from handoff.scale.sources import database_ranges, database_team

    url, timeout = settings.resolved_database_url, settings.database_busy_timeout_s
    ranges = database_ranges(parts.engine, url, timeout, section.partition_accounts)
    return list(ranges), database_team(parts.engine)


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
    """Scores every active account on the Dask cluster and applies the alert rules, partition by partition.

    The same outcome as the local engine's score and alert stages: scores stored for `run_date`, alerts opened,
    updated or re-opened; returns the digest items per owner and one summary row per partition (accounts,
    candidates, each stage's seconds, the worker's peak RSS). `client`: a running `distributed.Client` (default:
    one from `settings.dask`, for the length of the call).
    """
    from contextlib import nullcontext

    import dask
    import dask.dataframe as dd

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
    partitions, team = partitions_for(parts, settings)
    # As the local engine's owner lookup: a nameless member is called by id, a blank email is none.
    members = {str(row.id): (_text(row.name) or str(row.id), _text(row.email)) for row in team.itertuples(index=False)}
    if not dry_run:
        with transaction(parts.sessions) as session:
            session.execute(delete(alert_scores).where(alert_scores.c.run_date == run_date))
    timings["dask_prepare"] = round(time.perf_counter() - started, 4)

    db = (settings.resolved_database_url, settings.database_busy_timeout_s)
    summaries = _empty(_SUMMARY_COLUMNS)
    if partitions:
        clock = time.perf_counter()
        # Object columns stay objects: drivers are tuples and ids compare as the local engine's do.
        with (
            nullcontext(client) if client is not None else dask_client(settings) as active,
            dask.config.set({"dataframe.convert-string": False}),
        ):
            scores = dd.from_map(
                score_partition,
                partitions,
                meta=_empty(_SCORE_COLUMNS, "account_id"),
                enforce_metadata=False,
                as_of=run_date,
                model_version=str(model.version),
                model_json=model.bundle.to_json(),
                churn_threshold=thresholds.churn,
                jump_threshold=thresholds.jump,
                previous_date=previous_date,
                db=db,
            )
            outcome = scores.map_partitions(
                decide_and_store,
                meta=_empty(_SUMMARY_COLUMNS),
                enforce_metadata=False,
                run_date=run_date,
                model_version=str(model.version),
                thresholds=thresholds,
                members=members,
                db=db,
                dry_run=dry_run,
            )
            summaries = outcome.compute(scheduler=active)
        timings["dask_partitions"] = round(time.perf_counter() - clock, 4)

    items_by_owner: dict[str, list[DigestItem]] = defaultdict(list)
    # Partitions are account-id ranges in order: merged in order, the lists read as the local engine's do.
    for row in summaries.itertuples(index=False):
        for key, value in row.counts.items():
            counts[key] = counts.get(key, 0) + value
        listed, per_kind = row.problems
        for item in listed:
            problems.add(item["kind"], item["detail"], **{k: v for k, v in item.items() if k not in ("kind", "detail")})
        for kind, total in per_kind.items():
            problems.per_kind[kind] += total - sum(1 for item in listed if item["kind"] == kind)
        for owner_id, owned in row.items.items():
            items_by_owner[owner_id].extend(owned)
    counts["accounts_scored"] = int(summaries["accounts"].sum())
    counts["alert_candidates"] = int(summaries["candidates"].sum())
    counts["accounts_without_owner"] = int(summaries["without_owner"].sum())
    counts["partitions"] = len(partitions)
    for stage in (*_STAGES, "cpu_s"):
        timings[f"worker_{stage[:-2]}"] = round(float(summaries[stage].sum()), 4)
    return items_by_owner, summaries.drop(columns=["counts", "problems", "items"])
