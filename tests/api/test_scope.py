"""Account owners see their own accounts only, on every route that returns account data (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from handoff.access import roles
from handoff.access.roles import ROUTE_PERMISSIONS, SCOPE_AWARE_ROUTES, SCOPED_ROLES, allows, may_call
from handoff.api.app import create_app
from handoff.store.crm_tables import CRM_TABLES
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
    """Fail closed: giving account owners `ledger:read` must not open every account's ledger to them."""
    assert allows("admin", "ledger:read") and may_call("admin", "list_ledger")
    granted = roles.ROLE_PERMISSIONS["account_owner"] | {"ledger:read", "estimates:read"}
    monkeypatch.setitem(roles.ROLE_PERMISSIONS, "account_owner", granted)
    me = auth(make_key("account_owner", owner_id="u_anna"))
    for path in ("/v1/ledger", "/v1/estimates"):
        answer = scoped_client.get(path, headers=me)
        assert answer.status_code == 403, (path, answer.text)
    assert scoped_client.get("/v1/tasks", headers=me).status_code == 200


def test_every_route_a_scoped_role_is_granted_applies_the_scope() -> None:
    """The table and the scope agree: nothing a scoped role is given is silently refused, or silently unscoped."""
    for role in SCOPED_ROLES:
        granted = {name for name, permission in ROUTE_PERMISSIONS.items() if allows(role, permission)}
        assert granted <= SCOPE_AWARE_ROUTES, granted - SCOPE_AWARE_ROUTES
    assert set(ROUTE_PERMISSIONS) >= SCOPE_AWARE_ROUTES
