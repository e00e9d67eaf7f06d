"""Who is calling and may they: API key from `Authorization: Bearer` or `X-API-Key`, checked against the route table."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from handoff.access.keys import Principal
from handoff.access.roles import ROUTE_PERMISSIONS, allows
from handoff.api.errors import Unauthenticated
from handoff.errors import PermissionDenied

bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>` from `handoff keys create`.")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same key in `X-API-Key`.")


async def current_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    header_key: Annotated[str | None, Security(api_key_scheme)],
) -> Principal:
    """Authenticates the key and checks the route's permission in `access.roles.ROUTE_PERMISSIONS`."""
    key = bearer.credentials if bearer is not None else header_key
    if not key:
        raise Unauthenticated("an API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`")
    keys = request.app.state.keys
    known, principal = keys.cached(key)
    if not known:  # the lookup reads the database: not on the event loop
        principal = await run_in_threadpool(keys.authenticate, key)
    if principal is None:
        raise Unauthenticated("unknown or revoked API key")
    route_name = getattr(request.scope.get("route"), "name", None)
    permission = ROUTE_PERMISSIONS.get(route_name or "")
    # Fail closed: a route nobody listed in the permission table is refused to every role.
    if permission is None or not allows(principal.role, permission):
        raise PermissionDenied(f"role {principal.role!r} may not call {route_name or 'this route'}")
    return principal


Caller = Annotated[Principal, Depends(current_principal)]
