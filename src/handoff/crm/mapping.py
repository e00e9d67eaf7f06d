"""YAML column mappings from a CRM export onto the data dictionary: parsing and checking, no I/O beyond reading YAML.

A mapping lists files (a glob on the file name → an entity) and, per file, which column fills which field, with
optional value maps, lookups of a reference by another field, columns joined into one field, defaults, ignored
columns, an encoding and a date format. `docs/crm.md` documents the format; `mappings/*.yaml` are the built-ins.
"""

from __future__ import annotations

import codecs
import fnmatch
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from handoff.crm.dictionary import ENTITIES, ENTITIES_BY_NAME
from handoff.errors import InvalidInput

BUILT_IN = ("hubspot", "salesforce", "zoho", "dynamics365", "ravenstack", "handoff")
TRANSFORMS = ("domain", "lower")  # domain: 'https://www.Acme.com/x' -> 'acme.com'


class MappingError(InvalidInput):
    """The mapping itself is wrong (not the data): one line naming the mapping and the place."""


@dataclass(frozen=True)
class Lookup:
    """Resolve the column's value to the key of the `entity` row whose `by` field equals it (case-insensitive)."""

    entity: str
    by: str


@dataclass(frozen=True)
class ColumnRule:
    column: str
    field: str
    values: dict[str, Any] | None = None  # lower-cased source value -> value (None clears it)
    lookup: Lookup | None = None
    split: str | None = None  # multi-valued cells ("123;456"): take the first item
    date_format: str | None = None
    transform: str | None = None  # one of TRANSFORMS


@dataclass(frozen=True)
class Compose:
    """One field built from several columns joined by a separator, e.g. a key unique only in combination."""

    field: str
    columns: tuple[str, ...]
    separator: str = " "


