"""SQLAlchemy tables for the CRM entities, built from the data dictionary so the two never drift."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    Text,
)

from handoff.crm.dictionary import ENTITIES, Entity, Field
from handoff.store.metadata import metadata

_SQL_TYPES = {
    "str": lambda: String(255),
    "text": Text,
    "int": Integer,
    "float": Float,
    "bool": Boolean,
    "date": Date,
    "datetime": DateTime,
}


def _column(entity: Entity, field: Field) -> Column:
    # References are checked by the importer, not by foreign keys: CRM exports arrive in any order and
    # some (usage by subscription) are partial, so the importer reports dangling ones with file and row.
    return Column(
        field.name,
        _SQL_TYPES[field.type](),
        primary_key=field.name == entity.key,
        nullable=not field.required,
        index=bool(field.references) or field.name == entity.time_field,
        comment=field.description,
    )


def _table(entity: Entity) -> Table:
    return Table(entity.name, metadata, *(_column(entity, f) for f in entity.fields), comment=entity.description)


CRM_TABLES: dict[str, Table] = {entity.name: _table(entity) for entity in ENTITIES}
