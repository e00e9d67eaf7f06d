"""Maps the domain's error hierarchy onto HTTP status codes, one clear message each; never a 500 for bad input."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from handoff import errors
from handoff.api.limits import BodyTooLarge
from handoff.redaction import redact
from handoff.store.db import is_busy

log = logging.getLogger(__name__)


class Unauthenticated(errors.HandoffError):
    """No API key, or one the service does not know (HTTP 401); lives here because only HTTP has this notion."""


class RateLimited(errors.HandoffError):
    """Too many requests of one kind from one key (HTTP 429); `retry_after_s` becomes the `Retry-After` header."""

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


STATUS_BY_ERROR: tuple[tuple[type[errors.HandoffError], int], ...] = (
    (Unauthenticated, 401),
    (errors.BadSignature, 401),
    (RateLimited, 429),
    (errors.TooLarge, 413),
    (errors.ImportRejected, 422),
    (errors.InvalidInput, 400),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.PermissionDenied, 403),
    (errors.NotReady, 503),
    (errors.ExternalFailure, 502),
)

BUSY_RETRY_AFTER_S = 5  # a busy database frees up within seconds: the worker's write transactions are short
ERROR_NAMES = {401: "Unauthenticated", 403: "PermissionDenied", 404: "NotFound", 405: "MethodNotAllowed"}


class ErrorPublic(BaseModel):
    """Every error response has this shape."""

    error: str = Field(description="The kind of error, e.g. NotFound, InvalidInput, PermissionDenied.")
    detail: str = Field(description="One line a person can act on.")


def _doc(description: str) -> dict:
    return {"model": ErrorPublic, "description": description}


# The error responses a route can give, for its OpenAPI `responses=`; every authenticated route has 401/403/422.
R400 = {400: _doc("The input is well-formed but cannot be used.")}
R401 = {401: _doc("No API key, or an unknown or revoked one.")}
R403 = {403: _doc("The key's role may not do this.")}
R404 = {404: _doc("Not found (or not visible to this key).")}
R409 = {409: _doc("Clashes with the current state.")}
R413 = {413: _doc("The body is over the size limit.")}
R422 = {422: _doc("The request does not match the schema.")}
R429 = {429: _doc("Too many requests from this key; `Retry-After` says when to try again.")}
R503 = {503: _doc("A model or dependency is not ready yet, or the database is busy (see Retry-After).")}
# Every keyed route: a value the store refuses although the schema let it through (a NUL character on PostgreSQL)
# is a 400 on any of them.
AUTHED = {**R400, **R401, **R403, **R422}


def status_for(error: errors.HandoffError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def error_response(status: int, error: str, detail: str, *, retry_after_s: int | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="handoff"'} if status == 401 else {}
    if retry_after_s is not None:
        headers["Retry-After"] = str(max(1, retry_after_s))
    return JSONResponse(status_code=status, content={"error": error, "detail": detail}, headers=headers or None)


def busy_response() -> JSONResponse:
    return error_response(
        503,
        "Busy",
        f"the database is busy; nothing was changed, try again in {BUSY_RETRY_AFTER_S} s",
        retry_after_s=BUSY_RETRY_AFTER_S,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.HandoffError)
    async def _domain_error(_request: Request, error: errors.HandoffError) -> JSONResponse:
        status = status_for(error)
        if status == 500:  # a HandoffError subclass nobody mapped: still one clear line, but log it
            log.error("unmapped domain error %s: %s", type(error).__name__, error)
        # Redacted: a message may carry another system's words (a registry URL with its password, an echoed key).
        detail = redact(str(error))
        return error_response(status, type(error).__name__, detail, retry_after_s=getattr(error, "retry_after_s", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}" for problem in error.errors()
        )
        return error_response(422, "InvalidInput", problems or "the request does not match the schema")

    @app.exception_handler(DataError)
    async def _unstorable(_request: Request, error: DataError) -> JSONResponse:
        # What the schemas let through but the database refuses (PostgreSQL: a NUL character, a value over its
        # column's length) is bad input: the transaction rolled back, nothing was half-written.
        log.info("database refused a value: %s", error.orig)
        return error_response(400, "InvalidInput", "a value cannot be stored: text may not hold NUL characters or "
                              "exceed its field's length")  # fmt: skip

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    async def _database_error(request: Request, error: Exception) -> JSONResponse:
        # A locked SQLite (another connection's write outlasted the busy timeout) or a PostgreSQL lock timeout is
        # load, not a bug: the transaction rolled back, and the same request later succeeds.
        if is_busy(error):
            log.warning("database busy: %s", type(error).__name__)
            return busy_response()
        return await _unexpected(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        if isinstance(error.__cause__, DataError):  # pandas wraps the store's refusal in its own DatabaseError
            return await _unstorable(request, error.__cause__)
        if error.__cause__ is not None and is_busy(error.__cause__):
            return busy_response()
        # A bug, not bad input: logged with its traceback; the caller gets the usual JSON shape, no internals.
        log.exception("unhandled error", exc_info=error)
        return error_response(500, "InternalError", "unexpected server error; it has been logged")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        if isinstance(error.__cause__, BodyTooLarge):  # FastAPI's 400 around a streamed body over the limit
            return error_response(413, "TooLarge", str(error.__cause__))
        name = ERROR_NAMES.get(error.status_code, "HTTPError")
        return error_response(error.status_code, name, str(error.detail))