@dataclass(frozen=True)
class FileMapping:
    pattern: str
    entity: str
    columns: tuple[ColumnRule, ...]
    compose: tuple[Compose, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    ignore: frozenset[str] = frozenset()
    ignore_unknown: bool = False
    encoding: str | None = None
    date_format: str | None = None

    def matches(self, file_name: str) -> bool:
        return fnmatch.fnmatch(file_name.lower(), self.pattern.lower())

    @property
    def known_columns(self) -> set[str]:
        known = {rule.column for rule in self.columns} | set(self.ignore)
        for composed in self.compose:
            known |= set(composed.columns)
        return known

    @property
    def fields(self) -> set[str]:
        """Fields this file sets; on update only these change."""
        return {r.field for r in self.columns} | {c.field for c in self.compose} | set(self.defaults)


@dataclass(frozen=True)
class Mapping:
    name: str
    files: tuple[FileMapping, ...]
    description: str = ""

    def file_for(self, file_name: str) -> FileMapping | None:
        """The first file mapping whose pattern matches the file name."""
        return next((f for f in self.files if f.matches(file_name)), None)


def _value_key(value: Any) -> str:
    """YAML reads TRUE as a bool and 1 as an int; value maps compare the cell text, case-insensitively."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value).strip().lower()


def _fail(source: str, where: str, reason: str) -> MappingError:
    return MappingError(f"mapping {source}: {where}: {reason}")


def _check_field(source: str, where: str, entity_name: str, name: Any) -> str:
    if not isinstance(name, str) or name not in ENTITIES_BY_NAME[entity_name].field_names:
        known = ", ".join(ENTITIES_BY_NAME[entity_name].field_names)
        raise _fail(source, where, f"{name!r} is not a field of {entity_name} (fields: {known})")
    return name


def _column_rule(source: str, where: str, entity_name: str, column: str, spec: Any) -> ColumnRule:
    if isinstance(spec, str):
        return ColumnRule(column, _check_field(source, where, entity_name, spec))
    if not isinstance(spec, dict):
        raise _fail(source, where, "a column maps to a field name or to {field: ..., values/lookup/split: ...}")
    unknown = set(spec) - {"field", "values", "lookup", "split", "date_format", "transform"}
    if unknown:
        raise _fail(source, where, f"unknown keys {sorted(unknown)}")
    field_name = _check_field(source, where, entity_name, spec.get("field"))
    values = spec.get("values")
    if values is not None:
        if not isinstance(values, dict):
            raise _fail(source, where, "values must be a map from source value to field value")
        values = {_value_key(k): v for k, v in values.items()}
    lookup = None
    if spec.get("lookup") is not None:
        raw = spec["lookup"]
        if not isinstance(raw, dict) or set(raw) != {"entity", "by"} or raw["entity"] not in ENTITIES_BY_NAME:
            raise _fail(source, where, "lookup needs {entity: <entity>, by: <field>} with a known entity")
        lookup = Lookup(raw["entity"], _check_field(source, where, raw["entity"], raw["by"]))
        target = ENTITIES_BY_NAME[entity_name].field(field_name).references
        if target != f"{lookup.entity}.{ENTITIES_BY_NAME[lookup.entity].key}":
            raise _fail(source, where, f"{field_name} does not reference {lookup.entity}")
    transform = spec.get("transform")
    if transform is not None and transform not in TRANSFORMS:
        raise _fail(source, where, f"transform {transform!r} is not one of {', '.join(TRANSFORMS)}")
    return ColumnRule(column, field_name, values, lookup, spec.get("split"), spec.get("date_format"), transform)


def _file_mapping(source: str, index: int, raw: Any) -> FileMapping:
    where = f"files[{index}]"
    if not isinstance(raw, dict):
        raise _fail(source, where, "each file entry is a map with pattern, entity and columns")
    unknown = set(raw) - {
        "pattern", "entity", "columns", "compose", "defaults", "ignore", "ignore_unknown", "encoding", "date_format"
    }  # fmt: skip
    if unknown:
        raise _fail(source, where, f"unknown keys {sorted(unknown)}")
    pattern, entity_name = raw.get("pattern"), raw.get("entity")
    if not isinstance(pattern, str) or not pattern:
        raise _fail(source, where, "pattern (a glob on the file name) is required")
    if entity_name not in ENTITIES_BY_NAME:
        raise _fail(source, where, f"entity {entity_name!r} is not one of {', '.join(ENTITIES_BY_NAME)}")
    columns_raw = raw.get("columns") or {}
    if not isinstance(columns_raw, dict):
        raise _fail(source, where, "columns must map column names to fields")
    columns = tuple(
        _column_rule(source, f"{where}.columns[{column!r}]", entity_name, str(column), spec)
        for column, spec in columns_raw.items()
    )
    compose = []
    for name, spec in (raw.get("compose") or {}).items():
        if not isinstance(spec, dict) or not isinstance(spec.get("columns"), list) or not spec["columns"]:
            raise _fail(source, f"{where}.compose.{name}", "needs columns: [a, b, ...] and an optional separator")
        compose.append(
            Compose(
                _check_field(source, f"{where}.compose", entity_name, name),
                tuple(str(c) for c in spec["columns"]),
                str(spec.get("separator", " ")),
            )
        )
    defaults = raw.get("defaults") or {}
    for name in defaults:
        _check_field(source, f"{where}.defaults", entity_name, name)
    encoding = raw.get("encoding")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise _fail(source, where, f"unknown encoding {encoding!r}") from None
    mapping = FileMapping(
        pattern=pattern,
        entity=entity_name,
        columns=columns,
        compose=tuple(compose),
        defaults=dict(defaults),
        ignore=frozenset(str(c) for c in (raw.get("ignore") or ())),
        ignore_unknown=bool(raw.get("ignore_unknown", False)),
        encoding=encoding,
        date_format=raw.get("date_format"),
    )
    key = ENTITIES_BY_NAME[entity_name].key
    if key not in mapping.fields:
        raise _fail(source, where, f"no column fills the key field {key!r} of {entity_name}")
    return mapping


def parse_mapping(document: Any, source: str) -> Mapping:
    """A mapping from its parsed YAML document; raises MappingError naming the place of the first mistake."""
    if not isinstance(document, dict) or not isinstance(document.get("files"), list) or not document["files"]:
        raise _fail(source, "top level", "expected a map with a non-empty `files` list")
    files = tuple(_file_mapping(source, i, raw) for i, raw in enumerate(document["files"]))
    return Mapping(str(document.get("name", source)), files, str(document.get("description", "")))


def _identity_mapping() -> Mapping:
    """`handoff`: one CSV per entity named after it (`accounts.csv`, ...) with the dictionary's field names."""
    files = tuple(
        FileMapping(
            pattern=f"{ent.name}*.csv",
            entity=ent.name,
            columns=tuple(ColumnRule(f.name, f.name) for f in ent.fields),
        )
        for ent in ENTITIES
    )
    return Mapping("handoff", files, "Columns named exactly as the data dictionary's fields.")


def load_mapping(name_or_path: str) -> Mapping:
    """A built-in mapping by name, or a YAML file by path."""
    import yaml

    if name_or_path == "handoff":
        return _identity_mapping()
    if name_or_path in BUILT_IN:
        text = resources.files("handoff.crm.mappings").joinpath(f"{name_or_path}.yaml").read_text(encoding="utf-8")
        source = name_or_path
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise MappingError(f"mapping {name_or_path!r} is neither a built-in ({', '.join(BUILT_IN)}) nor a file")
        text = path.read_text(encoding="utf-8")
        source = path.name
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise MappingError(f"mapping {source}: not valid YAML: {error}".replace("\n", " ")) from None
    return parse_mapping(document, source)
