"""Who is calling and may they: API key from `Authorization: Bearer` or `X-API-Key`, checked against the route table."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from handoff.access.disclosure import Disclosure, disclosure_for
from handoff.access.keys import Principal
from handoff.access.roles import ROUTE_PERMISSIONS, may_call
from handoff.api.deps import SessionDep
from handoff.api.errors import Unauthenticated
from handoff.errors import PermissionDenied

SECURITY_SCHEMES = {
    "HTTPBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <key>` from `handoff keys create`.",
    },
    "APIKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The same key in `X-API-Key`.",
    },
}


def _bearer_token(header: str | None) -> str | None:
    scheme, _, token = (header or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


async def current_principal(request: Request) -> Principal:
    """Authenticates the key and checks the route's permission in `access.roles.ROUTE_PERMISSIONS`.

    The headers are read here, not through FastAPI's security classes: two more dependencies cost ~30 us on every
    request, a tenth of the churn hot path. `document_security` puts the same schemes into the OpenAPI.
    """
    key = _bearer_token(request.headers.get("authorization")) or request.headers.get("x-api-key")
    if not key:
        raise Unauthenticated("an API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`")
    keys = request.app.state.keys
    known, principal = keys.cached(key)
    if not known:  # the lookup reads the database: not on the event loop
        principal = await run_in_threadpool(keys.authenticate, key)
    if principal is None:
        raise Unauthenticated("unknown or revoked API key")
    if principal.expired():
        raise Unauthenticated(
            f"API key {principal.key_id} expired at {principal.expires_at:%Y-%m-%d %H:%M} UTC: "
            "ask an admin for a new one (`handoff keys rotate` or `handoff keys create`)"
        )
    route_name = getattr(request.scope.get("route"), "name", None)
    # Fail closed: a route nobody listed in the permission table is refused to every role, and a scoped role (an
    # account owner) is refused a route that does not apply its account scope.
    if not may_call(principal.role, route_name or ""):
        raise PermissionDenied(f"role {principal.role!r} may not call {route_name or 'this route'}")
    return principal


Caller = Annotated[Principal, Depends(current_principal)]


def caller_view(request: Request, session: SessionDep, caller: Caller) -> Disclosure:
    """What this caller is shown of free text quoting customer mail (`access.disclosure`), in the request's session."""
    return disclosure_for(session, caller, request.app.state.known_contacts)


View = Annotated[Disclosure, Depends(caller_view)]


def document_security(app: FastAPI, *, open_operations: frozenset[str] = frozenset()) -> None:
    """The key schemes in the OpenAPI document, on every operation in the permission table (those take a key), but
    for `open_operations`, which this service answers without one (`/metrics` unless `api.metrics_require_key`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        for operations in schema["paths"].values():
            for operation in operations.values():
                if operation.get("operationId") in open_operations:
                    operation["security"] = []  # explicitly none: a client must not think it needs a key
                elif operation.get("operationId") in ROUTE_PERMISSIONS:
                    operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
