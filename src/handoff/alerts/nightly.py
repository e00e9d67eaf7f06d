"""The nightly job: score every active account, open or update alerts, send each owner one digest, record the run."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from handoff.alerts import store
from handoff.alerts.channels import Channel, Delivery, configured_channels, deliver
from handoff.alerts.digest import Digest, DigestItem, digest_from_payload, group_digests
from handoff.alerts.models import NightlyRun
from handoff.alerts.rules import LiveAlert, Score, Thresholds, decide
from handoff.alerts.store import Members
from handoff.clock import naive_utcnow, today
from handoff.errors import HandoffError, NoChampion, NotReady
from handoff.progress import Progress, no_progress
from handoff.redaction import redact
from handoff.settings import AlertSettings
from handoff.store.db import transaction

if TYPE_CHECKING:  # pragma: no cover - typing only
    from sqlalchemy.orm import Session, sessionmaker

    from handoff.loop.service import Estimator
    from handoff.risk.registry import ServedModel

# Problems listed one by one up to this many per kind; the rest are counted, so a run record stays readable.
MAX_PROBLEMS_PER_KIND = 50


class ChurnScorer(Protocol):
    """Scores every account active on `as_of`: a frame indexed by account_id with `probability` and `drivers`.

    A scorer may leave `drivers` empty and offer `explain(account_ids) -> Series of driver tuples`; the run then
    asks it only for the accounts that can raise an alert.
    """

    version: str | None

    def score(self, as_of: date, timings: dict[str, float]) -> pd.DataFrame: ...


class PartitionedScoring(Protocol):
    """Scores and applies the alert rules partition by partition elsewhere (`scale.nightly.score_and_decide` on a
    Dask cluster): the run's score and alert stages in one call; returns the digest items per owner first."""

    def __call__(
        self,
        run_date: date,
        *,
        run: NightlyRun,
        counts: dict[str, int],
        problems: _Problems,
        dry_run: bool,
        timings: dict[str, float],
    ) -> tuple[dict[str, list[DigestItem]], pd.DataFrame]: ...


class ChampionScorer:
    """The champion churn model from the registry, on point-in-time features built from the CRM tables.

    `champion` loads the served model (None when none is registered), so the scorer needs no registry settings.
    """

    def __init__(self, sessions: sessionmaker[Session], champion: Callable[[], ServedModel | None]) -> None:
        self.sessions = sessions
        self.champion = champion
        self.version: str | None = None
        self._model: ServedModel | None = None
        self._features: pd.DataFrame | None = None

    def load(self) -> ServedModel:
        self._model = self.champion()
        if self._model is None:
            raise NoChampion("no champion churn model; train one with `handoff train`")
        self.version = str(self._model.version)
        return self._model

    def score(self, as_of: date, timings: dict[str, float]) -> pd.DataFrame:
        from handoff.alerts.scoring import decode_index, encode_account_ids
        from handoff.risk.features import account_features
        from handoff.risk.store import load_frames

        model = self._model or self.load()
        with _timed(timings, "load_frames"), self.sessions() as session:
            frames = load_frames(session)
        with _timed(timings, "features"):
            encoded, ids = encode_account_ids(frames)
            features = self._features = decode_index(account_features(encoded, as_of), ids)
        with _timed(timings, "score"):
            probability = model.predict(features)
        frame = pd.DataFrame({"probability": probability}, index=features.index)
        frame["drivers"] = [() for _ in range(len(frame))]
        return frame

    def explain(self, account_ids: list[str]) -> pd.Series:
        """Top drivers in plain words for these accounts (a contribution pass: only for alert candidates)."""
        from handoff.risk.service import score_churn

        if self._model is None or self._features is None:
            raise NotReady("explain() needs score() first: it explains the accounts of the last scoring")
        subset = self._features.loc[account_ids]
        return normalise_scores(score_churn({"churn": self._model}, subset, top=3))["drivers"]


def normalise_scores(scored: pd.DataFrame) -> pd.DataFrame:
    """The columns the alerts need, whatever extra the risk service adds: `probability` and a list of `drivers`."""
    frame = scored.copy()
    if "account_id" in frame.columns:
        frame = frame.set_index("account_id")
    frame.index = frame.index.astype(str)
    if "probability" not in frame.columns:
        for name in ("churn_probability", "p_churn", "score"):
            if name in frame.columns:
                frame["probability"] = frame[name]
                break
    if "drivers" not in frame.columns:
        for name in ("top_drivers", "reasons", "explanation"):
            if name in frame.columns:
                frame["drivers"] = frame[name]
                break
        else:
            frame["drivers"] = [[] for _ in range(len(frame))]
    frame["drivers"] = [_plain_drivers(value) for value in frame["drivers"]]
    return frame[["probability", "drivers"]]


