"""Account owners see their own accounts only, on every route that returns account data (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from handoff.access import roles
from handoff.access.roles import ROUTE_PERMISSIONS, SCOPE_AWARE_ROUTES, SCOPED_ROLES, allows, may_call
from handoff.api.app import create_app
from handoff.intake.tables import ledger
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from tests.tasks.test_service import draft, record, seed_roster


@pytest.fixture
def scoped_client(demo_parts, served_models):
    with TestClient(create_app(parts=demo_parts, models=served_models, key_cache_ttl_s=0)) as client:
        yield client


def _two_owners(parts) -> tuple[str, str, str]:
    """An owner, one active account of theirs, and an active account of someone else."""
    accounts = CRM_TABLES["accounts"]
    with parts.sessions() as session:
        rows = session.execute(
            select(accounts.c.id, accounts.c.owner_id).where(accounts.c.status == "active").order_by(accounts.c.id)
        ).all()
    mine = rows[0]
    theirs = next(row for row in rows if row.owner_id != mine.owner_id)
    return mine.owner_id, mine.id, theirs.id


def test_an_account_owner_lists_and_reads_only_tasks_on_their_own_accounts(scoped_client, make_key, auth, demo_parts):
    owner, mine, theirs = _two_owners(demo_parts)
    seed_roster(demo_parts)
    my_tasks = record(demo_parts, [draft("Send revised SOW"), draft("Book the QBR")], account=mine).created
    their_task = record(demo_parts, [draft("Wire refund of 50,000 EUR")], account=theirs, ledger_id=2).created[0]
    loose_task = record(demo_parts, [draft("Unlinked ask")], account=None, ledger_id=3).created[0]
    me = auth(make_key("account_owner", owner_id=owner))

    tasks = CRM_TABLES["tasks"]
    with demo_parts.sessions() as session:
        every = {row.id: row.account_id for row in session.execute(select(tasks.c.id, tasks.c.account_id))}
    owned = _owned(demo_parts, owner)
    expected = {task_id for task_id, account_id in every.items() if account_id in owned}

    listed = scoped_client.get("/v1/tasks?limit=500", headers=me).json()
    assert {t["id"] for t in listed["tasks"]} == expected and listed["total"] == len(expected) < len(every)
    assert set(my_tasks) <= expected and their_task not in expected
    assert scoped_client.get(f"/v1/tasks?account_id={theirs}", headers=me).json() == {"tasks": [], "total": 0}
    assert scoped_client.get(f"/v1/tasks/{my_tasks[0]}", headers=me).status_code == 200
    # Another owner's task and an unlinked one answer exactly as a task that does not exist: no probing.
    missing = scoped_client.get("/v1/tasks/no-such-task", headers=me)
    for hidden in (their_task, loose_task):
        answer = scoped_client.get(f"/v1/tasks/{hidden}", headers=me)
        assert answer.status_code == 404
        assert answer.json()["detail"] == missing.json()["detail"].replace("no-such-task", hidden)

    # Roles that are not scoped still see every task.
    everyone = scoped_client.get("/v1/tasks", headers=auth(make_key("pm"))).json()
    assert everyone["total"] == len(every)
    assert scoped_client.get(f"/v1/tasks/{their_task}", headers=auth(make_key("pm"))).status_code == 200
    # An owner of no account sees no task.
    nobody = auth(make_key("account_owner", owner_id="TM-NOBODY"))
    assert scoped_client.get("/v1/tasks", headers=nobody).json() == {"tasks": [], "total": 0}


def test_an_account_owner_gets_churn_scores_and_drivers_of_their_own_accounts_only(
    scoped_client, make_key, auth, demo_parts
):
    owner, mine, theirs = _two_owners(demo_parts)
    me = auth(make_key("account_owner", owner_id=owner))
    own = scoped_client.get(f"/v1/accounts/{mine}/churn", headers=me)
    assert own.status_code == 200, own.text
    assert own.json()["drivers"]
    other = scoped_client.get(f"/v1/accounts/{theirs}/churn", headers=me)
    assert other.status_code == 404 and "drivers" not in other.json()
    unknown = scoped_client.get("/v1/accounts/NOPE/churn", headers=me).json()["detail"]
    assert other.json()["detail"] == unknown.replace("'NOPE'", repr(theirs))
    # The same account is scored for a role that is not scoped, so the 404 above is the scope, not the data.
    assert scoped_client.get(f"/v1/accounts/{theirs}/churn", headers=auth(make_key("pm"))).status_code == 200
    # The batch route takes bulk_export, which owners lack; were they given it, the scope would still hold.
    assert scoped_client.post("/v1/churn/batch", json={"account_ids": [mine]}, headers=me).status_code == 403


def test_the_batch_scores_only_what_the_scope_sees(scoped_client, make_key, auth, demo_parts, monkeypatch):
    owner, mine, theirs = _two_owners(demo_parts)
    granted = roles.ROLE_PERMISSIONS["account_owner"] | {"bulk_export"}
    monkeypatch.setitem(roles.ROLE_PERMISSIONS, "account_owner", granted)
    me = auth(make_key("account_owner", owner_id=owner))
    batch = scoped_client.post("/v1/churn/batch", json={"account_ids": [mine, theirs]}, headers=me).json()
    assert [s["account_id"] for s in batch["scores"]] == [mine] and batch["not_scored"] == [theirs]
    exported = scoped_client.get("/v1/contacts?limit=10000", headers=me).json()["contacts"]
    assert exported and {c["account_id"] for c in exported} <= _owned(demo_parts, owner)


def _owned(parts, owner: str) -> set[str]:
    accounts = CRM_TABLES["accounts"]
    with parts.sessions() as session:
        return set(session.scalars(select(accounts.c.id).where(accounts.c.owner_id == owner)))


def test_a_scoped_role_is_refused_routes_that_do_not_apply_its_scope(scoped_client, make_key, auth, monkeypatch):
    """Fail closed: giving account owners `audit:read` or `ledger:retry` must not open every account's records."""
    assert allows("admin", "audit:read") and may_call("admin", "list_audit")
    granted = roles.ROLE_PERMISSIONS["account_owner"] | {"audit:read", "ledger:retry"}
    monkeypatch.setitem(roles.ROLE_PERMISSIONS, "account_owner", granted)
    me = auth(make_key("account_owner", owner_id="u_anna"))
    answer = scoped_client.get("/v1/audit", headers=me)
    assert answer.status_code == 403, answer.text
    answer = scoped_client.post("/v1/ledger/retry", json={"ids": [1]}, headers=me)
    assert answer.status_code == 403, answer.text
    assert scoped_client.get("/v1/tasks", headers=me).status_code == 200


