"""The CRM as Parquet partitions: one folder per entity, part i of each holding the rows of one account-id range."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from handoff.crm.dictionary import ENTITIES_BY_NAME
from handoff.errors import Conflict, InvalidInput, NotReady

MANIFEST = "_manifest.json"
TEAM_FILE = "team_members.parquet"

Mapper = Callable[..., Iterable[Any]]


@dataclass(frozen=True)
class ParquetPartition:
    """Part `name` of every entity: the accounts `first_id` .. `last_id` (text order) and all of their rows."""

    directory: str
    name: str
    first_id: str
    last_id: str
    accounts: int

    def read(self, entities: Iterable[str]) -> dict[str, pd.DataFrame]:
        frames = {}
        for entity in entities:
            path = Path(self.directory) / entity / f"{self.name}.parquet"
            if path.exists():  # an entity the generator does not make stays empty (normalise_frames fills it)
                frames[entity] = pd.read_parquet(path)
        return frames


def _write_part(directory: str, index: int, first: int, count: int, seed: int, as_of: date) -> dict[str, Any]:
    """Generates and writes one partition; runs wherever the mapper sends it (a Dask worker or this process)."""
    from handoff.crm.synthetic import synthetic_frames

    frames = synthetic_frames(count, seed, first=first, as_of=as_of)
    name = f"part-{index:05d}"
    for entity, frame in frames.items():
        folder = Path(directory) / entity
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    ids = frames["accounts"]["id"]
    return {
        "name": name,
        "first_id": str(ids.iloc[0]),
        "last_id": str(ids.iloc[-1]),
        "accounts": int(len(ids)),
        "rows": int(sum(len(frame) for frame in frames.values())),
    }


def write_synthetic(
    directory: Path,
    accounts: int,
    *,
    seed: int = 0,
    partition_accounts: int = 250_000,
    replace: bool = False,
    mapper: Mapper = map,
    on_partition: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The synthetic CRM (`crm.synthetic`) for `accounts` accounts, written chunk by chunk: memory holds one
    partition per process however large the base. `mapper(function, *argument_lists)` runs the chunks (the
    built-in `map`, or a Dask client's); returns the manifest."""
    from handoff.crm.synthetic import AS_OF, synthetic_team

    if accounts < 1 or partition_accounts < 1:
        raise InvalidInput("--accounts and the partition size must be at least 1")
    if directory.exists() and any(directory.iterdir()):
        if not replace:
            raise Conflict(f"{directory} already holds a CRM; pass --replace to write a new one")
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    starts = list(range(0, accounts, partition_accounts))
    counts = [min(partition_accounts, accounts - start) for start in starts]
    n = len(starts)
    parts = []
    for part in mapper(_write_part, [str(directory)] * n, list(range(n)), starts, counts, [seed] * n, [AS_OF] * n):
        parts.append(part)
        if on_partition is not None:
            on_partition(part)
    parts.sort(key=lambda part: part["name"])
    synthetic_team().to_parquet(directory / TEAM_FILE, index=False)
    manifest = {"accounts": accounts, "seed": seed, "as_of": AS_OF.isoformat(), "partitions": parts}
    # Written last: a folder without a manifest is an unfinished write, never read as a CRM.
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.exists():
        raise NotReady(f"no Parquet CRM under {directory}; write one with `handoff demo-data --format parquet`")
    return json.loads(path.read_text(encoding="utf-8"))


def partitions(directory: Path) -> list[ParquetPartition]:
    """Every partition of the Parquet CRM under `directory`, in account-id order."""
    manifest = read_manifest(directory)
    return [
        ParquetPartition(str(directory), part["name"], part["first_id"], part["last_id"], part["accounts"])
        for part in manifest["partitions"]
    ]


def read_team(directory: Path) -> pd.DataFrame:
    path = directory / TEAM_FILE
    if not path.exists():
        return pd.DataFrame({name: pd.Series(dtype="object") for name in ENTITIES_BY_NAME["team_members"].field_names})
    return pd.read_parquet(path)
