"""Assembles the full schema: the CRM tables plus every feature's own tables, for Alembic and tests."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

# Each feature keeps its tables beside its code; this list is the one place that knows them all.
TABLE_MODULES = (
    "handoff.store.crm_tables",
    "handoff.intake.tables",
    "handoff.tasks.tables",
    "handoff.risk.tables",
    "handoff.alerts.tables",
    "handoff.loop.tables",
    "handoff.access.tables",
    "handoff.sync.tables",
    "handoff.events.tables",
)


def full_metadata() -> MetaData:
    for module in TABLE_MODULES:
        importlib.import_module(module)
    from handoff.store.metadata import metadata

    return metadata
