"""Estimates and churn scores through the service, on a real database holding the demo history."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import insert, select

from handoff.crm.loader import write_frames
from handoff.errors import InvalidInput, NotFound, NotReady
from handoff.risk import features as feats
from handoff.risk import service
from handoff.risk.schemas import ChurnScore, Estimate, EstimateBrief
from handoff.risk.store import load_frames
from handoff.risk.tables import risk_estimates
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction

pytestmark = pytest.mark.slow
AS_OF = date(2026, 6, 1)


@pytest.fixture
def crm(parts, demo_frames):
    """Parts (SQLite and PostgreSQL) whose CRM tables hold the small demo history."""
    write_frames(parts.engine, demo_frames, replace=True)
    return parts


def _an_account(demo_frames, active: bool = True) -> str:
    features = feats.account_features(demo_frames, AS_OF)
    return str(features.index[0]) if active else ""


def test_estimate_gives_ranges_reasons_similar_projects_and_is_stored(crm, champions, demo_frames) -> None:
    account = _an_account(demo_frames)
    brief = EstimateBrief(
        account_id=account,
        scope_items=12,
        team_size=4,
        contract_type="fixed_price",
        planned_budget=120_000,
        sales_estimate_hours=900,
        description="Data migration from their legacy system; integration with their SAP ERP.",
    )
    with transaction(crm.sessions) as session:
        result = service.estimate(session, champions, brief, as_of=AS_OF)
    assert isinstance(result, Estimate)
    for band in (result.effort_hours, result.duration_days):
        assert 0 <= band.p10 <= band.p50 <= band.p90
    assert 0 <= result.overrun.probability <= 1
    assert result.overrun.expected_overrun_amount is not None
    assert all(result.factors[name] for name in ("effort", "duration", "overrun"))
    assert any("scope items" in f.text or "sales estimate" in f.text for f in result.factors["effort"])
    assert len(result.similar_projects) == 3
    projects = demo_frames["projects"].set_index("id")
    for similar in result.similar_projects:  # only projects whose actuals were known on the cutoff
        assert projects.loc[similar.project_id, "actual_end"] < pd.Timestamp(AS_OF)
        assert similar.actual_hours is not None and similar.planned_budget is not None
    assert result.model_versions == {"handoff-effort": "1", "handoff-duration": "1", "handoff-overrun": "1"}
    with transaction(crm.sessions) as session:
        stored = session.execute(select(risk_estimates).where(risk_estimates.c.id == result.id)).mappings().one()
        assert stored["effort_p50"] == pytest.approx(result.effort_hours.p50)
        assert stored["model_versions"]["handoff-effort"] == "1"
        assert service.get_estimate(session, result.id).effort_hours == result.effort_hours


def test_estimate_for_a_deal_uses_the_deal_and_its_project(crm, champions, demo_frames) -> None:
    projects = demo_frames["projects"]
    deal_id = str(projects["deal_id"].dropna().iloc[0])
    with transaction(crm.sessions) as session:
        result = service.estimate_for_deal(session, champions, deal_id, as_of=AS_OF)
    assert result.deal_id == deal_id
    assert result.project_id == str(projects.loc[projects["deal_id"] == deal_id, "id"].iloc[0])


def test_a_deal_brief_reads_the_deal_its_first_project_and_the_right_account(crm, demo_frames) -> None:
    projects, deals, accounts = (demo_frames[name] for name in ("projects", "deals", "accounts"))
    project = projects.dropna(subset=["deal_id"]).iloc[0]
    deal_id = str(project["deal_id"])
    without_project = deals.loc[~deals["id"].isin(projects["deal_id"].dropna()), "id"]
    other_account = str(accounts["id"].iloc[-1])
    with transaction(crm.sessions) as session:  # a second project of the deal, before the first by id
        session.execute(
            insert(CRM_TABLES["projects"]).values(
                id="P-0000-first", deal_id=deal_id, account_id=project["account_id"], team_size=7
            )
        )
    with transaction(crm.sessions) as session:
        row, account = service._brief_row(session, EstimateBrief(deal_id=deal_id))
        deal = deals.set_index("id").loc[deal_id]
        assert row["project_id"] == "P-0000-first" and row["team_size"] == 7
        assert row["account_id"] == deal["account_id"] and account["id"] == deal["account_id"]
        assert row["deal_amount"] == pytest.approx(deal["amount"])
        row, account = service._brief_row(session, EstimateBrief(deal_id=deal_id, account_id=other_account))
        assert row["account_id"] == account["id"] == other_account  # what the PM gave wins over the deal
        assert account["segment"] == accounts.set_index("id").loc[other_account, "segment"]
        if len(without_project):
            row, _ = service._brief_row(session, EstimateBrief(deal_id=str(without_project.iloc[0]), team_size=3))
            assert row["project_id"] is None and row["team_size"] == 3
        with pytest.raises(NotFound, match="account 'A-NOPE' not found"):
            service._brief_row(session, EstimateBrief(deal_id=deal_id, account_id="A-NOPE"))


def test_bad_input_is_a_clear_error(crm, champions) -> None:
    with transaction(crm.sessions) as session:
        with pytest.raises(NotFound, match="deal 'D-NOPE' not found"):
            service.estimate_for_deal(session, champions, "D-NOPE")
        with pytest.raises(NotFound, match="account 'A-NOPE' not found"):
            service.estimate(session, champions, EstimateBrief(account_id="A-NOPE", scope_items=3))
        with pytest.raises(NotFound, match="account 'A-NOPE' not found"):
            service.churn_for_account(session, champions, "A-NOPE")
        with pytest.raises(NotReady, match="handoff-effort"):
            service.estimate(session, {}, EstimateBrief(scope_items=3))
        with pytest.raises(NotReady, match="handoff-churn"):
            service.churn_for_account(session, {}, "anything")


def test_churn_for_one_account_matches_the_batch_score(crm, champions, demo_frames) -> None:
    features = feats.account_features(demo_frames, AS_OF)
    account = str(features.index[3])
    with transaction(crm.sessions) as session:
        score = service.churn_for_account(session, champions, account, as_of=AS_OF)
    assert isinstance(score, ChurnScore)
    batch = service.score_churn(champions, features)
    assert score.probability == pytest.approx(batch.loc[account, "probability"])
    assert score.model_version == "1"
    assert all(driver.effect > 0 and driver.text for driver in score.drivers)


def test_score_churn_explains_only_rows_above_the_bar(demo_frames, champions) -> None:
    features = feats.account_features(demo_frames, AS_OF)
    scored = service.score_churn(champions, features, top=3, explain_above=0.2)
    assert list(scored.columns) == ["probability", "drivers", "model_version"]
    assert scored.index.equals(features.index)
    explained = scored["drivers"].map(len) > 0
    assert (scored.loc[explained, "probability"] >= 0.2).all()
    assert (scored["drivers"].map(len) <= 3).all()


def test_estimate_from_a_bare_brief_has_no_account_history(crm, champions) -> None:
    brief = EstimateBrief(scope_items=8, team_size=3, planned_budget=50_000, product=None)
    with transaction(crm.sessions) as session:
        result = service.estimate(session, champions, brief, as_of=AS_OF, store=False)
    assert result.account_id is None
    assert 0 <= result.effort_hours.p10 <= result.effort_hours.p50 <= result.effort_hours.p90
    assert len(result.similar_projects) == 3
    # No customer, no history: unknown, so never offered as a reason (zeros would read "0 earlier projects").
    reasons = [factor.feature for factors in result.factors.values() for factor in factors]
    assert reasons and not [r for r in reasons if r.startswith("account_")]
    with pytest.raises(InvalidInput, match="the brief is empty"), transaction(crm.sessions) as session:
        service.estimate(session, champions, EstimateBrief(), as_of=AS_OF, store=False)


def test_the_record_path_gives_the_same_estimate_as_the_training_frames(crm, champions, demo_frames) -> None:
    """The estimate reads one record from a cached history; the models were trained on `project_features` frames."""
    from handoff.risk import explain

    projects = demo_frames["projects"]
    briefs = [EstimateBrief(deal_id=str(d)) for d in projects["deal_id"].dropna().iloc[:3]]
    briefs.append(EstimateBrief(account_id=_an_account(demo_frames), scope_items=5, planned_budget=40_000))
    with crm.sessions() as session:
        everything = load_frames(session)
    service._history_cache.clear()
    for brief in briefs:
        with transaction(crm.sessions) as session:
            first = service.estimate(session, champions, brief, as_of=AS_OF, store=False)
            again = service.estimate(session, champions, brief, as_of=AS_OF, store=False)  # from the cache
            row, _ = service._brief_row(session, brief)
        wanted = pd.DataFrame([{c: row.get(c) for c in (*feats.BRIEF_COLUMNS, "segment", "deal_amount")}])
        straight = feats.project_features(everything, as_of=AS_OF, briefs=wanted)
        for name, band in (("effort", first.effort_hours), ("duration", first.duration_days)):
            assert [band.p10, band.p50, band.p90] == pytest.approx(list(champions[name].predict(straight)[0]))
            model = champions[name]
            effects = explain.effects_in_units(model.contributions(straight), model.bundle.inverse_link)
            unit = "h" if name == "effort" else "days"
            framed = explain.top_factor_table(straight, effects, unit, top=5, direction="both")[0]
            assert [f.text for f in first.factors[name]] == [f["text"] for f in framed]
        assert first.overrun.probability == pytest.approx(champions["overrun"].predict(straight)[0])
        expected = champions["overrun"].bundle.expected_overrun(straight)[0]
        assert first.overrun.expected_overrun_pct == pytest.approx(expected)
        assert again == first.model_copy(update={"id": again.id, "created_at": again.created_at})


def test_handoffs_own_events_do_not_move_the_default_scoring_day(crm, demo_frames) -> None:
    """The loop stamps its project events when it runs: counted as CRM data, they moved a stale CRM's as-of day
    between two nightly runs minutes apart."""
    from handoff.loop.service import record_project_event
    from handoff.store.crm_tables import CRM_TABLES

    with crm.sessions() as session:
        before = service.default_as_of(session)
    assert before < date.today()  # the demo history ends in the past: the day after its data is the default
    project_id = str(demo_frames["projects"]["id"].iloc[0])
    with transaction(crm.sessions) as session:
        record_project_event(session, project_id=project_id, subject="started", body="", at=pd.Timestamp.now())
    with crm.sessions() as session:
        assert service.default_as_of(session) == before
    account_id = str(demo_frames["accounts"]["id"].iloc[0])
    with transaction(crm.sessions) as session:  # a real customer activity after the data does move it
        session.execute(
            CRM_TABLES["activities"].insert(),
            [{"id": "act-new", "account_id": account_id, "kind": "email", "occurred_at": pd.Timestamp(before)}],
        )
    with crm.sessions() as session:
        assert service.default_as_of(session) == min(date.today(), before + pd.Timedelta(days=1).to_pytimedelta())
