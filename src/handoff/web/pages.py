"""The web app's routes under `/app`: sign-in (password or one-time link), sign-out, the inbox and the review queue.

Every page needs a signed-in person whom the API's own rule (`access.roles.may_call`, on the route name) lets
through; every POST carries a CSRF token; the data comes through the API's own service calls
and masking functions, so a person sees on a page exactly what their role sees through `/v1`.
"""

from __future__ import annotations

import gettext
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from handoff.access.roles import allows, may_call
from handoff.access.users import (
    Person,
    User,
    check_password,
    end_session,
    peek_link,
    redeem_link,
    session_user,
    set_password,
    start_session,
)
from handoff.api.deps import SessionDep
from handoff.api.errors import RateLimited
from handoff.errors import HandoffError, InvalidInput, PermissionDenied
from handoff.intake.ledger import MAX_ID
from handoff.store.db import transaction
from handoff.web import cookies, i18n
from handoff.web.cookies import CSRF_FIELD, SESSION_COOKIE, VISITOR_COOKIE


class SignInRequired(HandoffError):
    """No live session: the page answers with a redirect to sign-in (and back to `next` afterwards)."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in to continue")
        self.next_path = next_path


class FormRefused(PermissionDenied):
    """A POST without the CSRF token of this session (or visitor): refused, nothing done."""


def _web(request: Request):
    return request.app.state.web


def _session_token(request: Request) -> str | None:
    return cookies.unsign(_web(request).secret, request.cookies.get(SESSION_COOKIE))


def _visitor(request: Request) -> str | None:
    return cookies.unsign(_web(request).secret, request.cookies.get(VISITOR_COOKIE), "visitor")


def _csrf_seed(request: Request) -> str | None:
    """A form is bound to the session when there is one, else to the visitor cookie."""
    return _session_token(request) or getattr(request.state, "new_visitor", None) or _visitor(request)


async def check_csrf(request: Request) -> None:
    """On every state-changing request under /app: the form's token must be this session's (or visitor's)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    form = await request.form()
    if not cookies.csrf_ok(_web(request).secret, _csrf_seed(request), form.get(CSRF_FIELD)):  # type: ignore[arg-type]
        raise FormRefused("this form was not sent from a page of this session; reload the page and send it again")


def current_person(request: Request, session: SessionDep) -> Person:
    """The signed-in person, allowed this route by the permission table; a missing or ended session redirects.
    Read in the request's own session, which also gets the app's cached contact addresses for masking."""
    token = _session_token(request)
    user: User | None = None
    session.info["known_contacts"] = getattr(request.app.state, "known_contacts", None)
    if token is not None:
        user = session_user(session, token)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target if request.method == "GET" else "/app")
    person = user.principal()
    request.state.person = person
    request.state.language = user.language  # the person's own choice, kept with them (`request_locale`)
    route_name = getattr(request.scope.get("route"), "name", None)
    # The API's rule (`access.roles.may_call`): the route's permission, fail closed for unlisted routes, and a scoped
    # role (an account owner) only on routes that apply its account scope.
    if not may_call(person.role, route_name or ""):
        raise PermissionDenied(f"role {person.role!r} may not open {route_name or 'this page'}")
    return person


PersonDep = Annotated[Person, Depends(current_person)]
router = APIRouter(prefix="/app", include_in_schema=False, dependencies=[Depends(check_csrf)])


def request_locale(request: Request) -> str:
    """The signed-in person's language (stored with them), else this browser's choice (a cookie the language form
    sets, before sign-in too), else the browser's Accept-Language."""
    choice = getattr(request.state, "language", None) or request.cookies.get(i18n.LANGUAGE_COOKIE)
    return i18n.choose_locale(choice, request.headers.get("accept-language"))


def translator(request: Request):
    """`_` for texts made in Python (error titles, chart titles), in the request's language."""
    return _web(request).catalogs.get(request_locale(request), gettext.NullTranslations()).gettext


