"""The web app through HTTP on the real app: sign-in by link and password, CSRF, expiry, roles, masking, review."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from handoff.access import audit
from handoff.access.tables import web_sessions
from handoff.access.users import invite
from handoff.api.app import create_app
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.tasks.tables import task_labels
from tests.tasks.test_service import draft, record, seed_roster

PASSWORD = "correct horse battery"


@pytest.fixture
def app(parts):
    return create_app(parts=parts, models={}, key_cache_ttl_s=0)


def browser(app) -> TestClient:
    """A client that keeps cookies like a browser, and does not follow redirects (the tests read them)."""
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def invited(parts, email: str, role: str, owner_id: str | None = None) -> str:
    with transaction(parts.sessions) as session:
        token, _ = invite(session, email=email, role=role, owner_id=owner_id, link_ttl=timedelta(hours=1))
    return token


def sign_in_by_link(client: TestClient, token: str, password: str = "") -> None:
    page = client.get(f"/app/welcome?token={token}")
    assert page.status_code == 200, page.text
    answer = client.post(
        "/app/welcome",
        data={"csrf_token": csrf(page.text), "token": token, "password": password, "password_again": password},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/app", answer.text


def test_a_link_signs_in_once_sets_a_password_and_sign_out_ends_the_session(app, parts) -> None:
    token = invited(parts, "pam@ourco.example", "pm")
    with browser(app) as client:
        assert client.get("/app/review").headers["location"] == "/app/sign-in?next=/app/review"
        sign_in_by_link(client, token, PASSWORD)
        cookie = client.cookies.get("handoff_session")
        review = client.get("/app/review")
        assert review.status_code == 200 and "Review queue" in review.text and "pam" in review.text
        assert review.headers["cache-control"] == "no-store" and "default-src 'self'" in review.headers[
            "content-security-policy"]  # fmt: skip
        assert client.get("/app").headers["location"] == "/app/review"
        signed_out = client.post("/app/sign-out", data={"csrf_token": csrf(review.text)})
        assert signed_out.status_code == 303
        assert client.get("/app/review").status_code == 303
    with browser(app) as replay:  # the old cookie is dead on the server, not only deleted in the browser
        replay.cookies.set("handoff_session", cookie, path="/app")
        assert replay.get("/app/review").status_code == 303
        assert replay.get(f"/app/welcome?token={token}").status_code == 400  # the link was spent
        page = replay.get("/app/sign-in")
        wrong = replay.post(
            "/app/sign-in", data={"csrf_token": csrf(page.text), "email": "pam@ourco.example", "password": "nope"}
        )
        assert wrong.status_code == 401 and "do not match" in wrong.text
        right = replay.post(
            "/app/sign-in",
            data={"csrf_token": csrf(page.text), "email": "PAM@ourco.example", "password": PASSWORD,
                  "next": "https://evil.example/"},
        )  # fmt: skip
        assert right.status_code == 303 and right.headers["location"] == "/app"  # no open redirect
        assert replay.get("/app/review").status_code == 200


def test_the_session_cookie_is_httponly_samesite_and_signed(app, parts) -> None:
    token = invited(parts, "pam@ourco.example", "pm")
    with browser(app) as client:
        page = client.get(f"/app/welcome?token={token}")
        answer = client.post("/app/welcome", data={"csrf_token": csrf(page.text), "token": token})
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("handoff_session="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/app" in cookie and "Max-Age=43200" in cookie
        value = client.cookies.get("handoff_session")
        client.cookies.clear()
        client.cookies.set("handoff_session", value[:-3] + "xyz", path="/app")  # a forged signature
        assert client.get("/app/review").status_code == 303


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(app, parts) -> None:
    seed_roster(parts)
    task_id = record(parts, [draft("Send revised SOW")]).created[0]
    with browser(app) as client:
        sign_in_by_link(client, invited(parts, "pam@ourco.example", "pm"))
        for data in ({"action": "accept"}, {"action": "accept", "csrf_token": "forged"}):
            refused = client.post(f"/app/review/{task_id}", data=data)
            assert refused.status_code == 403 and "reload the page" in refused.text
        other = browser(app)
        page = other.get("/app/sign-in")  # another visitor's token is not this session's
        assert (
            client.post(f"/app/review/{task_id}", data={"action": "accept", "csrf_token": csrf(page.text)}).status_code
            == 403
        )
        no_token = client.post("/app/sign-out", data={})
        assert no_token.status_code == 403
    with parts.sessions() as session:
        assert session.execute(select(CRM_TABLES["tasks"].c.status)).scalar() == "suggested"
        assert session.execute(select(task_labels)).all() == []


def test_an_expired_session_redirects_to_sign_in(app, parts) -> None:
    with browser(app) as client:
        sign_in_by_link(client, invited(parts, "pam@ourco.example", "pm"))
        assert client.get("/app/review").status_code == 200
        with transaction(parts.sessions) as session:
            session.execute(update(web_sessions).values(expires_at=datetime(2020, 1, 1)))
        assert client.get("/app/review").headers["location"].startswith("/app/sign-in")


def test_sign_in_is_rate_limited_per_email(app, parts) -> None:
    with browser(app) as client:
        sign_in_by_link(client, invited(parts, "pam@ourco.example", "pm"), PASSWORD)
        client.cookies.clear()
        page = client.get("/app/sign-in")
        data = {"csrf_token": csrf(page.text), "email": "pam@ourco.example"}
        for _ in range(5):
            assert client.post("/app/sign-in", data={**data, "password": "guess"}).status_code == 401
        limited = client.post("/app/sign-in", data={**data, "password": PASSWORD})  # even the right one, now
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0


def test_roles_and_masking_on_pages_are_the_apis(app, parts, make_key, auth) -> None:
    from handoff.intake.service import receive_raw

    seed_roster(parts)
    raw = b"From: Jane <jane@acme.example>\r\nSubject: Call me on +49 170 5551212\r\n\r\nSend the SOW.\r\n"
    entry = receive_raw(parts, raw, "api")
    quote = "Mail jane@acme.example the contract, or call +49 170 5551212."
    task_id = record(parts, [draft("Call jane@acme.example back", evidence=quote)], ledger_id=entry.id).created[0]
    with browser(app) as pm:
        pm_api = pm.get(f"/v1/tasks/{task_id}", headers=auth(make_key("pm"))).json()
        sign_in_by_link(pm, invited(parts, "pam@ourco.example", "pm"))
        page = pm.get("/app/review").text
        assert pm_api["title"] in page and "j***@acme.example" in page and "+49 *** ** 12" in page
        assert "jane@acme.example" not in page and "5551212" not in page
        assert pm.get("/app/inbox").status_code == 403  # a PM has no ledger:read, as with /v1/ledger
    with browser(app) as sales:
        sign_in_by_link(sales, invited(parts, "sam@ourco.example", "sales"))
        page = sales.get("/app/review").text
        assert "jane@acme.example" in page and 'name="action"' not in page  # sales may read tasks, not review them
        assert (
            sales.post(f"/app/review/{task_id}", data={"action": "accept", "csrf_token": csrf(page)}).status_code == 403
        )
    with browser(app) as admin:
        sign_in_by_link(admin, invited(parts, "ada@ourco.example", "admin"))
        inbox = admin.get("/app/inbox").text
        assert "jane@acme.example" in inbox and "+49 170 5551212" in inbox and "Call jane@acme.example back" in inbox
        assert admin.get("/app/inbox?status=failed").text.count('class="status-') == 0
        assert admin.get("/app/inbox?status=bogus").status_code == 400
    with parts.sessions() as session:
        actors = {e.actor for e in audit.list_entries(session) if e.action == audit.READ_CONTACT_DATA}
    assert all(actor.startswith("user:") or actor.startswith("key:") for actor in actors) and len(actors) == 2


def test_a_pm_accepts_edits_and_rejects_on_the_review_page_and_the_labels_say_who(app, parts) -> None:
    seed_roster(parts)
    ids = record(
        parts, [draft("Send revised SOW"), draft("Fix nightly export job"), draft("Thanks for the call")]
    ).created
    with browser(app) as client:
        sign_in_by_link(client, invited(parts, "pam@ourco.example", "pm"))
        page = client.get("/app/review").text
        assert all(f'id="task-{i}"' in page for i in ids) and "Anna Schmidt" in page and "90%" in page
        token = csrf(page)
        as_shown = {"csrf_token": token, "action": "accept", "title": "Send revised SOW", "priority": "normal"}
        accepted = client.post(f"/app/review/{ids[0]}", data=as_shown)
        assert accepted.status_code == 303, accepted.text
        assert "is now open" in client.get(accepted.headers["location"]).text
        edited = client.post(
            f"/app/review/{ids[1]}",
            data={"csrf_token": token, "action": "accept", "title": "Fix nightly export job", "assignee_id": "u_ben",
                  "due_date": "2026-03-06", "priority": "high"},
        )  # fmt: skip
        assert edited.status_code == 303, edited.text
        rejected = client.post(
            f"/app/review/{ids[2]}", data={"csrf_token": token, "action": "reject", "reason": "thanks"}
        )
        assert rejected.status_code == 303
        again = client.post(f"/app/review/{ids[2]}", data={"csrf_token": token, "action": "reject"})
        assert again.status_code == 409 and "already rejected" in again.text
        bad = client.post(
            f"/app/review/{ids[0]}", data={"csrf_token": token, "action": "save", "assignee_id": "u_nope"}
        )
        assert bad.status_code == 400 and "u_nope" in bad.text
        assert "Nothing waits for review" in client.get("/app/review").text
    tasks = CRM_TABLES["tasks"]
    with parts.sessions() as session:
        rows = {r.id: r for r in session.execute(select(tasks).where(tasks.c.id.in_(ids)))}
        labels = session.execute(select(task_labels).where(task_labels.c.task_id.in_(ids))).all()
    assert [rows[i].status for i in ids] == ["open", "open", "rejected"]
    assert rows[ids[1]].assignee_id == "u_ben" and str(rows[ids[1]].due_date) == "2026-03-06"
    assert rows[ids[1]].priority == "high" and rows[ids[0]].assignee_id is None
    edits = {(label.field, label.new_value) for label in labels if label.task_id == ids[1] and label.action == "edit"}
    assert edits == {("assignee", "u_ben"), ("due", "2026-03-06"), ("priority", "high")}
    assert not any(label.action == "edit" for label in labels if label.task_id == ids[0])
    assert next(label.reason for label in labels if label.action == "reject") == "thanks"
    assert len({label.reviewer for label in labels}) == 1 and labels[0].reviewer.startswith("user:")


@pytest.mark.slow  # the CLI in subprocesses
def test_handoff_users_invite_prints_a_link_that_signs_in_and_mails_it_when_asked(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from handoff.cli.main import build_app
    from handoff.settings import Settings
    from handoff.testing.smtp_capture import SmtpCapture
    from handoff.wiring import Parts

    with SmtpCapture() as smtp:
        env = {"HANDOFF_HOME": str(tmp_path / "home"), "HANDOFF_ALERTS__SMTP_HOST": smtp.host,
               "HANDOFF_ALERTS__SMTP_PORT": str(smtp.port),
               "HANDOFF_WEB__BASE_URL": "http://127.0.0.1:9999"}  # fmt: skip
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        result = CliRunner().invoke(build_app(), ["users", "invite", "Pam@OurCo.example", "--role", "pm", "--send"])
        assert result.exit_code == 0, result.output
        link = result.stdout.strip().splitlines()[0]
        assert link.startswith("http://127.0.0.1:9999/app/welcome?token=")
        assert any(link in mail.message.get_content() for mail in smtp.messages)
        refused = CliRunner().invoke(build_app(), ["users", "invite", "bot@ourco.example", "--role", "integration"])
        assert refused.exit_code != 0
    parts = Parts(Settings(_env_file=None))
    try:
        app = create_app(parts=parts, models={})
        with browser(app) as client:
            sign_in_by_link(client, link.split("token=")[1], PASSWORD)
            assert "pam" in client.get("/app/review").text
    finally:
        parts.close()


def test_an_account_owner_reviews_only_tasks_on_their_own_accounts(app, parts) -> None:
    """The review page applies the same account scope as `GET /v1/tasks`: another owner's task is not listed, and
    posting to it answers as for a task that does not exist."""
    seed_roster(parts)
    with transaction(parts.sessions) as session:
        session.execute(
            CRM_TABLES["accounts"].insert(),
            [{"id": "acc_mine", "name": "Mine GmbH", "owner_id": "u_anna"},
             {"id": "acc_theirs", "name": "Theirs Ltd", "owner_id": "u_ben"}],
        )  # fmt: skip
    mine = record(parts, [draft("Send Mine the revised SOW")], account="acc_mine").created[0]
    theirs = record(parts, [draft("Call Theirs about renewal")], account="acc_theirs", ledger_id=2).created[0]
    with browser(app) as anna:
        sign_in_by_link(anna, invited(parts, "anna@ourco.example", "account_owner", owner_id="u_anna"))
        page = anna.get("/app/review")
        assert page.status_code == 200, page.text
        assert f'id="task-{mine}"' in page.text and f'id="task-{theirs}"' not in page.text
        assert "Call Theirs about renewal" not in page.text
        assert anna.get(f"/app/review?done={theirs}").text.count("Call Theirs") == 0
        token = csrf(page.text)
        for action in ("accept", "reject"):
            refused = anna.post(f"/app/review/{theirs}", data={"csrf_token": token, "action": action})
            assert refused.status_code in (403, 404), refused.text
    with parts.sessions() as session:
        statuses = dict(session.execute(select(CRM_TABLES["tasks"].c.id, CRM_TABLES["tasks"].c.status)).all())
    assert statuses[theirs] == "suggested"


def test_the_first_start_makes_one_admin_whose_printed_link_signs_in(app, parts) -> None:
    """`handoff up` (`make run`) prints this link once beside the first admin key; a second start makes none."""
    from handoff.cli.up import _ensure_admin_user

    link = _ensure_admin_user(parts)
    assert link is not None and link.startswith(f"{parts.settings.web_base_url}/app/welcome?token=")
    assert _ensure_admin_user(parts) is None
    with browser(app) as client:
        sign_in_by_link(client, link.split("token=", 1)[1], PASSWORD)
        assert client.get("/app/inbox").status_code == 200  # an admin's page
        assert "First admin" in client.get("/app/review").text
