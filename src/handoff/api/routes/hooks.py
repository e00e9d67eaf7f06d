"""The webhooks of Jira, Asana and Trello (`/v1/hooks/...`): signed by each vendor's own scheme, not an API key."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from handoff.api.deps import PartsDep
from handoff.api.errors import R400, R401, R409, R413, _doc
from handoff.api.schemas import examples

router = APIRouter(prefix="/v1/hooks", tags=["sync"])


def _hook_body(example: dict) -> dict:
    """The vendor's JSON as it sends it (read raw: the signature covers the exact bytes), with one real-shaped body."""
    schema = {"type": "object", "examples": [example]}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


JIRA_BODY = _hook_body(
    {
        "webhookEvent": "jira:issue_updated",
        "timestamp": 1765100000000,
        "issue": {
            "id": "10231",
            "key": "ACME-12",
            "fields": {
                "status": {"name": "Done", "statusCategory": {"key": "done"}},
                "assignee": {"emailAddress": "maria.keller@handoff.example"},
                "duedate": "2026-12-18",
                "updated": "2026-12-08T09:30:00.000+0000",
            },
        },
    }
)
ASANA_BODY = _hook_body(
    {"events": [{"action": "changed", "resource": {"gid": "1208830000000001", "resource_type": "task"}}]}
)
TRELLO_BODY = _hook_body(
    {
        "action": {
            "id": "6756b1f2a9c8e7d6c5b4a392",
            "type": "updateCard",
            "date": "2026-12-08T09:30:00.000Z",
            "data": {"card": {"id": "6756a0e1b8c7d6e5f4a3b291"}, "listAfter": {"id": "64f1c2a9b8e7d6c5b4a39281"}},
        }
    }
)
R502 = {502: _doc("The tool could not be read (Asana's events name tasks only).")}


class HookPublic(BaseModel):
    """What became of one delivery: applied, unchanged, stale, unlinked, ignored, duplicate or handshake."""

    model_config = examples({"outcome": "applied", "task_ids": ["tsk_3f9a1c2e7b4d5a60"]})

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
    openapi_extra=JIRA_BODY,
)
async def receive_jira_hook(request: Request, parts: PartsDep) -> JSONResponse:
    return await _receive("jira", request, parts)


@router.post(
    "/asana",
    name="receive_asana_hook",
    summary="Asana's webhook: the X-Hook-Secret handshake (echoed and kept), then events signed in X-Hook-Signature.",
    response_model=HookPublic,
    responses={**R400, **R401, **R409, **R413, **R502},
    openapi_extra=ASANA_BODY,
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
    openapi_extra=TRELLO_BODY,
)
async def receive_trello_hook(request: Request, parts: PartsDep) -> JSONResponse:
    return await _receive("trello", request, parts)
