"""The sync mapping's YAML file (`HANDOFF_SYNC__MAPPING_PATH`, default `<home>/sync.yaml`): read, and written whole."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from handoff.errors import InvalidInput
from handoff.sync.mapping import checked

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.settings import Settings


def mapping_path(settings: Settings) -> Path:
    return settings.sync.mapping_path or settings.resolved_home / "sync.yaml"


def load_mapping(settings: Settings) -> dict:
    """The mapping in force; no file is an empty mapping (every task to the target's configured place)."""
    return read_mapping(mapping_path(settings))


def read_mapping(path: Path) -> dict:
    """The mapping in the file at `path`; no file is an empty mapping."""
    if not path.exists():
        return {}
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InvalidInput(f"{path}: the sync mapping cannot be read ({type(error).__name__})") from None
    return checked(document)


def save_mapping(settings: Settings, document: object) -> dict:
    """Checks the mapping and replaces the file in one rename, so a reader never sees half of it."""
    mapping = checked(document)
    path = mapping_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".sync-", suffix=".yaml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            yaml.safe_dump(mapping, out, sort_keys=True, allow_unicode=True)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return mapping
