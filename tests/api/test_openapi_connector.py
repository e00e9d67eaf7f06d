"""The OpenAPI document as connector builders read it: valid, one stable id per operation, and enough to drive.

A generic client built only from the document (operation id → method and path, response schemas to check the
answers) reviews a task and makes an estimate against the app, as Zapier's, Make's or Power Apps' importers would."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from sqlalchemy import select

from handoff.api.app import create_app
from handoff.extraction.model import Found, TaskDraft
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction

METHODS = ("get", "post", "put", "patch", "delete")
OPERATION_IDS = Path(__file__).with_name("operation_ids.txt")


def _operations(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


@pytest.fixture
def document(sqlite_parts) -> dict:
    return create_app(parts=sqlite_parts, models={}).openapi()


def test_the_document_validates_and_every_operation_is_named_described_and_tagged(document) -> None:
    validate(document)  # raises on any violation of OpenAPI 3.1
    operations = _operations(document)
    ids = [operation["operationId"] for _, _, operation in operations]
    assert len(ids) == len(set(ids)), "operation ids must be unique"
    for method, path, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation.get("summary") and operation.get("tags"), where
        if operation.get("security"):  # a keyed operation documents the refusals a connector must handle
            assert {"401", "403"} <= set(operation["responses"]), where
        assert any(code.startswith("2") for code in operation["responses"]), where
    schemes = document["components"]["securitySchemes"]
    assert {scheme["type"] for scheme in schemes.values()} == {"http", "apiKey"}


def test_operation_ids_are_stable(document) -> None:
    """A connector stores operation ids: renaming one breaks every zap built on it, so a change must be deliberate
    (edit operation_ids.txt beside this test and say so in the release notes)."""
    ids = sorted(operation["operationId"] for _, _, operation in _operations(document))
    assert ids == OPERATION_IDS.read_text(encoding="utf-8").split()


class SchemaClient:
    """Calls operations by id with nothing but the OpenAPI document; checks each answer against its schema."""

    def __init__(self, document: dict, http: httpx.Client, key: str) -> None:
        self.document, self.http, self.key = document, http, key
        self.operations = {op["operationId"]: (method, path, op) for method, path, op in _operations(document)}

    def call(self, operation_id: str, *, body: Any = None, **params: Any) -> tuple[int, Any]:
        method, template, operation = self.operations[operation_id]
        path_names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        query_names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert set(params) <= path_names | query_names, f"{operation_id} takes no {set(params) - path_names}"
        path = template.format(**{name: params[name] for name in path_names})
        query = {name: value for name, value in params.items() if name in query_names}
        if body is not None:
            assert "requestBody" in operation, f"{operation_id} takes no body"
        answer = self.http.request(
            method.upper(), path, params=query, json=body, headers={"Authorization": f"Bearer {self.key}"}
        )
        documented = operation["responses"].get(str(answer.status_code))
        assert documented is not None, f"{operation_id} answered an undocumented {answer.status_code}"
        data = answer.json() if answer.content else None
        schema = documented.get("content", {}).get("application/json", {}).get("schema")
        if schema is not None:
            OAS31Validator({**schema, "components": self.document["components"]}).validate(data)
        return answer.status_code, data


def _seed_suggested_task(parts) -> str:
    from handoff.tasks.service import record_tasks

    draft = TaskDraft(
        title=Found("Send the kickoff agenda", 0.9, "send the agenda"),
        assignee=Found(None, 0.4, ""),
        assignee_id=None,
        due=Found(date(2026, 12, 18), 0.8, "by Friday"),
        priority=Found("high", 0.7, "urgent"),
        description="Please send the kickoff agenda by Friday.",
        confidence=0.9,
        evidence="Please send the kickoff agenda by Friday.",
    )
    with transaction(parts.sessions) as session:
        recorded = record_tasks(
            session, ledger_id=None, drafts=[draft], account_id=None, project_id=None, thread_id=None,
            settings=parts.settings, title_vectors=[[1.0]],
        )  # fmt: skip
    return recorded.created[0]


def test_a_client_from_the_schema_reviews_a_task_and_makes_an_estimate(demo_parts, served_models, make_key) -> None:
    task_id = _seed_suggested_task(demo_parts)
    with demo_parts.sessions() as session:
        deal_id = session.scalars(select(CRM_TABLES["deals"].c.id).order_by(CRM_TABLES["deals"].c.id).limit(1)).one()
    app = create_app(parts=demo_parts, models=served_models, key_cache_ttl_s=0)
    with TestClient(app) as http:
        client = SchemaClient(app.openapi(), http, make_key("pm"))
        status, queue = client.call("list_tasks", status="suggested")
        assert status == 200 and [task["id"] for task in queue["tasks"]] == [task_id]
        status, edited = client.call("edit_task", task_id=task_id, body={"priority": "urgent"})
        assert status == 200 and edited["priority"] == "urgent"
        status, accepted = client.call("accept_task", task_id=task_id)
        assert status == 200 and accepted["status"] == "open"
        assert client.call("accept_task", task_id=task_id)[0] == 409  # documented, and checked against ErrorPublic
        assert client.call("get_task", task_id=task_id)[1]["status"] == "open"
        status, estimate = client.call("create_estimate", body={"deal_id": deal_id})
        assert status == 201 and estimate["effort_hours"]["p10"] <= estimate["effort_hours"]["p90"]
        status, again = client.call("get_estimate", estimate_id=estimate["id"])
        assert status == 200 and again["effort_hours"] == estimate["effort_hours"]
        assert client.call("get_estimate", estimate_id="nope")[0] == 404
