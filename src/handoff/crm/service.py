"""CRM use cases on a migrated store: load the demo history; the CLI and `make run` call these.

Each takes the engine it writes through (the loader's bulk writes need one, not a session); callers migrate first.
Imports of CSV exports are `importer.import_mapped_files`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

from handoff.errors import Conflict

if TYPE_CHECKING:  # pragma: no cover - typing only
    from sqlalchemy import Engine

DEFAULT_ACCOUNTS = 3000
DEFAULT_SEED = 7
DEFAULT_END = date(2026, 10, 31)


def crm_is_empty(engine: Engine) -> bool:
    from handoff.crm.loader import crm_row_counts

    return not any(crm_row_counts(engine).values())


def load_demo_data(
    engine: Engine,
    *,
    accounts: int = DEFAULT_ACCOUNTS,
    seed: int = DEFAULT_SEED,
    end: date = DEFAULT_END,
    replace: bool = False,
    on_generated: Callable[[int], None] | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Generates the demo history and writes it; refuses to mix it into existing CRM data.

    Returns rows written per entity. `on_generated(total_rows)` runs once the frames exist (before any write).
    """
    from handoff.crm.demo import generate
    from handoff.crm.loader import total_rows, write_frames

    if not replace and not crm_is_empty(engine):
        raise Conflict("the CRM tables are not empty; pass --replace to swap their contents for the demo history")
    frames = generate(accounts=accounts, seed=seed, end=end)
    if on_generated is not None:
        on_generated(total_rows(frames))
    return write_frames(engine, frames, replace=replace, on_progress=on_progress)


def ensure_demo_data(engine: Engine, *, accounts: int = DEFAULT_ACCOUNTS) -> bool:
    """Loads the default demo history when the store has no accounts yet (first `make run`); True if it loaded."""
    from sqlalchemy import func, select

    from handoff.store.crm_tables import CRM_TABLES

    with engine.connect() as conn:
        existing = conn.execute(select(func.count()).select_from(CRM_TABLES["accounts"])).scalar_one()
    if existing:
        return False
    # Other tables may hold rows without accounts (a partial import): the demo history replaces them.
    load_demo_data(engine, accounts=accounts, replace=True)
    return True
