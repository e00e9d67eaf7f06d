"""The nightly job: score every active account, open or update alerts, send each owner one digest, record the run."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol, TypeVar

import pandas as pd
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from handoff.alerts.channels import Channel, Delivery, configured_channels, deliver
from handoff.alerts.digest import Digest, DigestItem, digest_from_payload, group_digests
from handoff.alerts.models import NightlyRun
from handoff.alerts.rules import Decision, LiveAlert, Score, Thresholds, decide
from handoff.alerts.service import record_event, utcnow
from handoff.alerts.tables import alert_deliveries, alert_digests, alert_runs, alert_scores, alerts
from handoff.errors import HandoffError, NotReady
from handoff.redaction import redact
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.wiring import Parts

T = TypeVar("T")
Progress = Callable[[Iterable[T], str, int | None], Iterable[T]]
SYSTEM_ACTOR = "nightly"
# Problems listed one by one up to this many per kind; the rest are counted, so a run record stays readable.
MAX_PROBLEMS_PER_KIND = 50


def _no_progress(items: Iterable[T], description: str, total: int | None = None) -> Iterable[T]:
    return items


class ChurnScorer(Protocol):
    """Scores every account active on `as_of`: a frame indexed by account_id with `probability` and `drivers`.

    A scorer may leave `drivers` empty and offer `explain(account_ids) -> Series of driver tuples`; the run then
    asks it only for the accounts that can raise an alert.
    """

    version: str | None

    def score(self, as_of: date, timings: dict[str, float]) -> Any: ...


class ChampionScorer:
    """The champion churn model from the registry, on point-in-time features built from the CRM tables."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.version: str | None = None
        self._model = None
        self._features = None

    def load(self) -> None:
        from handoff.risk.registry import load_champion

        self._model = load_champion(self.parts.settings, "churn")
        if self._model is None:
            raise NotReady("no champion churn model; train one with `handoff train`")
        self.version = str(self._model.version)

    def score(self, as_of: date, timings: dict[str, float]) -> Any:
        from handoff.alerts.scoring import decode_index, encode_account_ids
        from handoff.risk.features import account_features, load_frames

        if self._model is None:
            self.load()
        with _timed(timings, "load_frames"):
            frames = load_frames(self.parts.engine)
        with _timed(timings, "features"):
            encoded, ids = encode_account_ids(frames)
            self._features = decode_index(account_features(encoded, as_of), ids)
        with _timed(timings, "score"):
            probability = self._model.predict(self._features)
        frame = pd.DataFrame({"probability": probability}, index=self._features.index)
        frame["drivers"] = [() for _ in range(len(frame))]
        return frame

    def explain(self, account_ids: list[str]) -> Any:
        """Top drivers in plain words for these accounts (a contribution pass: only for alert candidates)."""
        from handoff.risk.service import score_churn

        subset = self._features.loc[account_ids]
        return normalise_scores(score_churn({"churn": self._model}, subset, top=3))["drivers"]


def normalise_scores(scored: Any) -> Any:
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


def today_utc() -> date:
    return datetime.now(UTC).date()


def _default_run_date(parts: Parts) -> date:
    """Today, or the day after the CRM data ends when the export is older: scoring past the data's end would read
    every quiet day as lost usage and alert on everyone."""
    try:
        from handoff.risk.service import default_as_of

        with parts.sessions() as session:
            return default_as_of(session)
    except Exception:  # a missing table or module: today is the honest default, and scoring will say what is wrong
        return today_utc()


