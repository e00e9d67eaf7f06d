"""One ledger entry's original message in the inbox (`/app/inbox/{id}`), through HTTP on the real app: headers, the
body as escaped text (bounded), attachments, status and tasks; masking, roles and unknown ids as the API has them."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from handoff.access import audit
from handoff.access.roles import ROLE_PERMISSIONS
from handoff.intake import ledger as ledger_store
from handoff.intake.original import TOKEN_MARGIN
from handoff.intake.service import receive_raw
from handoff.intake.tables import ledger
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.web import views
from tests.tasks.test_service import draft, record, seed_roster
from tests.web.test_web_app import browser, invited, sign_in_by_link

MAIL = (
    b"From: Jane Doe <jane@acme.example>\r\n"
    b"To: Sam <sam@ourco.example>\r\n"
    b"Cc: Ops <ops@acme.example>\r\n"
    b"Date: Tue, 03 Mar 2026 09:15:00 +0100\r\n"
    b"Subject: Revised SOW <b>now</b>\r\n"
    b"Message-ID: <sow-1@acme.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Please send the revised SOW by Friday.\r\n"
    b"<script>alert('x')</script>\r\n"
    b"Call me on +49 170 5551212.\r\n"
    b"--b1\r\n"
    b'Content-Type: application/pdf; name="sow-draft.pdf"\r\n'
    b'Content-Disposition: attachment; filename="sow-draft.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQKJcfsj6IK\r\n"
    b"--b1--\r\n"
)


@pytest.fixture
def app(parts):
    from handoff.api.app import create_app

    return create_app(parts=parts, models={}, key_cache_ttl_s=0)


@pytest.fixture
def message(parts) -> tuple[int, str]:
    """A customer mail in the ledger, processed into one suggested task."""
    seed_roster(parts)
    entry = receive_raw(parts, MAIL, "api")
    with transaction(parts.sessions) as session:
        ledger_store.finish(session, entry.id, worker=None, outcome="tasks_created", reason="1 task from the mail")
    task_id = record(parts, [draft("Send the revised SOW")], ledger_id=entry.id).created[0]
    return entry.id, task_id


def test_an_admin_reads_the_headers_body_attachments_status_and_tasks_of_a_message(app, parts, message) -> None:
    entry_id, task_id = message
    with browser(app) as admin:
        sign_in_by_link(admin, invited(parts, "ada@ourco.example", "admin"))
        assert f'href="/app/inbox/{entry_id}"' in admin.get("/app/inbox").text  # the inbox links to the page
        page = admin.get(f"/app/inbox/{entry_id}")
    assert page.status_code == 200, page.text
    html = page.text
    for shown in ("Jane Doe &lt;jane@acme.example&gt;", "Sam &lt;sam@ourco.example&gt;", "Ops &lt;ops@acme.example&gt;",
                  "Revised SOW &lt;b&gt;now&lt;/b&gt;", "Please send the revised SOW by Friday.", "+49 170 5551212",
                  "sow-draft.pdf", "application/pdf", "tasks_created", "1 task from the mail",
                  f'href="/app/review#task-{task_id}"', "Send the revised SOW"):  # fmt: skip
        assert shown in html, shown
    assert "3/3/26, 8:15" in html  # the Date header (09:15 +0100), parsed and written in UTC in the locale
    # Mail is attacker-written: its markup is text on the page, never a tag.
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<b>now</b>" not in html and "Truncated" not in html


def test_a_role_without_contact_data_reads_the_message_masked_and_unaudited(app, parts, message, monkeypatch) -> None:
    """No person's role holds `ledger:read` without `contact_data` today; one that did would see what the API's
    masked roles see (the integration key's view of `GET /v1/ledger/{id}`)."""
    entry_id, _ = message
    monkeypatch.setitem(ROLE_PERMISSIONS, "pm", ROLE_PERMISSIONS["pm"] | {"ledger:read"})
    with browser(app) as pm:
        sign_in_by_link(pm, invited(parts, "pam@ourco.example", "pm"))
        page = pm.get(f"/app/inbox/{entry_id}")
    assert page.status_code == 200, page.text
    assert "j***@acme.example" in page.text and "o***@acme.example" in page.text and "+49 *** ** 12" in page.text
    assert "jane@acme.example" not in page.text and "5551212" not in page.text
    assert "Please send the revised SOW by Friday." in page.text
    with parts.sessions() as session:
        reads = [e for e in audit.list_entries(session) if e.action == audit.READ_CONTACT_DATA]
    assert reads == []


def test_an_admins_unmasked_read_is_in_the_audit_log(app, parts, message) -> None:
    entry_id, _ = message
    with browser(app) as admin:
        sign_in_by_link(admin, invited(parts, "ada@ourco.example", "admin"))
        assert admin.get(f"/app/inbox/{entry_id}").status_code == 200
    with parts.sessions() as session:
        reads = [e for e in audit.list_entries(session) if e.action == audit.READ_CONTACT_DATA]
    assert {e.subject for e in reads} == {f"ledger:{entry_id}"} and all(e.actor.startswith("user:") for e in reads)


@pytest.mark.parametrize("role", ["pm", "sales", "account_owner"])
def test_roles_without_ledger_read_get_the_403_page(app, parts, message, role) -> None:
    entry_id, _ = message
    with browser(app) as client:
        sign_in_by_link(client, invited(parts, f"{role}@ourco.example", role, owner_id="u_anna"))
        refused = client.get(f"/app/inbox/{entry_id}")
    assert refused.status_code == 403 and "<h1>Not allowed</h1>" in refused.text
    assert "revised SOW" not in refused.text


@pytest.mark.parametrize("role", ["pm", "sales"])
def test_a_reviewer_without_ledger_read_sees_the_messages_subject_and_sender_masked(app, parts, role) -> None:
    """PMs review tasks but may not read the ledger; their card still says which mail it came from, masked even
    for sales (who hold `contact_data` but not `ledger:read`), and that masked read is not audited."""
    seed_roster(parts)
    raw = MAIL.replace(b"Subject: Revised SOW <b>now</b>", b"Subject: SOW - call jane@acme.example or +49 170 5551212")
    entry = receive_raw(parts, raw, "api")
    record(parts, [draft("Send the revised SOW")], ledger_id=entry.id)
    with browser(app) as client:
        sign_in_by_link(client, invited(parts, f"{role}@ourco.example", role))
        page = client.get("/app/review").text
    heading = page.split("<h2>", 1)[1].split("</h2>")[0]
    assert (
        "SOW - call j***@acme.example or +49 *** ** 12" in heading and "Jane Doe &lt;j***@acme.example&gt;" in heading
    )
    assert "jane@acme.example" not in page and "5551212" not in page and f"Message {entry.id}" not in heading
    with parts.sessions() as session:
        assert [e for e in audit.list_entries(session) if e.action == audit.READ_CONTACT_DATA] == []


def test_an_admin_reviewer_sees_the_messages_subject_and_sender_as_the_ledger_shows_them(app, parts, message) -> None:
    with browser(app) as admin:
        sign_in_by_link(admin, invited(parts, "ada@ourco.example", "admin"))
        heading = admin.get("/app/review").text.split("<h2>", 1)[1].split("</h2>")[0]
    assert "Revised SOW &lt;b&gt;now&lt;/b&gt;" in heading and "jane@acme.example" in heading


def test_an_account_owner_granted_ledger_read_sees_only_their_own_accounts_mail(app, parts, message, monkeypatch):
    """The inbox applies the account scope of `GET /v1/ledger`: another owner's message and an unlinked one are not
    listed, and their pages answer as a missing entry's."""
    entry_id, _ = message
    other = receive_raw(parts, MAIL.replace(b"sow-1@", b"sow-2@").replace(b"Revised SOW", b"Theirs SOW"), "api")
    loose = receive_raw(parts, MAIL.replace(b"sow-1@", b"sow-3@").replace(b"Revised SOW", b"Loose SOW"), "api")
    with transaction(parts.sessions) as session:
        session.execute(
            CRM_TABLES["accounts"].insert(),
            [{"id": "acc_mine", "name": "Mine GmbH", "owner_id": "u_anna"},
             {"id": "acc_theirs", "name": "Theirs Ltd", "owner_id": "u_ben"}],
        )  # fmt: skip
        for linked, account in ((entry_id, "acc_mine"), (other.id, "acc_theirs")):
            session.execute(update(ledger).where(ledger.c.id == linked).values(account_id=account))
    monkeypatch.setitem(ROLE_PERMISSIONS, "account_owner", ROLE_PERMISSIONS["account_owner"] | {"ledger:read"})
    with browser(app) as owner:
        sign_in_by_link(owner, invited(parts, "anna@ourco.example", "account_owner", owner_id="u_anna"))
        inbox = owner.get("/app/inbox")
        assert inbox.status_code == 200, inbox.text
        assert "Revised SOW" in inbox.text and "Theirs SOW" not in inbox.text and "Loose SOW" not in inbox.text
        assert owner.get(f"/app/inbox/{entry_id}").status_code == 200
        for hidden in (other.id, loose.id):
            page = owner.get(f"/app/inbox/{hidden}")
            assert page.status_code == 404 and "SOW" not in page.text
    with browser(app) as admin:
        sign_in_by_link(admin, invited(parts, "ada@ourco.example", "admin"))
        everything = admin.get("/app/inbox").text
        assert all(subject in everything for subject in ("Revised SOW", "Theirs SOW", "Loose SOW"))


def test_unknown_or_malformed_ids_are_a_404_page(app, parts, message) -> None:
    with browser(app) as admin:
        sign_in_by_link(admin, invited(parts, "ada@ourco.example", "admin"))
        for path in (
            "/app/inbox/999999",
            "/app/inbox/0",
            "/app/inbox/abc",
            "/app/inbox/99999999999999",
            "/app/inbox/١",
        ):
            page = admin.get(path)
            assert page.status_code == 404 and "<h1>Not found</h1>" in page.text, (path, page.text)
    with browser(app) as signed_out:
        assert signed_out.get("/app/inbox/1").headers["location"] == "/app/sign-in?next=/app/inbox/1"


def test_a_long_body_is_cut_with_a_note(app, parts, monkeypatch) -> None:
    monkeypatch.setattr(views, "MESSAGE_CHARS", 2000)
    raw = b"From: a@acme.example\r\nSubject: Long\r\n\r\n" + b"word " * 2000
    entry = receive_raw(parts, raw, "api")
    with browser(app) as admin:
        sign_in_by_link(admin, invited(parts, "ada@ourco.example", "admin"))
        html = admin.get(f"/app/inbox/{entry.id}").text
    shown = html.split('<pre class="message-body">')[1].split("</pre>")[0]
    assert len(shown) == 2000 and shown.startswith("word word")
    assert "Truncated: the first 2,000 of 9,999 characters are shown." in html


def test_the_cut_never_shows_an_address_it_split_even_when_masking_shortened_the_text(app, parts, monkeypatch) -> None:
    """Masking 40 long addresses shortens the text by about 2,200 characters, so the cut at 2,000 would otherwise
    reach the address that the window (2,000 + margin) split after `@ac`, where no mask recognises it."""
    monkeypatch.setattr(views, "MESSAGE_CHARS", 2000)
    window = 2000 + TOKEN_MARGIN
    head = ("a" * 60 + "@acme.example\n") * 40
    head += "y" * (window - len(head) - len(" jennifer.liu@ac")) + " "
    assert (head + "jennifer.liu@acme.example")[:window].endswith("jennifer.liu@ac")
    raw = (
        b"From: a@acme.example\r\nSubject: Long\r\n\r\n"
        + (head + "jennifer.liu@acme.example " + "tail " * 500).encode()
    )
    entry = receive_raw(parts, raw, "api")
    monkeypatch.setitem(ROLE_PERMISSIONS, "pm", ROLE_PERMISSIONS["pm"] | {"ledger:read"})
    with browser(app) as pm:
        sign_in_by_link(pm, invited(parts, "pam@ourco.example", "pm"))
        html = pm.get(f"/app/inbox/{entry.id}").text
    shown = html.split('<pre class="message-body">')[1].split("</pre>")[0]
    assert "Truncated" in html and "jennifer" not in html and "a***@acme.example" in shown


def test_html_only_mail_is_shown_as_text_and_a_message_never_kept_says_so(app, parts) -> None:
    html_mail = (
        b"From: a@acme.example\r\nSubject: Styled\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Please <b>call</b> us.</p><script>steal()</script><img src=x onerror=alert(1)>"
    )
    styled = receive_raw(parts, html_mail, "api")
    parts.settings.inbox.max_message_bytes = 200
    too_big = receive_raw(parts, b"From: a@acme.example\r\nSubject: Big\r\n\r\n" + b"x" * 500, "api")
    with browser(app) as admin:
        sign_in_by_link(admin, invited(parts, "ada@ourco.example", "admin"))
        page = admin.get(f"/app/inbox/{styled.id}").text
        kept = admin.get(f"/app/inbox/{too_big.id}")
    assert "only an HTML body" in page and "Please call us." in page.replace("\n", " ").replace("  ", " ")
    assert "<b>call</b>" not in page and "onerror=alert" not in page and "<script>steal" not in page
    assert kept.status_code == 200 and "over the size limit" in kept.text and "rejected" in kept.text


def test_the_message_page_speaks_chinese(app, parts, message) -> None:
    entry_id, _ = message
    with browser(app) as admin:
        sign_in_by_link(admin, invited(parts, "ada@ourco.example", "admin"))
        page = admin.get(f"/app/inbox/{entry_id}", headers={"accept-language": "zh-CN"}).text
    assert "原始邮件" in page and "Original message" not in page


def test_a_message_whose_stored_bytes_are_gone_says_so_and_notes_read_as_text(app, parts) -> None:
    from handoff.intake.service import receive_notes

    lost = receive_raw(parts, b"From: a@acme.example\r\nSubject: Lost\r\n\r\nGone.\r\n", "api")
    with parts.sessions() as session:
        relative = ledger_store.raw_path_of(session, lost.id)
    (parts.settings.raw_mail_dir / relative).unlink()
    notes = receive_notes(parts, "Kickoff: Anna sends the <plan> by Friday.", "text", author="Sam")
    with browser(app) as admin:
        sign_in_by_link(admin, invited(parts, "ada@ourco.example", "admin"))
        gone = admin.get(f"/app/inbox/{lost.id}")
        read = admin.get(f"/app/inbox/{notes.id}")
    assert gone.status_code == 200 and "the stored message cannot be read (FileNotFoundError)" in gone.text
    assert read.status_code == 200 and "Kickoff: Anna sends the &lt;plan&gt; by Friday." in read.text


def _audited_downloads(parts) -> list[tuple[str, str, dict]]:
    with parts.sessions() as session:
        entries = audit.list_entries(session)
    return [(e.actor[:5], e.subject, e.detail) for e in entries if (e.detail or {}).get("download")]


def test_an_admin_downloads_the_raw_message_and_an_attachment_as_files_and_each_is_audited(app, parts, message) -> None:
    import base64

    entry_id, _ = message
    with browser(app) as admin:
        sign_in_by_link(admin, invited(parts, "ada@ourco.example", "admin"))
        page = admin.get(f"/app/inbox/{entry_id}").text
        assert f'href="/app/inbox/{entry_id}/original"' in page
        assert f'href="/app/inbox/{entry_id}/attachments/0"' in page
        raw = admin.get(f"/app/inbox/{entry_id}/original")
        pdf = admin.get(f"/app/inbox/{entry_id}/attachments/0")
        missing = admin.get(f"/app/inbox/{entry_id}/attachments/1")
    assert raw.status_code == 200 and raw.content == MAIL
    assert raw.headers["content-type"] == "message/rfc822"
    assert raw.headers["content-disposition"].startswith(f'attachment; filename="ledger-{entry_id}.eml"')
    assert pdf.status_code == 200 and pdf.content == base64.b64decode("JVBERi0xLjQKJcfsj6IK")
    # Served as bytes whatever the mail declared, never sniffed, always saved rather than shown.
    assert pdf.headers["content-type"] == "application/octet-stream"
    assert pdf.headers["content-disposition"].startswith('attachment; filename="sow-draft.pdf"')
    for answer in (raw, pdf):
        assert answer.headers["x-content-type-options"] == "nosniff" and answer.headers["cache-control"] == "no-store"
    assert missing.status_code == 404 and "has no attachment 1" in missing.text
    assert sorted(_audited_downloads(parts), key=str) == sorted(
        [
            ("user:", f"ledger:{entry_id}", {"download": "original"}),
            ("user:", f"ledger:{entry_id}", {"download": "attachment", "index": 0, "filename": "sow-draft.pdf"}),
        ],
        key=str,
    )


def test_downloads_are_refused_to_roles_that_may_not_see_contact_data(app, parts, message, monkeypatch) -> None:
    """A role granted `ledger:read` without `contact_data` reads the page masked, and gets no unmaskable bytes; sales
    (`contact_data` without `ledger:read`) get neither."""
    entry_id, _ = message
    monkeypatch.setitem(ROLE_PERMISSIONS, "pm", ROLE_PERMISSIONS["pm"] | {"ledger:read"})
    with browser(app) as pm:
        sign_in_by_link(pm, invited(parts, "pam@ourco.example", "pm"))
        page = pm.get(f"/app/inbox/{entry_id}").text
        assert "/original" not in page and "/attachments/0" not in page and "sow-draft.pdf" in page
        for path in (f"/app/inbox/{entry_id}/original", f"/app/inbox/{entry_id}/attachments/0"):
            refused = pm.get(path)
            assert refused.status_code == 403 and "<h1>Not allowed</h1>" in refused.text, path
    with browser(app) as sales:
        sign_in_by_link(sales, invited(parts, "sam@ourco.example", "sales"))
        assert sales.get(f"/app/inbox/{entry_id}/original").status_code == 403
    assert _audited_downloads(parts) == []


def test_the_api_serves_the_original_and_attachments_to_admins_only(app, parts, message, make_key, auth) -> None:
    entry_id, _ = message
    from handoff.intake.service import receive_notes

    notes = receive_notes(parts, "Kickoff: Anna sends the plan.", "text", author="Sam")
    parts.settings.inbox.max_message_bytes = 100
    too_big = receive_raw(parts, b"From: a@acme.example\r\nSubject: Big\r\n\r\n" + b"x" * 500, "api")
    admin, integration = auth(make_key("admin")), auth(make_key("integration"))
    with browser(app) as client:
        raw = client.get(f"/v1/ledger/{entry_id}/original", headers=admin)
        text = client.get(f"/v1/ledger/{notes.id}/original", headers=admin)
        attachment = client.get(f"/v1/ledger/{entry_id}/attachments/0", headers=admin)
        machine = client.get(f"/v1/ledger/{entry_id}/original", headers=integration)
        pm = client.get(f"/v1/ledger/{entry_id}/attachments/0", headers=auth(make_key("pm")))
        gone = client.get(f"/v1/ledger/{too_big.id}/original", headers=admin)
        unknown = client.get("/v1/ledger/999999/original", headers=admin)
        bad = client.get(f"/v1/ledger/{entry_id}/attachments/-1", headers=admin)
    assert raw.status_code == 200 and raw.content == MAIL and raw.headers["x-content-type-options"] == "nosniff"
    assert text.content == b"Kickoff: Anna sends the plan." and text.headers["content-type"].startswith("text/plain")
    assert text.headers["content-disposition"].startswith(f'attachment; filename="ledger-{notes.id}.txt"')
    assert attachment.status_code == 200 and attachment.content.startswith(b"%PDF-1.4")
    # The integration role reads the ledger masked: the bytes as they arrived cannot be masked.
    assert machine.status_code == 403 and pm.status_code == 403
    assert gone.status_code == 404 and "over the size limit" in gone.json()["detail"]
    assert unknown.status_code == 404 and bad.status_code == 422
    downloads = _audited_downloads(parts)
    assert len(downloads) == 3 and all(actor.startswith("key:") for actor, *_ in downloads)


def test_an_attachments_name_cannot_change_the_download_header_or_its_folder() -> None:
    from handoff.api.downloads import disposition

    header = disposition('..\\../evil".html;\r\nSet-Cookie: x=1')
    assert header.startswith("attachment; filename=\"evil_.html___Set-Cookie_ x_1\"; filename*=UTF-8''evil%22.html")
    assert "\r" not in header and "\n" not in header and header.count('"') == 2
    assert (
        disposition("报价单.pdf")
        == "attachment; filename=\"___.pdf\"; filename*=UTF-8''%E6%8A%A5%E4%BB%B7%E5%8D%95.pdf"
    )
    assert disposition("") == "attachment; filename=\"download\"; filename*=UTF-8''download"
