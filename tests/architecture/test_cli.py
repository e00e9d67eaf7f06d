"""The command line: help for every command, errors as one line with a non-zero exit code."""

from __future__ import annotations

import os
import subprocess
import sys


def _handoff(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handoff", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_help_lists_the_commands() -> None:
    result = _handoff("--help")
    assert result.returncode == 0
    for command in ("db", "docs", "train"):
        assert command in result.stdout


def test_a_domain_error_is_one_line_without_traceback(tmp_path) -> None:
    result = _handoff("train", "--from", "nowhere", env={"HANDOFF_HOME": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --from must be 'database' or 'demo', not 'nowhere'"
    assert "Traceback" not in result.stderr


def test_db_upgrade_creates_the_sqlite_store_under_home(tmp_path) -> None:
    result = _handoff("db", "upgrade", env={"HANDOFF_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "handoff.db").exists()