def run_nightly(
    parts: Parts,
    *,
    run_date: date | None = None,
    dry_run: bool = False,
    progress: Progress = _no_progress,
    scorer: ChurnScorer | None = None,
    channels: list[Channel] | None = None,
    sync_loop: bool = True,
    max_attempts: int = 3,
    backoff_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    engine: str | None = None,
) -> NightlyRun:
    """One nightly run for `run_date` (default: today, UTC). Never raises for bad data or a failing channel:
    everything goes into the returned (and stored) run record. `engine` (default: `HANDOFF_ENGINE`): "local" scores
    in this process, "dask" scores and decides partition by partition on a Dask cluster (`scale.nightly`)."""
    settings = parts.settings.alerts
    on_dask = (engine or parts.settings.engine) == "dask" and scorer is None
    problems = _Problems()
    if run_date is None:
        run_date = _default_run_date(parts)
        if run_date != today_utc():
            problems.add("stale_data", f"the CRM data ends before today; scored as of {run_date.isoformat()}")
    run = NightlyRun(id=uuid.uuid4().hex, run_date=run_date, dry_run=dry_run, status="ok", started_at=utcnow())
    counts: dict[str, int] = defaultdict(int)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    stages = ["loop", "score", "alerts", "digests"]
    for stage in progress(stages, "nightly", len(stages)):
        try:
            if stage == "loop" and sync_loop and not dry_run:
                with _timed(timings, "loop"):
                    _run_loop(parts, run_date, counts, problems)
            elif stage == "score" and on_dask:
                from handoff.scale.nightly import score_and_decide

                with _timed(timings, "score_and_alerts"):
                    items_by_owner, _ = score_and_decide(
                        parts, run_date, run=run, counts=counts, problems=problems, dry_run=dry_run, timings=timings
                    )
            elif stage == "score":
                scorer = scorer or ChampionScorer(parts)
                if isinstance(scorer, ChampionScorer):
                    scorer.load()
                run.model_version = scorer.version
                scores = scorer.score(run_date, timings)
                counts["accounts_scored"] = len(scores)
            elif stage == "alerts" and not on_dask:
                with _timed(timings, "alerts"):
                    items_by_owner = _apply_alerts(
                        parts, run_date, scores, run, counts, problems, dry_run, progress, scorer, timings
                    )
            elif stage == "digests":
                with _timed(timings, "digests"):
                    _send_digests(
                        parts,
                        run_date,
                        items_by_owner,
                        channels if channels is not None else configured_channels(settings),
                        counts,
                        problems,
                        dry_run,
                        progress,
                        max_attempts=max_attempts,
                        backoff_s=backoff_s,
                        sleep=sleep,
                    )
        except NotReady as error:
            problems.add("no_champion" if "champion" in str(error) else f"{stage}_not_ready", str(error))
            run.status = "failed"
            break
        except HandoffError as error:
            problems.add(f"{stage}_failed", str(error))
            run.status = "failed"
            break
        except Exception as error:  # the run record must say what broke instead of a traceback in cron mail
            problems.add(f"{stage}_failed", f"{type(error).__name__}: {error}")
            run.status = "failed"
            break

    run.counts = dict(counts)
    run.problems = problems.as_list()
    run.stage_seconds = timings
    if run.status != "failed":
        if counts.get("deliveries_failed"):
            run.status = "degraded"
        elif run.problems:
            run.status = "warnings"
    run.finished_at = utcnow()
    run.duration_s = round(time.perf_counter() - clock, 3)
    if not dry_run:
        with transaction(parts.sessions) as session:
            session.execute(insert(alert_runs).values(run.model_dump(exclude={"id"}) | {"id": run.id}))
    return run


def _run_loop(parts: Parts, run_date: date, counts: dict[str, int], problems: _Problems) -> None:
    from handoff.loop.service import sync_loop

    report = sync_loop(parts, as_of=run_date)
    for key, value in report.counts.items():
        counts[f"loop_{key}"] = value
    for problem in report.problems:
        problems.add(
            problem.get("kind", "loop"),
            problem.get("detail", ""),
            **{k: v for k, v in problem.items() if k not in ("kind", "detail")},
        )


def _previous_scores(session: Session, run_date: date) -> tuple[date | None, dict[str, tuple[float, tuple[str, ...]]]]:
    previous_date = session.execute(
        select(func.max(alert_scores.c.run_date)).where(alert_scores.c.run_date < run_date)
    ).scalar_one_or_none()
    if previous_date is None:
        return None, {}
    rows = session.execute(
        select(alert_scores.c.account_id, alert_scores.c.probability, alert_scores.c.drivers).where(
            alert_scores.c.run_date == previous_date
        )
    )
    return previous_date, {row.account_id: (row.probability, tuple(row.drivers or ())) for row in rows}


def _live_alerts(session: Session, *where: Any) -> dict[str, dict[str, LiveAlert]]:
    """Open and snoozed alerts by account and cause (`where`: more conditions, e.g. an account-id range)."""
    live: dict[str, dict[str, LiveAlert]] = defaultdict(dict)
    rows = session.execute(select(alerts).where(alerts.c.status.in_(("open", "snoozed")), *where))
    for row in rows:
        live[row.account_id][row.cause] = LiveAlert(
            id=row.id,
            account_id=row.account_id,
            cause=row.cause,
            status=row.status,
            probability=row.probability,
            last_run_date=row.last_run_date,
            snoozed_until=row.snoozed_until,
            snoozed_probability=row.snoozed_probability,
        )
    return live


