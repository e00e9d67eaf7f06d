"""Turns CSV bytes into dictionary rows through a mapping and finds every problem; pure (the store is a callback).

Row numbers are as a spreadsheet shows them: the header is row 1, the first record row 2.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from handoff.crm.dictionary import ENTITIES, ENTITIES_BY_NAME, Field
from handoff.crm.mapping import FileMapping, Lookup

_DATE_FORMATS = (
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%m/%d/%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
    "%Y/%m/%d",
    "%d.%m.%Y",
)
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
MAX_STR = 255


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an import, precise enough to fix the file without guessing."""

    file: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" row {self.row}"
        if self.column is not None:
            where += f" column {self.column!r}"
        return f"{where}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "row": self.row, "column": self.column, "reason": self.reason}


@dataclass
class ParsedRow:
    row: int
    values: dict[str, Any]
    columns: dict[str, str]  # field -> the column it came from, for reports
    lookups: dict[str, tuple[Lookup, str]] = field(default_factory=dict)  # field -> (lookup, raw value)


@dataclass
class ParsedFile:
    file: str
    entity: str
    fields: set[str]
    rows: list[ParsedRow]


def parse_moment(raw: str, date_format: str | None) -> datetime:
    """A date/time from the mapping's format, else ISO 8601, else common export formats (US month first)."""
    if date_format:
        return datetime.strptime(raw, date_format)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                return datetime.strptime(raw, fmt)
            except ValueError:
                continue
        raise ValueError(raw) from None
    if moment.tzinfo is not None:  # the store keeps naive UTC
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def apply_transform(transform: str, raw: str) -> str:
    text = raw.strip()
    if transform == "lower":
        return text.lower()
    if transform == "domain":
        host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text.lower()).split("/")[0].split("?")[0]
        return host.removeprefix("www.")
    raise ValueError(f"unknown transform {transform!r}")


