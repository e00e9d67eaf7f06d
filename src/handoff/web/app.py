"""Mounts the web app on the API's FastAPI: pages under /app, packaged static files, HTML error pages there."""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handoff.settings import Settings
from handoff.web.i18n import N_
from handoff.web.throttle import Throttle

PACKAGE = Path(__file__).parent
PREFIX = "/app"
# No inline script or style, nothing from elsewhere, never framed; a sign-in token in a URL never leaves in a Referer.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@dataclass
class WebState:
    """What the pages share in one process: the secret, templates, sign-in throttles and cookie settings."""

    settings: Settings
    secret: bytes
    templates: Any
    by_email: Throttle
    by_client: Throttle
    secure_cookies: bool = False
    catalogs: dict[str, Any] = field(default_factory=dict)  # locale -> gettext translations (`web.i18n`)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def session_seconds(self) -> int:
        return int(self.settings.web.session_hours * 3600)

    def new_visitor(self) -> str:
        return secrets.token_urlsafe(24)

    def set_cookie(self, response: Response, name: str, value: str, *, max_age: int | None) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path=PREFIX, httponly=True, samesite="lax", secure=self.secure_cookies
        )


def web_state(settings: Settings) -> WebState:
    from fastapi.templating import Jinja2Templates

    from handoff.web import i18n
    from handoff.web.cookies import web_secret

    templates = Jinja2Templates(directory=str(PACKAGE / "templates"))
    i18n.install(templates.env)
    web = settings.web
    secure = web.cookie_secure if web.cookie_secure is not None else settings.web_base_url.startswith("https://")
    return WebState(
        settings=settings,
        secret=web_secret(settings),
        templates=templates,
        by_email=Throttle(web.sign_in_attempts, web.sign_in_window_s),
        by_client=Throttle(web.sign_in_attempts * 4, web.sign_in_window_s),
        secure_cookies=secure,
        catalogs=i18n.compile_catalogs(),
    )


class SecurityHeadersMiddleware:
    """The headers above on every answer under /app (pages, redirects, errors and static files alike)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                extra = dict(SECURITY_HEADERS)
                if not scope["path"].startswith(f"{PREFIX}/static/"):
                    extra["cache-control"] = "no-store"  # pages show masked or unmasked contact data
                present = {name.lower() for name, _ in headers}  # a download sets some itself: never twice
                headers += [(k.encode(), v.encode()) for k, v in extra.items() if k.encode() not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


Handler = Callable[[Request, Any], Awaitable[Response]]
TITLES = {400: N_("That did not work"), 401: N_("Sign in"), 403: N_("Not allowed"), 404: N_("Not found"),
          409: N_("Already decided"), 413: N_("Too large"), 429: N_("Too many tries"),
          503: N_("Busy, try again")}  # fmt: skip


def _as_page(json_handler: Handler) -> Handler:
    """Under /app an error is a page with the API's status and message (the one mapping, `api.errors`); a missing
    session is a redirect to sign-in. Elsewhere the API's JSON answer goes out unchanged."""

    async def handler(request: Request, error: Any) -> Response:
        path = request.url.path
        if not path.startswith(PREFIX) or path.startswith(f"{PREFIX}/static/"):
            return await json_handler(request, error)
        from handoff.web.pages import SignInRequired, render, translator

        if isinstance(error, SignInRequired):
            return RedirectResponse(f"{PREFIX}/sign-in?next={quote(error.next_path)}", status_code=303)
        answer = await json_handler(request, error)
        try:
            problem = json.loads(bytes(answer.body))["detail"]
        except (ValueError, KeyError, TypeError):
            problem = "unexpected server error; it has been logged"
        status = answer.status_code
        title = translator(request)(TITLES.get(status, N_("Something went wrong")))
        page = render(request, "error.html", status, title=title, problem=problem)
        if "retry-after" in answer.headers:
            page.headers["Retry-After"] = answer.headers["retry-after"]
        return page

    return handler


def install_web(app: FastAPI) -> None:
    """Called by `create_app` after the API's error handlers; `app.state.web` is set in the lifespan."""
    from fastapi.staticfiles import StaticFiles

    from handoff.web import accounts, estimates, models_page, tasks_page
    from handoff.web.pages import router

    app.include_router(router)
    for pages in (accounts, estimates, models_page, tasks_page):
        app.include_router(pages.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=str(PACKAGE / "static")), name="web_static")
    for kind, json_handler in list(app.exception_handlers.items()):
        app.exception_handlers[kind] = _as_page(json_handler)
    app.add_middleware(SecurityHeadersMiddleware)
