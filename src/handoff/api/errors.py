"""Maps the domain's error hierarchy onto HTTP status codes, one clear message each; never a 500 for bad input."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from handoff import errors

STATUS_BY_ERROR: tuple[tuple[type[errors.HandoffError], int], ...] = (
    (errors.TooLarge, 413),
    (errors.ImportRejected, 422),
    (errors.InvalidInput, 400),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.PermissionDenied, 403),
    (errors.NotReady, 503),
    (errors.ExternalFailure, 502),
)


class ErrorPublic(BaseModel):
    """Every error response has this shape."""

    error: str
    detail: str


def status_for(error: errors.HandoffError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.HandoffError)
    async def _domain_error(_request: Request, error: errors.HandoffError) -> JSONResponse:
        status = status_for(error)
        return JSONResponse(status_code=status, content={"error": type(error).__name__, "detail": str(error)})

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}" for problem in error.errors()
        )
        return JSONResponse(status_code=422, content={"error": "InvalidInput", "detail": problems})
