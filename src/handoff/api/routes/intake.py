"""Messages in (raw RFC 822, the inbound-parse webhook, meeting notes) and the ledger (list by status, retry,
release from the spam and bulk gate)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from handoff.access.disclosure import Disclosure
from handoff.api.deps import PartsDep, SessionDep
from handoff.api.downloads import DOWNLOAD_RESPONSES, download_response
from handoff.api.errors import AUTHED, R400, R403, R404, R409, R413, R422, R503
from handoff.api.schemas import (
    LedgerEntryPublic,
    LedgerPagePublic,
    NotesRequest,
    ReceiptPublic,
    RetryPublic,
    RetryRequest,
)
from handoff.api.security import Caller, View
from handoff.errors import InvalidInput
from handoff.intake.ledger import FREE_TEXT, MAX_ID

router = APIRouter(prefix="/v1", tags=["intake"])

# Bodies that are surely something else; other types (none, text/plain, octet-stream) are taken as the raw message.
_NOT_A_MESSAGE = ("application/json", "multipart/form-data", "application/x-www-form-urlencoded")
signed_router = APIRouter(prefix="/v1", tags=["intake"])

RAW_BODY = {
    "requestBody": {
        "required": True,
        "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
    }
}
WEBHOOK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "email": {"type": "string", "description": "The raw message (SendGrid 'send raw')."},
                        "body-mime": {"type": "string", "description": "The raw message (Mailgun MIME route)."},
                        "from": {"type": "string"},
                        "to": {"type": "string"},
                        "subject": {"type": "string"},
                        "text": {"type": "string"},
                        "html": {"type": "string"},
                        "headers": {"type": "string"},
                    },
                }
            }
        },
    },
    "parameters": [
        {
            "name": "X-Handoff-Timestamp",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "Unix seconds; refused when more than 5 minutes off.",
        },
        {
            "name": "X-Handoff-Signature",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "Hex HMAC-SHA256 of timestamp + body under HANDOFF_INBOX__WEBHOOK_SECRET.",
        },
    ],
}


def _receipt(entry: Any) -> ReceiptPublic:
    return ReceiptPublic(id=entry.id, status=entry.display_status, message_id=entry.message_id, reason=entry.reason)


@router.post(
    "/emails",
    name="receive_email",
    status_code=202,
    summary="Take one raw RFC 822 message into the ledger.",
    response_model=ReceiptPublic,
    responses={**AUTHED, **R400, **R413},
    openapi_extra=RAW_BODY,
)
async def receive_email(request: Request, parts: PartsDep, caller: Caller) -> ReceiptPublic:
    """`Content-Type: message/rfc822`; answers once the message is durable (tasks follow from the worker)."""
    from handoff.intake.sources.http import accept_rfc822

    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind in _NOT_A_MESSAGE:
        raise InvalidInput(
            f"a {kind} body is not a raw message: send Content-Type: message/rfc822 (a provider's inbound-parse "
            "form goes to /v1/emails/inbound, meeting notes to /v1/notes)"
        )
    body = await request.body()
    entry = await run_in_threadpool(accept_rfc822, parts, body)
    return _receipt(entry)


@signed_router.post(
    "/emails/inbound",
    name="receive_inbound_webhook",
    status_code=202,
    summary="A mail provider's inbound-parse webhook (multipart), signed with HMAC-SHA256.",
    response_model=ReceiptPublic,
    responses={**R400, **R403, **R413, **R422, **R503},
    openapi_extra=WEBHOOK_BODY,
)
async def receive_inbound_webhook(request: Request, parts: PartsDep) -> ReceiptPublic:
    """Authenticated by its signature, not an API key: providers sign, they do not send bearer tokens."""
    from handoff.intake.sources.http import accept_webhook

    body = await request.body()
    content_type = request.headers.get("content-type", "")
    entry = await run_in_threadpool(accept_webhook, parts, body, content_type, dict(request.headers))
    return _receipt(entry)


@router.post(
    "/notes",
    name="receive_notes",
    status_code=202,
    summary="Take meeting notes (text, Markdown, WebVTT) into the ledger.",
    response_model=ReceiptPublic,
    responses={**AUTHED, **R400, **R413},
)
def receive_notes(body: NotesRequest, parts: PartsDep, caller: Caller) -> ReceiptPublic:
    from handoff.intake.service import receive_notes as receive

    entry = receive(parts, body.text, body.format, body.sent_at, body.author or caller.name, source="api")
    return _receipt(entry)


def public_entries(view: Disclosure, entries: list[Any]) -> list[LedgerEntryPublic]:
    """Contact data in full for roles with `contact_data` (and the read is audited), masked for the rest."""
    shown = []
    for entry in entries:
        data = entry.to_dict()
        data.pop("details", None)
        data = view.show(data, free_text=FREE_TEXT, subject=f"ledger:{entry.id}", account_id=entry.account_id)
        shown.append(LedgerEntryPublic(**data))
    return shown


@router.get(
    "/ledger",
    name="list_ledger",
    summary="Ledger entries, newest first; `status=failed` lists what needs a retry.",
    response_model=LedgerPagePublic,
    responses={**AUTHED, **R400},
)
def list_ledger(
    session: SessionDep,
    view: View,
    status: Annotated[str | None, Query(max_length=32, description="A status or an outcome.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> LedgerPagePublic:
    from handoff.intake.ledger import OUTCOMES, STATES
    from handoff.intake.service import counts, list_entries

    if status is not None and status not in STATES + OUTCOMES:
        raise InvalidInput(f"status must be one of {', '.join(STATES + OUTCOMES)}, not {status!r}")
    # Account owners: entries linked to their own accounts only, and counts of those alone.
    entries = list_entries(session, status, limit, offset, view.scope)
    return LedgerPagePublic(entries=public_entries(view, entries), counts=counts(session, view.scope))


@router.get(
    "/ledger/{entry_id}",
    name="get_ledger_entry",
    summary="One ledger entry.",
    response_model=LedgerEntryPublic,
    responses={**AUTHED, **R404},
)
def get_ledger_entry(
    entry_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep, view: View
) -> LedgerEntryPublic:
    from handoff.intake.service import get_entry

    return public_entries(view, [get_entry(session, entry_id, scope=view.scope)])[0]


@router.get(
    "/ledger/{entry_id}/original",
    name="get_ledger_original",
    summary="The entry's message as it arrived (.eml; notes as text), as a download; audited.",
    response_class=Response,
    responses={**AUTHED, **R404, **DOWNLOAD_RESPONSES["message/rfc822"]},
)
def get_ledger_original(
    entry_id: Annotated[int, Path(ge=1, le=MAX_ID)], parts: PartsDep, session: SessionDep, caller: Caller
) -> Response:
    """Unmasked bytes: only roles with `contact_data` beside `ledger:read` (`access.roles.ROUTE_ALSO_NEEDS`)."""
    from handoff.intake.service import download_original

    return download_response(download_original(session, entry_id, raw_dir=parts.settings.raw_mail_dir,
                                               actor=caller.actor))  # fmt: skip


@router.get(
    "/ledger/{entry_id}/attachments/{index}",
    name="get_ledger_attachment",
    summary="One attachment of the entry's mail (0-based, in the order the entry lists them), as a download; audited.",
    response_class=Response,
    responses={**AUTHED, **R404, **DOWNLOAD_RESPONSES["application/octet-stream"]},
)
def get_ledger_attachment(
    entry_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    index: Annotated[int, Path(ge=0, le=10_000)],
    parts: PartsDep,
    session: SessionDep,
    caller: Caller,
) -> Response:
    """Served as `application/octet-stream` whatever the mail declared; the same roles as the original."""
    from handoff.intake.service import download_attachment

    settings = parts.settings
    found = download_attachment(session, entry_id, index, raw_dir=settings.raw_mail_dir,
                                parse_timeout_s=settings.inbox.parse_timeout_s, actor=caller.actor)  # fmt: skip
    return download_response(found)


@router.post(
    "/ledger/retry",
    name="retry_ledger",
    summary="Send failed entries back to the ingest worker.",
    response_model=RetryPublic,
    responses={**AUTHED, **R413, **R400, **R404, **R409},
)
def retry_ledger(body: RetryRequest, parts: PartsDep, caller: Caller) -> RetryPublic:
    from handoff.intake.service import retry

    return RetryPublic(retried=retry(parts.sessions, body.ids))


@router.post(
    "/ledger/{entry_id}/release",
    name="release_ledger_entry",
    summary="Release a quarantined (spam) or bulk entry: processed again, without the spam and bulk gate.",
    response_model=LedgerEntryPublic,
    responses={**AUTHED, **R404, **R409},
)
def release_ledger_entry(
    entry_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep, caller: Caller, view: View
) -> LedgerEntryPublic:
    """A person's decision, audited; the worker picks the entry up (its status is `received` until then)."""
    from handoff.intake.service import get_entry, release

    release(session, [entry_id], actor=caller.actor)
    return public_entries(view, [get_entry(session, entry_id)])[0]
