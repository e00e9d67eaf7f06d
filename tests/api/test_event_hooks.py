"""Events out to a real HTTP receiver on loopback: every type, signed; retried with one event id; a 410 unsubscribes.

SQLite and PostgreSQL: the outbox rows are written in the transaction of the change (the accept, the nightly run,
the ledger's outcome), so the store matters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from handoff.alerts.channels import GenericWebhookChannel
from handoff.alerts.nightly import run_nightly
from handoff.events.delivery import deliver_pending
from handoff.events.model import EVENT_TYPES, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from handoff.extraction.model import Found, TaskDraft
from handoff.intake import ledger as ledger_store
from handoff.settings import HooksSettings, SyncSettings, TrelloSettings
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.sync.outbox import close_connectors, configured_connectors, enqueue, push_pending
from handoff.testing.http_receiver import HttpReceiver, ReceivedRequest, Reply
from handoff.wiring import Parts
from tests.sync.sync_vendors import TRELLO_KEY, TRELLO_LIST, TRELLO_TOKEN, Vendors

CONTACT = "jennifer.liu@example.com"
FAST = HooksSettings(allow_private_targets=True, first_backoff_s=60.0, max_backoff_s=7200.0, max_attempts=5)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as running:
        yield running


@pytest.fixture
def hook_app(demo_parts: Parts, served_models) -> Iterator[TestClient]:
    demo_parts.settings.hooks.allow_private_targets = True  # the receiver is on loopback
    from handoff.api.app import create_app

    with TestClient(create_app(parts=demo_parts, models=served_models, key_cache_ttl_s=0)) as client:
        yield client


def subscribe(client: TestClient, key: str, url: str, events=EVENT_TYPES) -> dict:
    answer = client.post(
        "/v1/hooks/subscriptions", json={"target_url": url, "events": list(events)}, headers=_bearer(key)
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def deliver(parts: Parts, *, at: datetime | None = None, settings: HooksSettings = FAST) -> dict[str, int]:
    with httpx.Client(timeout=5.0) as client:
        report = deliver_pending(parts.sessions, settings, client=client, clock=(lambda: at) if at else _now)
    return report.counts


def _now() -> datetime:
    return datetime.now(UTC)


def signed_by(request: ReceivedRequest, secret: str) -> bool:
    headers = request.headers  # the receiver keeps names lower-case, as HTTP allows
    return verify(secret, headers[TIMESTAMP_HEADER.lower()], request.body, headers[SIGNATURE_HEADER.lower()])


def _draft(title: str, description: str) -> TaskDraft:
    return TaskDraft(
        title=Found(title, 0.9, title),
        assignee=Found(None, 0.5, ""),
        assignee_id=None,
        due=Found(date(2026, 12, 20), 0.8, "by the 20th"),
        priority=Found("normal", 0.7, ""),
        description=description,
        confidence=0.9,
        evidence=description,
    )


def _account_and_owner(parts: Parts) -> tuple[str, str]:
    accounts = CRM_TABLES["accounts"]
    with parts.sessions() as session:
        row = session.execute(
            select(accounts.c.id, accounts.c.owner_id)
            .where(accounts.c.status == "active", accounts.c.owner_id.is_not(None))
            .order_by(accounts.c.id)
            .limit(1)
        ).one()
    return row.id, row.owner_id


def _deal(parts: Parts) -> str:
    with parts.sessions() as session:
        return session.execute(
            select(CRM_TABLES["deals"].c.id).order_by(CRM_TABLES["deals"].c.id).limit(1)
        ).scalar_one()


class OneAccountScorer:
    """The nightly's churn score for one account, high enough to open an alert (the rest is the real run)."""

    version = "events-test-1"

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    def score(self, as_of: date, timings: dict[str, float]) -> pd.DataFrame:
        frame = pd.DataFrame({"probability": pd.Series({self.account_id: 0.81}, dtype="float64")})
        frame["drivers"] = [("usage fell by half", "two urgent tickets")]
        return frame


