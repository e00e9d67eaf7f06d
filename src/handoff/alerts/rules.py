"""Alert rules (pure): which causes a score raises, and how it opens, updates, re-opens or leaves an alert alone.

One live alert per account and cause. A repeat updates the live one. A snoozed alert stays quiet until its end
date, unless the risk jumps by `jump_threshold` above the risk it was snoozed at. A second run for the same date
changes nothing, so nothing is announced twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

CAUSES = ("threshold", "jump")
# An open alert is announced again only when its risk rose at least this much since it was last seen; smaller
# moves are the model's day-to-day noise and would make the digest repeat itself.
RISKIER_DELTA = 0.05


@dataclass(frozen=True)
class Thresholds:
    churn: float
    jump: float


@dataclass(frozen=True)
class Score:
    account_id: str
    probability: float
    drivers: tuple[str, ...]
    previous_probability: float | None = None
    previous_drivers: tuple[str, ...] = ()


@dataclass(frozen=True)
class LiveAlert:
    id: str
    account_id: str
    cause: str
    status: str  # open or snoozed
    probability: float
    last_run_date: date
    snoozed_until: date | None = None
    snoozed_probability: float | None = None


@dataclass(frozen=True)
class Decision:
    """What to do with one (account, cause). `announce` says why it goes into today's digest, or None."""

    action: str  # open, update, reopen, unchanged
    account_id: str
    cause: str
    alert_id: str | None
    announce: str | None  # opened, reopened, riskier
    changes: dict = field(default_factory=dict)


def causes_for(score: Score, thresholds: Thresholds) -> list[str]:
    causes = []
    if score.probability >= thresholds.churn:
        causes.append("threshold")
    if score.previous_probability is not None and score.probability - score.previous_probability >= thresholds.jump:
        causes.append("jump")
    return causes


def describe_changes(score: Score) -> dict:
    """What changed since the last run, as data and as one sentence for the digest."""
    new = [d for d in score.drivers if d not in score.previous_drivers]
    gone = [d for d in score.previous_drivers if d not in score.drivers]
    if score.previous_probability is None:
        text = f"first score: {score.probability:.0%}"
        delta = None
    else:
        delta = score.probability - score.previous_probability
        verb = "rose" if delta > 0.005 else "fell" if delta < -0.005 else "held"
        text = f"risk {verb} from {score.previous_probability:.0%} to {score.probability:.0%} ({delta * 100:+.0f} pts)"
        if new:
            text += "; new: " + "; ".join(new)
    return {
        "previous_probability": score.previous_probability,
        "probability": score.probability,
        "delta": delta,
        "new_drivers": new,
        "dropped_drivers": gone,
        "text": text,
    }


def decide(score: Score, live: dict[str, LiveAlert], run_date: date, thresholds: Thresholds) -> list[Decision]:
    """Decisions for one account: `live` maps cause -> its live (open or snoozed) alert."""
    changes = describe_changes(score)
    raised = causes_for(score, thresholds)
    decisions = []
    for cause in CAUSES:
        alert = live.get(cause)
        if alert is None:
            if cause in raised:
                decisions.append(Decision("open", score.account_id, cause, None, "opened", changes))
            continue
        if alert.last_run_date >= run_date:
            # Already seen on this date (a re-run) or on a later one (a backfill): leave it exactly as it is.
            decisions.append(Decision("unchanged", score.account_id, cause, alert.id, None, changes))
            continue
        decisions.append(_update(alert, score, cause in raised, run_date, thresholds, changes))
    return decisions


def _update(
    alert: LiveAlert, score: Score, still_raised: bool, run_date: date, thresholds: Thresholds, changes: dict
) -> Decision:
    if alert.status == "snoozed":
        expired = alert.snoozed_until is not None and alert.snoozed_until < run_date
        base = alert.snoozed_probability if alert.snoozed_probability is not None else alert.probability
        jumped = score.probability - base >= thresholds.jump
        if jumped:
            lifted = {**changes, "lifted": "jump"}
            return Decision("reopen", score.account_id, alert.cause, alert.id, "reopened", lifted)
        if expired:
            lifted = {**changes, "lifted": "expired"}
            announce = "reopened" if still_raised else None
            return Decision("reopen", score.account_id, alert.cause, alert.id, announce, lifted)
        return Decision("update", score.account_id, alert.cause, alert.id, None, changes)
    riskier = still_raised and score.probability - alert.probability >= RISKIER_DELTA
    return Decision("update", score.account_id, alert.cause, alert.id, "riskier" if riskier else None, changes)
