"""The web app end to end in a real headless Chromium (Debian's chromium + chromedriver, driven by Selenium).

An admin invites a PM with `handoff users invite`; the PM signs in through the link and sets a password; a customer
mail forwarded over SMTP on loopback becomes suggested tasks through the real worker and shows in the admin's inbox;
the PM accepts one, edits another's due date and assignee, rejects a third, and the database holds exactly those
states and labels; the review queue's shortcut script runs and the tasks page lists the decisions through its
filter. The PM's role has no `contact_data`, so every page they see masks the customer's email and phone. Every page
visited is saved as a screenshot under var/screenshots/web/ (git-ignored), and any SEVERE entry in the browser's
console fails the test.

The second flow runs on the demo CRM history with fitted champions and two nightly runs: an admin reads accounts at
risk, one account, the outbox and a message page; a PM makes an estimate from a deal, then switches to 简体中文
(stored with them) and finds no English left in the estimate page's and the review queue's chrome; an account owner
sees only their accounts and snoozes an alert.
"""

from __future__ import annotations

import smtplib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from handoff.settings import Settings
from handoff.store.crm_tables import CRM_TABLES
from handoff.tasks.tables import task_labels
from handoff.wiring import Parts
from tests.api.conftest import demo_frames, served_models  # noqa: F401
from tests.debian import debian_binary
from tests.intake.intake_support import free_port, seed_crm

pytestmark = pytest.mark.services  # Chromium and chromedriver

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "web"
PASSWORD = "correct horse battery"
CUSTOMER_EMAIL, CUSTOMER_PHONE = "alice.chen@acme-corp.com", "555 0100"
FORWARDED = (
    "From: Sam Rep <sam@handoff-demo.com>\r\nTo: tasks@handoff.local\r\nSubject: Fwd: Website relaunch: next steps\r\n"
    "Message-ID: <browser-e2e-1@handoff-demo.com>\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
    "Can someone pick this up?\r\n\r\n---------- Forwarded message ---------\r\n"
    f"From: Alice Chen <{CUSTOMER_EMAIL}>\r\nDate: Mon, Jan 6, 2025 at 4:30 PM\r\n"
    "Subject: Website relaunch: next steps\r\nTo: Sam Rep <sam@handoff-demo.com>\r\n\r\nHi Sam,\r\n\r\n"
    "Could you send us the revised staging timeline by Friday?\r\n"
    "Please ask Priya to review the SSO settings before the launch.\r\n"
    "Can Dana update the DNS records for the new domain next week?\r\n"
    f"Also, please call me back on +1 {CUSTOMER_PHONE} or mail {CUSTOMER_EMAIL} about the invoice.\r\n\r\n"
    "Best regards,\r\nAlice Chen\r\n"
).encode()


