"""Keys, roles and the route permission table: who may call what, and that every route is listed."""

from __future__ import annotations

from handoff.access.keys import create_key, hash_key, list_keys, lookup, revoke_key
from handoff.access.masking import has_contact_data, mask_contact_data_in, mask_email, mask_emails_in, mask_phone
from handoff.access.roles import ROLES, ROUTE_PERMISSIONS, SIGNED_ROUTES, allows
from handoff.api.app import create_app
from handoff.store.db import transaction


def _route_names(routes) -> set[str]:
    names = set()
    for route in routes:
        inner = getattr(getattr(route, "original_router", None), "routes", None)  # an included router (FastAPI 0.12x)
        names |= _route_names(inner) if inner is not None else {getattr(route, "name", None)}
    return names


def test_every_v1_route_is_in_the_permission_table() -> None:
    app = create_app(models={})
    paths = app.openapi()["paths"]
    names = {op["operationId"] for path, ops in paths.items() if path.startswith("/v1") for op in ops.values()}
    assert names - set(ROUTE_PERMISSIONS) - set(SIGNED_ROUTES) == set()
    every = _route_names(app.routes)  # the web app's pages are not in the OpenAPI
    assert set(ROUTE_PERMISSIONS) - every == set(), "the table lists routes that do not exist"


def test_keys_are_stored_hashed_and_revocable(sqlite_parts) -> None:
    with transaction(sqlite_parts.sessions) as session:
        key, record = create_key(session, role="pm", name="alice")
    with sqlite_parts.engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT key_hash FROM api_keys").scalar_one()
    assert stored == hash_key(key) and key not in stored
    with sqlite_parts.sessions() as session:
        assert lookup(session, key).role == "pm"
        assert lookup(session, key + "x") is None
    with transaction(sqlite_parts.sessions) as session:
        revoke_key(session, record.prefix)
    with sqlite_parts.sessions() as session:
        assert lookup(session, key) is None
        assert list_keys(session) == []


def test_roles_follow_the_table() -> None:
    assert all(allows("admin", p) for p in ROUTE_PERMISSIONS.values())
    assert not allows("pm", "bulk_export")
    assert not allows("integration", "contact_data")
    assert allows("sales", "contact_data")
    assert set(ROLES) == {"admin", "pm", "sales", "account_owner", "integration"}


def test_masking() -> None:
    assert mask_email("john.doe@acme.com") == "j***@acme.com"
    assert mask_phone("+49 170 5551212") == "+49 *** ** 12"
    assert mask_phone("030-5551234") == "*** ** 34"
    assert mask_emails_in('"John Doe" <john@acme.com>') == '"John Doe" <j***@acme.com>'
    # Addresses in any script are addresses; the whole local part goes, not just its ASCII run.
    assert mask_emails_in("Jörg ‹jörg@müller.de>, jörg.müller@kunde.co.uk") == "Jörg ‹j***@müller.de>, j***@kunde.co.uk"


def test_phone_numbers_in_free_text_are_masked_and_dates_and_references_are_not() -> None:
    text = "Call +49 170 5551212, (555) 123-4567 or 0170 5551212."
    assert mask_contact_data_in(text) == "Call +49 *** ** 12, *** ** 67 or *** ** 12."
    kept = "Due 2026-12-04 10:30; invoice INV-2026-000123, order 123456789, budget 1,250,000, v1.2.3."
    assert mask_contact_data_in(kept) == kept and not has_contact_data(kept)
    assert has_contact_data("reach me on +44 20 7946 0958") and has_contact_data("ann@acme.com")


