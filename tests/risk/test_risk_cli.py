"""`handoff estimate` and `handoff churn` print the API's JSON; a bad brief is one line and exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from handoff.crm.loader import write_frames
from handoff.risk.features import account_features
from handoff.risk.schemas import ChurnScore, Estimate
from handoff.wiring import Parts

pytestmark = pytest.mark.slow


def _handoff(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HANDOFF_HOME": str(home)}
    env.pop("HANDOFF_DATABASE_URL", None)
    env.pop("HANDOFF_MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "handoff", *args], capture_output=True, text=True, env=env, timeout=240
    )


def test_estimate_and_churn_print_the_api_json(trained, demo_frames, tmp_path: Path) -> None:
    parts = Parts(trained.settings)
    parts.migrate()
    write_frames(parts.engine, demo_frames, replace=True)
    parts.close()
    home = trained.settings.resolved_home
    account = str(demo_frames["accounts"]["id"].iloc[0])
    brief = tmp_path / "brief.json"
    brief.write_text(json.dumps({"account_id": account, "scope_items": 8, "team_size": 3, "planned_budget": 50000}))

    done = _handoff(home, "estimate", str(brief), "--as-of", "2026-06-01", "--json")
    assert done.returncode == 0, done.stderr
    estimate = Estimate.model_validate_json(done.stdout)
    assert estimate.account_id == account and len(estimate.similar_projects) == 3

    active = str(account_features(demo_frames, date(2026, 6, 1)).index[0])
    churn = _handoff(home, "churn", "--account", active, "--as-of", "2026-06-01", "--json")
    assert churn.returncode == 0, churn.stderr
    score = ChurnScore.model_validate_json(churn.stdout)
    assert score.account_id == active and 0 <= score.probability <= 1

    brief.write_text(json.dumps({"team_size": 0}))
    invalid = _handoff(home, "estimate", str(brief), "--json")
    assert invalid.returncode == 2 and "team_size" in invalid.stderr