def test_every_event_type_reaches_the_receiver_signed_and_as_the_api_shows_it(
    hook_app: TestClient, demo_parts: Parts, receiver: HttpReceiver, make_key
) -> None:
    from handoff.tasks.service import record_tasks

    admin = make_key("admin")
    subscription = subscribe(hook_app, admin, receiver.url("/all"))
    assert subscription["secret"].startswith("whsec_") and subscription["events"] == list(EVENT_TYPES)
    account_id, owner_id = _account_and_owner(demo_parts)

    # task.suggested ×2: the worker's write path, with the title vectors it would embed before the transaction.
    with transaction(demo_parts.sessions) as session:
        recorded = record_tasks(
            session,
            ledger_id=None,
            drafts=[_draft("Send the revised SOW", f"Mail {CONTACT} the SOW."), _draft("Book the kickoff", "Kickoff")],
            account_id=account_id,
            project_id=None,
            thread_id=None,
            settings=demo_parts.settings,
            title_vectors=[[1.0, 0.0], [0.0, 1.0]],
        )
    kept, dropped = recorded.created
    assert hook_app.post(f"/v1/tasks/{kept}/accept", headers=_bearer(admin)).status_code == 200
    rejected = hook_app.post(f"/v1/tasks/{dropped}/reject", json={"reason": "not ours"}, headers=_bearer(admin))
    assert rejected.status_code == 200
    # task.synced: pushed to a loopback Trello through the real connector.
    with transaction(demo_parts.sessions) as session:
        enqueue(session, [kept], ["trello"])
    with Vendors() as vendors:
        trello = TrelloSettings(base_url=vendors.url, key=TRELLO_KEY, token=TRELLO_TOKEN, list_id=TRELLO_LIST)
        connectors = configured_connectors(SyncSettings(trello=trello, timeout_s=2.0))
        try:
            assert push_pending(demo_parts.sessions, connectors, settle_s=0.0).count("sent") == 1
        finally:
            close_connectors(connectors)
    # estimate.created
    deal_id = _deal(demo_parts)
    estimate = hook_app.post("/v1/estimates", json={"deal_id": deal_id}, headers=_bearer(admin))
    assert estimate.status_code == 201, estimate.text
    # alert.opened and digest.sent: one real nightly run; alert.updated: a snooze through the API.
    channel = GenericWebhookChannel(receiver.url("/digest"), "digest-secret-123")
    run_nightly(
        demo_parts.sessions, demo_parts.settings.alerts, run_date=date(2026, 11, 1),
        scorer=OneAccountScorer(account_id), channels=[channel], sleep=lambda _: None,
    )  # fmt: skip
    [alert] = hook_app.get("/v1/alerts", params={"account_id": account_id}, headers=_bearer(admin)).json()["alerts"]
    until = (date.today() + timedelta(days=7)).isoformat()
    snoozed = hook_app.post(
        f"/v1/alerts/{alert['id']}/snooze", json={"until": until, "reason": "call booked"}, headers=_bearer(admin)
    )
    assert snoozed.status_code == 200, snoozed.text
    # message.failed and message.quarantined: the ledger's outcomes, as the worker records them.
    receipts = [
        hook_app.post("/v1/notes", json={"text": f"Notes {n}", "format": "text"}, headers=_bearer(admin)).json()
        for n in (1, 2)
    ]
    with transaction(demo_parts.sessions) as session:
        ledger_store.finish(session, receipts[0]["id"], worker=None, outcome="failed", error="extractor crashed")
        ledger_store.finish(session, receipts[1]["id"], worker=None, outcome="spam", reason="forged sender")

    assert deliver(demo_parts)["sent"] == len(EVENT_TYPES) + 1  # task.suggested twice
    arrived = receiver.received("/all")
    bodies = [request.json() for request in arrived]
    assert sorted(body["type"] for body in bodies) == sorted([*EVENT_TYPES, "task.suggested"])
    assert all(signed_by(request, subscription["secret"]) for request in arrived)
    assert not any(signed_by(request, "whsec_someone-else") for request in arrived)
    assert len({body["id"] for body in bodies}) == len(bodies)
    by_type = {body["type"]: body for body in bodies}
    # The resource as the API returns it: the rejected task is exactly `GET /v1/tasks/{id}` (nothing changed since).
    assert by_type["task.rejected"]["data"] == hook_app.get(f"/v1/tasks/{dropped}", headers=_bearer(admin)).json()
    assert by_type["task.accepted"]["data"]["status"] == "open"
    assert by_type["task.synced"]["data"]["sync"][0]["status"] == "sent"
    assert by_type["estimate.created"]["data"] == estimate.json()
    assert by_type["alert.opened"]["data"]["status"] == "open"
    assert by_type["alert.updated"]["data"] == snoozed.json()
    assert by_type["digest.sent"]["data"]["owner_id"] == owner_id
    assert by_type["message.failed"]["data"]["outcome"] == "failed"
    assert by_type["message.quarantined"]["data"]["id"] == receipts[1]["id"]
    # Nothing is sent twice once it was sent; the log says so.
    assert deliver(demo_parts)["sent"] == 0
    log = hook_app.get(f"/v1/hooks/subscriptions/{subscription['id']}/deliveries", headers=_bearer(admin)).json()
    assert {entry["status"] for entry in log["deliveries"]} == {"sent"} and len(log["deliveries"]) == len(bodies)