def _plain_drivers(value: Any) -> tuple[str, ...]:
    if value is None or isinstance(value, float):
        return ()
    if isinstance(value, str):
        return (value,)
    words = []
    for driver in value:
        if isinstance(driver, dict):
            words.append(str(driver.get("text") or driver.get("words") or driver.get("description") or driver))
        else:
            words.append(str(driver))
    return tuple(words[:5])


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(timings.get(stage, 0.0) + time.perf_counter() - started, 4)


@dataclass
class _Problems:
    items: list[dict] = field(default_factory=list)
    per_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, kind: str, detail: str, **where: Any) -> None:
        self.per_kind[kind] += 1
        if self.per_kind[kind] <= MAX_PROBLEMS_PER_KIND:
            # The run record is printed as JSON and stored: no URL path or token from an error may reach it.
            self.items.append({"kind": kind, "detail": redact(detail), **where})

    def as_list(self) -> list[dict]:
        extra = [
            {"kind": kind, "detail": f"{count - MAX_PROBLEMS_PER_KIND} more of this kind not listed", "more": True}
            for kind, count in self.per_kind.items()
            if count > MAX_PROBLEMS_PER_KIND
        ]
        return self.items + extra


@dataclass
class _Night:
    """What one run carries from stage to stage: where it reads and writes, what it counts, what went wrong."""

    sessions: sessionmaker[Session]
    settings: AlertSettings
    run: NightlyRun
    dry_run: bool
    progress: Progress
    problems: _Problems
    counts: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def run_date(self) -> date:
        return self.run.run_date


@dataclass(frozen=True)
class _Retries:
    """How hard a digest is pushed at a channel that fails."""

    max_attempts: int
    backoff_s: float
    sleep: Callable[[float], None]


class _StageFailed(Exception):
    """A stage broke: its problem is in the run record and the stages after it do not run."""


@contextmanager
def _stage(night: _Night, name: str) -> Iterator[None]:
    """One stage of the run: whatever breaks it becomes the run's problem, named by the error's type."""
    try:
        yield
        return
    except NoChampion as error:
        night.problems.add("no_champion", str(error))
    except NotReady as error:
        night.problems.add(f"{name}_not_ready", str(error))
    except HandoffError as error:
        night.problems.add(f"{name}_failed", str(error))
    except Exception as error:  # the run record must say what broke instead of a traceback in cron mail
        night.problems.add(f"{name}_failed", f"{type(error).__name__}: {error}")
    night.run.status = "failed"
    raise _StageFailed(name)


def _default_run_date(sessions: sessionmaker[Session]) -> date:
    """Today, or the day after the CRM data ends when the export is older: scoring past the data's end would read
    every quiet day as lost usage and alert on everyone."""
    try:
        from handoff.risk.service import default_as_of

        with sessions() as session:
            return default_as_of(session)
    except Exception:  # a missing table or module: today is the honest default, and scoring will say what is wrong
        return today()


