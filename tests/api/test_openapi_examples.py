"""Every /v1 request body and 2xx JSON answer in the OpenAPI document carries an example, and every example in the
document is valid against the schema it sits on (with its `$ref`s resolved from the document), so a connector
builder's "try it" sends and shows only what the API accepts and returns."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from handoff.api.app import create_app
from tests.api.test_openapi_connector import _operations

JSON = "application/json"
DOCUMENT_URI = "urn:handoff:openapi"

# The parts of /v1 operations that are not JSON, so have no JSON example: (operation id, "request" or status).
NOT_JSON = {
    ("receive_email", "request"): "the raw message/rfc822 bytes of one mail",
    ("receive_inbound_webhook", "request"): "multipart/form-data from the mail provider's inbound parse",
    ("get_ledger_original", "200"): "a download: the message as it arrived (message/rfc822)",
    ("get_ledger_attachment", "200"): "a download: one attachment's bytes (application/octet-stream)",
    ("delete_hook_subscription", "204"): "204 No Content: no body",
}

# Keywords whose value is one subschema, a list of them, or a name -> subschema map (JSON Schema 2020-12).
ONE = ("items", "not", "contains", "if", "then", "else", "propertyNames", "unevaluatedItems")
MANY = ("anyOf", "oneOf", "allOf", "prefixItems")
NAMED = ("properties", "patternProperties", "$defs", "dependentSchemas")


@pytest.fixture
def document(sqlite_parts) -> dict:
    return create_app(parts=sqlite_parts, models={}).openapi()


def _pointer(*tokens: str) -> str:
    return "".join("/" + quote(token.replace("~", "~0").replace("/", "~1"), safe="") for token in tokens)


def _schemas_under(schema: Any, tokens: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], dict]]:
    """(JSON pointer tokens, schema) for `schema` and every subschema in it."""
    if not isinstance(schema, dict):
        return
    yield tokens, schema
    for key in ONE + ("additionalProperties", "unevaluatedProperties"):
        yield from _schemas_under(schema.get(key), (*tokens, key))
    for key in MANY:
        for index, sub in enumerate(schema.get(key, [])):
            yield from _schemas_under(sub, (*tokens, key, str(index)))
    for key in NAMED:
        for name, sub in schema.get(key, {}).items():
            yield from _schemas_under(sub, (*tokens, key, name))


def _every_schema(document: dict) -> Iterator[tuple[tuple[str, ...], dict]]:
    for name, schema in document["components"]["schemas"].items():
        yield from _schemas_under(schema, ("components", "schemas", name))
    for method, path, operation in _operations(document):
        where = ("paths", path, method)
        for index, parameter in enumerate(operation.get("parameters", [])):
            yield from _schemas_under(parameter.get("schema"), (*where, "parameters", str(index), "schema"))
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            yield from _schemas_under(content.get("schema"), (*where, "requestBody", "content", media, "schema"))
        for status, response in operation["responses"].items():
            for media, content in response.get("content", {}).items():
                yield from _schemas_under(
                    content.get("schema"), (*where, "responses", status, "content", media, "schema")
                )


def _has_example(schema: dict, document: dict) -> bool:
    """Examples on the schema, on what its `$ref` names, on each non-null branch of an optional body, or on the
    items of a list."""
    if schema.get("examples"):
        return True
    if "$ref" in schema:
        return _has_example(document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]], document)
    if "anyOf" in schema:
        branches = [branch for branch in schema["anyOf"] if branch != {"type": "null"}]
        return bool(branches) and all(_has_example(branch, document) for branch in branches)
    if schema.get("type") == "array" and "items" in schema:
        return _has_example(schema["items"], document)
    return False


def _validator(document: dict, tokens: tuple[str, ...]) -> Draft202012Validator:
    registry = Registry().with_resource(DOCUMENT_URI, Resource.from_contents(document, DRAFT202012))
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#{_pointer(*tokens)}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,  # a date that is not a date is a wrong example
    )


def test_every_v1_body_and_answer_has_an_example_and_every_example_fits_its_schema(document) -> None:
    missing, not_json = [], set()
    for method, path, operation in _operations(document):
        if not path.startswith("/v1/"):
            continue
        op_id = operation["operationId"]
        parts = [("request", operation["requestBody"]["content"])] if "requestBody" in operation else []
        parts += [(status, r.get("content", {})) for status, r in operation["responses"].items() if status[0] == "2"]
        for part, content in parts:
            if JSON not in content:
                not_json.add((op_id, part))
            elif not _has_example(content[JSON]["schema"], document):
                missing.append(f"{op_id} {part} ({method.upper()} {path})")
    assert missing == [], "JSON bodies and answers without an example"
    assert not_json == set(NOT_JSON), "NOT_JSON must name exactly the parts that are not JSON"

    checked, wrong = 0, []
    for tokens, schema in _every_schema(document):
        if not schema.get("examples"):
            continue
        validator = _validator(document, tokens)
        for index, example in enumerate(schema["examples"]):
            checked += 1
            wrong += [
                f"{_pointer(*tokens)} example {index}: {error.message}" for error in validator.iter_errors(example)
            ]
    assert wrong == []
    assert checked >= 40  # the walk reached the components and the inline hook bodies, not an empty document

    # The validator reaches through $refs and checks formats: a broken copy of a real example is refused.
    page = ("components", "schemas", "TaskPagePublic")
    broken = copy.deepcopy(document["components"]["schemas"]["TaskPagePublic"]["examples"][0])
    broken["tasks"][0]["due_date"] = "next Friday"
    assert not _validator(document, page).is_valid(broken)
