"""Edits made in handoff after the push reach the item once pushed (title, due date, assignee, priority), and the
tools' people are matched to the roster both ways: Trello board members, Jira users whose email is hidden."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sync_vendors import JIRA_HIDDEN, TRELLO_BOARD_MEMBERS, Fault, Vendors
from test_push import ALL, rows, run_push

from handoff.extraction.model import TeamMember
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.sync.outbox import close_connectors, configured_connectors, push_pending, roster_of
from handoff.sync.people import match_board_members
from handoff.sync.pullback import pull_linked
from handoff.tasks.service import edit_task

BO = {"id": "tm_bo", "name": "Bo Tanaka", "email": "bo@ourco.example", "active": True}
PUT = {
    "jira": lambda item: ("PUT", f"/rest/api/3/issue/{item['id']}"),
    "asana": lambda item: ("PUT", f"/api/1.0/tasks/{item['gid']}"),
    "trello": lambda item: ("PUT", f"/1/cards/{item['id']}"),
}


def _edit(parts, task_id: str, **changes) -> None:
    with transaction(parts.sessions) as session:
        edit_task(session, task_id, changes, "reviewer@ourco.example")


def _add_bo(parts) -> None:
    with transaction(parts.sessions) as session:
        session.execute(CRM_TABLES["team_members"].insert(), [BO])


def _puts(vendors: Vendors, vendor: str) -> int:
    item = vendors.items[vendor][0]
    return vendors.count(vendor, *PUT[vendor](item))


def test_an_edit_after_the_push_reaches_every_item_once(sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task()
    run_push(sync_parts)
    _edit(sync_parts, task_id, title="Send the signed SOW to Globex", due_date="2026-04-15", priority="urgent")
    assert {row["status"] for row in rows(sync_parts, task_id).values()} == {"pending"}
    report = run_push(sync_parts)
    assert sorted((o.target, o.status, o.created) for o in report.outcomes) == [(t, "sent", False) for t in sorted(ALL)]
    assert vendors.violations == []
    issue, asana, card = (vendors.items[vendor] for vendor in ALL)
    assert len(issue) == len(asana) == len(card) == 1  # updated, never made again
    fields = issue[0]["fields"]
    assert (fields["summary"], fields["duedate"], fields["priority"]) == (
        "Send the signed SOW to Globex",
        "2026-04-15",
        {"name": "Highest"},
    )
    assert fields["assignee"] == {"accountId": "5b10ac8d82e05b22cc7d4ef5"}  # not edited: not sent
    assert (asana[0]["name"], asana[0]["due_on"]) == ("Send the signed SOW to Globex", "2026-04-15")
    assert "Priority: urgent" in asana[0]["notes"]  # Asana and Trello keep the priority in the description
    assert card[0]["name"] == "Send the signed SOW to Globex" and card[0]["due"].startswith("2026-04-15T")
    assert "Priority: urgent" in card[0]["desc"] and f"(handoff-{task_id})" in card[0]["desc"]
    links = rows(sync_parts, task_id)
    assert {row["status"] for row in links.values()} == {"sent"}
    assert all(row["pending_update"] is None for row in links.values())
    assert links["jira"]["remote_key"] and links["jira"]["remote_url"]  # the link survives the update
    assert links["asana"]["remote_state"]["due_date"] == "2026-04-15"
    assert run_push(sync_parts, at=datetime.now(UTC) + timedelta(days=1)).outcomes == []
    assert [_puts(vendors, vendor) for vendor in ALL] == [1, 1, 1]
    # The same values again are no edit: nothing is queued, nothing sent.
    _edit(sync_parts, task_id, title="Send the signed SOW to Globex")
    assert {row["status"] for row in rows(sync_parts, task_id).values()} == {"sent"}


def test_an_edit_before_the_first_push_rides_with_the_create(sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task()
    _edit(sync_parts, task_id, title="Send the SOW today")
    report = run_push(sync_parts)
    assert [(o.status, o.created) for o in report.outcomes] == [("sent", True)] * 3
    assert vendors.items["jira"][0]["fields"]["summary"] == "Send the SOW today"
    assert sum(1 for method, _ in vendors.requests if method == "PUT") == 0
    assert all(row["pending_update"] is None for row in rows(sync_parts, task_id).values())


def test_an_edit_that_is_not_sent_queues_nothing(sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task()
    run_push(sync_parts)
    _edit(sync_parts, task_id, description="More words")
    assert {row["status"] for row in rows(sync_parts, task_id).values()} == {"sent"}


@pytest.mark.parametrize("vendor", ALL)
@pytest.mark.parametrize(
    "faults",
    [
        pytest.param([Fault(drop=True, after=True)], id="lost-answer-after-update"),
        pytest.param([Fault(status=500, after=True)], id="500-after-update"),
        pytest.param([Fault(status=429, retry_after="2")], id="429"),
    ],
)
def test_an_update_whose_answer_is_lost_is_sent_again_with_the_same_result(
    sync_parts, vendors, accepted_task, vendor, faults
) -> None:
    task_id = accepted_task(targets=(vendor,))
    run_push(sync_parts)
    item = vendors.items[vendor][0]
    vendors.fail(vendor, *faults, method=PUT[vendor](item)[0], path=PUT[vendor](item)[1])
    _edit(sync_parts, task_id, due_date="2026-05-01")
    report = run_push(sync_parts)
    assert report.outcomes[0].status == "sent", report.outcomes[0].error
    assert _puts(vendors, vendor) == 2 and len(vendors.items[vendor]) == 1
    due = {"jira": lambda i: i["fields"]["duedate"], "asana": lambda i: i["due_on"], "trello": lambda i: i["due"]}
    assert due[vendor](vendors.items[vendor][0]).startswith("2026-05-01")
    assert rows(sync_parts, task_id)[vendor]["pending_update"] is None


def test_an_update_the_tool_keeps_refusing_waits_in_the_outbox(sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task(targets=("asana",))
    run_push(sync_parts)
    method, path = PUT["asana"](vendors.items["asana"][0])
    vendors.fail("asana", *[Fault(status=503)] * 4, method=method, path=path)  # every try of this round
    _edit(sync_parts, task_id, title="Call Globex back")
    first = run_push(sync_parts)
    assert first.outcomes[0].status == "pending" and "HTTP 503" in first.outcomes[0].error
    assert vendors.items["asana"][0]["name"] == "Send the revised SOW to Globex"
    later = run_push(sync_parts, at=datetime.now(UTC) + timedelta(hours=2))
    assert later.outcomes[0].status == "sent" and vendors.items["asana"][0]["name"] == "Call Globex back"


def test_an_edit_made_while_its_update_is_in_flight_is_sent_next(sync_parts, vendors, accepted_task) -> None:
    """The push read the task, then a person edited it again before the push finished: that edit is not lost."""
    task_id = accepted_task(targets=("jira",))
    run_push(sync_parts)
    _edit(sync_parts, task_id, title="First edit")
    connectors = configured_connectors(sync_parts.settings.sync, sleep=lambda _: None)
    real_update = connectors["jira"].update

    def update_then_edit(remote_id, task, fields):
        note = real_update(remote_id, task, fields)
        _edit(sync_parts, task_id, title="Second edit")  # lands between the PUT and the link's write
        return note

    connectors["jira"].update = update_then_edit
    try:
        report = push_pending(sync_parts.sessions, connectors, settle_s=0.0, sleep=lambda _: None)
    finally:
        close_connectors(connectors)
    assert report.outcomes[0].status == "sent"
    assert vendors.items["jira"][0]["fields"]["summary"] == "First edit"
    assert rows(sync_parts, task_id)["jira"]["status"] == "pending"  # still due: the second edit is not out yet
    run_push(sync_parts)
    assert vendors.items["jira"][0]["fields"]["summary"] == "Second edit"
    assert rows(sync_parts, task_id)["jira"]["status"] == "sent"


def test_a_new_assignee_is_found_in_each_tool_or_named_in_a_clear_note(sync_parts, vendors, accepted_task) -> None:
    """Bo's email is hidden in Jira (no search finds him) and Trello shows no emails: the board member "Bo Tanaka"
    is matched to the roster by name; in Jira he needs the explicit mapping, and the note says so until it is set."""
    task_id = accepted_task()
    _add_bo(sync_parts)
    run_push(sync_parts)
    _edit(sync_parts, task_id, assignee_id="tm_bo")
    report = {o.target: o for o in run_push(sync_parts).outcomes}
    assert {target: o.status for target, o in report.items()} == {target: "sent" for target in ALL}
    note = report["jira"].error
    assert "Jira knows no user for Bo Tanaka <bo@ourco.example>" in note and "HANDOFF_SYNC__JIRA__ACCOUNT_IDS" in note
    assert rows(sync_parts, task_id)["jira"]["last_error"] == note  # shown on the task's link
    assert vendors.items["jira"][0]["fields"]["assignee"] == {"accountId": "5b10ac8d82e05b22cc7d4ef5"}  # kept
    assert vendors.items["asana"][0]["assignee"] == "bo@ourco.example"
    assert vendors.items["trello"][0]["idMembers"] == "5f00000000000000000000bb"
    assert report["asana"].error is None and report["trello"].error is None
    # Mapped: the next edit of the assignee names Bo's accountId, and the note is gone.
    sync_parts.settings.sync.jira.account_ids = {"Bo@OurCo.example": JIRA_HIDDEN["bo@ourco.example"]}
    _edit(sync_parts, task_id, assignee_id="tm_ana")
    _edit(sync_parts, task_id, assignee_id="tm_bo")
    again = {o.target: o for o in run_push(sync_parts, target="jira").outcomes}
    assert again["jira"].status == "sent" and again["jira"].error is None
    assert vendors.items["jira"][0]["fields"]["assignee"] == {"accountId": JIRA_HIDDEN["bo@ourco.example"]}
    assert vendors.violations == []


def test_an_unmapped_hidden_jira_user_is_left_unassigned_at_create_with_the_reason(
    sync_parts, vendors, accepted_task
) -> None:
    _add_bo(sync_parts)
    task_id = accepted_task(targets=("jira",))
    _edit(sync_parts, task_id, assignee_id="tm_bo")
    outcome = run_push(sync_parts).outcomes[0]
    assert outcome.status == "sent" and "it was left unassigned" in outcome.error
    assert "assignee" not in vendors.items["jira"][0]["fields"]


def test_assignees_come_back_from_trello_members_and_hidden_jira_users(sync_parts, vendors, accepted_task) -> None:
    task_id = accepted_task(targets=("jira", "trello"))
    _add_bo(sync_parts)
    sync_parts.settings.sync.jira.account_ids = {"bo@ourco.example": JIRA_HIDDEN["bo@ourco.example"]}
    run_push(sync_parts)
    card, issue = vendors.items["trello"][0], vendors.items["jira"][0]
    vendors.change("trello", card["id"], idMembers="5f00000000000000000000bb")  # Bo, by the board's name match
    report = _pull(sync_parts, "trello")
    assert report.counts == {"applied": 1}
    assert _assignee(sync_parts, task_id) == "tm_bo"
    vendors.change("jira", issue["id"], assignee={"accountId": JIRA_HIDDEN["bo@ourco.example"]})
    vendors.change("trello", card["id"], idMembers="5f00000000000000000000aa")
    _pull(sync_parts, "trello")
    assert _assignee(sync_parts, task_id) == "tm_ana"
    _pull(sync_parts, "jira")  # the issue shows an accountId and no email: the mapping names Bo
    assert _assignee(sync_parts, task_id) == "tm_bo"
    vendors.change("trello", card["id"], idMembers="")  # nobody on the card: unassigned
    _pull(sync_parts, "trello")
    assert _assignee(sync_parts, task_id) is None


def _pull(parts, target: str):
    connectors = configured_connectors(parts.settings.sync, roster=roster_of(parts.sessions), sleep=lambda _: None)
    try:
        return pull_linked(parts.sessions, connectors, target=target)
    finally:
        close_connectors(connectors)


def _assignee(parts, task_id: str) -> str | None:
    tasks = CRM_TABLES["tasks"]
    with parts.sessions() as session:
        return session.execute(select(tasks.c.assignee_id).where(tasks.c.id == task_id)).scalar_one()


def test_board_members_match_the_roster_by_handle_or_name_and_never_a_guess() -> None:
    roster = [
        TeamMember("tm_ana", "Ana Lima", "ana@ourco.example", aliases=("@analima",)),
        TeamMember("tm_bo", "Bo Tanaka", "bo@ourco.example"),
        TeamMember("tm_sam1", "Sam Lee", "sam.lee@ourco.example"),
        TeamMember("tm_sam2", "Sam  LEE", "slee@ourco.example"),
        TeamMember("tm_zoe", "Zoë Brandt", "zoe@ourco.example"),
    ]
    members = [*TRELLO_BOARD_MEMBERS, {"id": "5f00000000000000000000dd", "username": "zb", "fullName": "Zoe Brandt"}]
    people = match_board_members(members, roster, {"sam.lee@ourco.example": "5f00000000000000000000cc"})
    assert people.by_email == {
        "sam.lee@ourco.example": "5f00000000000000000000cc",  # the explicit mapping settles the two Sams
        "ana@ourco.example": "5f00000000000000000000aa",  # username = alias
        "bo@ourco.example": "5f00000000000000000000bb",  # full name
        "zoe@ourco.example": "5f00000000000000000000dd",  # accents do not count
    }
    # Without the mapping, "sam" answers to two Sams' names, so neither is taken.
    unmapped = match_board_members(members, roster)
    assert unmapped.email_of("5f00000000000000000000cc") is None
    # Two board members who both look like Bo: neither is Bo.
    twins = [{"id": "a" * 24, "fullName": "Bo Tanaka"}, {"id": "b" * 24, "fullName": "bo tanaka"}]
    assert match_board_members(twins, roster).remote_of("bo@ourco.example") is None
    assert match_board_members([{"id": 5}, {}, {"id": "c" * 24}], roster).by_email == {}