def run_nightly(
    sessions: sessionmaker[Session],
    settings: AlertSettings,
    *,
    scorer: ChurnScorer | None = None,
    partitioned: PartitionedScoring | None = None,
    loop_estimator: Callable[[date], Estimator] | None = None,
    run_date: date | None = None,
    dry_run: bool = False,
    progress: Progress = no_progress,
    channels: list[Channel] | None = None,
    max_attempts: int = 3,
    backoff_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> NightlyRun:
    """One nightly run for `run_date` (default: today, UTC). Never raises for bad data or a failing channel:
    everything goes into the returned (and stored) run record.

    Scores come from `scorer` in this process, or (without one) from `partitioned`, which scores and decides
    elsewhere. `loop_estimator(run_date)` prices won deals for the CRM <-> project loop, which runs first when it
    is given and the run is not dry. `wiring.nightly_job` builds all three from Settings.
    """
    if (scorer is None) == (partitioned is None):
        raise TypeError("run_nightly needs exactly one of scorer (local) or partitioned (elsewhere)")
    problems = _Problems()
    if run_date is None:
        run_date = _default_run_date(sessions)
        if run_date != today():
            problems.add("stale_data", f"the CRM data ends before today; scored as of {run_date.isoformat()}")
    run = NightlyRun(id=uuid.uuid4().hex, run_date=run_date, dry_run=dry_run, status="ok", started_at=naive_utcnow())
    night = _Night(sessions, settings, run, dry_run, progress, problems)
    started = time.perf_counter()

    try:
        if loop_estimator is not None and not dry_run:
            with _stage(night, "loop"), _timed(night.timings, "loop"):
                _run_loop(night, loop_estimator(run_date))
        if scorer is None:
            assert partitioned is not None  # checked on entry
            with _stage(night, "score"), _timed(night.timings, "score_and_alerts"):
                items_by_owner, _ = partitioned(
                    run_date, run=run, counts=night.counts, problems=problems, dry_run=dry_run,
                    timings=night.timings,
                )  # fmt: skip
        else:
            with _stage(night, "score"):  # the scorer times its own steps (frames, features, score)
                scores = _score(night, scorer)
            with _stage(night, "alerts"), _timed(night.timings, "alerts"):
                items_by_owner = _apply_alerts(night, scores, scorer)
        with _stage(night, "digests"), _timed(night.timings, "digests"):
            chosen = channels if channels is not None else configured_channels(settings)
            _send_digests(night, items_by_owner, chosen, _Retries(max_attempts, backoff_s, sleep))
    except _StageFailed:
        pass  # the stage's problem is recorded and the run marked failed; the record below is still written

    run.counts = dict(night.counts)
    run.problems = problems.as_list()
    run.stage_seconds = night.timings
    if run.status != "failed":
        if night.counts.get("deliveries_failed"):
            run.status = "degraded"
        elif run.problems:
            run.status = "warnings"
    run.finished_at = naive_utcnow()
    run.duration_s = round(time.perf_counter() - started, 3)
    if not dry_run:
        with transaction(sessions) as session:
            store.record_run(session, run)
    return run


def _run_loop(night: _Night, estimator: Estimator) -> None:
    from handoff.loop.service import sync_loop

    report = sync_loop(night.sessions, as_of=night.run_date, settings=night.settings, estimator=estimator)
    for key, value in report.counts.items():
        night.counts[f"loop_{key}"] = value
    for problem in report.problems:
        night.problems.add(
            problem.get("kind", "loop"),
            problem.get("detail", ""),
            **{k: v for k, v in problem.items() if k not in ("kind", "detail")},
        )


def _score(night: _Night, scorer: ChurnScorer) -> pd.DataFrame:
    if isinstance(scorer, ChampionScorer):
        scorer.load()
    night.run.model_version = scorer.version
    scores = scorer.score(night.run_date, night.timings)
    night.counts["accounts_scored"] = len(scores)
    return scores


def _apply_alerts(night: _Night, scores: pd.DataFrame, scorer: ChurnScorer) -> dict[str, list[DigestItem]]:
    """Alerts opened, updated or re-opened from today's scores; what each owner is to be told, by owner."""
    counts, problems, run_date = night.counts, night.problems, night.run_date
    thresholds = Thresholds(churn=night.settings.churn_threshold, jump=night.settings.jump_threshold)
    items_by_owner: dict[str, list[DigestItem]] = defaultdict(list)
    with transaction(night.sessions) as session:
        previous = store.previous_scores(session, run_date)
        live = store.live_alerts(session)
        by_account, by_member = store.owners(session)

        probabilities = scores["probability"].astype(float)
        previous_p = probabilities.index.map(lambda account: previous.get(account, (float("nan"),))[0])
        jumped = (probabilities.to_numpy() - previous_p.to_numpy(dtype=float)) >= thresholds.jump
        # Only accounts that raise a cause or already hold a live alert need the per-account rules.
        candidates = set(probabilities.index[(probabilities >= thresholds.churn).to_numpy() | jumped]) | (
            set(live) & set(probabilities.index)
        )
        counts["alert_candidates"] = len(candidates)
        drivers = scores["drivers"]
        explain = getattr(scorer, "explain", None)
        if explain is not None and candidates:
            with _timed(night.timings, "drivers"):
                explained = dict(explain(sorted(candidates)).items())
                # Stored with the scores, so tomorrow's run can say which drivers are new.
                scores = scores.assign(
                    drivers=[explained.get(a, d) for a, d in zip(scores.index, scores["drivers"], strict=True)]
                )
                drivers = scores["drivers"]
        for account_id in night.progress(sorted(candidates), "alerts", len(candidates)):
            before = previous.get(account_id)
            score = Score(
                account_id=account_id,
                probability=float(probabilities[account_id]),
                drivers=tuple(drivers[account_id]),
                previous_probability=before[0] if before else None,
                previous_drivers=before[1] if before else (),
            )
            decide_account(
                session,
                score,
                live.get(account_id, {}),
                owner=by_account.get(account_id, (None, account_id)),
                members=by_member,
                run_date=run_date,
                thresholds=thresholds,
                counts=counts,
                problems=problems,
                dry_run=night.dry_run,
                items_by_owner=items_by_owner,
            )
        counts["accounts_without_owner"] = sum(
            1 for account in probabilities.index if by_account.get(account, (None,))[0] is None
        )
        if not night.dry_run:
            store.store_scores(session, run_date, scores, night.run.model_version)
    return items_by_owner


def decide_account(
    session: Session,
    score: Score,
    live: dict[str, LiveAlert],
    *,
    owner: tuple[str | None, str],
    members: Members,
    run_date: date,
    thresholds: Thresholds,
    counts: dict[str, int],
    problems: _Problems,
    dry_run: bool,
    items_by_owner: dict[str, list[DigestItem]],
) -> None:
    """The rules on one candidate account's score: writes its alert decisions and queues what its owner is told.

    Both engines call it (the Dask engine per candidate its partitions return), so their alerts cannot differ.
    """
    owner_id, account_name = owner
    account_id = score.account_id
    if owner_id is not None and owner_id not in members:
        problems.add("unknown_owner", f"owner {owner_id} is not a team member", account_id=account_id)
        owner_id = None
    for decision in decide(score, live, run_date, thresholds):
        counts[f"alerts_{decision.action}"] += 1
        alert_id = decision.alert_id or uuid.uuid4().hex
        if not dry_run:
            store.write_decision(
                session, decision, alert_id=alert_id, score=score, owner_id=owner_id, run_date=run_date
            )
        if decision.announce is None:
            continue
        if owner_id is None:
            problems.add(
                "account_without_owner",
                "alert raised but the account has no owner to tell",
                account_id=account_id,
                alert_id=alert_id,
            )
            continue
        items_by_owner[owner_id].append(
            DigestItem(
                alert_id=alert_id,
                account_id=account_id,
                account_name=account_name,
                cause=decision.cause,
                why=decision.announce,
                probability=score.probability,
                previous_probability=score.previous_probability,
                drivers=score.drivers,
                change=decision.changes["text"],
            )
        )


def _send_digests(
    night: _Night, items_by_owner: dict[str, list[DigestItem]], channels: list[Channel], retries: _Retries
) -> None:
    """One digest per owner and date, sent to every channel it has not reached yet."""
    counts, problems, run_date = night.counts, night.problems, night.run_date
    with transaction(night.sessions) as session:
        _, by_member = store.owners(session)
        owners = {owner_id: by_member.get(owner_id, (owner_id, None)) for owner_id in items_by_owner}
        fresh = group_digests(run_date, items_by_owner, owners)
        counts["digests_composed"] = len(fresh)
        if night.dry_run:
            return
        existing = store.owners_with_a_digest(session, run_date)
        for digest in fresh:
            if digest.owner_id in existing:
                continue  # one message per owner per run date, even when a re-run finds something new
            store.add_digest(session, run_date, digest)
        # Every digest of the date, new or from an earlier attempt, goes to each channel it has not reached yet.
        stored = store.digests_of(session, run_date)
        done = store.sent_deliveries(session, [row.id for row in stored])
    jobs: list[tuple[str, Digest, Channel]] = []
    for row in stored:
        digest = digest_from_payload(row.payload, row.recipient)
        # The address may have been fixed since the digest was stored.
        email = by_member.get(row.owner_id, (None, None))[1]
        digest = Digest(digest.run_date, digest.owner_id, digest.owner_name, email or row.recipient, digest.items)
        for channel in channels:
            if (row.id, channel.name) in done:
                continue
            if channel.name == "email" and not digest.recipient:
                problems.add("owner_without_email", "digest not emailed: the owner has no email", owner_id=row.owner_id)
                counts["deliveries_skipped"] += 1
                continue
            jobs.append((row.id, digest, channel))

    by_id = {row.id: row for row in stored}

    def attempt(job: tuple[str, Digest, Channel]) -> tuple[str, Delivery]:
        digest_id, digest, channel = job
        delivery = deliver(
            channel, digest, max_attempts=retries.max_attempts, backoff_s=retries.backoff_s, sleep=retries.sleep
        )
        return digest_id, delivery

    # Threads: a slow or dead channel waits out its retries without holding up the other channels.
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(night.progress(pool.map(attempt, jobs), "digests", len(jobs)))
    with transaction(night.sessions) as session:
        for digest_id, delivery in outcomes:
            store.record_delivery(session, by_id[digest_id], delivery)
            if delivery.ok:
                counts["deliveries_sent"] += 1
                counts[f"sent_{delivery.channel}"] += 1
            else:
                counts["deliveries_failed"] += 1
                problems.add(
                    "channel_failed",
                    f"{delivery.channel} failed after {delivery.attempts} attempts: {delivery.error}",
                    channel=delivery.channel,
                    digest_id=digest_id,
                )
