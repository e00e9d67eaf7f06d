"""Scores, estimates, alerts and contacts through the API on the tiny demo (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from handoff.access import audit
from handoff.alerts.tables import alerts
from handoff.api.app import create_app
from handoff.api.scoring import FeatureCache, score_record
from handoff.risk.service import default_as_of, score_churn
from handoff.risk.tables import risk_estimates
from handoff.settings import ApiSettings
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction


@pytest.fixture
def risk_client(demo_parts, served_models):
    with TestClient(create_app(parts=demo_parts, models=served_models, key_cache_ttl_s=0)) as client:
        yield client


def _active_accounts(parts, n: int = 3) -> list[str]:
    accounts = CRM_TABLES["accounts"]
    with parts.sessions() as session:
        return list(session.scalars(select(accounts.c.id).where(accounts.c.status == "active").limit(n)))


def test_the_fast_churn_path_gives_the_service_numbers(demo_parts, served_models) -> None:
    cache = FeatureCache()
    with demo_parts.sessions() as session:
        as_of = default_as_of(session)
        for account_id in _active_accounts(demo_parts):
            features = cache.features(session, [account_id], as_of)
            expected = score_churn(served_models, features, top=5).iloc[0]
            probability, drivers = score_record(
                served_models["churn"], cache.record(demo_parts.sessions, account_id, as_of)
            )
            assert probability == pytest.approx(expected["probability"], abs=1e-9)
            assert [d["feature"] for d in drivers] == [d["feature"] for d in expected["drivers"]]


def test_churn_one_and_batch(risk_client, make_key, auth, demo_parts) -> None:
    accounts = _active_accounts(demo_parts)
    owner = make_key("admin")
    one = risk_client.get(f"/v1/accounts/{accounts[0]}/churn", headers=auth(owner))
    assert one.status_code == 200, one.text
    assert 0.0 <= one.json()["probability"] <= 1.0 and one.json()["model_version"] == "1"
    assert risk_client.get("/v1/accounts/NOPE/churn", headers=auth(owner)).status_code == 404
    batch = risk_client.post("/v1/churn/batch", json={"account_ids": [*accounts, "NOPE"]}, headers=auth(owner))
    assert batch.status_code == 200, batch.text
    assert [s["account_id"] for s in batch.json()["scores"]] == accounts
    assert batch.json()["not_scored"] == ["NOPE"]
    scores = {s["account_id"]: s["probability"] for s in batch.json()["scores"]}
    assert scores[accounts[0]] == pytest.approx(one.json()["probability"], abs=1e-9)


def test_estimate_from_a_deal_is_stored_and_listed(risk_client, make_key, auth, demo_parts) -> None:
    deals = CRM_TABLES["deals"]
    with demo_parts.sessions() as session:
        deal_id = session.scalars(select(deals.c.id).limit(1)).first()
    key = make_key("pm")
    created = risk_client.post("/v1/estimates", json={"deal_id": deal_id}, headers=auth(key))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["effort_hours"]["p10"] <= body["effort_hours"]["p50"] <= body["effort_hours"]["p90"]
    assert risk_client.get(f"/v1/estimates/{body['id']}", headers=auth(key)).json()["id"] == body["id"]
    listed = risk_client.get(f"/v1/estimates?deal_id={deal_id}", headers=auth(key)).json()
    assert [e["id"] for e in listed["estimates"]] == [body["id"]] and listed["total"] == 1
    for blank in ({}, {"description": "   "}, {"product": "", "planned_start": "2026-12-01"}):
        empty = risk_client.post("/v1/estimates", json=blank, headers=auth(key))
        assert empty.status_code == 400 and "the brief is empty" in empty.json()["detail"], (blank, empty.text)
    unknown_project = risk_client.post(
        "/v1/estimates", json={"project_id": "P-NOPE", "scope_items": 4}, headers=auth(key)
    )
    assert unknown_project.status_code == 404 and "P-NOPE" in unknown_project.json()["detail"]
    bare = risk_client.post("/v1/estimates", json={"scope_items": 6, "team_size": 2}, headers=auth(key))
    assert bare.status_code == 201 and bare.json()["account_id"] is None, bare.text
    assert risk_client.post("/v1/estimates", json={"deal_id": "NOPE"}, headers=auth(key)).status_code == 404


def test_estimates_at_once_queue_in_the_scoring_lane_and_every_one_lands(
    demo_parts, served_models, make_key, auth
) -> None:
    deals = CRM_TABLES["deals"]
    with demo_parts.sessions() as session:
        deal_ids = list(session.scalars(select(deals.c.id).order_by(deals.c.id).limit(4)))
    settings = demo_parts.settings.model_copy(update={"api": ApiSettings(scoring_threads=1)})
    app = create_app(settings, parts=demo_parts, models=served_models, key_cache_ttl_s=0)
    key = make_key("pm")
    with TestClient(app) as client, ThreadPoolExecutor(8) as pool:
        assert app.state.scoring_lane.total_tokens == 1
        answers = list(
            pool.map(lambda deal: client.post("/v1/estimates", json={"deal_id": deal}, headers=auth(key)), deal_ids * 3)
        )
    assert [a.status_code for a in answers] == [201] * 12, [a.text for a in answers if a.status_code != 201]
    with demo_parts.sessions() as session:
        stored = set(session.scalars(select(risk_estimates.c.id).where(risk_estimates.c.deal_id.in_(deal_ids))))
    assert stored == {a.json()["id"] for a in answers}
    # The same deal on the same day gets the same numbers, whichever thread answered.
    by_deal = {}
    for answer in answers:
        body = answer.json()
        by_deal.setdefault(body["deal_id"], set()).add(json.dumps([body["effort_hours"], body["factors"]]))
    assert all(len(variants) == 1 for variants in by_deal.values())


def test_without_models_scoring_is_503(client, make_key, auth) -> None:
    response = client.get("/v1/accounts/A-1/churn", headers=auth(make_key("admin")))
    assert response.status_code == 503 and "handoff train" in response.json()["detail"]


def _alert(parts, alert_id: str, account_id: str, owner_id: str) -> None:
    today = date.today()
    with transaction(parts.sessions) as session:
        session.execute(
            alerts.insert().values(
                id=alert_id, account_id=account_id, owner_id=owner_id, cause="threshold", status="open",
                live_key=f"{account_id}:threshold", probability=0.7, drivers=[], changes={},
                opened_on=today, last_run_date=today, updated_at=datetime.now(),
            )
        )  # fmt: skip


def test_account_owners_see_and_act_on_their_own_alerts_only(risk_client, make_key, auth, demo_parts) -> None:
    mine, theirs = _active_accounts(demo_parts, 2)
    _alert(demo_parts, "al-mine", mine, "TM-ME")
    _alert(demo_parts, "al-theirs", theirs, "TM-OTHER")
    me = make_key("account_owner", owner_id="TM-ME")
    listed = risk_client.get("/v1/alerts", headers=auth(me)).json()
    assert [a["id"] for a in listed["alerts"]] == ["al-mine"] and listed["total"] == 1
    assert datetime.fromisoformat(listed["alerts"][0]["updated_at"]).utcoffset() == timedelta(0)  # RFC 3339
    assert risk_client.get("/v1/alerts/al-theirs", headers=auth(me)).status_code == 404
    until = (date.today() + timedelta(days=7)).isoformat()
    theirs_snooze = risk_client.post(
        "/v1/alerts/al-theirs/snooze", json={"until": until, "reason": "x"}, headers=auth(me)
    )
    assert theirs_snooze.status_code == 404
    snoozed = risk_client.post("/v1/alerts/al-mine/snooze", json={"until": until, "reason": "QBR"}, headers=auth(me))
    assert snoozed.status_code == 200 and snoozed.json()["status"] == "snoozed"
    assert risk_client.post("/v1/alerts/al-mine/resolve", headers=auth(me)).json()["status"] == "resolved"
    assert risk_client.post("/v1/alerts/al-mine/resolve", headers=auth(me)).status_code == 409
    admin = make_key("admin")
    assert risk_client.get("/v1/alerts", headers=auth(admin)).json()["total"] == 2
    # The total counts what the filters select, the account filter included.
    by_account = risk_client.get(f"/v1/alerts?account_id={theirs}", headers=auth(admin)).json()
    assert [a["id"] for a in by_account["alerts"]] == ["al-theirs"] and by_account["total"] == 1
    assert risk_client.get("/v1/alerts?account_id=XYZ", headers=auth(admin)).json() == {"alerts": [], "total": 0}
    assert risk_client.get("/v1/alerts", headers=auth(make_key("sales"))).status_code == 403


def test_contacts_are_masked_without_the_right_and_unmasked_reads_are_audited(
    risk_client, make_key, auth, demo_parts
) -> None:
    account_id = _active_accounts(demo_parts, 1)[0]
    pm = risk_client.get(f"/v1/accounts/{account_id}/contacts", headers=auth(make_key("pm"))).json()
    assert pm["masked"] and pm["contacts"]
    assert all("***@" in c["email"] for c in pm["contacts"] if c["email"])
    sales = risk_client.get(f"/v1/accounts/{account_id}/contacts", headers=auth(make_key("sales"))).json()
    assert not sales["masked"] and any(c["email"] and "***" not in c["email"] for c in sales["contacts"])
    with demo_parts.sessions() as session:
        entries = audit.list_entries(session, subject=f"account:{account_id}")
    assert len(entries) == 1 and entries[0].action == audit.READ_CONTACT_DATA
    assert risk_client.get("/v1/contacts", headers=auth(make_key("sales"))).status_code == 403
    exported = risk_client.get("/v1/contacts?limit=5", headers=auth(make_key("integration"))).json()
    assert exported["masked"] and len(exported["contacts"]) == 5
