"""Builds the FastAPI service: parts, keys and champion models are set up in the lifespan, never at import."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import CapacityLimiter
from fastapi import FastAPI

from handoff import __version__
from handoff.api.errors import install_error_handlers
from handoff.settings import Settings
from handoff.wiring import Parts, build

log = logging.getLogger(__name__)

DESCRIPTION = """
Inbox to tasks, kickoff estimates and churn alerts, from your CRM.

Every `/v1` route takes an API key (`Authorization: Bearer <key>` or `X-API-Key: <key>`) made with
`handoff keys create --role ROLE`. Roles: admin, pm, sales, account_owner, integration; which role may call which
route is one table (`handoff.access.roles.ROUTE_PERMISSIONS`). Errors always have the shape `{"error", "detail"}`.
"""


def load_models(settings: Settings) -> dict:
    """Every champion by alias (`models:/handoff-<name>@champion`) as raw LightGBM boosters; none is fine."""
    from handoff.risk.registry import load_champions

    try:
        return load_champions(settings)
    except Exception as error:  # a broken registry must not keep the API (ingest, tasks) from starting
        log.warning("could not load champion models: %s", error)
        return {}


def create_app(
    settings: Settings | None = None,
    parts: Parts | None = None,
    *,
    models: dict | None = None,
    key_cache_ttl_s: float = 5.0,
    feature_cache_ttl_s: float = 300.0,
    known_contacts_ttl_s: float = 60.0,
) -> FastAPI:
    """`parts`/`models` given: the caller owns them (tests, `handoff up`); otherwise they are built in the lifespan."""
    from handoff.access.disclosure import KnownContacts
    from handoff.access.keys import KeyCache
    from handoff.api.limits import BodyLimitMiddleware, KeyRateLimiter
    from handoff.api.metrics import ApiMetrics, MetricsMiddleware
    from handoff.api.routes import alerts, contacts, hooks, intake, meta, risk, subscriptions, sync, tasks
    from handoff.api.scoring import DefaultDay, FeatureCache
    from handoff.api.security import document_security
    from handoff.web.app import install_web, web_state

    resolved = settings or (parts.settings if parts is not None else None) or Settings()
    api_metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.parts = parts or build(resolved)
        app.state.keys = KeyCache(app.state.parts.sessions, ttl_s=key_cache_ttl_s)
        app.state.contacts_limiter = KeyRateLimiter(resolved.api.contacts_per_minute)
        app.state.known_contacts = KnownContacts(ttl_s=known_contacts_ttl_s)  # masks "jennifer.liu" in titles
        # Loaded once, here: requests only ever read `app.state.models`.
        app.state.models = models if models is not None else load_models(resolved)
        app.state.features = FeatureCache(ttl_s=feature_cache_ttl_s)
        app.state.default_day = DefaultDay()
        app.state.scoring_lane = CapacityLimiter(resolved.api.scoring_threads or os.cpu_count() or 1)
        app.state.metrics = api_metrics
        app.state.web = web_state(resolved)
        api_metrics.watch_ledger(lambda: _ledger_counts(app.state.parts))
        try:
            yield
        finally:
            if parts is None:
                app.state.parts.close()

    app = FastAPI(
        title="handoff",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # The route name is the operation id: the permission table, the metrics and client generators share it.
        generate_unique_id_function=lambda route: route.name,
    )
    install_error_handlers(app)
    document_security(app, open_operations=frozenset() if resolved.api.metrics_require_key else frozenset({"metrics"}))
    # Matched in this order, route by route: the scoring hot paths go first (matching cost ~60 us at the end).
    app.include_router(risk.router)
    app.include_router(meta.router)
    app.include_router(meta.v1)
    app.include_router(intake.router)
    app.include_router(intake.signed_router)
    app.include_router(tasks.router)
    app.include_router(alerts.router)
    app.include_router(contacts.router)
    app.include_router(subscriptions.router)
    app.include_router(hooks.router)
    app.include_router(sync.router)
    # The web app for people (`/app`): its pages turn the API's errors into pages, so it wraps the handlers above.
    install_web(app)
    # Outermost last: the size limit answers before anything reads the body; metrics see every answer.
    app.add_middleware(BodyLimitMiddleware, max_bytes=resolved.api.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=api_metrics)
    return app


def _ledger_counts(parts: Parts) -> dict[str, int]:
    from handoff.intake.service import counts

    with parts.sessions() as session:
        return counts(session)