def test_events_are_masked_for_the_subscribing_key(hook_app, demo_parts, receiver, make_key) -> None:
    from handoff.tasks.service import record_tasks

    admin, machine = make_key("admin"), make_key("integration")
    whole = subscribe(hook_app, admin, receiver.url("/admin"), ["task.suggested"])
    masked = subscribe(hook_app, machine, receiver.url("/machine"), ["task.suggested"])
    account_id, _ = _account_and_owner(demo_parts)
    with transaction(demo_parts.sessions) as session:
        record_tasks(
            session, ledger_id=None, drafts=[_draft("Call back", f"Write to {CONTACT} today.")],
            account_id=account_id, project_id=None, thread_id=None, settings=demo_parts.settings,
            title_vectors=[[1.0]],
        )  # fmt: skip
    assert deliver(demo_parts)["sent"] == 2
    [to_admin], [to_machine] = receiver.received("/admin"), receiver.received("/machine")
    assert signed_by(to_admin, whole["secret"]) and signed_by(to_machine, masked["secret"])
    assert to_admin.json()["id"] == to_machine.json()["id"]  # one event, a delivery per subscription
    assert CONTACT in to_admin.json()["data"]["description"]
    assert CONTACT not in to_machine.body.decode() and to_machine.json()["data"]["description"]
    listed = hook_app.get(f"/v1/tasks/{to_machine.json()['data']['id']}", headers=_bearer(machine)).json()
    assert to_machine.json()["data"]["description"] == listed["description"]


def test_a_receiver_failing_twice_gets_the_same_event_until_it_answers(
    hook_app, demo_parts, receiver, make_key
) -> None:
    admin = make_key("admin")
    receiver.answer("/flaky", [Reply(status=503), Reply(status=500)])
    subscription = subscribe(hook_app, admin, receiver.url("/flaky"), ["estimate.created"])
    deal_id = _deal(demo_parts)
    assert hook_app.post("/v1/estimates", json={"deal_id": deal_id}, headers=_bearer(admin)).status_code == 201
    start = _now()
    assert deliver(demo_parts, at=start) == {"sent": 0, "pending": 1, "failed": 0, "cancelled": 0}
    assert deliver(demo_parts, at=start + timedelta(seconds=30))["pending"] == 0  # not due yet: 1 min backoff
    assert deliver(demo_parts, at=start + timedelta(seconds=61))["pending"] == 1
    log = hook_app.get(f"/v1/hooks/subscriptions/{subscription['id']}/deliveries", headers=_bearer(admin)).json()
    [entry] = log["deliveries"]
    assert entry["status"] == "pending" and entry["attempts"] == 2 and entry["last_status_code"] == 500
    # The second wait doubles: 2 minutes after the second attempt.
    assert deliver(demo_parts, at=start + timedelta(seconds=61 + 100))["sent"] == 0
    assert deliver(demo_parts, at=start + timedelta(seconds=61 + 121))["sent"] == 1
    arrived = receiver.received("/flaky")
    assert len(arrived) == 3 and len({request.json()["id"] for request in arrived}) == 1
    assert all(signed_by(request, subscription["secret"]) for request in arrived)
    log = hook_app.get(f"/v1/hooks/subscriptions/{subscription['id']}/deliveries", headers=_bearer(admin)).json()
    assert log["deliveries"][0]["status"] == "sent" and log["deliveries"][0]["attempts"] == 3


