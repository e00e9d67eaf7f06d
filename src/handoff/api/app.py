"""Builds the FastAPI service: parts and models are created in the lifespan, never at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from handoff import __version__
from handoff.api.errors import install_error_handlers
from handoff.settings import Settings
from handoff.wiring import Parts, build


def create_app(settings: Settings | None = None, parts: Parts | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.parts = parts or build(settings)
        try:
            yield
        finally:
            if parts is None:
                app.state.parts.close()

    app = FastAPI(
        title="handoff",
        version=__version__,
        summary="Inbox to tasks, kickoff estimates and churn alerts, from your CRM.",
        lifespan=lifespan,
    )
    install_error_handlers(app)

    @app.get("/healthz", tags=["health"], summary="The process is up.")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
