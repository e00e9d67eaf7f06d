"""The one place that builds concrete parts (engine, sessions) from Settings; the API, CLI and jobs start here."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from handoff.settings import Settings
from handoff.store.db import make_engine, make_session_factory

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.alerts.models import NightlyRun
    from handoff.alerts.nightly import ChampionScorer, ChurnScorer


@dataclass
class Parts:
    """What a running handoff needs; created once per process, never at import."""

    settings: Settings

    def __post_init__(self) -> None:
        from handoff.redaction import protect

        protect(self.settings.secret_values())

    @cached_property
    def engine(self) -> Engine:
        self.settings.ensure_home()
        return make_engine(self.settings.resolved_database_url, busy_timeout_s=self.settings.database_busy_timeout_s)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    def migrate(self) -> None:
        from handoff.store.migrate import upgrade

        self.settings.ensure_home()
        upgrade(self.settings.resolved_database_url)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


def build(settings: Settings | None = None) -> Parts:
    return Parts(settings or Settings())


def churn_scorer(parts: Parts) -> ChampionScorer:
    """The nightly's champion churn scorer: the CRM tables from these parts' store, the model from their registry."""
    from handoff.alerts.nightly import ChampionScorer
    from handoff.risk.registry import load_champion

    return ChampionScorer(parts.sessions, partial(load_champion, parts.settings, "churn"))


def nightly_job(
    parts: Parts,
    *,
    engine: str | None = None,
    scorer: ChurnScorer | None = None,
    sync_loop: bool = True,
    **options: Any,
) -> NightlyRun:
    """The nightly run (`alerts.nightly.run_nightly`) with its parts built from Settings: the champion scorer, or
    on `engine` "dask" (default: `HANDOFF_ENGINE`) the partitioned scoring of `scale.nightly`, and the champions'
    estimator for the loop unless `sync_loop` is off. `options` go to `run_nightly` as they are."""
    from handoff.alerts.nightly import run_nightly
    from handoff.loop.service import ChampionEstimator

    partitioned = None
    if scorer is None and (engine or parts.settings.engine) == "dask":
        from handoff.scale.nightly import score_and_decide

        partitioned = partial(score_and_decide, parts)
    elif scorer is None:
        scorer = churn_scorer(parts)
    estimator = partial(ChampionEstimator, parts.settings) if sync_loop else None
    return run_nightly(
        parts.sessions,
        parts.settings.alerts,
        scorer=scorer,
        partitioned=partitioned,
        loop_estimator=estimator,
        **options,
    )
