"""Accepted tasks pushed to a loopback Jira, Asana and Trello: one remote item per task and target, whatever fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sync_vendors import CREATE, JIRA_TOKEN, TRELLO_KEY, TRELLO_TOKEN, Fault, Vendors

from handoff.store.db import transaction
from handoff.sync.model import marker
from handoff.sync.outbox import (
    claim,
    close_connectors,
    configured_connectors,
    push_pending,
    retry_failed,
    roster_of,
)
from handoff.sync.tables import task_sync
from handoff.wiring import Parts

ALL = ("jira", "asana", "trello")


def run_push(parts: Parts, *, target: str | None = None, at: datetime | None = None, sleeps: list | None = None):
    """One `handoff sync push` at `at` (default now), with every wait recorded instead of slept."""
    waits = [] if sleeps is None else sleeps
    connectors = configured_connectors(parts.settings.sync, roster=roster_of(parts.sessions), sleep=waits.append)
    try:
        return push_pending(
            parts.sessions,
            connectors,
            target=target,
            settle_s=0.0,
            sleep=waits.append,
            clock=(lambda: at) if at else (lambda: datetime.now(UTC)),
        )
    finally:
        close_connectors(connectors)


def rows(parts: Parts, task_id: str) -> dict[str, dict]:
    with parts.sessions() as session:
        found = session.execute(select(task_sync).where(task_sync.c.task_id == task_id)).mappings().all()
    return {row["target"]: dict(row) for row in found}


def items_of(vendors: Vendors, vendor: str, task_id: str) -> list[dict]:
    """The remote items that carry the task's marker, as each tool stores it."""
    tag = marker(task_id)
    if vendor == "jira":
        return [issue for issue in vendors.items["jira"] if tag in issue["fields"]["labels"]]
    if vendor == "asana":
        return [task for task in vendors.items["asana"] if task["external"]["gid"] == tag]
    return [card for card in vendors.items["trello"] if f"({tag})" in card["desc"]]


def test_an_accepted_task_becomes_one_item_in_each_target_with_owner_date_and_customer(
    sync_parts, vendors, accepted_task
) -> None:
    task_id = accepted_task()
    report = run_push(sync_parts)
    assert [(o.target, o.status, o.created) for o in report.outcomes] == [(t, "sent", True) for t in ALL]
    assert vendors.violations == []
    issue, asana, card = (items_of(vendors, vendor, task_id) for vendor in ALL)
    assert len(issue) == len(asana) == len(card) == 1
    fields = issue[0]["fields"]
    assert fields["assignee"] == {"accountId": "5b10ac8d82e05b22cc7d4ef5"} and fields["duedate"] == "2026-03-31"
    assert fields["summary"] == "Send the revised SOW to Globex"
    assert "Globex Ltd" in str(fields["description"])
    assert asana[0]["assignee"] == "ana@ourco.example" and asana[0]["due_on"] == "2026-03-31"
    assert "Customer: Globex Ltd" in asana[0]["notes"]
    assert card[0]["idMembers"] == "5f00000000000000000000aa" and card[0]["due"].startswith("2026-03-31T")
    links = rows(sync_parts, task_id)
    assert links["jira"]["remote_key"] == "HO-" + issue[0]["key"].split("-")[1]
    assert links["jira"]["remote_url"].endswith(f"/browse/{issue[0]['key']}")
    assert links["asana"]["remote_id"] == asana[0]["gid"] and links["trello"]["remote_id"] == card[0]["id"]
    assert {row["status"] for row in links.values()} == {"sent"}


def test_a_second_push_creates_nothing(sync_parts, vendors, accepted_task) -> None:
    accepted_task()
    run_push(sync_parts)
    again = run_push(sync_parts, at=datetime.now(UTC) + timedelta(days=1))
    assert again.outcomes == []
    assert {vendor: len(items) for vendor, items in vendors.items.items()} == {"jira": 1, "asana": 1, "trello": 1}


