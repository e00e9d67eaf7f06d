"""The webhooks of Jira, Asana and Trello (`/v1/hooks/...`): signed by each vendor's own scheme, not an API key."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from handoff.api.deps import PartsDep
from handoff.api.errors import R400, R401, R409, R413, _doc

router = APIRouter(prefix="/v1/hooks", tags=["sync"])

HOOK_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}}
R502 = {502: _doc("The tool could not be read (Asana's events name tasks only).")}


class HookPublic(BaseModel):
    """What became of one delivery: applied, unchanged, stale, unlinked, ignored, duplicate or handshake."""

    outcome: str
    task_ids: list[str]


async def _receive(vendor: str, request: Request, parts) -> JSONResponse:
    from handoff.sync.hooks import RECEIVERS

    body = await request.body()
    answer = await run_in_threadpool(
        RECEIVERS[vendor], parts.sessions, parts.settings.sync, body, dict(request.headers)
    )
    return JSONResponse(answer.as_dict(), headers=answer.headers)


@router.post(
    "/jira",
    name="receive_jira_hook",
    summary="A Jira Cloud admin webhook (issue updated), signed with its secret in X-Hub-Signature.",
    response_model=HookPublic,
    responses={**R400, **R401, **R413},
    openapi_extra=HOOK_BODY,
)
async def receive_jira_hook(request: Request, parts: PartsDep) -> JSONResponse:
    return await _receive("jira", request, parts)


@router.post(
    "/asana",
    name="receive_asana_hook",
    summary="Asana's webhook: the X-Hook-Secret handshake (echoed and kept), then events signed in X-Hook-Signature.",
    response_model=HookPublic,
    responses={**R400, **R401, **R409, **R413, **R502},
    openapi_extra=HOOK_BODY,
)
async def receive_asana_hook(request: Request, parts: PartsDep) -> JSONResponse:
    return await _receive("asana", request, parts)


@router.head("/trello", name="check_trello_hook", summary="Trello's check of the callback URL when a webhook is made.")
async def check_trello_hook() -> Response:
    return Response(status_code=200)


@router.post(
    "/trello",
    name="receive_trello_hook",
    summary="A Trello webhook, signed with base64 HMAC-SHA1 over body + callback URL in X-Trello-Webhook.",
    response_model=HookPublic,
    responses={**R400, **R401, **R413},
    openapi_extra=HOOK_BODY,
)
async def receive_trello_hook(request: Request, parts: PartsDep) -> JSONResponse:
    return await _receive("trello", request, parts)