def convert(raw: str, target: Field, date_format: str | None) -> Any:
    """The cell text as the field's type; raises ValueError with the reason a person reads."""
    text = raw.strip()
    if text == "":
        return None
    if "\x00" in raw:
        raise ValueError("contains a NUL character")
    kind = target.type
    if kind == "str":
        if len(text) > MAX_STR:
            raise ValueError(f"longer than {MAX_STR} characters")
        value: Any = text
    elif kind == "text":
        value = raw
    elif kind in ("int", "float"):
        number_text = text.replace(",", "") if _THOUSANDS.match(text) else text
        try:
            number = float(number_text)
        except ValueError:
            raise ValueError(f"not a number: {text!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"not a finite number: {text!r}")
        if kind == "int":
            if not number.is_integer():
                raise ValueError(f"not a whole number: {text!r}")
            value = int(number)
            if not -(2**31) <= value < 2**31:  # INTEGER columns on PostgreSQL
                raise ValueError(f"out of range for a whole number: {text!r}")
        else:
            value = number
    elif kind == "bool":
        lowered = text.lower()
        if lowered in _TRUE:
            value = True
        elif lowered in _FALSE:
            value = False
        else:
            raise ValueError(f"not true/false: {text!r}")
    else:
        try:
            moment = parse_moment(text, date_format)
        except ValueError:
            expected = f" (expected {date_format})" if date_format else ""
            raise ValueError(f"not a date: {text!r}{expected}") from None
        value = moment.date() if kind == "date" else moment
    if target.choices and value not in target.choices:
        raise ValueError(f"{value!r} is not one of {', '.join(target.choices)}")
    return value


def read_table(file: str, data: bytes, encoding: str | None) -> tuple[list[str], list[list[str]]] | Problem:
    """Header and records of a CSV; a Problem when it cannot be decoded or parsed."""
    codec = encoding or "utf-8-sig"
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        byte = data[error.start]
        hint = "" if encoding else "; set `encoding:` for this file in the mapping"
        return Problem(file, line, None, f"not valid {codec} text (byte 0x{byte:02x} at offset {error.start}){hint}")
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        return Problem(file, None, None, f"not a readable CSV: {error}")
    if not records or not records[0]:
        return Problem(file, None, None, "empty file: no header row")
    # Blank lines stay in the list (as empty records) so that row numbers match what a spreadsheet shows.
    return [h.strip() for h in records[0]], records[1:]


def parse_file(file: str, data: bytes, mapping: FileMapping) -> tuple[ParsedFile | None, list[Problem]]:
    """Converts one file's records to field values; returns every problem it finds (type, choice, required...)."""
    table = read_table(file, data, mapping.encoding)
    if isinstance(table, Problem):
        return None, [table]
    header, records = table
    ent = ENTITIES_BY_NAME[mapping.entity]
    problems: list[Problem] = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(Problem(file, 1, name, "column appears twice in the header"))
        seen.add(name)
        if name not in mapping.known_columns and not mapping.ignore_unknown:
            problems.append(Problem(file, 1, name, "unknown column: map it to a field or list it under `ignore`"))
    position = {name: i for i, name in enumerate(header)}
    present = [rule for rule in mapping.columns if rule.column in position]
    filled = {rule.field for rule in present} | set(mapping.defaults)
    for composed in mapping.compose:
        missing = [c for c in composed.columns if c not in position]
        if missing:
            problems.append(Problem(file, 1, missing[0], f"missing column needed for {composed.field}"))
        else:
            filled.add(composed.field)
    for f in ent.fields:
        if f.required and f.name not in filled:
            columns = [r.column for r in mapping.columns if r.field == f.name]
            problems.append(
                Problem(file, 1, columns[0] if columns else None, f"missing column for required field {f.name}")
            )
    defaults: dict[str, Any] = {}
    for name, value in mapping.defaults.items():
        try:
            defaults[name] = None if value is None else convert(str(value), ent.field(name), None)
        except ValueError as error:
            problems.append(Problem(file, None, None, f"mapping default for {name}: {error}"))
    # Header problems do not stop the rows from being read: a user fixes the whole file in one pass.

    rows: list[ParsedRow] = []
    for index, record in enumerate(records):
        row_number = index + 2
        if not record:
            continue  # a blank line carries nothing
        if len(record) != len(header):
            problems.append(Problem(file, row_number, None, f"{len(record)} cells but the header has {len(header)}"))
            continue
        parsed = ParsedRow(row_number, dict(defaults), {})
        failed_columns: set[str | None] = set()
        for composed in mapping.compose:
            if composed.field not in filled:
                continue
            parts = [record[position[c]].strip() for c in composed.columns]
            parsed.values[composed.field] = composed.separator.join(parts) if all(parts) else None
            parsed.columns[composed.field] = "+".join(composed.columns)
        for rule in present:
            raw = record[position[rule.column]]
            if parsed.values.get(rule.field) is not None or rule.field in parsed.lookups:
                continue  # an earlier column already filled this field
            if rule.split and rule.split in raw:
                raw = next((part for part in raw.split(rule.split) if part.strip()), "")
            if rule.transform:
                raw = apply_transform(rule.transform, raw)
            if rule.values is not None and raw.strip().lower() in rule.values:
                mapped = rule.values[raw.strip().lower()]
                raw = (
                    ""
                    if mapped is None
                    else ("true" if mapped is True else "false" if mapped is False else str(mapped))
                )
            if rule.lookup is not None:
                if raw.strip():
                    parsed.lookups[rule.field] = (rule.lookup, raw.strip())
                    parsed.columns[rule.field] = rule.column
                    parsed.values[rule.field] = None
                continue
            try:
                parsed.values[rule.field] = convert(raw, ent.field(rule.field), rule.date_format or mapping.date_format)
            except ValueError as error:
                problems.append(Problem(file, row_number, rule.column, str(error)))
                failed_columns.add(rule.column)
            parsed.columns[rule.field] = rule.column
        for f in ent.fields:
            absent = parsed.values.get(f.name) is None and f.name not in parsed.lookups
            # A cell that failed to convert is already reported; "required" on top would say it twice.
            if f.required and f.name in filled and absent and parsed.columns.get(f.name) not in failed_columns:
                problems.append(Problem(file, row_number, parsed.columns.get(f.name), f"{f.name} is required"))
        rows.append(parsed)
    return ParsedFile(file, mapping.entity, mapping.fields, rows), problems


KnownIds = Callable[[str, set[str]], set[str]]
"""(entity, candidate keys) -> those that exist in the store."""
LookupIndex = Callable[[str, str], dict[str, list[str]]]
"""(entity, field) -> {lower-cased field value: [keys]} over the store's rows."""


def check_import(files: Iterable[ParsedFile], known_ids: KnownIds, store_lookup: LookupIndex) -> list[Problem]:
    """Cross-row checks over the whole import: duplicate keys, lookups, and references to missing rows."""
    files = list(files)
    problems: list[Problem] = []
    by_entity: dict[str, dict[str, tuple[str, int]]] = {}
    for parsed in files:
        key = ENTITIES_BY_NAME[parsed.entity].key
        keys = by_entity.setdefault(parsed.entity, {})
        for row in parsed.rows:
            value = row.values.get(key)
            if value is None:
                continue
            if value in keys:
                first_file, first_row = keys[value]
                problems.append(
                    Problem(
                        parsed.file,
                        row.row,
                        row.columns.get(key),
                        f"duplicate key {value!r} (first at {first_file} row {first_row})",
                    )
                )
            else:
                keys[value] = (parsed.file, row.row)

    lookup_cache: dict[tuple[str, str], dict[str, list[str]]] = {}

    def lookup_index(target: Lookup) -> dict[str, list[str]]:
        cache_key = (target.entity, target.by)
        if cache_key not in lookup_cache:
            index = {k: list(v) for k, v in store_lookup(target.entity, target.by).items()}
            target_key = ENTITIES_BY_NAME[target.entity].key
            for parsed in files:
                if parsed.entity != target.entity:
                    continue
                for row in parsed.rows:
                    by_value, row_key = row.values.get(target.by), row.values.get(target_key)
                    if by_value is not None and row_key is not None:
                        ids = index.setdefault(str(by_value).strip().lower(), [])
                        if row_key not in ids:
                            ids.append(row_key)
            lookup_cache[cache_key] = index
        return lookup_cache[cache_key]

    for parsed in files:
        for row in parsed.rows:
            for field_name, (target, raw) in row.lookups.items():
                matches = lookup_index(target).get(raw.lower(), [])
                if len(matches) == 1:
                    row.values[field_name] = matches[0]
                elif not matches:
                    reason = f"no {target.entity} with {target.by} {raw!r} in this import or the store"
                    problems.append(Problem(parsed.file, row.row, row.columns.get(field_name), reason))
                else:
                    reason = f"{raw!r} matches {len(matches)} {target.entity} by {target.by}: {', '.join(matches[:3])}"
                    problems.append(Problem(parsed.file, row.row, row.columns.get(field_name), reason))

    # References: each must name a row of this import or of the store.
    wanted: dict[str, set[str]] = {}
    for parsed in files:
        for f in ENTITIES_BY_NAME[parsed.entity].fields:
            if f.references:
                referenced = f.references.split(".")[0]
                for row in parsed.rows:
                    value = row.values.get(f.name)
                    if value is not None and value not in by_entity.get(referenced, {}):
                        wanted.setdefault(referenced, set()).add(value)
    in_store = {referenced: known_ids(referenced, values) for referenced, values in wanted.items()}
    for parsed in files:
        for f in ENTITIES_BY_NAME[parsed.entity].fields:
            if not f.references:
                continue
            referenced = f.references.split(".")[0]
            for row in parsed.rows:
                value = row.values.get(f.name)
                if value is None or value in by_entity.get(referenced, {}) or value in in_store.get(referenced, set()):
                    continue
                reason = f"{f.name} {value!r}: no {referenced} row with that key in this import or the store"
                problems.append(Problem(parsed.file, row.row, row.columns.get(f.name), reason))
    return problems


def dependency_order(entity_names: Iterable[str]) -> list[str]:
    """Entities in the order they may be written (the dictionary lists referenced entities first)."""
    names = set(entity_names)
    return [e.name for e in ENTITIES if e.name in names]


def comparable(value: Any) -> Any:
    """Store values and import values compared on equal terms: the store keeps naive UTC datetimes."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return value