def test_only_the_targets_named_at_acceptance_get_the_task(sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task(targets=("asana",))
    run_push(sync_parts)
    assert set(rows(sync_parts, task_id)) == {"asana"}
    assert len(vendors.items["asana"]) == 1 and vendors.items["jira"] == vendors.items["trello"] == []


@pytest.mark.parametrize("vendor", ALL)
@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault(status=500, after=True), id="500-after-create"),
        pytest.param(Fault(drop=True, after=True), id="lost-response-after-create"),
        pytest.param(Fault(delay_s=3.5, after=True), id="timeout-after-create"),  # past the fixture's 3 s timeout
        pytest.param(Fault(status=500), id="500-before-create"),
        pytest.param(Fault(status=503), id="503-before-create"),
    ],
)
def test_a_failed_or_lost_create_still_leaves_exactly_one_item(
    sync_parts, vendors, accepted_task, vendor, fault
) -> None:
    task_id = accepted_task(targets=(vendor,))
    vendors.fail(vendor, fault)
    report = run_push(sync_parts)
    assert [(o.status, o.created) for o in report.outcomes] == [("sent", True)], report.outcomes[0].error
    assert len(items_of(vendors, vendor, task_id)) == 1
    creates = vendors.count(vendor, *CREATE[vendor])
    assert creates == (1 if fault.after else 2)  # an item made but unanswered is found, never made twice
    assert rows(sync_parts, task_id)[vendor]["remote_id"] == items_of(vendors, vendor, task_id)[0].get(
        "gid", items_of(vendors, vendor, task_id)[0].get("id")
    )
    assert vendors.violations == []


@pytest.mark.parametrize("vendor", ALL)
def test_429_waits_as_long_as_retry_after_says(sync_parts, vendors, accepted_task, vendor) -> None:
    task_id = accepted_task(targets=(vendor,))
    vendors.fail(vendor, Fault(status=429, retry_after="7"), Fault(status=429, retry_after="3"))
    waits: list[float] = []
    report = run_push(sync_parts, sleeps=waits)
    assert report.outcomes[0].status == "sent"
    assert waits[:2] == [7.0, 3.0]
    assert len(items_of(vendors, vendor, task_id)) == 1
    assert vendors.count(vendor, *CREATE[vendor]) == 3  # refused twice without work, then made once