class Browser:
    """One Chromium window: every page it shows is screenshotted, and its console must stay free of errors."""

    def __init__(self, base: str, name: str, profile: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = debian_binary("chromium", ["chromium"], "the browser test")
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=en-US",
                     "--window-size=1280,1600", "--disable-extensions", "--no-first-run"):  # fmt: skip
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")  # its own profile: two windows never share one
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # The driver's path is given, so Selenium Manager never looks one up (nor downloads one).
        service = Service(executable_path=debian_binary("chromedriver", ["chromium-driver"], "the browser test"))
        self.driver = webdriver.Chrome(options=options, service=service)
        self.base, self.name, self.shots = base, name, 0
        self.allowed_errors: list[str] = []

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)
        self.seen()

    def seen(self) -> list[str]:
        """After every page: a screenshot, and no console error but the ones this step expects (returned)."""
        self.shots += 1
        slug = self.path.strip("/").replace("/", "-") or "root"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(SCREENSHOTS / f"{self.name}-{self.shots:02d}-{slug}.png"))
        errors = [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]
        unexpected = [e for e in errors if not any(allowed in e for allowed in self.allowed_errors)]
        assert unexpected == [], f"console errors on {self.path}: {unexpected}"
        return errors

    @property
    def path(self) -> str:
        return self.driver.current_url.removeprefix(self.base).split("?")[0]

    @property
    def html(self) -> str:
        return self.driver.page_source

    def css(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def submit(self, selector: str) -> list[str]:
        """Clicks a button and waits for the page the form's answer leads to."""
        from selenium.webdriver.support.ui import WebDriverWait

        old = self.css("html")
        self.css(selector).click()
        wait = WebDriverWait(self.driver, 30)
        wait.until(lambda driver: _stale(old))
        wait.until(lambda driver: driver.execute_script("return document.readyState") == "complete")
        return self.seen()

    def sign_in_by_link(self, link: str, password: str) -> None:
        self.driver.get(link)
        self.seen()
        assert "Welcome" in self.html
        self.css("input[name=password]").send_keys(password)
        self.css("input[name=password_again]").send_keys(password)
        self.submit("form.narrow button[type=submit]")

    def close(self) -> None:
        self.driver.quit()


def _stale(element) -> bool:
    """The page the element was on has been replaced (asked again while Chromium is still between pages)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.is_enabled()
        return False
    except StaleElementReferenceException:
        return True
    except WebDriverException:  # mid-navigation: no document to ask yet
        return False


class Server:
    """`handoff up`'s parts on loopback: uvicorn with the API and pages, and the SMTP inbox."""

    def __init__(self, settings: Settings, models: dict | None = None) -> None:
        import uvicorn

        from handoff.api.app import create_app
        from handoff.intake.sources.smtp import smtp_inbox

        self.parts = Parts(settings)
        self.parts.migrate()
        self.smtp_port = free_port()
        self.smtp = smtp_inbox(self.parts, "127.0.0.1", self.smtp_port)
        self.smtp.start()
        config = uvicorn.Config(
            create_app(parts=self.parts, models=models or {}, key_cache_ttl_s=0),
            host="127.0.0.1",
            port=settings.api.port,
            log_level="warning",
            access_log=False,
        )
        self.uvicorn = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.uvicorn.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.uvicorn.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                pytest.fail("uvicorn did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.uvicorn.should_exit = True
        self.thread.join(timeout=10)
        self.smtp.stop()
        self.parts.close()


def _browser_env(tmp_path, monkeypatch, **extra: str) -> None:
    port = free_port()
    env = {"HANDOFF_HOME": str(tmp_path / "home"), "HANDOFF_API__PORT": str(port),
           "HANDOFF_WEB__BASE_URL": f"http://127.0.0.1:{port}", "SE_OFFLINE": "true", **extra}  # fmt: skip
    for name, value in env.items():  # the `handoff users invite` below reads the same home and base URL
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HANDOFF_DATABASE_URL", raising=False)


@pytest.fixture
def server(tmp_path, monkeypatch) -> Iterator[Server]:
    _browser_env(tmp_path, monkeypatch)
    running = Server(Settings(_env_file=None))
    seed_crm(running.parts)
    try:
        yield running
    finally:
        running.stop()


def invite_link(email: str, role: str, *options: str) -> str:
    """What an admin runs: `handoff users invite EMAIL --role ROLE`, which prints the one-time link."""
    from typer.testing import CliRunner

    from handoff.cli.main import build_app

    result = CliRunner().invoke(build_app(), ["users", "invite", email, "--role", role, *options])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[0]


def assert_masked(page: str) -> None:
    assert CUSTOMER_EMAIL not in page and CUSTOMER_PHONE not in page, "contact data shown to a role without it"


@pytest.mark.slow
def test_a_pm_reviews_a_forwarded_mail_in_chromium_and_the_database_holds_the_decisions(
    server: Server, tmp_path
) -> None:
    from selenium.webdriver.support.ui import Select

    from handoff.intake import service

    base = server.parts.settings.web_base_url
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as smtp:
        assert smtp.sendmail("sam@handoff-demo.com", ["tasks@handoff.local"], FORWARDED) == {}
    assert service.process_pending(server.parts) == 1  # the real worker: offline extractor, roster, dedupe
    tasks = CRM_TABLES["tasks"]
    with server.parts.sessions() as session:
        suggested = {row.description: row for row in session.execute(select(tasks)) if row.status == "suggested"}
    by_cue = {cue: next(r for text, r in suggested.items() if cue in (text or "")) for cue in ("staging", "SSO", "DNS")}
    accept, edit, reject = by_cue["staging"].id, by_cue["SSO"].id, by_cue["DNS"].id

    admin = Browser(base, "admin", tmp_path / "chromium-admin")
    pm = Browser(base, "pm", tmp_path / "chromium-pm")
    try:
        admin.sign_in_by_link(invite_link("ada@ourco.example", "admin"), PASSWORD)
        admin.open("/app/inbox")
        assert "Website relaunch: next steps" in admin.html and "Acme Corp" in admin.html
        assert CUSTOMER_EMAIL in admin.html  # an admin has contact_data: the same message, unmasked

        pm_link = invite_link("pam@ourco.example", "pm")  # the admin invites a PM
        pm.open("/app/review")
        assert pm.path == "/app/sign-in"  # signed out: redirected to sign-in
        pm.sign_in_by_link(pm_link, PASSWORD)
        pm.open("/app/review")
        assert all(pm.css(f"#task-{task_id}") for task_id in (accept, edit, reject))
        assert_masked(pm.html)
        assert "a***@acme-corp.com" in pm.html  # shown, masked

        pm.submit(f"#task-{accept} button[value=accept]")
        assert "is now open" in pm.html
        assert_masked(pm.html)
        Select(pm.css(f"#task-{edit} select[name=assignee_id]")).select_by_visible_text("Dana Lee")
        due = pm.css(f"#task-{edit} input[name=due_date]")
        due.send_keys("03062026")  # the date picker's keyboard entry, mm/dd/yyyy in en-US
        pm.submit(f"#task-{edit} button[value=save]")
        assert_masked(pm.html)
        pm.css(f"#task-{reject} input[name=reason]").send_keys("already done last week")
        pm.submit(f"#task-{reject} button[value=reject]")
        assert_masked(pm.html)

        # The shortcuts' hint is on the page and `j` moves to a card (its script runs under the page's CSP).
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        assert pm.css("#keys").is_displayed() and "next card" in pm.css("#keys").text
        pm.css("body").send_keys("j")
        WebDriverWait(pm.driver, 30).until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "form.card.current"))

        # The tasks page: the accepted task with its names; all statuses through the filter form.
        pm.open("/app/tasks")
        assert pm.css(f"#row-{accept}") and not pm.driver.find_elements(By.CSS_SELECTOR, f"#row-{reject}")
        assert_masked(pm.html)
        Select(pm.css("form.filters select[name=status]")).select_by_value("all")
        pm.submit("form.filters button[type=submit]")
        assert "status=all" in pm.driver.current_url
        assert all(pm.css(f"#row-{task_id}") for task_id in (accept, edit, reject))
        assert "rejected" in pm.css(f"#row-{reject}").text
        assert_masked(pm.html)
        pm.open("/app/review")

        # A form sent without its CSRF token: refused with 403, nothing done.
        pm.driver.execute_script(f"document.querySelector('#task-{edit} input[name=csrf_token]').remove()")
        pm.allowed_errors = ["403 (Forbidden)"]
        logged = pm.submit(f"#task-{edit} button[value=accept]")
        pm.allowed_errors = []
        assert any("403" in error for error in logged), logged  # the console is read: this one was expected
        assert "Not allowed" in pm.html and "reload the page" in pm.html
        assert pm.driver.title.startswith("Not allowed")

        pm.open("/app/review")
        assert_masked(pm.html)
        pm.submit("form.sign-out button")
        assert pm.path == "/app/sign-in"
        pm.open("/app/review")
        assert pm.path == "/app/sign-in"  # the session ended on the server
    finally:
        admin.close()
        pm.close()

    with server.parts.sessions() as session:
        rows = {r.id: r for r in session.execute(select(tasks))}
        labels = session.execute(select(task_labels).order_by(task_labels.c.id)).all()
    assert {task_id: rows[task_id].status for task_id in (accept, edit, reject)} == {
        accept: "open",
        edit: "suggested",
        reject: "rejected",
    }
    assert rows[edit].assignee_id == "tm-dana" and str(rows[edit].due_date) == "2026-03-06"
    untouched = [r for r in rows.values() if r.id not in (accept, edit, reject)]
    assert untouched and all(r.status == "suggested" for r in untouched)
    decided = {(label.task_id, label.action, label.field) for label in labels}
    accepted_fields = {(accept, "accept", name) for name in ("title", "assignee", "due", "priority", "task")}
    assert decided == accepted_fields | {
        (edit, "edit", "assignee"),
        (edit, "edit", "due"),
        (reject, "reject", "task"),
    }
    assert next(label.reason for label in labels if label.action == "reject") == "already done last week"
    assert {label.reviewer for label in labels} == {labels[0].reviewer} and labels[0].reviewer.startswith("user:")