def test_a_delivery_gives_up_after_the_last_attempt(hook_app, demo_parts, receiver, make_key) -> None:
    admin = make_key("admin")
    receiver.answer("/down", [Reply(status=503)] * 3)
    subscribe(hook_app, admin, receiver.url("/down"), ["estimate.created"])
    deal_id = _deal(demo_parts)
    hook_app.post("/v1/estimates", json={"deal_id": deal_id}, headers=_bearer(admin))
    few = HooksSettings(allow_private_targets=True, first_backoff_s=0.0, max_attempts=3)
    outcomes = [deliver(demo_parts, settings=few) for _ in range(4)]
    assert [o["pending"] for o in outcomes] == [1, 1, 0, 0] and outcomes[2]["failed"] == 1
    assert len(receiver.received("/down")) == 3


def test_a_410_ends_the_subscription(hook_app, demo_parts, receiver, make_key) -> None:
    admin = make_key("admin")
    receiver.answer("/gone", [Reply(status=410)])
    subscription = subscribe(hook_app, admin, receiver.url("/gone"), ["estimate.created"])
    deal_id = _deal(demo_parts)
    for _ in range(2):
        assert hook_app.post("/v1/estimates", json={"deal_id": deal_id}, headers=_bearer(admin)).status_code == 201
    assert deliver(demo_parts)["cancelled"] == 2  # the 410, and the second event's delivery with it
    assert len(receiver.received("/gone")) == 1
    listed = hook_app.get("/v1/hooks/subscriptions", headers=_bearer(admin)).json()["subscriptions"]
    assert subscription["id"] not in [s["id"] for s in listed]
    everything = hook_app.get(
        "/v1/hooks/subscriptions", params={"include_removed": True}, headers=_bearer(admin)
    ).json()["subscriptions"]
    [removed] = [s for s in everything if s["id"] == subscription["id"]]
    assert removed["status"] == "removed" and "410" in removed["removed_reason"] and "secret" not in removed
    hook_app.post("/v1/estimates", json={"deal_id": deal_id}, headers=_bearer(admin))
    assert deliver(demo_parts) == {"sent": 0, "pending": 0, "failed": 0, "cancelled": 0}
    assert hook_app.delete(f"/v1/hooks/subscriptions/{subscription['id']}", headers=_bearer(admin)).status_code == 404


