"""Where one estimate's time goes, in process: each stage of `risk.service.estimate`, timed as it runs in turn.

Each round makes one real estimate (read, score, explain, store, commit) and the same work stage by stage, taking
turns at going first, so every stage runs with the caches as warm or cold as the others leave them, as in a
request. What the stages do not cover (the answer's object, the insert and the commit) is the total less their sum.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from typing import Any

CALLS = 300
WARM_UP = 30


def estimate_stages(settings: Any, deal_id: str, calls: int = CALLS) -> dict[str, float]:
    """Median milliseconds of each stage of one estimate for `deal_id`, and of the whole call, over `calls` rounds."""
    from handoff.risk import similar
    from handoff.risk.registry import load_champions
    from handoff.risk.schemas import EstimateBrief
    from handoff.risk.service import ESTIMATE_MODELS, brief_features, estimate
    from handoff.store.db import transaction
    from handoff.wiring import Parts

    parts = Parts(settings)
    models = load_champions(settings, ESTIMATE_MODELS)
    brief = EstimateBrief(deal_id=deal_id)
    laps: dict[str, list[float]] = {}

    def lap(stage: str, started: float) -> float:
        now = time.perf_counter()
        laps.setdefault(stage, []).append(now - started)
        return now

    def whole() -> None:
        started = time.perf_counter()
        with transaction(parts.sessions) as session:
            estimate(session, models, brief)
        lap("whole estimate, stored", started)

    def by_stage() -> None:
        as_of = datetime.now(UTC).date()
        with parts.sessions() as session:
            started = time.perf_counter()
            _, record, history = brief_features(session, brief, as_of)
            started = lap("CRM reads and kickoff features", started)
            for name in ESTIMATE_MODELS:
                models[name].bundle.predict_explain_row(record, top=5)
                started = lap(f"{name}: P10/P50/P90 or probability, with factors", started)
            similar.similar_projects(record, history, as_of, k=3)
            lap("3 similar projects", started)

    try:
        for round_number in range(WARM_UP + calls):
            if round_number == WARM_UP:
                laps.clear()
            # Whichever runs second finds the caches warmer: take turns, so neither side gets that for free.
            for work in (whole, by_stage) if round_number % 2 else (by_stage, whole):
                work()
    finally:
        parts.close()
    medians = {stage: round(statistics.median(times) * 1000, 3) for stage, times in laps.items()}
    total = medians.pop("whole estimate, stored")
    medians["the rest: the answer, its insert and the commit"] = round(total - sum(medians.values()), 3)
    return {**medians, "whole estimate, stored": total}