def test_missing_unknown_and_revoked_keys_get_401(client, make_key, parts, auth) -> None:
    assert client.get("/v1/me").status_code == 401
    assert client.get("/v1/me", headers=auth("hk_nope")).json()["error"] == "Unauthenticated"
    key = make_key("sales")
    assert client.get("/v1/me", headers={"X-API-Key": key}).json()["role"] == "sales"
    assert client.get("/v1/me", headers={"Authorization": f"bearer  {key} "}).json()["role"] == "sales"
    assert client.get("/v1/me", headers={"Authorization": f"Basic {key}"}).status_code == 401
    assert client.get("/v1/me", headers={"Authorization": "Bearer", "X-API-Key": key}).json()["role"] == "sales"
    with transaction(parts.sessions) as session:
        record = next(k for k in list_keys(session) if k.role == "sales")
        revoke_key(session, record.id)
    assert client.get("/v1/me", headers=auth(key)).status_code == 401


def test_the_openapi_names_the_key_schemes_on_every_keyed_operation() -> None:
    schema = create_app(models={}).openapi()
    assert set(schema["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    for operations in schema["paths"].values():
        for operation in operations.values():
            keyed = operation["operationId"] in ROUTE_PERMISSIONS
            open_by_default = operation["operationId"] == "metrics"  # like a Prometheus exporter, unless a setting
            assert bool(operation.get("security")) == (keyed and not open_by_default), operation["operationId"]
            # A signed webhook takes no key, yet may answer 401 to a bad signature (the vendor hooks do).
            if operation["operationId"] not in SIGNED_ROUTES:
                assert keyed == ("401" in operation["responses"]), operation["operationId"]


def test_every_keyed_operation_refuses_a_missing_and_an_unknown_key(client) -> None:
    """The permission table only works where the route takes the caller: two hook routes once answered anyone."""
    import re

    schema = client.app.openapi()
    opened = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if not operation.get("security"):  # signed webhooks; /metrics unless a setting says
                continue
            url = re.sub(r"\{[^}]+\}", "probe-missing", path)
            for headers in ({}, {"Authorization": "Bearer hk_unknown_" + "x" * 32}):
                answer = client.request(method.upper(), url, headers=headers, json={})
                if answer.status_code != 401:
                    opened.append((method.upper(), path, bool(headers), answer.status_code))
    assert opened == []


def test_metrics_take_a_key_with_metrics_read_when_the_setting_says_so(parts, make_key, auth) -> None:
    from fastapi.testclient import TestClient

    settings = parts.settings.model_copy(deep=True)
    settings.api.metrics_require_key = True
    with TestClient(create_app(parts=type(parts)(settings), models={}, key_cache_ttl_s=0)) as keyed:
        assert keyed.app.openapi()["paths"]["/metrics"]["get"]["security"]  # documented as keyed, as it now is
        assert keyed.get("/metrics").status_code == 401
        assert keyed.get("/metrics", headers=auth(make_key("pm"))).status_code == 403
        assert keyed.get("/metrics", headers=auth(make_key("admin"))).status_code == 200


def test_a_role_without_the_permission_gets_403(client, make_key, auth) -> None:
    pm = make_key("pm")
    response = client.post("/v1/churn/batch", json={"account_ids": ["a-1"]}, headers=auth(pm))
    assert response.status_code == 403
    assert "may not" in response.json()["detail"]
    assert client.get("/v1/ledger", headers=auth(pm)).status_code == 403
    assert client.get("/v1/ledger", headers=auth(make_key("integration"))).status_code == 200


def test_an_address_match_starts_only_where_a_run_starts_so_hostile_text_costs_linear_time() -> None:
    """A long run of address characters without an @ was rescanned from every position: 2 s for 20 k characters on
    every masked read. Matches now start at a run's start and the local part holds at most 64 (RFC 5321)."""
    from handoff.access.masking import _EMAIL

    assert _EMAIL.search("x" * 64 + "@acme.com").group(0) == "x" * 64 + "@acme.com"
    assert _EMAIL.search("x" * 65 + "@acme.com") is None  # no match from the middle of the run
    hostile = "a" * 50_000 + " " + "1-" * 50_000 + "x"
    assert not has_contact_data(hostile) and mask_contact_data_in(hostile) == hostile
