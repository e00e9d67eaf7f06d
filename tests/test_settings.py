"""Settings come from HANDOFF_* variables, nest with '__', and keep all state under HANDOFF_HOME."""

from __future__ import annotations

from handoff.settings import Settings


def test_environment_overrides_including_nested_sections(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HANDOFF_HOME", str(tmp_path))
    monkeypatch.setenv("HANDOFF_LLM__BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("HANDOFF_INBOX__RECIPIENTS", '["a@x.test", "b@x.test"]')
    settings = Settings(_env_file=None)
    assert settings.llm.base_url == "http://127.0.0.1:9/v1"
    assert settings.inbox.recipients == ["a@x.test", "b@x.test"]
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'handoff.db'}"


def test_state_stays_under_home(tmp_path) -> None:
    settings = Settings(home=tmp_path / "state", _env_file=None)
    home = settings.ensure_home()
    for path in (settings.raw_mail_dir, settings.mlflow_artifacts_dir):
        assert home in path.parents
    assert str(home) in settings.resolved_tracking_uri


def test_postgres_url_is_used_when_set() -> None:
    settings = Settings(database_url="postgresql://u@h/db", _env_file=None)
    assert settings.resolved_database_url == "postgresql://u@h/db"


def test_shared_datasets_are_found_beside_any_folder_above_the_checkout(tmp_path) -> None:
    from handoff.settings import find_shared_datasets

    (tmp_path / "shared" / "datasets").mkdir(parents=True)
    checkout = tmp_path / "ci" / "clone"
    checkout.mkdir(parents=True)
    assert find_shared_datasets(checkout) == tmp_path / "shared" / "datasets"
    assert find_shared_datasets(tmp_path / "elsewhere") == tmp_path / "shared" / "datasets"


def test_an_open_sender_allow_list_is_warned_about() -> None:
    from handoff.settings import InboxSettings, Settings

    open_inbox = Settings(_env_file=None)
    assert any("ALLOWED_SENDER_DOMAINS is empty" in w for w in open_inbox.warnings())
    closed = Settings(_env_file=None, inbox=InboxSettings(allowed_sender_domains=["acme-corp.com"]))
    assert closed.warnings() == []
    inbox = InboxSettings(allowed_sender_domains=["a.example"], require_aligned_auth=True)
    strict = Settings(_env_file=None, inbox=inbox)
    assert ["REQUIRE_ALIGNED_AUTH" in w for w in strict.warnings()] == [True]
