"""Health, readiness, Prometheus metrics, reloading the champion models, the caller's own key, and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import text

from handoff import __version__
from handoff.access import audit
from handoff.access.roles import permissions_of
from handoff.api.deps import SessionDep
from handoff.api.errors import AUTHED, R401, R403, R503
from handoff.api.schemas import AuditEntryPublic, HealthPublic, ModelReloadPublic, ReadinessPublic, WhoAmIPublic
from handoff.api.security import Caller, current_principal
from handoff.errors import NotReady

router = APIRouter(tags=["health"])
v1 = APIRouter(prefix="/v1", tags=["access"])


@router.get("/healthz", name="healthz", summary="The process is up.", response_model=HealthPublic)
async def healthz() -> HealthPublic:
    return HealthPublic(status="ok", version=__version__)


@router.get(
    "/readyz",
    name="readyz",
    summary="The database answers; which champion model versions are loaded.",
    response_model=ReadinessPublic,
    responses={503: {"model": ReadinessPublic, "description": "The database does not answer."}},
)
def readyz(request: Request, response: Response) -> ReadinessPublic:
    from handoff.risk.registry import MODEL_NAMES

    parts = request.app.state.parts
    try:
        with parts.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        database = True
    except Exception:  # readiness reports the failure instead of raising it
        database = False
    models = {name: served.version for name, served in request.app.state.models.items()}
    if not database:
        response.status_code = 503
    return ReadinessPublic(
        status="ready" if database else "degraded",
        database=database,
        models=models,
        missing_models=[name for name in MODEL_NAMES if name not in models],
    )


@router.get(
    "/metrics",
    name="metrics",
    summary="Prometheus metrics: requests and latency by route, ledger rows by status.",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text."},
        **R401,
        **R403,
    },
)
async def metrics(request: Request) -> Response:
    """Open by default, like a Prometheus exporter; with `api.metrics_require_key` a key with `metrics:read`."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    if request.app.state.parts.settings.api.metrics_require_key:
        await current_principal(request)

    # The ledger gauge reads the database: not on the event loop.
    text = await run_in_threadpool(generate_latest, request.app.state.metrics.registry)
    return Response(text, media_type=CONTENT_TYPE_LATEST)


@v1.post(
    "/models/reload",
    name="reload_models",
    summary="Serve the champions the registry names now (after `handoff train` promoted one), without a restart.",
    response_model=ModelReloadPublic,
    responses={**AUTHED, **R503},
)
def reload_models(request: Request, caller: Caller) -> ModelReloadPublic:
    """Loads only the models whose `champion` alias moved; requests in flight finish on the set they started with.

    A model the registry no longer names, or that fails to load, keeps being served as it was.
    """
    from handoff.risk.registry import MODEL_NAMES, champion_version, load_champion

    state = request.app.state
    settings = state.parts.settings
    served = dict(state.models)
    changed = []
    try:
        for name in MODEL_NAMES:
            version = champion_version(settings, name)
            if version is None or (name in served and served[name].version == version):
                continue
            loaded = load_champion(settings, name)
            if loaded is not None:
                served[name] = loaded
                changed.append(name)
    except Exception as error:  # the registry (MLflow) is another system: its failure is a 503, not a 500
        raise NotReady(f"could not read the model registry: {error}") from error
    if changed:
        state.models = served  # one assignment: a request sees the old set or the new one, never a mix
    return ModelReloadPublic(models={name: model.version for name, model in served.items()}, changed=changed)


@v1.get(
    "/me",
    name="whoami",
    summary="The calling key: role and permissions.",
    response_model=WhoAmIPublic,
    responses=AUTHED,
)
async def whoami(caller: Caller) -> WhoAmIPublic:
    return WhoAmIPublic(
        key_id=caller.key_id,
        name=caller.name,
        role=caller.role,
        owner_id=caller.owner_id,
        permissions=sorted(permissions_of(caller.role)),
    )


@v1.get(
    "/audit",
    name="list_audit",
    summary="The audit log, newest first: who read contact data, what, when.",
    response_model=list[AuditEntryPublic],
    responses=AUTHED,
)
def list_audit(
    session: SessionDep,
    caller: Caller,
    actor: Annotated[str | None, Query(max_length=255)] = None,
    subject: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[AuditEntryPublic]:
    entries = audit.list_entries(session, actor=actor, subject=subject, limit=limit, offset=offset)
    return [AuditEntryPublic(**e.__dict__) for e in entries]
