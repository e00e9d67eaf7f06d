"""The pure payload builders against the vendors' published shapes, and the marker that finds a task again."""

from __future__ import annotations

from datetime import date

import jsonschema
import pytest
from sync_vendors import SHAPES

from handoff.settings import Settings
from handoff.sync import asana, jira, trello
from handoff.sync.model import PushTask, marker, plain_description

FULL = PushTask(
    id="tsk_0123456789abcdef",
    title="Send   the revised\nSOW",
    description="First line.\nSecond line.\n\n\nAnother paragraph.",
    due_date=date(2026, 3, 31),
    priority="high",
    assignee_email="ana@ourco.example",
    assignee_name="Ana Lima",
    account_name="Globex Ltd",
    evidence="Could you send the revised SOW before Friday?",
    source="email",
)
BARE = PushTask(id="T 12/3", title="x" * 400)  # a CRM id a label cannot hold, nothing but a (too long) title


def check(shape: str, document: object) -> None:
    jsonschema.validate(document, SHAPES[shape]["schema"])


@pytest.mark.parametrize("task", [FULL, BARE], ids=["full", "bare"])
def test_jira_issue_and_its_adf_description_match_the_published_shapes(task: PushTask) -> None:
    payload = jira.issue_payload(task, project_key="HO", issue_type="Task", account_id="abc" if task.due_date else None)
    check("jira_create_issue", payload)
    check("adf", payload["fields"]["description"])
    check("jira_search_jql", jira.search_payload(task, project_key="HO"))
    assert len(payload["fields"]["summary"]) <= 255 and task.marker in payload["fields"]["labels"]


def test_the_adf_description_keeps_lines_facts_and_evidence() -> None:
    document = jira.adf_document(FULL)
    kinds = [node["type"] for node in document["content"]]
    assert kinds == ["paragraph", "paragraph", "bulletList", "blockquote", "paragraph"]
    assert [node["type"] for node in document["content"][0]["content"]] == ["text", "hardBreak", "text"]
    assert "Customer: " in str(document["content"][2]) and "Globex Ltd" in str(document["content"][2])


@pytest.mark.parametrize("task", [FULL, BARE], ids=["full", "bare"])
def test_asana_task_matches_the_published_shape(task: PushTask) -> None:
    payload = asana.task_payload(task, project_gid="1200000000000001")
    check("asana_create_task", payload)
    assert payload["data"]["external"]["gid"] == task.marker
    assert ("due_on" in payload["data"]) == (task.due_date is not None)


@pytest.mark.parametrize("task", [FULL, BARE], ids=["full", "bare"])
def test_trello_card_parameters_are_the_documented_ones(task: PushTask) -> None:
    params = trello.card_params(task, list_id="5f0000000000000000000001", member_ids=["5f00000000000000000000aa"])
    check("trello_create_card", {**params, "key": "k", "token": "t"})
    assert params["desc"].endswith(f"({task.marker})")


def test_the_marker_is_stable_label_safe_and_tells_similar_ids_apart() -> None:
    assert marker("tsk_1") == "handoff-tsk_1" and marker("tsk_1") != marker("tsk_10")
    assert marker("T 12/3") == marker("T 12/3") and " " not in marker("T 12/3") and "/" not in marker("T 12/3")
    card = {"desc": plain_description(PushTask(id="tsk_10", title="t"))}
    assert not trello.holds_marker(card, PushTask(id="tsk_1", title="t"))
    assert trello.holds_marker(card, PushTask(id="tsk_10", title="t"))


def test_sync_secrets_are_known_to_redaction_and_a_half_set_target_is_warned_about(tmp_path) -> None:
    settings = Settings(
        home=tmp_path,
        sync={
            "jira": {"api_token": "jira-secret-123456"},
            "trello": {"key": "trello-key-123456", "token": "tt-987654321"},
        },
        _env_file=None,
    )
    assert {"jira-secret-123456", "trello-key-123456", "tt-987654321"} <= set(settings.secret_values())
    assert settings.sync.targets() == []
    warned = " ".join(settings.warnings())
    assert "HANDOFF_SYNC__JIRA__" in warned and "HANDOFF_SYNC__TRELLO__" in warned and "ASANA" not in warned
    assert "jira-secret-123456" not in repr(settings)


def test_targets_come_from_the_nested_environment_variables(monkeypatch, tmp_path) -> None:
    for name, value in {
        "HANDOFF_SYNC__ASANA__TOKEN": "asana-token-abcdef",
        "HANDOFF_SYNC__ASANA__PROJECT_GID": "1200000000000001",
        "HANDOFF_SYNC__JIRA__BASE_URL": "https://example.atlassian.net",
        "HANDOFF_SYNC__JIRA__EMAIL": "bot@example.com",
        "HANDOFF_SYNC__JIRA__API_TOKEN": "jira-token-abcdef",
        "HANDOFF_SYNC__JIRA__PROJECT_KEY": "HO",
        "HANDOFF_SYNC__JIRA__ISSUE_TYPE": "Story",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings(home=tmp_path, _env_file=None)
    assert settings.sync.targets() == ["jira", "asana"]
    assert settings.sync.jira.issue_type == "Story"