def test_account_owners_are_not_given_the_ledger_or_estimates_by_default(scoped_client, make_key, auth) -> None:
    me = auth(make_key("account_owner", owner_id="u_anna"))
    for path in ("/v1/ledger", "/v1/ledger/1", "/v1/estimates", "/v1/estimates/e-1"):
        assert scoped_client.get(path, headers=me).status_code == 403, path


def _mail(number: int) -> bytes:
    return (
        f"From: Customer {number} <c{number}@customer.example>\r\nTo: tasks@handoff.local\r\n"
        f"Subject: ask {number}\r\nMessage-ID: <ask-{number}@customer.example>\r\n\r\nPlease send the plan.\r\n"
    ).encode()


def test_an_account_owner_granted_the_ledger_reads_only_entries_of_their_own_accounts(
    scoped_client, make_key, auth, demo_parts, monkeypatch
):
    owner, mine, theirs = _two_owners(demo_parts)
    integration = auth(make_key("integration"))
    raw = {**integration, "Content-Type": "message/rfc822"}
    ids = [scoped_client.post("/v1/emails", content=_mail(n), headers=raw).json()["id"] for n in range(3)]
    # As the worker links them: one to my account, one to theirs, one to no account.
    with transaction(demo_parts.sessions) as session:
        for entry_id, account in zip(ids, (mine, theirs, None), strict=True):
            session.execute(update(ledger).where(ledger.c.id == entry_id).values(account_id=account))
    granted = roles.ROLE_PERMISSIONS["account_owner"] | {"ledger:read"}
    monkeypatch.setitem(roles.ROLE_PERMISSIONS, "account_owner", granted)
    me = auth(make_key("account_owner", owner_id=owner))

    page = scoped_client.get("/v1/ledger", headers=me).json()
    assert [e["id"] for e in page["entries"]] == [ids[0]] and sum(page["counts"].values()) == 1
    assert scoped_client.get(f"/v1/ledger/{ids[0]}", headers=me).json()["account_id"] == mine
    missing = scoped_client.get("/v1/ledger/999999", headers=me)
    for hidden in ids[1:]:  # another owner's entry and an unlinked one answer as a missing one
        answer = scoped_client.get(f"/v1/ledger/{hidden}", headers=me)
        assert answer.status_code == 404
        assert answer.json()["detail"] == missing.json()["detail"].replace("999999", str(hidden))
    # Unscoped roles still read every entry.
    everyone = scoped_client.get("/v1/ledger", headers=integration).json()
    assert {e["id"] for e in everyone["entries"]} == set(ids) and sum(everyone["counts"].values()) == 3
    nobody = auth(make_key("account_owner", owner_id="TM-NOBODY"))
    assert scoped_client.get("/v1/ledger", headers=nobody).json() == {"entries": [], "counts": {}}


