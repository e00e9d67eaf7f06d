"""Every repository path the README names exists: links, backticked paths and the message path's modules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# Backticked text is a repository path when it starts with one of these; `/v1`, `./var` and `../shared` are not,
# nor is a pattern such as `tests/<area>/`.
TOP = ("src/", "docs/", "eval/", "tests/", "prompts/", "models/", "notebooks/", ".ci/")
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
_TICKED = re.compile(r"`([^`\s]+)`")
_MODULE = re.compile(r"(?<![\w/.])((?:[a-z_]+/)+(?:[a-z_]+\.py)?|[a-z_]+\.py)(?![\w/.])")


def _message_path_modules(text: str) -> list[str]:
    """The modules in the "A message's path" diagram, under src/handoff/; `a/b.py, c.py` means a/b.py and a/c.py."""
    block = text.split("## A message's path", 1)[1].split("```", 2)[1]
    found: list[str] = []
    for line in block.splitlines():
        folder = ""
        for name in _MODULE.findall(line):
            if "/" in name:
                folder = name.rsplit("/", 1)[0] + "/" if not name.endswith("/") else name
                found.append(name)
            elif folder:
                found.append(folder + name)
    return [f"src/handoff/{name}" for name in found]


def readme_paths(text: str) -> list[str]:
    links = [target for target in _LINK.findall(text) if "://" not in target and not target.startswith("mailto:")]
    ticked = [token for token in _TICKED.findall(text) if token.startswith(TOP) and "<" not in token]
    return sorted(set(links + ticked + _message_path_modules(text)))


def test_the_readme_names_paths_from_every_part() -> None:
    paths = readme_paths(README.read_text(encoding="utf-8"))
    assert "docs/webapp.md" in paths and "src/handoff/settings.py" in paths
    assert "src/handoff/intake/ledger.py" in paths and "src/handoff/tasks/service.py" in paths
    assert "src/handoff/extraction/decision.py" in paths  # a bare name after a comma, in the previous one's folder
    assert "src/handoff/intake/sources/" in paths


@pytest.mark.parametrize("path", readme_paths(README.read_text(encoding="utf-8")))
def test_every_path_the_readme_names_exists(path: str) -> None:
    assert (ROOT / path).exists(), f"README.md names {path}, which is not in the repository"


def test_a_missing_path_is_found() -> None:
    text = "`docs/nowhere.md`, [x](eval/nothing.py)\n## A message's path\n```\n  → a   intake/gone.py, lost.py\n```"
    assert [p for p in readme_paths(text) if not (ROOT / p).exists()] == [
        "docs/nowhere.md",
        "eval/nothing.py",
        "src/handoff/intake/gone.py",
        "src/handoff/intake/lost.py",
    ]