def _owners(session: Session) -> tuple[dict[str, tuple[str | None, str]], dict[str, tuple[str, str | None]]]:
    """account_id -> (owner_id, account name); owner_id -> (name, email)."""
    accounts, members = CRM_TABLES["accounts"], CRM_TABLES["team_members"]
    account_rows = session.execute(select(accounts.c.id, accounts.c.owner_id, accounts.c.name))
    by_account = {row.id: (row.owner_id or None, row.name or row.id) for row in account_rows}
    member_rows = session.execute(select(members.c.id, members.c.name, members.c.email))
    by_member = {row.id: (row.name or row.id, (row.email or "").strip() or None) for row in member_rows}
    return by_account, by_member


def _apply_alerts(
    parts: Parts,
    run_date: date,
    scores: Any,
    run: NightlyRun,
    counts: dict[str, int],
    problems: _Problems,
    dry_run: bool,
    progress: Progress,
    scorer: Any,
    timings: dict[str, float],
) -> dict[str, list[DigestItem]]:
    settings = parts.settings.alerts
    thresholds = Thresholds(churn=settings.churn_threshold, jump=settings.jump_threshold)
    items_by_owner: dict[str, list[DigestItem]] = defaultdict(list)
    with transaction(parts.sessions) as session:
        _, previous = _previous_scores(session, run_date)
        live = _live_alerts(session)
        by_account, by_member = _owners(session)

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
            with _timed(timings, "drivers"):
                explained = dict(explain(sorted(candidates)).items())
                # Stored with the scores, so tomorrow's run can say which drivers are new.
                scores = scores.assign(
                    drivers=[explained.get(a, d) for a, d in zip(scores.index, scores["drivers"], strict=True)]
                )
                drivers = scores["drivers"]
        for account_id in progress(sorted(candidates), "alerts", len(candidates)):
            before = previous.get(account_id)
            score = Score(
                account_id=account_id,
                probability=float(probabilities[account_id]),
                drivers=tuple(drivers[account_id]),
                previous_probability=before[0] if before else None,
                previous_drivers=before[1] if before else (),
            )
            owner_id, account_name = by_account.get(account_id, (None, account_id))
            decide_account(
                session,
                score,
                live.get(account_id, {}),
                owner=(owner_id, account_name),
                members=by_member,
                run_date=run_date,
                thresholds=thresholds,
                counts=counts,
                problems=problems,
                dry_run=dry_run,
                items_by_owner=items_by_owner,
            )
        counts["accounts_without_owner"] = sum(
            1 for account in probabilities.index if by_account.get(account, (None,))[0] is None
        )
        if not dry_run:
            _store_scores(session, run_date, scores, run.model_version)
    return items_by_owner


def decide_account(
    session: Session,
    score: Score,
    live: dict[str, LiveAlert],
    *,
    owner: tuple[str | None, str],
    members: dict[str, tuple[str, str | None]],
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
            _write_decision(session, decision, alert_id, score, owner_id, run_date)
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


def _write_decision(
    session: Session, decision: Decision, alert_id: str, score: Score, owner_id: str | None, run_date: date
) -> None:
    now = utcnow()
    values = {
        "probability": score.probability,
        "previous_probability": score.previous_probability,
        "drivers": list(score.drivers),
        "changes": decision.changes,
        "last_run_date": run_date,
        "owner_id": owner_id,
        "updated_at": now,
    }
    detail = {"probability": round(score.probability, 4), "change": decision.changes["text"]}
    if decision.action == "open":
        session.execute(
            insert(alerts).values(
                id=alert_id,
                account_id=decision.account_id,
                cause=decision.cause,
                status="open",
                live_key=f"{decision.account_id}:{decision.cause}",
                opened_on=run_date,
                **values,
            )
        )
        record_event(session, alert_id, "opened", actor=SYSTEM_ACTOR, detail=detail, run_date=run_date)
    elif decision.action == "reopen":
        session.execute(
            update(alerts)
            .where(alerts.c.id == alert_id)
            .values(status="open", snoozed_until=None, snoozed_probability=None, **values)
        )
        detail["lifted"] = decision.changes.get("lifted")
        record_event(session, alert_id, "unsnoozed", actor=SYSTEM_ACTOR, detail=detail, run_date=run_date)
    elif decision.action == "update":
        session.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))
        record_event(session, alert_id, "updated", actor=SYSTEM_ACTOR, detail=detail, run_date=run_date)


