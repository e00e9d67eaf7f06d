"""The web app's other jobs over HTTP on the real app: accounts at risk (scope, snooze and resolve forms, CSRF), the
digest outbox, the estimate page's three charts, the backtest and the models page."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import insert, select

from handoff.alerts import service
from handoff.alerts.nightly import run_nightly
from handoff.alerts.tables import alert_events, alerts
from handoff.api.app import create_app
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from tests.alerts.conftest import ScriptedScorer
from tests.api.conftest import demo_frames, demo_parts, served_models  # noqa: F401
from tests.web.test_web_app import browser, csrf, invited, sign_in_by_link

pytestmark = pytest.mark.slow  # trains the champions the pages show

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)
OWNERS = [
    {"id": "tm1", "name": "Ann Lee", "email": "ann@example.com", "role": "account_owner"},
    {"id": "tm2", "name": "Bo Chen", "email": "bo@example.com", "role": "account_owner"},
]
ACCOUNTS = [
    {"id": "a1", "name": "Acme", "owner_id": "tm1"},
    {"id": "a2", "name": "Globex", "owner_id": "tm1"},
    {"id": "a3", "name": "Initech", "owner_id": "tm2"},
]


@pytest.fixture
def scored(parts):
    """Two nightly runs (outbox only, no SMTP): a1 rises, a2 falls, a3 (another owner's) is high."""
    with transaction(parts.sessions) as session:
        session.execute(insert(CRM_TABLES["team_members"]), OWNERS)
        session.execute(
            insert(CRM_TABLES["accounts"]),
            [{**a, "status": "active", "created_at": date(2024, 1, 1)} for a in ACCOUNTS],
        )
        session.execute(
            insert(CRM_TABLES["surveys"]),
            [{"id": "s1", "account_id": "a1", "kind": "nps", "score": 3, "responded_at": date(2026, 10, 20),
              "comment": "Call me on +49 170 5551212, the rollout is late"}],
        )  # fmt: skip
    scorer = ScriptedScorer({D1: {"a1": 0.55, "a2": 0.62, "a3": 0.9}, D2: {"a1": 0.81, "a2": 0.4, "a3": 0.91}})
    for day in (D1, D2):
        run = run_nightly(parts.sessions, parts.settings.alerts, run_date=day, scorer=scorer, sleep=lambda _: None)
        assert run.status == "ok", run.problems
    return parts


@pytest.fixture
def app(scored):
    return create_app(parts=scored, models={}, key_cache_ttl_s=0)


def _alert(parts, account_id: str):
    with parts.sessions() as session:
        return service.list_alerts(session, account_id=account_id)[0]


def test_an_account_owner_sees_only_their_accounts_with_trend_drivers_and_changes(app, scored) -> None:
    with browser(app) as ann:
        sign_in_by_link(ann, invited(scored, "ann@ourco.example", "account_owner", owner_id="tm1"))
        assert ann.get("/app").headers["location"] == "/app/accounts"  # their home
        page = ann.get("/app/accounts")
        assert page.status_code == 200, page.text
        text = page.text
        assert "Acme" in text and "Globex" in text and "Initech" not in text
        assert text.index("Acme") < text.index("Globex")  # riskiest first: 81% before 40%
        assert "risk rose from 55% to 81% (+26 pts)" in text and "risk fell from 62% to 40%" in text
        assert text.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 2
        assert "Acme: churn risk over the last 2 runs" in text  # the chart's title says what it shows
        assert "<td>2026-11-01</td><td>55%</td>" in text  # its numbers as a table
        assert "usage fell (81%)" in text  # the drivers stored by the run
        assert ann.get("/app/accounts/a3").status_code == 404  # another owner's account: as if it did not exist
        assert ann.get("/app/accounts/nope").status_code == 404
        mine = ann.get("/app/accounts/a1")
        assert mine.status_code == 200 and 'id="account-trend"' in mine.text and "81.0%" in mine.text
        assert "+49 170 5551212" in mine.text  # account owners hold contact_data for their own accounts
    with browser(app) as pam:
        sign_in_by_link(pam, invited(scored, "pam@ourco.example", "pm"))
        every = pam.get("/app/accounts").text
        assert all(name in every for name in ("Acme", "Globex", "Initech"))
        assert 'action="/app/alerts/' not in every  # a PM reads alerts, manages none
        assert "+49 *** ** 12" in pam.get("/app/accounts/a1").text  # and sees contact data masked, as through /v1
    with browser(app) as sam:
        sign_in_by_link(sam, invited(scored, "sam@ourco.example", "sales"))
        assert sam.get("/app/outbox").status_code == 403  # no alerts:read


def test_snooze_and_resolve_through_the_forms_change_the_alert_and_need_the_csrf_token(app, scored) -> None:
    mine, theirs = _alert(scored, "a1"), _alert(scored, "a3")
    until = (date.today() + timedelta(days=14)).isoformat()
    with browser(app) as ann:
        sign_in_by_link(ann, invited(scored, "ann@ourco.example", "account_owner", owner_id="tm1"))
        page = ann.get("/app/accounts").text
        assert f'action="/app/alerts/{mine.id}/snooze"' in page and f"/app/alerts/{theirs.id}/" not in page
        token = csrf(page)
        form = {"until": until, "reason": "renewal call booked", "back": "/app/accounts"}
        for refused in ({**form}, {**form, "csrf_token": "forged"}):
            answer = ann.post(f"/app/alerts/{mine.id}/snooze", data=refused)
            assert answer.status_code == 403 and "reload the page" in answer.text
        assert _alert(scored, "a1").status == "open"
        snoozed = ann.post(f"/app/alerts/{mine.id}/snooze", data={**form, "csrf_token": token})
        assert snoozed.status_code == 303 and snoozed.headers["location"] == f"/app/accounts#alert-{mine.id}"
        after = _alert(scored, "a1")
        assert after.status == "snoozed" and after.snooze_reason == "renewal call booked"
        assert after.snoozed_until.isoformat() == until
        assert f"until {until}" in ann.get("/app/accounts").text
        other = ann.post(f"/app/alerts/{theirs.id}/snooze", data={**form, "csrf_token": token})
        assert other.status_code == 404  # another owner's alert, as through /v1
        past = ann.post(f"/app/alerts/{mine.id}/snooze", data={**form, "until": "2020-01-01", "csrf_token": token})
        assert past.status_code == 400 and "in the past" in past.text
        garbled = ann.post(f"/app/alerts/{mine.id}/snooze", data={**form, "until": "soon", "csrf_token": token})
        assert garbled.status_code == 400 and "must be a date" in garbled.text
        resolved = ann.post(
            f"/app/alerts/{mine.id}/resolve",
            data={"note": "signed", "back": "https://evil.example/", "csrf_token": token},
        )
        assert resolved.status_code == 303 and resolved.headers["location"] == f"/app/accounts/a1#alert-{mine.id}"
        again = ann.post(f"/app/alerts/{mine.id}/resolve", data={"csrf_token": token})
        assert again.status_code == 409
    with scored.sessions() as session:
        events = session.execute(
            select(alert_events.c.kind, alert_events.c.actor).where(alert_events.c.alert_id == mine.id)
        ).all()
        status = session.execute(select(alerts.c.status).where(alerts.c.id == theirs.id)).scalar_one()
    assert [kind for kind, _ in events][-2:] == ["snoozed", "resolved"]
    assert all(actor.startswith("user:") for kind, actor in events if kind in ("snoozed", "resolved"))
    assert status == "open"


def test_the_outbox_lists_each_digest_and_its_delivery_and_previews_any_owner(app, scored) -> None:
    with browser(app) as ada:
        sign_in_by_link(ada, invited(scored, "ada@ourco.example", "admin"))
        page = ada.get("/app/outbox").text
        assert "No SMTP server is configured" in page and page.count("kept in the outbox") == 3  # tm1 D1, D2; tm2 D1
        assert "Churn risk 2026-11-02: 1 account need you" in page and "Ann Lee" in page and "Bo Chen" in page
        preview = ada.get("/app/outbox?owner=tm2").text
        assert "Preview: Churn risk" in preview and "Initech - 91% churn risk" in preview
    with browser(app) as ann:
        sign_in_by_link(ann, invited(scored, "ann@ourco.example", "account_owner", owner_id="tm1"))
        own = ann.get("/app/outbox?owner=tm2").text  # asking for another owner shows their own instead
        assert "Bo Chen" not in own and "Initech" not in own and own.count("kept in the outbox") == 2


def test_with_smtp_configured_the_digests_are_mailed_and_the_outbox_shows_each_delivery(parts) -> None:
    from handoff.testing.smtp_capture import SmtpCapture

    with transaction(parts.sessions) as session:
        session.execute(insert(CRM_TABLES["team_members"]), OWNERS)
        session.execute(
            insert(CRM_TABLES["accounts"]),
            [{**a, "status": "active", "created_at": date(2024, 1, 1)} for a in ACCOUNTS],
        )
    with SmtpCapture() as smtp:
        parts.settings.alerts.smtp_host, parts.settings.alerts.smtp_port = smtp.host, smtp.port
        scorer = ScriptedScorer({D1: {"a1": 0.7, "a2": 0.2, "a3": 0.9}})
        run = run_nightly(parts.sessions, parts.settings.alerts, run_date=D1, scorer=scorer, sleep=lambda _: None)
        assert run.status == "ok", run.problems
        mailed = sorted(mail.message["To"] for mail in smtp.messages)
    assert mailed == ["ann@example.com", "bo@example.com"]  # one digest per owner, only their own accounts
    with browser(create_app(parts=parts, models={}, key_cache_ttl_s=0)) as ada:
        sign_in_by_link(ada, invited(parts, "ada@ourco.example", "admin"))
        page = ada.get("/app/outbox").text
    assert f"Digests are mailed through {smtp.host};" in page and "No SMTP server" not in page
    rows = re.findall(r'<tr class="delivery-(\w+)"><td>(\w+)</td>\s*<td>(\w+)</td><td class="number">(\d+)</td>', page)
    assert rows == [("sent", "email", "sent", "1")] * 2 and "kept in the outbox" not in page


@pytest.fixture
def risk_app(demo_parts, served_models):  # noqa: F811
    return create_app(parts=demo_parts, models=served_models, key_cache_ttl_s=0)


def test_a_pm_estimates_an_open_deal_and_sees_the_three_charts(risk_app, demo_parts) -> None:  # noqa: F811
    deals = CRM_TABLES["deals"]
    with demo_parts.sessions() as session:
        deal_id = session.scalars(select(deals.c.id).where(deals.c.stage == "open").limit(1)).first()
    assert deal_id is not None
    with browser(risk_app) as pam:
        sign_in_by_link(pam, invited(demo_parts, "pam@ourco.example", "pm"))
        form_page = pam.get("/app/estimates")
        assert form_page.status_code == 200 and f'<option value="{deal_id}">' in form_page.text
        token = csrf(form_page.text)
        made = pam.post("/app/estimates", data={"csrf_token": token, "deal_id": deal_id})
        assert made.status_code == 303, made.text
        page = pam.get(made.headers["location"])
        assert page.status_code == 200, page.text
        for chart in ("estimate-intervals", "estimate-factors-effort", "estimate-factors-overrun", "estimate-similar"):
            assert f'id="{chart}"' in page.text, chart
        numbers = [float(n.replace(",", "")) for n in re.findall(r"P(?:10|50|90) ([\d,]+)</text>", page.text)[:3]]
        assert numbers == sorted(numbers) and len(numbers) == 3  # P10 <= P50 <= P90 on the chart
        assert "Probability the cost ends more than 10% over budget" in page.text
        assert page.text.count("<tr><td>") >= 3  # the similar projects' table
        estimate_id = made.headers["location"].rsplit("/", 1)[1]
        assert f'href="/app/estimates/{estimate_id}"' in pam.get("/app/estimates").text
        brief = {"csrf_token": token, "scope_items": "12", "team_size": "4", "planned_budget": "80,000",
                 "contract_type": "fixed_price"}  # fmt: skip
        assert pam.post("/app/estimates", data=brief).status_code == 303
        bad = pam.post("/app/estimates", data={**brief, "team_size": "many"})
        assert bad.status_code == 400 and "team size must be a number" in bad.text
        wrong = pam.post("/app/estimates", data={**brief, "segment": "galactic"})
        assert wrong.status_code == 400 and "segment" in wrong.text
        empty = pam.post("/app/estimates", data={"csrf_token": token})
        assert empty.status_code == 400 and "the brief is empty" in empty.text
        assert pam.post("/app/estimates", data={"deal_id": deal_id}).status_code == 403  # no CSRF token
        assert pam.get("/app/estimates/backtest").status_code == 200
        assert pam.get("/app/estimates/nope").status_code == 404
        assert pam.get("/app/models").status_code == 403  # admins only
    with browser(risk_app) as ann:
        sign_in_by_link(ann, invited(demo_parts, "ann@ourco.example", "account_owner", owner_id="x"))
        assert ann.get("/app/estimates").status_code == 403


def test_the_backtest_puts_a_finished_projects_estimate_beside_its_actual(risk_app, demo_parts, served_models) -> None:  # noqa: F811
    from handoff.risk.schemas import EstimateBrief
    from handoff.risk.service import estimate

    projects = CRM_TABLES["projects"]
    with demo_parts.sessions() as session:
        done = session.execute(
            select(projects.c.id, projects.c.actual_hours).where(projects.c.actual_hours.is_not(None)).limit(2)
        ).all()
    with transaction(demo_parts.sessions) as session:
        for project_id, _ in done:
            estimate(session, served_models, EstimateBrief(project_id=project_id, scope_items=10))
    with browser(risk_app) as pam:
        sign_in_by_link(pam, invited(demo_parts, "pam@ourco.example", "pm"))
        page = pam.get("/app/estimates/backtest").text
    assert 'id="backtest-scatter"' in page and "2 projects" in page
    assert all(f"<td>{project_id}</td>" in page for project_id, _ in done)
    assert page.count("<circle") == 2
    inside = sum(p10 <= actual <= p90 for p10, actual, p90 in _effort_ranges(demo_parts))
    with browser(risk_app) as ada:  # the models page: the same estimates' coverage by the month they were made
        sign_in_by_link(ada, invited(demo_parts, "ada@ourco.example", "admin"))
        models_page = ada.get("/app/models").text
    month = date.today().strftime("%Y-%m")
    assert 'id="coverage-over-time"' in models_page
    share = f"{inside / 2:.0%}"
    assert f'<tr><td>{month}</td><td class="number">{share}</td><td class="number">2</td></tr>' in models_page


def _effort_ranges(parts) -> list[tuple[float, float, float]]:
    from handoff.risk.tables import risk_estimates

    projects = CRM_TABLES["projects"]
    with parts.sessions() as session:
        rows = session.execute(
            select(risk_estimates.c.effort_p10, projects.c.actual_hours, risk_estimates.c.effort_p90).join(
                projects, projects.c.id == risk_estimates.c.project_id
            )
        ).all()
    return [tuple(row) for row in rows]


def test_the_models_page_shows_each_champion_with_its_metrics_beside_the_baseline(demo_parts, demo_frames) -> None:  # noqa: F811
    """The page reads what training records (`record_evaluation`, as `handoff train` calls it)."""
    from handoff.risk import features as feats
    from handoff.risk.registry import ServedModel
    from handoff.risk.training import (
        churn_training_set,
        fit_bundle,
        history_end,
        project_training_sets,
        record_evaluation,
    )

    frames = feats.normalise_frames(demo_frames)
    sets = {**project_training_sets(frames), "churn": churn_training_set(frames, history_end(frames))}
    models = {}
    for name, training in sets.items():
        bundle = fit_bundle(training)
        record_evaluation(bundle, training, "demo")
        models[name] = ServedModel(name, "3", "no-such-run", bundle)
    app = create_app(parts=demo_parts, models=models, key_cache_ttl_s=0)
    with browser(app) as ada:
        sign_in_by_link(ada, invited(demo_parts, "ada@ourco.example", "admin"))
        page = ada.get("/app/models").text
    for name in ("effort", "duration", "overrun", "churn"):
        assert f'id="model-{name}"' in page and f"handoff-{name} v3" in page and f'id="importance-{name}"' in page
    assert 'id="reliability-churn"' in page and 'id="reliability-overrun"' in page
    assert "reliability-effort" not in page and "80 % interval coverage" in page and "Brier score" in page
    churn = models["churn"].bundle.info
    assert f"{churn['holdout_metrics']['brier']:,.3f}" in page and f"{churn['baseline_metrics']['brier']:,.3f}" in page
    assert sum(n for _, _, n in churn["reliability"]) == churn["holdout_metrics"]["n"]


def _open_deals_of_two_owners(parts) -> tuple[str, str, str]:
    """An owner with an open deal, that deal, and an open deal on another owner's account."""
    deals, accounts = CRM_TABLES["deals"], CRM_TABLES["accounts"]
    with parts.sessions() as session:
        rows = session.execute(
            select(deals.c.id, accounts.c.owner_id)
            .join(accounts, accounts.c.id == deals.c.account_id)
            .where(deals.c.stage == "open")
            .order_by(deals.c.id)
        ).all()
    mine = rows[0]
    theirs = next(row for row in rows if row.owner_id != mine.owner_id)
    return mine.owner_id, mine.id, theirs.id


def _finished_projects(parts, owner: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """(project, account) of a finished project on `owner`'s accounts and of one on another owner's."""
    projects, accounts = CRM_TABLES["projects"], CRM_TABLES["accounts"]
    with parts.sessions() as session:
        rows = session.execute(
            select(projects.c.id, projects.c.account_id, accounts.c.owner_id)
            .join(accounts, accounts.c.id == projects.c.account_id)
            .where(projects.c.actual_hours.is_not(None))
            .order_by(projects.c.id)
        ).all()
    mine = next((r.id, r.account_id) for r in rows if r.owner_id == owner)
    return mine, next((r.id, r.account_id) for r in rows if r.owner_id != owner)


def test_an_account_owner_given_estimates_sees_and_makes_them_on_their_own_accounts_only(
    risk_app,
    demo_parts,  # noqa: F811
    served_models,  # noqa: F811
    monkeypatch,
) -> None:
    """As `/v1/estimates`: the list, one estimate, the deal picker, a new estimate and the backtest, all scoped."""
    from handoff.access import roles
    from handoff.risk.schemas import EstimateBrief
    from handoff.risk.service import estimate

    owner, my_deal, their_deal = _open_deals_of_two_owners(demo_parts)
    (my_done, my_account), (their_done, their_account) = _finished_projects(demo_parts, owner)
    with transaction(demo_parts.sessions) as session:
        mine = estimate(session, served_models, EstimateBrief(deal_id=my_deal)).id
        theirs = estimate(session, served_models, EstimateBrief(deal_id=their_deal)).id
        # The backtest's rows: one finished project each, estimated on its account (an estimate on no account is
        # nobody's, and no owner sees it).
        for project_id, account_id in ((my_done, my_account), (their_done, their_account)):
            brief = EstimateBrief(project_id=project_id, account_id=account_id, scope_items=10)
            estimate(session, served_models, brief)
    granted = roles.ROLE_PERMISSIONS["account_owner"] | {"estimates:read", "estimates:write"}
    monkeypatch.setitem(roles.ROLE_PERMISSIONS, "account_owner", granted)
    with browser(risk_app) as ann:
        sign_in_by_link(ann, invited(demo_parts, "ann@ourco.example", "account_owner", owner_id=owner))
        listing = ann.get("/app/estimates")
        assert listing.status_code == 200, listing.text
        assert f'href="/app/estimates/{mine}"' in listing.text and theirs not in listing.text
        assert f'<option value="{my_deal}">' in listing.text and f'value="{their_deal}"' not in listing.text
        assert ann.get(f"/app/estimates/{mine}").status_code == 200
        hidden, missing = ann.get(f"/app/estimates/{theirs}"), ann.get("/app/estimates/no-such-estimate")
        assert hidden.status_code == missing.status_code == 404
        token = csrf(listing.text)
        refused = ann.post("/app/estimates", data={"csrf_token": token, "deal_id": their_deal})
        assert refused.status_code == 404, refused.text
        made = ann.post("/app/estimates", data={"csrf_token": token, "deal_id": my_deal})
        assert made.status_code == 303, made.text
        backtest = ann.get("/app/estimates/backtest").text
        assert f"<td>{my_done}</td>" in backtest and f"<td>{their_done}</td>" not in backtest
    with browser(risk_app) as pam:  # a PM is not scoped: both estimates are listed
        sign_in_by_link(pam, invited(demo_parts, "pam@ourco.example", "pm"))
        everything = pam.get("/app/estimates").text
        assert mine in everything and theirs in everything
        everything_done = pam.get("/app/estimates/backtest").text
        assert f"<td>{my_done}</td>" in everything_done and f"<td>{their_done}</td>" in everything_done
