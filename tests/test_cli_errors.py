"""The `handoff` command turns every failure into one line and an exit code: 2 bad input, 3 not ready."""

from __future__ import annotations

import sys

import pytest

from handoff.cli.main import run


def _handoff(monkeypatch, capsys, *args: str, **env: str) -> tuple[int, str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["handoff", *args])
    with pytest.raises(SystemExit) as stopped:
        run()
    return stopped.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"HANDOFF_ALERTS__SMTP_PORT": "abc"},
            "bad setting HANDOFF_ALERTS__SMTP_PORT: Input should be a valid integer",
        ),
        ({"HANDOFF_ALERTS__CHURN_THRESHOLD": "-1"}, "HANDOFF_ALERTS__CHURN_THRESHOLD: Input should be greater than 0"),
        ({"HANDOFF_ALERTS__JUMP_THRESHOLD": "nan"}, "HANDOFF_ALERTS__JUMP_THRESHOLD: Input should be a finite number"),
        ({"HANDOFF_ALERTS__NIGHTLY_HOUR_UTC": "25"}, "HANDOFF_ALERTS__NIGHTLY_HOUR_UTC: Input should be less than"),
        ({"HANDOFF_INBOX__RECIPIENTS": "notjson"}, 'bad setting: error parsing value for field "inbox"'),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path, env, expected) -> None:
    code, err = _handoff(monkeypatch, capsys, "ledger", "list", HANDOFF_HOME=str(tmp_path), **env)
    assert code == 2 and err.startswith("error: bad setting") and expected in err and err.count("\n") == 1, err


@pytest.mark.parametrize("url", ["postgresql://nouser@127.0.0.1:1/x", "bogus://nowhere"])
def test_a_store_that_cannot_be_reached_is_not_ready(monkeypatch, capsys, tmp_path, url) -> None:
    code, err = _handoff(monkeypatch, capsys, "ledger", "list", HANDOFF_HOME=str(tmp_path), HANDOFF_DATABASE_URL=url)
    assert code == 3 and "the store is not ready" in err and err.count("\n") == 1, err


def test_small_inputs_name_what_is_wrong(monkeypatch, capsys, tmp_path) -> None:
    home = {"HANDOFF_HOME": str(tmp_path)}
    code, err = _handoff(monkeypatch, capsys, "ledger", "retry", "99999999999999999999", **home)
    assert code == 2 and "ledger ids are whole numbers" in err, err
    code, err = _handoff(monkeypatch, capsys, "alerts", "snooze", "X", "--until", "soon", "--reason", "r", **home)
    assert code == 2 and "--until must be a date like 2026-03-31, not 'soon'" in err, err
    # Every day option has the API's bounds: a nightly run "on" 9999-12-31 would score nobody's real tenure.
    code, err = _handoff(monkeypatch, capsys, "nightly", "--date", "9999-12-31", **home)
    assert code == 2 and "--date must lie between 1900-01-01 and 2200-12-31" in err, err


def test_an_owner_key_must_name_a_team_member(monkeypatch, capsys, tmp_path) -> None:
    code, err = _handoff(
        monkeypatch, capsys, "keys", "create", "--role", "account_owner", "--owner", "NOPE", HANDOFF_HOME=str(tmp_path)
    )
    assert code == 2 and "no team member 'NOPE'" in err, err


def test_risk_commands_refuse_days_the_features_cannot_hold_and_files_that_are_not_text(
    monkeypatch, capsys, tmp_path
) -> None:
    """`--as-of 9999-12-31` once answered a churn probability explained by "customer for -2,481 months"."""
    home = {"HANDOFF_HOME": str(tmp_path / "home")}
    code, err = _handoff(monkeypatch, capsys, "churn", "--account", "A-1", "--as-of", "9999-12-31", **home)
    assert code == 2 and "--as-of must lie between 1900-01-01 and 2200-12-31" in err, err
    brief = tmp_path / "brief.json"
    brief.write_bytes(b"\xff\xfe{}")
    code, err = _handoff(monkeypatch, capsys, "estimate", str(brief), **home)
    assert code == 2 and "is not UTF-8 text" in err, err
