"""Product-model fixtures: one small demo CRM history and one trained set of champions, shared by the risk tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from handoff.settings import Settings

DEMO_ACCOUNTS = 300
DEMO_END = date(2026, 10, 31)
FAST = {"n_folds": 3}  # fewer inner folds: the tests check behaviour, `make eval` measures quality


@pytest.fixture(scope="session")
def demo_frames() -> dict[str, pd.DataFrame]:
    """A small, deterministic demo CRM history (typed frames)."""
    from handoff.crm.demo import generate
    from handoff.risk.features import normalise_frames

    return normalise_frames(generate(accounts=DEMO_ACCOUNTS, seed=7, end=DEMO_END))


@dataclass
class Trained:
    settings: Settings
    summary: dict
    cards_dir: Path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, demo_frames) -> Trained:
    """Every product model trained once on the small demo, tracked in a temporary MLflow store."""
    from handoff.risk.training import train_all
    from handoff.wiring import Parts

    home = tmp_path_factory.mktemp("risk-home")
    settings = Settings(home=home / "home", _env_file=None)
    cards = home / "cards"
    parts = Parts(settings)
    summary = train_all(parts, source="demo", frames=demo_frames, cards_dir=cards, learner_options=FAST)
    return Trained(settings, summary, cards)


@pytest.fixture(scope="session")
def champions(trained: Trained) -> dict:
    from handoff.risk.registry import load_champions

    return load_champions(trained.settings)
