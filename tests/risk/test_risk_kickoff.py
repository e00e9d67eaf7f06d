"""The estimate's hot path: `kickoff_record` gives exactly `project_features`; similar projects are from the past."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from handoff.risk import features as feats
from handoff.risk import similar
from handoff.risk.kickoff import ProjectHistory, kickoff_record

CUTOFFS = (date(2024, 3, 1), date(2025, 6, 1), date(2026, 10, 1))


def _briefs(demo_frames) -> pd.DataFrame:
    """Real projects as briefs (with their deal's amount, as the service fills it), plus gaps and a bare brief."""
    projects = demo_frames["projects"].sample(n=120, random_state=4)
    amounts = demo_frames["deals"].set_index("id")["amount"]
    briefs = projects[list(feats.BRIEF_COLUMNS)].assign(deal_amount=projects["deal_id"].map(amounts), segment=None)
    gaps = briefs.head(10).assign(scope_items=np.nan, description=None, product=None, segment="enterprise")
    bare = pd.DataFrame([{"scope_items": 8.0, "team_size": 3.0, "planned_budget": 50_000.0, "account_id": None}])
    return pd.concat([briefs, gaps, bare], ignore_index=True).astype({"account_id": "object", "segment": "object"})


def _same(ours, theirs) -> bool:
    if theirs is None or (isinstance(theirs, float) and math.isnan(theirs)):
        return ours is None or (isinstance(ours, float) and math.isnan(ours))
    if isinstance(theirs, str):
        return ours == theirs
    return ours == pytest.approx(float(theirs), rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("as_of", CUTOFFS)
def test_kickoff_record_equals_the_training_features(demo_frames, as_of) -> None:
    briefs = _briefs(demo_frames)
    expected = feats.project_features(demo_frames, as_of=as_of, briefs=briefs)
    history = ProjectHistory.from_frames(demo_frames["projects"], demo_frames["accounts"])
    accounts = demo_frames["accounts"].set_index("id", drop=False)
    tickets = demo_frames["tickets"].groupby("account_id")
    for i, brief in enumerate(briefs.astype(object).where(briefs.notna(), None).to_dict("records")):
        account_id = brief["account_id"]
        account = accounts.loc[account_id].to_dict() if account_id else None
        own = tickets.get_group(account_id) if account_id in tickets.groups else demo_frames["tickets"].head(0)
        record = kickoff_record(brief, as_of, history, account, own[["opened_at", "escalated"]].itertuples(index=False))
        row = expected.iloc[i]
        assert set(record) == set(expected.columns)
        wrong = {name: (record[name], row[name]) for name in expected.columns if not _same(record[name], row[name])}
        assert not wrong, f"brief {i}: {wrong}"


def test_similar_projects_are_finished_before_the_cutoff_and_a_project_finds_itself_first(demo_frames) -> None:
    history = ProjectHistory.from_frames(demo_frames["projects"], demo_frames["accounts"])
    as_of = date(2026, 1, 1)
    projects = demo_frames["projects"].set_index("id")
    finished = projects[(projects["actual_end"] < pd.Timestamp(as_of)) & projects["actual_hours"].notna()]
    own = finished.iloc[5]
    segment = demo_frames["accounts"].set_index("id").loc[own["account_id"], "segment"]
    brief = {**own.to_dict(), "segment": segment}
    found = similar.similar_projects(brief, history, as_of, k=3)
    assert found[0]["project_id"] == own.name and found[0]["similarity"] == pytest.approx(1.0)
    assert [p["similarity"] for p in found] == sorted((p["similarity"] for p in found), reverse=True)
    assert all(p["project_id"] in finished.index for p in found)
    assert similar.similar_projects(brief, history, date(2000, 1, 1)) == []  # nothing had finished yet


def _distances_by_hand(brief, history: ProjectHistory, finished: pd.DataFrame) -> dict[str, float]:
    """The documented distance, one project at a time in plain Python: the oracle for the vectorised one."""
    numeric = {c: np.log1p(finished[c].astype(float).clip(lower=0)) for c in similar.SIMILARITY_NUMERIC}
    spreads = {c: float(values.dropna().std(ddof=1)) for c, values in numeric.items()}
    out = {}
    for project_id, project in finished.iterrows():
        gaps = []
        for c in similar.SIMILARITY_NUMERIC:
            ours, theirs = brief.get(c), numeric[c][project_id]
            known = ours is not None and not math.isnan(ours) and not math.isnan(theirs)
            gaps.append(abs(theirs - math.log1p(max(ours, 0.0))) / spreads[c] if known else similar.UNKNOWN_GAP)
        for c in similar.SIMILARITY_CATEGORICAL:
            ours, theirs = brief.get(c), project[c]
            known = ours is not None and isinstance(theirs, str)
            gaps.append(float(ours != theirs) if known else similar.UNKNOWN_GAP)
        out[str(project_id)] = math.sqrt(sum(g * g for g in gaps) / len(gaps))
    return out


def test_similar_projects_rank_by_the_documented_distance(demo_frames) -> None:
    """Known, missing and never-seen levels on the brief's side; missing segments on the projects' side."""
    projects = demo_frames["projects"].copy()
    projects.loc[projects.index[::7], "product"] = None  # some past projects without a product
    history = ProjectHistory.from_frames(projects, demo_frames["accounts"])
    as_of = date(2025, 9, 1)
    segments = demo_frames["accounts"].set_index("id")["segment"]
    pool = projects.assign(segment=projects["account_id"].map(segments)).set_index("id")
    finished = pool[(pool["actual_end"] < pd.Timestamp(as_of)) & pool["actual_hours"].notna()]
    briefs = _briefs(demo_frames).head(25).astype(object).where(lambda f: f.notna(), None).to_dict("records")
    briefs[0] |= {"product": "a product nobody sold before", "segment": "enterprise"}
    briefs[1] |= {"contract_type": None, "segment": "smb"}
    for brief in briefs:
        found = similar.similar_projects(brief, history, as_of, k=5)
        by_hand = _distances_by_hand(brief, history, finished)
        expected = sorted(by_hand, key=by_hand.get)[:5]
        assert [p["project_id"] for p in found] == expected
        for project in found:
            assert project["similarity"] == pytest.approx(1 / (1 + by_hand[project["project_id"]]), rel=1e-9)
