"""The one place that builds concrete parts (engine, sessions) from Settings; the API, CLI and jobs start here."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from handoff.settings import Settings
from handoff.store.db import make_engine, make_session_factory


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
