"""The alert rules, digests, scoring helpers and loop templates stay pure: no database, web or MLflow imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "handoff"
PURE = ("alerts/rules.py", "alerts/digest.py", "alerts/scoring.py", "loop/templates.py")
IO = {"sqlalchemy", "fastapi", "starlette", "mlflow", "httpx", "requests", "psycopg", "aiosmtpd", "smtplib"}


@pytest.mark.parametrize("relative", PURE)
def test_pure(relative: str) -> None:
    tree = ast.parse((SRC / relative).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & IO
