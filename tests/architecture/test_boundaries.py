"""Keeps the shape the code promises: pure cores free of I/O, nothing heavy at import, a fast `--help`."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "handoff"

# Modules whose job is pure computation: they may not reach a database, the web, MLflow or an LLM vendor.
PURE_MODULES = (
    "crm/dictionary.py",
    "crm/demo.py",
    *(f"intake/{name}.py" for name in ("mime", "charsets", "html", "forwards", "cleaning", "screening", "threads")),
    *(f"intake/{name}.py" for name in ("notes", "reading")),
    *(f"extraction/{name}.py" for name in ("model", "sentences", "cues", "classifier", "dates", "people")),
    *(f"extraction/{name}.py" for name in ("priority", "titles", "notes", "offline", "decision", "overlap")),
    "alerts/rules.py",
    "alerts/digest.py",
    "access/masking.py",
    "markup.py",
    *(f"sync/{name}.py" for name in ("model", "jira", "asana", "trello")),
    *(f"risk/{name}.py" for name in ("learners", "columns", "evaluation", "features", "explain", "similar")),
)
IO_PACKAGES = {"sqlalchemy", "fastapi", "starlette", "mlflow", "httpx", "requests", "psycopg", "aiosmtpd", "openai"}


def _imported_top_level_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("relative", PURE_MODULES)
def test_pure_modules_import_no_io(relative: str) -> None:
    path = SRC / relative
    assert path.exists(), f"{relative} is listed as a pure core but does not exist"
    assert not (_imported_top_level_packages(path) & IO_PACKAGES)


def test_importing_handoff_and_its_cli_loads_nothing_heavy() -> None:
    code = (
        "import sys, handoff, handoff.settings, handoff.cli.main as m; m.build_app();"
        "heavy = {'torch', 'pandas', 'sklearn', 'lightgbm', 'mlflow', 'sqlalchemy', 'fastapi', 'langchain'};"
        "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"heavy modules imported by the CLI at start: {out}"


def test_every_module_opens_with_a_docstring() -> None:
    missing = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if "migrations/versions" not in str(path) and ast.get_docstring(ast.parse(path.read_text("utf-8"))) is None
    ]
    assert missing == []


def test_test_modules_have_unique_names() -> None:
    """pytest imports test folders without packages; two `test_cli.py` files would shadow each other."""
    names = [path.name for path in (SRC.parents[1] / "tests").rglob("test_*.py")]
    assert sorted({name for name in names if names.count(name) > 1}) == []
