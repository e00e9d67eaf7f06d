"""The tasks page, retry and release in the inbox, bulk accept, the duplicate offer, shortcuts and the languages,
through HTTP on the real app: roles (403 pages, never 500), masking, account scope and CSRF as for the other pages."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from handoff.access import audit
from handoff.intake import ledger as ledger_store
from handoff.intake.service import receive_raw
from handoff.intake.tables import ledger
from handoff.settings import Settings
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.tasks.tables import task_labels, task_links
from tests.tasks.test_service import draft, record, seed_roster
from tests.web.test_web_app import PASSWORD, browser, csrf, invited, sign_in_by_link

tasks = CRM_TABLES["tasks"]


@pytest.fixture
def app(parts):
    from handoff.api.app import create_app

    return create_app(parts=parts, models={}, key_cache_ttl_s=0)


def _status(parts, task_id: str) -> str:
    with parts.sessions() as session:
        return session.execute(select(tasks.c.status).where(tasks.c.id == task_id)).scalar_one()


def _set(parts, task_id: str, **values) -> None:
    with transaction(parts.sessions) as session:
        session.execute(update(tasks).where(tasks.c.id == task_id).values(**values))


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr id="row-([^"]+)"', page)


def test_the_tasks_page_filters_by_status_assignee_account_and_due_and_shows_names(app, parts) -> None:
    seed_roster(parts)
    with transaction(parts.sessions) as session:
        session.execute(
            CRM_TABLES["accounts"].insert(),
            [{"id": "acc_1", "name": "Acme GmbH", "owner_id": "u_anna"},
             {"id": "acc_2", "name": "Beta Ltd", "owner_id": "u_ben"}],
        )  # fmt: skip
    today = date.today()
    first = record(parts, [draft("Send revised SOW"), draft("Fix nightly export job")]).created
    other = record(parts, [draft("Renew the Beta contract")], account="acc_2", ledger_id=2).created[0]
    waiting = record(parts, [draft("Call Jane about training")], ledger_id=3).created[0]
    _set(parts, first[0], status="open", assignee_id="u_ben", due_date=today - timedelta(days=2))
    _set(parts, first[1], status="open", due_date=today + timedelta(days=3))
    _set(parts, other, status="open", assignee_id="u_anna", due_date=today + timedelta(days=20))
    with browser(app) as client:
        sign_in_by_link(client, invited(parts, "pam@ourco.example", "pm"))
        page = client.get("/app/tasks")
        assert page.status_code == 200, page.text
        assert _rows(page.text) == [first[0], first[1], other]  # open ones, soonest due first; not the suggestion
        assert "Ben" in page.text and "u_ben" not in page.text.split("<table")[1]  # names, never bare ids
        assert "Acme GmbH" in page.text and "overdue" in page.text
        assert _rows(client.get("/app/tasks?status=suggested").text) == [waiting]
        assert set(_rows(client.get("/app/tasks?status=all").text)) == {*first, other, waiting}
        assert _rows(client.get("/app/tasks?assignee=u_anna").text) == [other]
        assert _rows(client.get("/app/tasks?assignee=-").text) == [first[1]]
        assert _rows(client.get("/app/tasks?account=acc_2").text) == [other]
        assert _rows(client.get("/app/tasks?due=overdue").text) == [first[0]]
        assert _rows(client.get("/app/tasks?due=week").text) == [first[1]]
        assert _rows(client.get("/app/tasks?due=month").text) == [first[1], other]
        assert _rows(client.get("/app/tasks?status=suggested&due=none").text) == [waiting]
        grouped = client.get("/app/tasks?group=assignee").text.split("<table")[1]  # after the filter form
        assert grouped.index("Anna Schmidt") < grouped.index(f'id="row-{other}"') < grouped.index("Ben")
        assert grouped.index("Ben") < grouped.index(f'id="row-{first[0]}"') < grouped.index("nobody on the roster")
        for bad in ("status=bogus", "due=tomorrow", "group=colour", "assignee=u_nope"):
            refused = client.get(f"/app/tasks?{bad}")
            assert refused.status_code == 400 and bad.split("=")[1] in refused.text, bad
    with browser(app) as anna:  # an account owner: their own accounts' tasks only, as `GET /v1/tasks`
        sign_in_by_link(anna, invited(parts, "anna@ourco.example", "account_owner", owner_id="u_anna"))
        assert set(_rows(anna.get("/app/tasks?status=all").text)) == {*first, waiting}
        assert _rows(anna.get("/app/tasks?account=acc_2").text) == []


def test_the_tasks_page_pages_through_and_masks_contact_data_for_the_role(app, parts) -> None:
    from handoff.web import tasks_page

    seed_roster(parts)
    quote = "Mail jane@acme.example the contract, or call +49 170 5551212."
    titles = ("Call jane@acme.example about the invoice", "Send the SOW", "Fix the nightly export job")
    ids = record(parts, [draft(title, evidence=quote) for title in titles]).created
    assert len(ids) == 3
    page_size, tasks_page.PAGE_SIZE = tasks_page.PAGE_SIZE, 2
    try:
        with browser(app) as pm:
            sign_in_by_link(pm, invited(parts, "pam@ourco.example", "pm"))
            one = pm.get("/app/tasks?status=suggested").text
            two = pm.get("/app/tasks?status=suggested&page=2").text
            assert len(_rows(one)) == 2 and len(_rows(two)) == 1 and set(_rows(one) + _rows(two)) == set(ids)
            assert "page 1 of 2" in one and '"/app/tasks?status=suggested&amp;group=due&amp;page=2">next' in one
            assert "jane@acme.example" not in one + two and "j***@acme.example" in one + two
        with browser(app) as sales:  # sales have `contact_data`: shown whole, as through /v1/tasks
            sign_in_by_link(sales, invited(parts, "sam@ourco.example", "sales"))
            pages = sales.get("/app/tasks?status=suggested").text + sales.get("/app/tasks?status=suggested&page=2").text
            assert "jane@acme.example" in pages  # on either page: the three tasks tie on time and due date
    finally:
        tasks_page.PAGE_SIZE = page_size


def _failed_and_spam(parts) -> tuple[int, int]:
    failed = receive_raw(parts, b"From: a@acme.example\r\nSubject: Broken\r\n\r\nPlease fix it.\r\n", "api")
    spam = receive_raw(parts, b"From: x@spam.example\r\nSubject: Win money\r\n\r\nCall jane@acme.example.\r\n", "api")
    with transaction(parts.sessions) as session:
        ledger_store.finish(session, failed.id, worker=None, outcome="failed", error="extractor crashed")
        ledger_store.finish(session, spam.id, worker=None, outcome="spam", reason="content classifier 0.97")
    return failed.id, spam.id


def _ledger(parts, entry_id: int):
    with parts.sessions() as session:
        return session.execute(select(ledger).where(ledger.c.id == entry_id)).one()


def test_an_admin_retries_a_failed_message_and_releases_a_quarantined_one_from_the_inbox(app, parts) -> None:
    failed, spam = _failed_and_spam(parts)
    with browser(app) as admin:
        sign_in_by_link(admin, invited(parts, "ada@ourco.example", "admin"))
        page = admin.get("/app/inbox").text
        assert f'action="/app/inbox/{failed}/retry"' in page and f'action="/app/inbox/{spam}/release"' in page
        assert f'action="/app/inbox/{spam}/retry"' not in page and f'action="/app/inbox/{failed}/release"' not in page
        token = csrf(page)
        assert admin.post(f"/app/inbox/{failed}/retry", data={"page": "1"}).status_code == 403  # no CSRF token
        assert _ledger(parts, failed).outcome == "failed"
        retried = admin.post(f"/app/inbox/{failed}/retry", data={"csrf_token": token, "status": "failed"})
        assert retried.status_code == 303 and retried.headers["location"].endswith(f"retried={failed}&status=failed")
        assert "goes back to the ingest worker" in admin.get(retried.headers["location"]).text
        row = _ledger(parts, failed)
        assert row.status == "received" and row.outcome is None
        again = admin.post(f"/app/inbox/{failed}/retry", data={"csrf_token": token})
        assert again.status_code == 409 and "only failed entries can be retried" in again.text
        assert admin.post("/app/inbox/999999/retry", data={"csrf_token": token}).status_code == 404
        released = admin.post(f"/app/inbox/{spam}/release", data={"csrf_token": token, "status": "spam"})
        assert released.status_code == 303, released.text
        assert "without the spam gate" in admin.get(released.headers["location"]).text
        row = _ledger(parts, spam)
        assert row.status == "received" and row.released_by.startswith("user:")
        twice = admin.post(f"/app/inbox/{spam}/release", data={"csrf_token": token})
        assert twice.status_code == 409 and "only spam or bulk entries can be released" in twice.text
    with parts.sessions() as session:
        releases = [e for e in audit.list_entries(session) if e.action == audit.RELEASE_FROM_GATE]
    assert [(e.subject, e.actor[:5]) for e in releases] == [(f"ledger:{spam}", "user:")]


@pytest.mark.parametrize("role", ["pm", "sales", "account_owner"])
def test_roles_without_ledger_rights_get_a_403_page_for_retry_and_release(app, parts, role) -> None:
    failed, spam = _failed_and_spam(parts)
    with browser(app) as client:
        sign_in_by_link(client, invited(parts, f"{role}@ourco.example", role, owner_id="u_anna"))
        token = csrf(client.get("/app/tasks").text)
        for path in (f"/app/inbox/{failed}/retry", f"/app/inbox/{spam}/release"):
            refused = client.post(path, data={"csrf_token": token})
            assert refused.status_code == 403 and "<h1>Not allowed</h1>" in refused.text, refused.text
    assert _ledger(parts, failed).outcome == "failed" and _ledger(parts, spam).outcome == "spam"


def test_bulk_accept_accepts_the_selected_cards_and_counts_those_decided_meanwhile(app, parts) -> None:
    seed_roster(parts)
    ids = record(parts, [draft("Send revised SOW"), draft("Fix nightly export job"), draft("Book the kickoff")]).created
    with browser(app) as client:
        sign_in_by_link(client, invited(parts, "pam@ourco.example", "pm"))
        page = client.get("/app/review").text
        assert 'action="/app/review/bulk/accept"' in page and f'name="task_id" value="{ids[0]}" form="bulk"' in page
        token = csrf(page)
        nothing = client.post("/app/review/bulk/accept", data={"csrf_token": token})
        assert nothing.status_code == 400 and "select at least one task" in nothing.text
        client.post(f"/app/review/{ids[1]}", data={"csrf_token": token, "action": "reject", "reason": "not ours"})
        done = client.post("/app/review/bulk/accept", data={"csrf_token": token, "task_id": [ids[0], ids[1]]})
        assert done.status_code == 303, done.text
        said = client.get(done.headers["location"]).text
        assert "1 selected tasks accepted" in said and "1 were decided already" in said
        unsigned = client.post("/app/review/bulk/accept", data={"task_id": [ids[2]]})
        assert unsigned.status_code == 403
    assert [_status(parts, i) for i in ids] == ["open", "rejected", "suggested"]
    with parts.sessions() as session:
        labels = session.execute(select(task_labels).where(task_labels.c.task_id == ids[0])).all()
    assert {label.field for label in labels} == {"title", "assignee", "due", "priority", "task"}
    assert all(label.action == "accept" and label.reviewer.startswith("user:") for label in labels)


def test_bulk_accept_is_refused_to_roles_that_do_not_review(app, parts) -> None:
    seed_roster(parts)
    with transaction(parts.sessions) as session:
        session.execute(
            CRM_TABLES["accounts"].insert(),
            [{"id": "acc_mine", "name": "Mine GmbH", "owner_id": "u_anna"},
             {"id": "acc_theirs", "name": "Theirs Ltd", "owner_id": "u_ben"}],
        )  # fmt: skip
    mine = record(parts, [draft("Send Mine the revised SOW")], account="acc_mine").created[0]
    theirs = record(parts, [draft("Call Theirs about renewal")], account="acc_theirs", ledger_id=2).created[0]
    with browser(app) as sales:
        sign_in_by_link(sales, invited(parts, "sam@ourco.example", "sales"))
        page = sales.get("/app/review").text
        assert 'action="/app/review/bulk/accept"' not in page  # sales read the queue; they do not decide
        refused = sales.post("/app/review/bulk/accept", data={"csrf_token": csrf(page), "task_id": [mine]})
        assert refused.status_code == 403 and "Not allowed" in refused.text
    with browser(app) as anna:
        sign_in_by_link(anna, invited(parts, "anna@ourco.example", "account_owner", owner_id="u_anna"))
        token = csrf(anna.get("/app/review").text)
        # Account owners read their queue but do not review (no `tasks:review`, as through /v1/tasks).
        mixed = anna.post("/app/review/bulk/accept", data={"csrf_token": token, "task_id": [mine, theirs]})
        assert mixed.status_code == 403 and "Not allowed" in mixed.text
    assert _status(parts, mine) == "suggested" and _status(parts, theirs) == "suggested"


def test_a_near_repeat_of_an_open_task_is_offered_as_a_duplicate_and_linking_closes_it(app, parts) -> None:
    seed_roster(parts)
    target = record(parts, [draft("Send the revised statement of work to Acme")]).created[0]
    _set(parts, target, status="open")
    # Recorded under a stricter bar, as if the extractor had missed the repeat; the page uses the product's bar.
    strict = Settings(_env_file=None, extraction={"duplicate_similarity": 0.99})
    repeat = record(parts, [draft("Send Acme the revised SOW")], ledger_id=2, settings=strict).created[0]
    unrelated = record(parts, [draft("Fix the nightly export job")], ledger_id=3).created[0]
    with browser(app) as client:
        sign_in_by_link(client, invited(parts, "pam@ourco.example", "pm"))
        page = client.get("/app/review").text
        assert f'id="duplicate-{repeat}"' in page and f'id="duplicate-{unrelated}"' not in page
        offer = page.split(f'id="duplicate-{repeat}"')[1].split("</p>")[0]
        assert "Send the revised statement of work to Acme" in offer and f'value="{target}"' in offer
        token = csrf(page)
        self_link = client.post(f"/app/review/{repeat}/duplicate", data={"csrf_token": token, "target_id": repeat})
        assert self_link.status_code == 400 and "duplicate of itself" in self_link.text
        linked = client.post(f"/app/review/{repeat}/duplicate", data={"csrf_token": token, "target_id": target})
        assert linked.status_code == 303, linked.text
        assert "closed as a duplicate" in client.get(linked.headers["location"]).text
        twice = client.post(f"/app/review/{repeat}/duplicate", data={"csrf_token": token, "target_id": target})
        assert twice.status_code == 409
    assert _status(parts, repeat) == "rejected" and _status(parts, target) == "open"
    with parts.sessions() as session:
        label = session.execute(select(task_labels).where(task_labels.c.task_id == repeat)).one()
        links = session.execute(
            select(task_links).where(task_links.c.task_id == target).order_by(task_links.c.id)
        ).all()
    assert (label.action, label.correct, label.reason) == ("duplicate", 1, f"duplicate of {target}")
    assert [(link.how, link.ledger_id) for link in links] == [("created", 1), ("duplicate", 2)]
    assert links[1].similarity is not None and 0.5 < links[1].similarity < 0.99


def test_the_review_queue_shows_its_keyboard_shortcuts_and_serves_their_script(app, parts) -> None:
    seed_roster(parts)
    record(parts, [draft("Send revised SOW")])
    with browser(app) as client:
        sign_in_by_link(client, invited(parts, "pam@ourco.example", "pm"))
        page = client.get("/app/review").text
        assert '<script src="/app/static/review.js" defer></script>' in page and "<kbd>j</kbd> next card" in page
        script = client.get("/app/static/review.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert 'event.key === "a"' in script.text and "default-src 'self'" in script.headers[
            "content-security-policy"]  # fmt: skip


def test_pages_speak_chinese_by_accept_language_or_the_chosen_language(app, parts) -> None:
    seed_roster(parts)
    record(parts, [draft("Send revised SOW")])
    zh = {"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"}
    with browser(app) as client:
        sign_in = client.get("/app/sign-in", headers=zh).text
        assert '<html lang="zh-CN">' in sign_in and "<h1>登录</h1>" in sign_in
        sign_in_by_link(client, invited(parts, "pam@ourco.example", "pm"))
        review = client.get("/app/review", headers=zh).text
        assert "审核队列" in review and "接受所选" in review and "Review queue" not in review
        assert "审核队列" not in client.get("/app/review", headers={"accept-language": "de-DE,en;q=0.5"}).text
        chose = client.post(
            "/app/language", data={"csrf_token": csrf(review), "language": "en", "next": "/app/tasks"}, headers=zh
        )
        assert chose.status_code == 303 and chose.headers["location"] == "/app/tasks"
        assert "Review queue" in client.get("/app/review", headers=zh).text  # the choice beats the browser's
        refused = client.post("/app/language", data={"csrf_token": csrf(review), "language": "xx"})
        assert refused.status_code == 400 and "zh_CN" in refused.text
        not_allowed = client.post("/app/inbox/1/retry", data={"csrf_token": csrf(review)}, headers=zh)
        assert not_allowed.status_code == 403 and "Not allowed" in not_allowed.text  # the English choice holds


def test_a_signed_in_persons_language_is_kept_with_them_and_follows_them_to_another_browser(app, parts) -> None:
    from handoff.access.users import find_user

    seed_roster(parts)
    record(parts, [draft("Send revised SOW")])
    en = {"accept-language": "en-GB,en;q=0.9"}
    with browser(app) as laptop:
        sign_in_by_link(laptop, invited(parts, "pam@ourco.example", "pm"), PASSWORD)
        review = laptop.get("/app/review", headers=en).text
        assert "Review queue" in review
        chose = laptop.post("/app/language", data={"csrf_token": csrf(review), "language": "zh_CN"}, headers=en)
        assert chose.status_code == 303
    with parts.sessions() as session:
        assert find_user(session, "pam@ourco.example").language == "zh_CN"
    with browser(app) as phone:  # no language cookie here, and an English browser
        signed_out = phone.get("/app/sign-in", headers=en).text
        assert "<h1>Sign in</h1>" in signed_out  # before sign-in nobody is known: the browser's language
        token = csrf(signed_out)
        answer = phone.post("/app/sign-in", data={"csrf_token": token, "email": "pam@ourco.example",
                                                  "password": PASSWORD}, headers=en)  # fmt: skip
        assert answer.status_code == 303, answer.text
        page = phone.get("/app/review", headers=en).text
        assert '<html lang="zh-CN">' in page and "审核队列" in page and "Review queue" not in page
        refused = phone.get("/app/inbox", headers=en)  # error pages too
        assert refused.status_code == 403 and "Not allowed" not in refused.text


def test_handoff_users_invite_sets_a_persons_language_and_refuses_one_the_app_lacks(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from handoff.access.users import find_user
    from handoff.cli.main import build_app
    from handoff.settings import Settings
    from handoff.wiring import Parts

    monkeypatch.setenv("HANDOFF_HOME", str(tmp_path / "home"))
    invite = ["users", "invite", "--role", "pm", "--language"]
    made = CliRunner().invoke(build_app(), [*invite, "zh_CN", "li@ourco.example"])
    assert made.exit_code == 0, made.output
    refused = CliRunner().invoke(build_app(), [*invite, "de", "lu@ourco.example"])
    # The error the `handoff` entry point writes as one line with exit code 2 (tests/test_cli_errors.py).
    assert refused.exit_code != 0 and "language must be one of en, zh_CN, not 'de'" in str(refused.exception)
    parts = Parts(Settings(_env_file=None))
    try:
        with parts.sessions() as session:
            assert find_user(session, "li@ourco.example").language == "zh_CN"
            with pytest.raises(Exception, match="no user"):
                find_user(session, "lu@ourco.example")  # nothing half-made: the invitation rolled back
    finally:
        parts.close()


def test_the_review_page_marks_each_fields_evidence_and_shows_per_field_accuracy_from_the_labels(app, parts) -> None:
    seed_roster(parts)
    quote = "Thanks for the call. Could you send the revised SOW by Friday? Ben will check it."
    ids = record(parts, [draft("Send revised SOW", evidence="Could you send the revised SOW by Friday?"),
                         draft("Fix the export"), draft("Book the workshop")]).created  # fmt: skip
    with transaction(parts.sessions) as session:
        session.execute(update(CRM_TABLES["tasks"]).where(CRM_TABLES["tasks"].c.id == ids[0]).values(description=quote))
    with browser(app) as client:
        sign_in_by_link(client, invited(parts, "pam@ourco.example", "pm"))
        page = client.get("/app/review").text
        assert "Kept as extracted" not in page  # nothing reviewed yet: no accuracy to show
        card = page.split(f'id="task-{ids[0]}"', 1)[1].split("</blockquote>")[0]
        assert "Thanks for the call. <mark>Could you send the revised SOW by Friday?</mark> Ben will check it." in card
        token = csrf(page)
        client.post(f"/app/review/{ids[1]}", data={"csrf_token": token, "action": "accept", "title": "Fix the export"})
        edited = {"csrf_token": token, "action": "accept", "title": "Book the kickoff workshop", "priority": "normal"}
        client.post(f"/app/review/{ids[2]}", data=edited)
        shown = client.get("/app/review").text.split('<p class="accuracy">', 1)[1].split("</p>")[0]
    # Two reviewed cards: one title kept, one changed (50 %); both priorities kept (100 %).
    assert "title 50% <small>(2)</small>" in shown and "priority 100% <small>(2)</small>" in shown


def test_every_text_of_the_pages_has_a_chinese_translation() -> None:
    """The catalog is extracted from the templates and the web modules as `pybabel extract -F babel.cfg` does: a text
    added to a page without its translation fails here (and would show in English on a Chinese page)."""
    from pathlib import Path

    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    from handoff.web.i18n import LOCALE_DIR

    root = Path(__file__).parents[2]
    method_map = [("src/handoff/web/**.py", "python"), ("src/handoff/web/templates/**.html", "jinja2")]
    options = {"src/handoff/web/templates/**.html": {"newstyle_gettext": "true"}}  # as babel.cfg says
    found = {message for _, _, message, _, _ in extract_from_dir(root, method_map, options_map=options)}
    with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    wanted = {m for m in found if not isinstance(m, tuple)}
    assert len(wanted) > 100
    assert sorted(wanted - translated) == []
