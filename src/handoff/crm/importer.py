"""CSV import into the store: validate every file against the mapping and the store, then upsert in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.engine import Connection

from handoff.crm.dictionary import ENTITIES_BY_NAME
from handoff.crm.mapping import Mapping, load_mapping
from handoff.crm.validation import ParsedFile, Problem, check_import, comparable, dependency_order, parse_file
from handoff.errors import ImportRejected
from handoff.store.crm_tables import CRM_TABLES

_IN_CHUNK = 500  # keys per IN (...) query; well under every backend's parameter limit


def _known_ids(conn: Connection):
    def known(entity_name: str, candidates: set[str]) -> set[str]:
        table = CRM_TABLES[entity_name]
        key = table.c[ENTITIES_BY_NAME[entity_name].key]
        values = sorted(candidates)
        found: set[str] = set()
        for start in range(0, len(values), _IN_CHUNK):
            found |= set(conn.execute(select(key).where(key.in_(values[start : start + _IN_CHUNK]))).scalars())
        return found

    return known


def _store_lookup(conn: Connection):
    def index(entity_name: str, field_name: str) -> dict[str, list[str]]:
        table = CRM_TABLES[entity_name]
        key = table.c[ENTITIES_BY_NAME[entity_name].key]
        result: dict[str, list[str]] = {}
        for row_key, value in conn.execute(select(key, table.c[field_name]).where(table.c[field_name].is_not(None))):
            result.setdefault(str(value).strip().lower(), []).append(row_key)
        return result

    return index


def validate_files(conn: Connection, mapping: Mapping, files: Sequence[Path]) -> list[ParsedFile]:
    """Every file parsed and checked against the mapping and the store; raises ImportRejected with all problems."""
    problems: list[Problem] = []
    parsed_files: list[ParsedFile] = []
    for path in files:
        file_mapping = mapping.file_for(path.name)
        if file_mapping is None:
            patterns = ", ".join(f.pattern for f in mapping.files)
            problems.append(
                Problem(path.name, None, None, f"no file pattern of mapping {mapping.name} matches ({patterns})")
            )
            continue
        parsed, file_problems = parse_file(path.name, path.read_bytes(), file_mapping)
        problems += file_problems
        if parsed is not None:
            parsed_files.append(parsed)
    problems += check_import(parsed_files, _known_ids(conn), _store_lookup(conn))
    if problems:
        order = {path.name: i for i, path in enumerate(files)}
        problems.sort(key=lambda p: (order.get(p.file, 0), p.row or 0))
        raise ImportRejected(problems)
    return parsed_files


def _upsert(conn: Connection, entity_name: str, parsed_files: list[ParsedFile], *, write: bool) -> dict[str, int]:
    table = CRM_TABLES[entity_name]
    key_name = ENTITIES_BY_NAME[entity_name].key
    key = table.c[key_name]
    counts = {"inserted": 0, "updated": 0, "unchanged": 0}
    for parsed in parsed_files:
        fields = sorted(parsed.fields)
        rows = [{f: row.values.get(f) for f in fields} for row in parsed.rows]
        keys = [row[key_name] for row in rows]
        existing: dict[str, Any] = {}
        columns = [table.c[f] for f in fields]
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start : start + _IN_CHUNK]
            for found in conn.execute(select(*columns).where(key.in_(chunk))).mappings():
                existing[found[key_name]] = found
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for row in rows:
            stored = existing.get(str(row[key_name]))
            if stored is None:
                inserts.append(row)
            elif any(comparable(stored[f]) != comparable(row[f]) for f in fields):
                updates.append({**{f"new_{f}": row[f] for f in fields}, "match_key": row[key_name]})
            else:
                counts["unchanged"] += 1
        counts["inserted"] += len(inserts)
        counts["updated"] += len(updates)
        if write and inserts:
            conn.execute(table.insert(), inserts)
        if write and updates:
            statement = (
                update(table)
                .where(key == bindparam("match_key"))
                .values({f: bindparam(f"new_{f}") for f in fields if f != key_name})
            )
            conn.execute(statement, updates)
    return counts


def import_mapped_files(
    engine: Engine, mapping: Mapping | str, files: Sequence[Path], *, dry_run: bool = False
) -> dict[str, dict[str, int]]:
    """Validates everything first; with no problem, upserts by key in dependency order in one transaction.

    Returns {entity: {inserted, updated, unchanged}}. With `dry_run`, counts what would change and writes nothing.
    """
    if isinstance(mapping, str):
        mapping = load_mapping(mapping)
    with engine.begin() as conn:
        parsed_files = validate_files(conn, mapping, files)
        result: dict[str, dict[str, int]] = {}
        for entity_name in dependency_order(p.entity for p in parsed_files):
            same_entity = [p for p in parsed_files if p.entity == entity_name]
            result[entity_name] = _upsert(conn, entity_name, same_entity, write=not dry_run)
    return result
