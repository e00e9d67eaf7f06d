"""CRM use cases on a running store: load the demo history, import CSV exports; the CLI and `make run` call these."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from handoff.errors import Conflict
from handoff.wiring import Parts

DEFAULT_ACCOUNTS = 3000
DEFAULT_SEED = 7
DEFAULT_END = date(2026, 10, 31)


def crm_is_empty(parts: Parts) -> bool:
    from handoff.crm.loader import crm_row_counts

    return not any(crm_row_counts(parts.engine).values())


def load_demo_data(
    parts: Parts,
    *,
    accounts: int = DEFAULT_ACCOUNTS,
    seed: int = DEFAULT_SEED,
    end: date = DEFAULT_END,
    replace: bool = False,
    on_generated: Callable[[int], None] | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Migrates, generates the demo history and writes it; refuses to mix it into existing CRM data.

    Returns rows written per entity. `on_generated(total_rows)` runs once the frames exist (before any write).
    """
    from handoff.crm.demo import generate
    from handoff.crm.loader import total_rows, write_frames

    parts.migrate()
    if not replace and not crm_is_empty(parts):
        raise Conflict("the CRM tables are not empty; pass --replace to swap their contents for the demo history")
    frames = generate(accounts=accounts, seed=seed, end=end)
    if on_generated is not None:
        on_generated(total_rows(frames))
    return write_frames(parts.engine, frames, replace=replace, on_progress=on_progress)


def ensure_demo_data(parts: Parts, *, accounts: int = DEFAULT_ACCOUNTS) -> bool:
    """Loads the default demo history when the store has no accounts yet (first `make run`); True if it loaded."""
    from sqlalchemy import func, select

    from handoff.store.crm_tables import CRM_TABLES

    parts.migrate()
    with parts.engine.connect() as conn:
        existing = conn.execute(select(func.count()).select_from(CRM_TABLES["accounts"])).scalar_one()
    if existing:
        return False
    # Other tables may hold rows without accounts (a partial import): the demo history replaces them.
    load_demo_data(parts, accounts=accounts, replace=True)
    return True


def import_files(
    parts: Parts, *, mapping: str, files: Sequence[Path], dry_run: bool = False
) -> dict[str, dict[str, int]]:
    """What `handoff import` does: migrate, validate every file, upsert in one transaction (or count, if dry)."""
    from handoff.crm.importer import import_mapped_files
    from handoff.crm.mapping import load_mapping

    loaded = load_mapping(mapping)  # a broken mapping fails before the store is touched
    parts.migrate()
    return import_mapped_files(parts.engine, loaded, files, dry_run=dry_run)