def render(request: Request, template: str, status_code: int = 200, **context: object) -> HTMLResponse:
    """A page with the caller's CSRF token; a first-time visitor gets the visitor cookie it is bound to."""
    web = _web(request)
    new_visitor = None
    if _session_token(request) is None and _visitor(request) is None:
        new_visitor = getattr(request.state, "new_visitor", None) or web.new_visitor()
        request.state.new_visitor = new_visitor
    seed = _csrf_seed(request)
    person = getattr(request.state, "person", None)
    locale = request_locale(request)
    context = {
        "request": request,
        "locale": locale,
        "lang": locale.replace("_", "-"),
        "translations": web.catalogs.get(locale),
        # A text marked in Python (`N_`) shown as it is: `_()` in a template reads "%" as a placeholder.
        "text": (web.catalogs.get(locale) or gettext.NullTranslations()).gettext,
        "fmt": i18n.formats_for(locale),
        "languages": i18n.LANGUAGE_NAMES,
        "person": person,
        "csrf_field": CSRF_FIELD,
        "csrf_token": cookies.csrf_token(web.secret, seed) if seed else "",
        "may": (lambda permission: person is not None and allows(person.role, permission)),
        **context,
    }
    response = web.templates.TemplateResponse(request, template, context, status_code=status_code)
    if new_visitor is not None:
        web.set_cookie(response, VISITOR_COOKIE, cookies.sign(web.secret, new_visitor, "visitor"), max_age=None)
    return response


def _safe_next(path: str | None) -> str:
    """Only a path inside the app: `next=https://evil.example` must not turn sign-in into an open redirect."""
    if not path:
        return "/app"
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not parts.path.startswith("/app") or path.startswith("//"):
        return "/app"
    return path


def _signed_in(request: Request, user: User, next_path: str) -> Response:
    web = _web(request)
    with transaction(request.app.state.parts.sessions) as session:
        token = start_session(session, user.id, ttl=timedelta(hours=web.settings.web.session_hours))
    response = RedirectResponse(_safe_next(next_path), status_code=303)
    web.set_cookie(response, SESSION_COOKIE, cookies.sign(web.secret, token), max_age=web.session_seconds)
    return response


@router.get("", name="web_home")
def home(request: Request, person: PersonDep) -> Response:
    first = "/app/review" if allows(person.role, "tasks:read") else "/app/inbox"
    if person.role == "account_owner":  # their job is the accounts at risk (web/accounts.py)
        first = "/app/accounts"
    return RedirectResponse(first, status_code=303)


@router.get("/sign-in", name="web_sign_in_page")
def sign_in_page(request: Request, next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    return render(request, "sign_in.html", next=_safe_next(next), email="", problem=None)


@router.post("/sign-in", name="web_sign_in")
def sign_in(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=4096)],
    next: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    web = _web(request)
    address = email.strip().lower()
    client = request.client.host if request.client else "unknown"
    keys = (f"email:{address}", f"client:{client}")
    waits = [wait for wait in (web.by_email.retry_after(keys[0]), web.by_client.retry_after(keys[1])) if wait]
    if waits:
        wait = int(max(waits)) + 1
        raise RateLimited(f"too many failed sign-ins; try again in {wait // 60 + 1} minutes", retry_after_s=wait)
    with transaction(request.app.state.parts.sessions) as session:
        user = check_password(session, address, password)
    if user is None:
        web.by_email.failed(keys[0])
        web.by_client.failed(keys[1])
        _ = translator(request)
        problem = _("That email and password do not match, or the account has no password yet (use your sign-in link).")
        return render(request, "sign_in.html", 401, next=_safe_next(next), email=email, problem=problem)
    web.by_email.succeeded(keys[0])
    return _signed_in(request, user, next or "/app")


@router.get("/welcome", name="web_link_page")
def link_page(request: Request, token: Annotated[str, Query(max_length=200)] = "") -> Response:
    """What a sign-in link opens: it shows whom the link is for and spends nothing (mail scanners open links)."""
    with request.app.state.parts.sessions() as session:
        user = peek_link(session, token) if token else None
    if user is None:
        _ = translator(request)
        problem = _("This sign-in link is unknown, already used or expired. Ask an admin for a new one.")
        return render(request, "error.html", 400, title=_("Sign-in link not valid"), problem=problem)
    return render(request, "welcome.html", user=user, token=token, problem=None)


@router.post("/welcome", name="web_link_sign_in")
def link_sign_in(
    request: Request,
    token: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=4096)] = "",
    password_again: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    """Spends the link and signs in; a password given here is set first (both in one transaction)."""
    _ = translator(request)
    problem = None
    if password and password != password_again:
        problem = _("The two passwords differ.")
    with request.app.state.parts.sessions() as session:
        user = peek_link(session, token)
    if user is None:
        problem = _("This sign-in link is unknown, already used or expired. Ask an admin for a new one.")
        return render(request, "error.html", 400, title=_("Sign-in link not valid"), problem=problem)
    if problem is None:
        try:
            with transaction(request.app.state.parts.sessions) as session:
                user = redeem_link(session, token)
                if user is not None and password:
                    set_password(session, user.id, password)
        except InvalidInput as error:
            problem = str(error)
    if problem is not None:
        return render(request, "welcome.html", 400, user=user, token=token, problem=problem)
    if user is None:  # spent by a second tab in the meantime
        return render(
            request, "error.html", 400, title=_("Sign-in link not valid"), problem=_("This link was just used.")
        )
    return _signed_in(request, user, "/app")