@pytest.fixture
def risk_server(tmp_path, monkeypatch, demo_frames, served_models) -> Iterator[Server]:  # noqa: F811
    """The tiny demo CRM history with its four fitted champions served, two nightly runs of the real churn scorer
    (no SMTP configured: the digests wait in the outbox) and a low alert bar, so every owner has alerts to see."""
    from datetime import timedelta

    from handoff.alerts.nightly import ChampionScorer, run_nightly
    from handoff.crm.loader import write_frames
    from handoff.risk.service import default_as_of

    _browser_env(tmp_path, monkeypatch, HANDOFF_ALERTS__CHURN_THRESHOLD="0.05")
    running = Server(Settings(_env_file=None), models=served_models)
    parts = running.parts
    try:
        write_frames(parts.engine, demo_frames)
        with parts.sessions() as session:
            as_of = default_as_of(session)
        scorer = ChampionScorer(parts.sessions, lambda: served_models["churn"])
        for back in (1, 0):
            run = run_nightly(
                parts.sessions, parts.settings.alerts, scorer=scorer, run_date=as_of - timedelta(days=back)
            )
            assert run.status == "ok", run.problems  # no SMTP server: not "degraded", the digests are in the outbox
        yield running
    finally:
        running.stop()


def _english_chrome() -> set[str]:
    """Every page text the templates and web modules write in English that Chinese writes otherwise (the catalog's
    ids; those with placeholders left out, and those Chinese keeps as they are, such as "P10")."""
    from babel.messages.pofile import read_po

    from handoff.web.i18n import LOCALE_DIR

    with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="zh_CN")
    found = set()
    for message in catalog:
        text = message.id if isinstance(message.id, str) else message.id[0]
        chinese = message.string if isinstance(message.string, str) else message.string[0]
        if text and "%(" not in text and "{" not in text and any(c.isalpha() for c in text) and chinese != text:
            found.add(text)
    return found