def _emit_digest_sent(session: Session, row: Any, channel: str) -> None:
    """`digest.sent` once per digest and channel it reached, in the transaction that records the delivery."""
    from handoff.events.outbox import Resource, emit

    payload = row.payload or {}
    data = {
        "id": row.id,
        "run_date": row.run_date,
        "owner_id": row.owner_id,
        "owner_name": payload.get("owner_name"),
        "recipient": row.recipient,
        "channel": channel,
        "subject": row.subject,
        "alerts": payload.get("alerts", []),
    }
    emit(session, "digest.sent", lambda: [Resource(f"digest:{row.id}", data)])


def _store_scores(session: Session, run_date: date, scores: Any, model_version: str | None) -> None:
    session.execute(delete(alert_scores).where(alert_scores.c.run_date == run_date))
    rows = [
        {
            "run_date": run_date,
            "account_id": account_id,
            "probability": float(probability),
            "drivers": list(drivers),
            "model_version": model_version,
        }
        for account_id, probability, drivers in zip(scores.index, scores["probability"], scores["drivers"], strict=True)
    ]
    for start in range(0, len(rows), 5000):
        session.execute(insert(alert_scores), rows[start : start + 5000])


def _send_digests(
    parts: Parts,
    run_date: date,
    items_by_owner: dict[str, list[DigestItem]],
    channels: list[Channel],
    counts: dict[str, int],
    problems: _Problems,
    dry_run: bool,
    progress: Progress,
    *,
    max_attempts: int,
    backoff_s: float,
    sleep: Callable[[float], None],
) -> None:
    with transaction(parts.sessions) as session:
        _, by_member = _owners(session)
        owners = {owner_id: by_member.get(owner_id, (owner_id, None)) for owner_id in items_by_owner}
        fresh = group_digests(run_date, items_by_owner, owners)
        counts["digests_composed"] = len(fresh)
        if dry_run:
            return
        existing = {
            row.owner_id
            for row in session.execute(select(alert_digests.c.owner_id).where(alert_digests.c.run_date == run_date))
        }
        for digest in fresh:
            if digest.owner_id in existing:
                continue  # one message per owner per run date, even when a re-run finds something new
            session.execute(
                insert(alert_digests).values(
                    id=uuid.uuid4().hex,
                    run_date=run_date,
                    owner_id=digest.owner_id,
                    recipient=digest.recipient,
                    payload=digest.as_payload(),
                    subject=digest.subject,
                    body=digest.text,
                    created_at=utcnow(),
                )
            )
        # Every digest of the date, new or from an earlier attempt, goes to each channel it has not reached yet.
        stored = session.execute(select(alert_digests).where(alert_digests.c.run_date == run_date)).all()
        done = {
            (row.digest_id, row.channel)
            for row in session.execute(
                select(alert_deliveries.c.digest_id, alert_deliveries.c.channel).where(
                    alert_deliveries.c.digest_id.in_([row.id for row in stored]), alert_deliveries.c.status == "sent"
                )
            )
        }
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
        return digest_id, deliver(channel, digest, max_attempts=max_attempts, backoff_s=backoff_s, sleep=sleep)

    # Threads: a slow or dead channel waits out its retries without holding up the other channels.
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(progress(pool.map(attempt, jobs), "digests", len(jobs)))
    with transaction(parts.sessions) as session:
        for digest_id, delivery in outcomes:
            session.execute(
                delete(alert_deliveries).where(
                    alert_deliveries.c.digest_id == digest_id, alert_deliveries.c.channel == delivery.channel
                )
            )
            session.execute(
                insert(alert_deliveries).values(
                    digest_id=digest_id,
                    channel=delivery.channel,
                    status="sent" if delivery.ok else "failed",
                    attempts=delivery.attempts,
                    last_error=delivery.error,
                    sent_at=utcnow() if delivery.ok else None,
                )
            )
            if delivery.ok:
                counts["deliveries_sent"] += 1
                counts[f"sent_{delivery.channel}"] += 1
                _emit_digest_sent(session, by_id[digest_id], delivery.channel)
            else:
                counts["deliveries_failed"] += 1
                problems.add(
                    "channel_failed",
                    f"{delivery.channel} failed after {delivery.attempts} attempts: {delivery.error}",
                    channel=delivery.channel,
                    digest_id=digest_id,
                )