def test_a_retry_after_beyond_the_limit_leaves_the_task_for_later(sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task(targets=("jira",))
    vendors.fail("jira", Fault(status=429, retry_after="3600"))
    first = run_push(sync_parts)
    assert first.outcomes[0].status == "pending" and "3600" in first.outcomes[0].error
    assert vendors.items["jira"] == []
    assert run_push(sync_parts).outcomes == []  # not due yet: the row waits for its next attempt
    later = run_push(sync_parts, at=datetime.now(UTC) + timedelta(hours=2))
    assert later.outcomes[0].status == "sent" and len(items_of(vendors, "jira", task_id)) == 1


@pytest.mark.parametrize("vendor", ALL)
def test_401_is_a_clear_refusal_without_the_secret_and_retry_failed_pushes_once_fixed(
    sync_parts, vendors, accepted_task, vendor
) -> None:
    task_id = accepted_task(targets=(vendor,))
    broken = sync_parts.settings.sync.model_copy(deep=True)
    section = getattr(broken, vendor)
    wrong = "wrong-token-ffffffffffff"
    setattr(section, "api_token" if vendor == "jira" else "token", __import__("pydantic").SecretStr(wrong))
    connectors = configured_connectors(broken, sleep=lambda _: None)
    try:
        report = push_pending(sync_parts.sessions, connectors, settle_s=0.0, sleep=lambda _: None)
    finally:
        close_connectors(connectors)
    outcome = report.outcomes[0]
    assert outcome.status == "failed"
    assert "HTTP 401" in outcome.error and "credentials were refused" in outcome.error
    assert f"HANDOFF_SYNC__{vendor.upper()}__" in outcome.error
    for secret in (wrong, JIRA_TOKEN, TRELLO_KEY, TRELLO_TOKEN):
        assert secret not in outcome.error
    assert rows(sync_parts, task_id)[vendor]["status"] == "failed"
    assert vendors.items[vendor] == []
    assert run_push(sync_parts).outcomes == []  # refused rows wait for a person
    with transaction(sync_parts.sessions) as session:
        assert retry_failed(session) == 1
    assert run_push(sync_parts).outcomes[0].status == "sent"
    assert len(items_of(vendors, vendor, task_id)) == 1


def test_a_wrong_list_or_project_is_a_404_naming_the_setting(sync_parts, vendors, accepted_task) -> None:
    accepted_task(targets=("trello",))
    broken = sync_parts.settings.sync.model_copy(deep=True)
    broken.trello.list_id = "5f00000000000000000000ff"
    connectors = configured_connectors(broken, sleep=lambda _: None)
    try:
        outcome = push_pending(sync_parts.sessions, connectors, settle_s=0.0, sleep=lambda _: None).outcomes[0]
    finally:
        close_connectors(connectors)
    assert (
        outcome.status == "failed" and "HTTP 404" in outcome.error and "HANDOFF_SYNC__TRELLO__LIST_ID" in outcome.error
    )


def test_a_target_that_keeps_failing_before_the_create_is_retried_later_and_made_once(
    sync_parts, vendors, accepted_task
) -> None:
    task_id = accepted_task(targets=("asana",))
    vendors.fail("asana", *[Fault(status=500)] * 3)  # every round of this push: 500 before any work
    first = run_push(sync_parts)
    assert first.outcomes[0].status == "pending" and "HTTP 500" in first.outcomes[0].error
    assert vendors.items["asana"] == []
    row = rows(sync_parts, task_id)["asana"]
    assert row["status"] == "pending" and row["attempts"] == 1 and row["claimed_until"] is None
    later = run_push(sync_parts, at=datetime.now(UTC) + timedelta(hours=2))
    assert later.outcomes[0].status == "sent" and len(items_of(vendors, "asana", task_id)) == 1


def test_an_item_made_by_an_earlier_run_whose_answer_was_lost_is_linked_not_made_again(
    sync_parts, vendors, accepted_task
) -> None:
    """The pusher died after the create reached the tool: the next run finds the marker and links it."""
    task_id = accepted_task(targets=("jira",))
    vendors.fail("jira", Fault(drop=True, after=True))
    # The first look finds nothing; every try of the look after the lost answer fails (4 tries a request).
    search = {"method": "POST", "path": "/rest/api/3/search/jql"}
    vendors.fail("jira", Fault(after=True), *[Fault(status=500)] * 4, **search)
    first = run_push(sync_parts)
    assert first.outcomes[0].status == "pending"
    assert len(items_of(vendors, "jira", task_id)) == 1
    later = run_push(sync_parts, at=datetime.now(UTC) + timedelta(hours=2))
    assert [(o.status, o.created) for o in later.outcomes] == [("sent", False)]
    assert len(items_of(vendors, "jira", task_id)) == 1
    assert vendors.count("jira", *CREATE["jira"]) == 1


def test_two_pushers_never_hold_the_same_task(sync_parts, accepted_task) -> None:
    accepted_task()
    now = datetime.now(UTC)
    first = claim(sync_parts.sessions, targets=ALL, limit=10, lease_s=600, now=now)
    second = claim(sync_parts.sessions, targets=ALL, limit=10, lease_s=600, now=now)
    assert len(first) == 3 and second == []
    after_lease = claim(sync_parts.sessions, targets=ALL, limit=10, lease_s=600, now=now + timedelta(seconds=601))
    assert sorted(after_lease) == sorted(first)  # a crashed pusher's tasks are taken over once its lease ends


def test_a_task_rejected_after_acceptance_is_not_pushed(sync_parts, vendors, accepted_task) -> None:
    from handoff.tasks.service import reject_task

    task_id = accepted_task()
    with transaction(sync_parts.sessions) as session:
        reject_task(session, task_id, "reviewer", "duplicate of another")
    report = run_push(sync_parts)
    assert {o.status for o in report.outcomes} == {"skipped"}
    assert vendors.items == {"jira": [], "asana": [], "trello": []}


def test_an_unconfigured_target_is_refused_by_name(sync_parts) -> None:
    from handoff.errors import InvalidInput

    with pytest.raises(InvalidInput, match="not configured"):
        push_pending(sync_parts.sessions, {}, target="jira")


@pytest.mark.parametrize("vendor", ALL)
def test_403_is_refused_with_the_settings_to_check_and_nothing_made(sync_parts, vendors, accepted_task, vendor) -> None:
    task_id = accepted_task(targets=(vendor,))
    vendors.fail(vendor, Fault(status=403))
    outcome = run_push(sync_parts).outcomes[0]
    assert outcome.status == "failed" and "HTTP 403, the account may not do this" in outcome.error
    assert f"HANDOFF_SYNC__{vendor.upper()}__" in outcome.error
    assert rows(sync_parts, task_id)[vendor]["status"] == "failed" and vendors.items[vendor] == []