@pytest.mark.slow
def test_accounts_estimates_outbox_and_a_message_show_real_data_in_chromium_in_both_languages(
    risk_server: Server, tmp_path
) -> None:
    from datetime import date, timedelta

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from handoff.access.users import find_user
    from handoff.alerts.tables import alert_scores, alerts
    from handoff.intake.service import receive_raw
    from handoff.risk.tables import risk_estimates as estimates
    from tests.tasks.test_service import draft, record
    from tests.web.test_web_message import MAIL

    parts = risk_server.parts
    accounts, deals, members = CRM_TABLES["accounts"], CRM_TABLES["deals"], CRM_TABLES["team_members"]
    with parts.sessions() as session:
        last_run = session.scalars(select(alert_scores.c.run_date).order_by(alert_scores.c.run_date.desc())).first()
        scored = session.execute(
            select(alert_scores.c.account_id, alert_scores.c.probability, accounts.c.name, accounts.c.owner_id)
            .join(accounts, accounts.c.id == alert_scores.c.account_id)
            .where(alert_scores.c.run_date == last_run)
            .order_by(alert_scores.c.probability.desc())
        ).all()
        open_alerts = session.execute(select(alerts).where(alerts.c.status == "open")).all()
        owner_names = dict(session.execute(select(members.c.id, members.c.name)).all())
        deal = session.execute(select(deals.c.id, deals.c.account_id).where(deals.c.stage == "open")).first()
    riskiest = scored[0]
    owner = next(a.owner_id for a in open_alerts if a.owner_id)  # an owner with an alert to snooze
    theirs = {row.account_id for row in scored if row.owner_id == owner}
    others = [row for row in scored if row.owner_id != owner]
    assert theirs and others and deal is not None
    entry = receive_raw(parts, MAIL, "api")  # a customer mail with a PDF attached, and one task from it
    record(parts, [draft("Send the revised SOW")], ledger_id=entry.id)

    base = parts.settings.web_base_url
    admin = Browser(base, "admin-jobs", tmp_path / "chromium-admin")
    pm = Browser(base, "pm-jobs", tmp_path / "chromium-pm")
    ann = Browser(base, "owner", tmp_path / "chromium-owner")
    try:
        admin.sign_in_by_link(invite_link("ada@ourco.example", "admin"), PASSWORD)
        admin.open("/app/accounts")  # admins see every owner's accounts, riskiest first, each with its trend
        assert riskiest.name in admin.html and others[0].name in admin.html
        assert admin.css(f"#account-{riskiest.account_id} svg")
        admin.open(f"/app/accounts/{riskiest.account_id}")
        assert admin.css("h1").text.startswith(riskiest.name) and "Churn risk" in admin.html
        assert f"{riskiest.probability:.0%}" in admin.html  # the latest score, in the history table
        admin.open("/app/outbox")
        assert "kept in the outbox" in admin.html and owner_names[owner] in admin.html

        admin.open(f"/app/inbox/{entry.id}")  # the message as it arrived: headers, escaped body, attachments
        assert (
            "Revised SOW &lt;b&gt;now&lt;/b&gt;" in admin.html
            and "Please send the revised SOW by Friday." in admin.html
        )
        assert admin.css(f"a[href='/app/inbox/{entry.id}/attachments/0']").text == "sow-draft.pdf"
        assert admin.css(f"a[href='/app/inbox/{entry.id}/original']")

        pm.sign_in_by_link(invite_link("pam@ourco.example", "pm"), PASSWORD)
        pm.open("/app/estimates")  # a PM's estimate from an open deal, through the form
        Select(pm.css("select[name=deal_id]")).select_by_value(deal.id)
        pm.submit("form.brief button[type=submit]")
        estimate_id = pm.path.rsplit("/", 1)[1]
        with parts.sessions() as session:
            stored = session.execute(select(estimates).where(estimates.c.id == estimate_id)).first()
        assert stored is not None and stored.deal_id == deal.id
        for chart in ("estimate-intervals", "estimate-factors-effort", "estimate-factors-overrun", "estimate-similar"):
            assert pm.css(f"#{chart}"), chart
        assert all(f"P{q}" in pm.css("#estimate-intervals").get_attribute("innerHTML") for q in (10, 50, 90))

        # 简体中文, chosen in the header: kept with the person, and no English left in any page's chrome.
        english = _english_chrome()
        chrome = "nav a, h1, h2, h3, th, button, label, caption, p.hint, small"
        shown_before = {e.text.strip() for e in pm.driver.find_elements(By.CSS_SELECTOR, chrome)}
        assert {"Effort and duration", "Budget overrun", "Sign out"} <= shown_before & english  # the check can fail
        Select(pm.css("form.language select[name=language]")).select_by_value("zh_CN")
        pm.submit("form.language button[type=submit]")
        with parts.sessions() as session:
            assert find_user(session, "pam@ourco.example").language == "zh_CN"
        for path in (f"/app/estimates/{estimate_id}", "/app/review"):
            pm.open(path)
            assert pm.css("html").get_attribute("lang") == "zh-CN"
            left = {e.text.strip() for e in pm.driver.find_elements(By.CSS_SELECTOR, chrome)} & english
            assert left == set(), f"English left on {path}: {left}"
        assert "审核队列" in pm.html and "Send the revised SOW" in pm.html  # the chrome in Chinese, the data as written
        assert "jane@acme.example" not in pm.html and "j***@acme.example" in pm.html  # the card's mail, masked

        ann.sign_in_by_link(invite_link("ann@ourco.example", "account_owner", "--owner", owner), PASSWORD)
        ann.open("/app")
        assert ann.path == "/app/accounts"  # an account owner's home
        listed = {row.get_attribute("id").removeprefix("account-")
                  for row in ann.driver.find_elements(By.CSS_SELECTOR, "tr[id^=account-]")}  # fmt: skip
        assert listed and listed <= theirs and not any(row.name in ann.html for row in others[:5])
        alert = next(a for a in open_alerts if a.owner_id == owner and a.account_id in listed)
        until = date.today() + timedelta(days=7)
        ann.css(f"#alert-{alert.id} input[name=until]").send_keys(until.strftime("%m%d%Y"))
        ann.css(f"#alert-{alert.id} input[name=reason]").send_keys("renewal call booked")
        ann.submit(f"#alert-{alert.id} form[action$=snooze] button[type=submit]")
        assert "renewal call booked" in ann.html
    finally:
        admin.close()
        pm.close()
        ann.close()
    with parts.sessions() as session:
        snoozed = session.execute(select(alerts).where(alerts.c.id == alert.id)).first()
    assert snoozed.status == "snoozed" and snoozed.snooze_reason == "renewal call booked"
    assert snoozed.snoozed_until == until
