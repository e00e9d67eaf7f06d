"""Bulk loading of CRM frames into the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select

from handoff.crm.demo import generate
from handoff.crm.loader import crm_row_counts, write_frames
from handoff.store.crm_tables import CRM_TABLES


@pytest.fixture(scope="module")
def small_history() -> dict[str, pd.DataFrame]:
    return generate(accounts=25, seed=5)


def test_write_frames_loads_every_row_and_values_round_trip(parts, small_history) -> None:
    written = write_frames(parts.engine, small_history, replace=False)
    expected = {name: len(frame) for name, frame in small_history.items()}
    assert written == expected
    assert crm_row_counts(parts.engine) == expected
    projects = small_history["projects"].set_index("id")
    with parts.engine.connect() as conn:
        stored = pd.DataFrame(conn.execute(select(CRM_TABLES["projects"])).mappings().all()).set_index("id")
    row = projects.index[0]
    assert stored.loc[row, "planned_hours"] == pytest.approx(projects.loc[row, "planned_hours"])
    assert pd.Timestamp(stored.loc[row, "planned_start"]) == projects.loc[row, "planned_start"]
    assert stored.loc[row, "team_size"] == projects.loc[row, "team_size"]
    tasks = small_history["tasks"].dropna(subset=["completed_at"]).set_index("id")
    with parts.engine.connect() as conn:
        stored_tasks = {r["id"]: r for r in conn.execute(select(CRM_TABLES["tasks"])).mappings()}
    task = tasks.index[0]
    assert stored_tasks[task]["completed_at"] == tasks.loc[task, "completed_at"].to_pydatetime()
    assert stored_tasks[task]["actual_hours"] == pytest.approx(tasks.loc[task, "actual_hours"])
    flags = small_history["tickets"].set_index("id").escalated
    with parts.engine.connect() as conn:
        stored_flags = dict(conn.execute(select(CRM_TABLES["tickets"].c.id, CRM_TABLES["tickets"].c.escalated)).all())
    assert all(stored_flags[k] is bool(v) for k, v in flags.items())


def test_replace_swaps_the_data_and_a_clash_writes_nothing(parts, small_history) -> None:
    write_frames(parts.engine, small_history, replace=False)
    other = generate(accounts=10, seed=6)
    write_frames(parts.engine, other, replace=True)
    assert crm_row_counts(parts.engine) == {name: len(frame) for name, frame in other.items()}
    with pytest.raises(Exception):  # noqa: B017 - the driver's IntegrityError type differs per backend
        write_frames(parts.engine, other, replace=False)
    assert crm_row_counts(parts.engine) == {name: len(frame) for name, frame in other.items()}