def _deal_of(parts, account_id: str) -> str:
    deals = CRM_TABLES["deals"]
    with parts.sessions() as session:
        return session.scalars(select(deals.c.id).where(deals.c.account_id == account_id).order_by(deals.c.id)).first()


def _owner_with_deals(parts) -> tuple[str, str, str]:
    """An owner with a deal on one of their accounts, and a deal on another owner's account."""
    accounts, deals = CRM_TABLES["accounts"], CRM_TABLES["deals"]
    with parts.sessions() as session:
        rows = session.execute(
            select(deals.c.id, accounts.c.owner_id)
            .join(accounts, accounts.c.id == deals.c.account_id)
            .order_by(deals.c.id)
        ).all()
    mine = rows[0]
    theirs = next(row for row in rows if row.owner_id != mine.owner_id)
    return mine.owner_id, mine.id, theirs.id


def test_an_account_owner_granted_estimates_sees_and_makes_estimates_of_their_own_accounts_only(
    scoped_client, make_key, auth, demo_parts, monkeypatch
):
    owner, my_deal, their_deal = _owner_with_deals(demo_parts)
    pm = auth(make_key("pm"))
    made = {
        name: scoped_client.post("/v1/estimates", json=brief, headers=pm).json()
        for name, brief in (("mine", {"deal_id": my_deal}), ("theirs", {"deal_id": their_deal}),
                            ("loose", {"scope_items": 6, "team_size": 2}))
    }  # fmt: skip
    granted = roles.ROLE_PERMISSIONS["account_owner"] | {"estimates:read", "estimates:write"}
    monkeypatch.setitem(roles.ROLE_PERMISSIONS, "account_owner", granted)
    me = auth(make_key("account_owner", owner_id=owner))
    owned = _owned(demo_parts, owner)

    listed = scoped_client.get("/v1/estimates?limit=200", headers=me).json()
    assert [e["id"] for e in listed["estimates"]] == [made["mine"]["id"]] and listed["total"] == 1
    assert scoped_client.get(f"/v1/estimates?deal_id={their_deal}", headers=me).json() == {"estimates": [], "total": 0}
    assert scoped_client.get(f"/v1/estimates/{made['mine']['id']}", headers=me).status_code == 200
    missing = scoped_client.get("/v1/estimates/no-such", headers=me).json()["detail"]
    for hidden in (made["theirs"]["id"], made["loose"]["id"]):
        answer = scoped_client.get(f"/v1/estimates/{hidden}", headers=me)
        assert answer.status_code == 404 and answer.json()["detail"] == missing.replace("no-such", hidden)
    assert scoped_client.get("/v1/estimates?limit=200", headers=pm).json()["total"] == 3

    # Another owner's deal, account or project cannot be estimated (or probed): the words of a missing one.
    unknown = scoped_client.post("/v1/estimates", json={"deal_id": "NOPE"}, headers=me).json()["detail"]
    refused = scoped_client.post("/v1/estimates", json={"deal_id": their_deal}, headers=me)
    assert refused.status_code == 404 and refused.json()["detail"] == unknown.replace("'NOPE'", repr(their_deal))
    their_account = made["theirs"]["account_id"]
    answer = scoped_client.post("/v1/estimates", json={"account_id": their_account, "scope_items": 4}, headers=me)
    assert answer.status_code == 404, answer.text
    if made["theirs"]["project_id"]:
        brief = {"project_id": made["theirs"]["project_id"], "scope_items": 4}
        assert scoped_client.post("/v1/estimates", json=brief, headers=me).status_code == 404

    # Their own deal is estimated; similar past projects of other accounts keep their figures, not their names.
    own = scoped_client.post("/v1/estimates", json={"deal_id": my_deal}, headers=me)
    assert own.status_code == 201, own.text
    similar = own.json()["similar_projects"]
    assert len(similar) == 3 and all(p["actual_hours"] is not None for p in similar)
    for project in similar:
        assert project["account_id"] is None or project["account_id"] in owned
        assert project["account_id"] is not None or project["name"] is None
    whole = scoped_client.get(f"/v1/estimates/{own.json()['id']}", headers=pm).json()["similar_projects"]
    assert [p["project_id"] for p in whole] == [p["project_id"] for p in similar]
    assert all(p["account_id"] is not None for p in whole)


def test_every_route_a_scoped_role_is_granted_applies_the_scope() -> None:
    """The table and the scope agree: nothing a scoped role is given is silently refused, or silently unscoped."""
    for role in SCOPED_ROLES:
        granted = {name for name, permission in ROUTE_PERMISSIONS.items() if allows(role, permission)}
        assert granted <= SCOPE_AWARE_ROUTES, granted - SCOPE_AWARE_ROUTES
    assert set(ROUTE_PERMISSIONS) >= SCOPE_AWARE_ROUTES
