"""Intake fixtures: the corpus, a CRM with customers to link to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from intake_support import CORPUS, seed_crm

from handoff.wiring import Parts


@pytest.fixture
def corpus() -> Path:
    return CORPUS


@pytest.fixture
def expected() -> dict:
    return json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture
def crm_parts(sqlite_parts: Parts) -> Parts:
    seed_crm(sqlite_parts)
    return sqlite_parts
