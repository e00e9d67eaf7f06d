"""The data dictionary is consistent and its generated document is in step with the code."""

from __future__ import annotations

from pathlib import Path

from handoff.crm.dictionary import ENTITIES, ENTITIES_BY_NAME, render_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-dictionary.md"


def test_generated_doc_is_in_step_with_the_code() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown() + "\n", "run `make docs`"


def test_every_reference_points_at_a_real_key() -> None:
    for entity in ENTITIES:
        for field in entity.fields:
            if field.references:
                target, key = field.references.split(".")
                assert target in ENTITIES_BY_NAME, f"{entity.name}.{field.name} -> {target}"
                assert ENTITIES_BY_NAME[target].key == key


def test_each_entity_has_its_key_and_time_field() -> None:
    for entity in ENTITIES:
        assert entity.key in entity.field_names
        assert entity.time_field is None or entity.time_field in entity.field_names


def test_contact_data_is_marked() -> None:
    marked = {(e.name, f.name) for e in ENTITIES for f in e.fields if f.contact_data}
    assert {("contacts", "email"), ("contacts", "phone")} <= marked