def test_unsubscribe_and_refusals(hook_app, demo_parts, receiver, make_key) -> None:
    admin, pm = make_key("admin"), make_key("pm")
    subscription = subscribe(hook_app, admin, receiver.url("/x"), ["task.accepted"])
    post = lambda body, key=admin: hook_app.post("/v1/hooks/subscriptions", json=body, headers=_bearer(key))  # noqa: E731
    assert post({"target_url": receiver.url("/x"), "events": ["task.accepted"]}, pm).status_code == 403
    assert post({"target_url": "ftp://example.com/in", "events": ["task.accepted"]}).status_code == 400
    assert post({"target_url": "https://user:pw@example.com/in", "events": ["task.accepted"]}).status_code == 400
    assert post({"target_url": receiver.url("/x"), "events": ["task.exploded"]}).status_code == 422
    assert post({"target_url": receiver.url("/x"), "events": []}).status_code == 422
    demo_parts.settings.hooks.allow_private_targets = False
    for private in (
        receiver.url("/x"),
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/",
        "http://10.1.2.3/",
    ):
        refused = post({"target_url": private, "events": ["task.accepted"]})
        assert refused.status_code == 400 and "ALLOW_PRIVATE_TARGETS" in refused.json()["detail"], private
    # A subscription made while private targets were allowed is not delivered once they are not.
    from handoff.tasks.service import accept_task, record_tasks

    with transaction(demo_parts.sessions) as session:
        [task_id] = record_tasks(
            session, ledger_id=None, drafts=[_draft("Ship it", "Ship it")], account_id=None, project_id=None,
            thread_id=None, settings=demo_parts.settings, title_vectors=[[1.0]],
        ).created  # fmt: skip
        accept_task(session, task_id, "reviewer")
    assert deliver(demo_parts, settings=HooksSettings(allow_private_targets=False))["pending"] == 1
    assert receiver.received("/x") == []
    assert hook_app.delete(f"/v1/hooks/subscriptions/{subscription['id']}", headers=_bearer(admin)).status_code == 204
    assert hook_app.get("/v1/hooks/subscriptions", headers=_bearer(admin)).json()["subscriptions"] == []
    assert hook_app.get("/v1/hooks/subscriptions/sub_nope/deliveries", headers=_bearer(admin)).status_code == 404


def test_no_event_leaves_with_a_change_that_rolled_back(demo_parts, hook_app, receiver, make_key) -> None:
    from handoff.tasks.service import accept_task, record_tasks

    subscribe(hook_app, make_key("admin"), receiver.url("/rb"), ["task.accepted"])
    with transaction(demo_parts.sessions) as session:
        [task_id] = record_tasks(
            session, ledger_id=None, drafts=[_draft("Ship it", "Ship it")], account_id=None, project_id=None,
            thread_id=None, settings=demo_parts.settings, title_vectors=[[1.0]],
        ).created  # fmt: skip
    with pytest.raises(RuntimeError), transaction(demo_parts.sessions) as session:
        accept_task(session, task_id, "reviewer")
        raise RuntimeError("the request failed after the accept")
    assert deliver(demo_parts)["sent"] == 0 and receiver.received("/rb") == []


def test_a_delivery_connects_to_the_address_that_was_checked_not_a_rebound_one(receiver) -> None:
    """DNS rebinding: the name answers a public address for the check and 127.0.0.1 a moment later. The delivery
    connects to the checked address, with the name as Host (and as the TLS server name for https)."""
    from handoff.events.delivery import check_reachable, pinned_post

    answers = iter(["93.184.216.34", "127.0.0.1"])

    def rebinding(host, port, **_):
        return [(2, 1, 6, "", (next(answers), port))]

    address = check_reachable("https://hooks.example:8443/in", allow_private=False, resolve=rebinding)
    assert address == "93.184.216.34"
    seen: list[httpx.Request] = []
    mock = httpx.Client(transport=httpx.MockTransport(lambda request: seen.append(request) or httpx.Response(204)))
    assert pinned_post(mock, "https://hooks.example:8443/in", address, content=b"{}").status_code == 204
    (request,) = seen
    assert (request.url.host, request.url.port) == ("93.184.216.34", 8443)
    assert request.headers["host"] == "hooks.example:8443"
    assert request.extensions["sni_hostname"] == "hooks.example"
    # Over a real connection: a name that resolves nowhere reaches the receiver at the pinned loopback address.
    port = int(receiver.url("/").rsplit(":", 1)[1].strip("/"))
    with httpx.Client(timeout=5) as client:
        answer = pinned_post(client, f"http://rebind.invalid:{port}/pinned", "127.0.0.1", content=b"{}")
    assert answer.status_code == 200
    (arrived,) = receiver.received("/pinned")
    assert arrived.headers.get("Host", arrived.headers.get("host")) == f"rebind.invalid:{port}"