@router.post("/sign-out", name="web_sign_out")
def sign_out(request: Request) -> Response:
    token = _session_token(request)
    if token is not None:
        with transaction(request.app.state.parts.sessions) as session:
            end_session(session, token)
    response = RedirectResponse("/app/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/app")
    return response


@router.get("/inbox", name="web_inbox")
def inbox(
    request: Request,
    session: SessionDep,
    person: PersonDep,
    status: Annotated[str | None, Query(max_length=32)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    retried: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    released: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    from handoff.intake.ledger import OUTCOMES, STATES
    from handoff.web.views import inbox_page

    if status == "":
        status = None
    if status is not None and status not in STATES + OUTCOMES:
        raise InvalidInput(f"status must be one of {', '.join(STATES + OUTCOMES)}, not {status!r}")
    view = inbox_page(session, person, status=status, page=page)
    return render(request, "inbox.html", view=view, said={"retried": retried, "released": released})


@router.get("/inbox/{entry_id}", name="web_ledger_entry")
def ledger_entry(
    request: Request, entry_id: Annotated[str, Path(max_length=32)], session: SessionDep, person: PersonDep
) -> Response:
    """One message as it arrived, beside its ledger status and the tasks it created; the same reads and masking as
    `GET /v1/ledger/{id}` (`web.views.message_page`)."""
    from handoff.web.views import message_page

    settings = request.app.state.parts.settings
    view = message_page(
        session,
        person,
        _ledger_id(entry_id),
        raw_dir=settings.raw_mail_dir,
        timeout_s=settings.inbox.parse_timeout_s,
    )
    return render(request, "message.html", view=view)


def _ledger_id(typed: str) -> int:
    from handoff.errors import NotFound

    if not typed.isascii() or not typed.isdigit() or not 1 <= int(typed) <= MAX_ID:
        raise NotFound(f"no ledger entry {typed}")  # a typed-in id is a page that is not there, not a 422
    return int(typed)


@router.get("/inbox/{entry_id}/original", name="web_ledger_original")
def ledger_original(
    request: Request, entry_id: Annotated[str, Path(max_length=32)], session: SessionDep, person: PersonDep
) -> Response:
    """The message as it arrived, to save (`GET /v1/ledger/{id}/original`: the same roles, audit and headers)."""
    from handoff.api.downloads import download_response
    from handoff.intake.service import download_original

    raw_dir = request.app.state.parts.settings.raw_mail_dir
    return download_response(download_original(session, _ledger_id(entry_id), raw_dir=raw_dir, actor=person.actor))


@router.get("/inbox/{entry_id}/attachments/{index}", name="web_ledger_attachment")
def ledger_attachment(
    request: Request,
    entry_id: Annotated[str, Path(max_length=32)],
    index: Annotated[int, Path(ge=0, le=10_000)],
    session: SessionDep,
    person: PersonDep,
) -> Response:
    """One attachment, to save (`GET /v1/ledger/{id}/attachments/{index}`)."""
    from handoff.api.downloads import download_response
    from handoff.intake.service import download_attachment

    settings = request.app.state.parts.settings
    found = download_attachment(session, _ledger_id(entry_id), index, raw_dir=settings.raw_mail_dir,
                                parse_timeout_s=settings.inbox.parse_timeout_s, actor=person.actor)  # fmt: skip
    return download_response(found)


@router.get("/review", name="web_review")
def review(
    request: Request,
    session: SessionDep,
    person: PersonDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    done: Annotated[str | None, Query(max_length=64)] = None,
    accepted: Annotated[int | None, Query(ge=0, le=1000)] = None,
    skipped: Annotated[int | None, Query(ge=0, le=1000)] = None,
    linked: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    from handoff.access.scope import account_scope
    from handoff.tasks.service import THREAD_SIMILARITY_MARGIN, get_task
    from handoff.web.views import review_page, shown_tasks

    decided = None
    if done:  # the task just decided, read back from the store (never text from the query string)
        try:
            found = get_task(session, done, scope=account_scope(session, person))
            decided = shown_tasks(session, person, [found])[0]
        except HandoffError:
            decided = None
    settings = request.app.state.parts.settings
    # A little below the bar at which `record_tasks` links a repeat by itself: close enough to ask a person.
    bar = settings.extraction.duplicate_similarity - THREAD_SIMILARITY_MARGIN
    view = review_page(session, person, page=page, duplicate_bar=bar)
    said = {"accepted": accepted, "skipped": skipped, "linked": linked}
    return render(request, "review.html", view=view, decided=decided, said=said)


@router.post("/review/{task_id}", name="web_review_task")
def review_task(
    request: Request,
    task_id: str,
    session: SessionDep,
    person: PersonDep,
    action: Annotated[str, Form(max_length=16)],
    title: Annotated[str | None, Form(max_length=255)] = None,
    assignee_id: Annotated[str | None, Form(max_length=255)] = None,
    due_date: Annotated[str | None, Form(max_length=32)] = None,
    priority: Annotated[str | None, Form(max_length=16)] = None,
    reason: Annotated[str | None, Form(max_length=2000)] = None,
    page: Annotated[int, Form(ge=1, le=1_000_000)] = 1,
) -> Response:
    """One card's buttons: accept (with the card's edits), save the edits, or reject with a reason; all through the
    service calls `/v1/tasks` uses, in one transaction, so a refused edit leaves the task as it was."""
    from handoff.access.scope import account_scope
    from handoff.tasks.service import accept_task, edit_task, get_task, reject_task
    from handoff.web.views import changed_fields, shown_tasks

    if action not in ("accept", "save", "reject"):
        raise InvalidInput(f"action must be accept, save or reject, not {action!r}")
    task = get_task(session, task_id, scope=account_scope(session, person))  # outside the scope: not found
    if action == "reject":
        reject_task(session, task_id, person.actor, (reason or "").strip() or None)
    else:
        shown = shown_tasks(session, person, [task])[0]
        form = {"title": title, "assignee_id": assignee_id, "due_date": due_date, "priority": priority}
        changes = changed_fields(shown, {name: value for name, value in form.items() if value is not None})
        if changes:
            edit_task(session, task_id, changes, person.actor)
        if action == "accept":
            accept_task(session, task_id, person.actor, sync_targets=request.app.state.parts.settings.sync.targets())
    return RedirectResponse(f"/app/review?page={page}&done={quote(task_id)}", status_code=303)


@router.post("/language", name="web_language")
def choose_language(
    request: Request,
    language: Annotated[str, Form(max_length=16)],
    next: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """The language for this browser (a year-long cookie, so it works before sign-in too) and, when someone is
    signed in, kept with the person (`users.language`), so every browser they sign in from shows it."""
    from handoff.access.users import set_language

    if language not in i18n.LOCALES:
        raise InvalidInput(f"language must be one of {', '.join(i18n.LOCALES)}, not {language!r}")
    token = _session_token(request)
    if token is not None:
        with transaction(request.app.state.parts.sessions) as session:
            user = session_user(session, token)
            if user is not None:
                set_language(session, user.id, language, known=i18n.LOCALES)
    response = RedirectResponse(_safe_next(next), status_code=303)
    _web(request).set_cookie(response, i18n.LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600)
    return response


def _back_to_inbox(status: str | None, page: int, **said: object) -> RedirectResponse:
    from handoff.intake.ledger import OUTCOMES, STATES

    query = {"page": page, **said}
    if status in STATES + OUTCOMES:
        query["status"] = status
    return RedirectResponse(f"/app/inbox?{urlencode(query)}", status_code=303)


@router.post("/inbox/{entry_id}/retry", name="web_ledger_retry")
def retry_entry(
    request: Request,
    entry_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    person: PersonDep,
    status: Annotated[str | None, Form(max_length=32)] = None,
    page: Annotated[int, Form(ge=1, le=1_000_000)] = 1,
) -> Response:
    """A failed message back to the ingest worker: `intake.service.retry`, as `POST /v1/ledger/retry`."""
    from handoff.intake.service import retry

    retry(request.app.state.parts.sessions, [entry_id])  # not failed: 409, missing: 404 (the API's words)
    return _back_to_inbox(status, page, retried=entry_id)


@router.post("/inbox/{entry_id}/release", name="web_ledger_release")
def release_entry(
    entry_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: SessionDep,
    person: PersonDep,
    status: Annotated[str | None, Form(max_length=32)] = None,
    page: Annotated[int, Form(ge=1, le=1_000_000)] = 1,
) -> Response:
    """Quarantined (spam) or bulk mail let through by a person: `intake.service.release`, audited as through
    `POST /v1/ledger/{id}/release`."""
    from handoff.intake.service import release

    release(session, [entry_id], actor=person.actor)
    return _back_to_inbox(status, page, released=entry_id)
