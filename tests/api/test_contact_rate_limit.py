"""Contact listings are rate-limited per key across the whole process: 429 with Retry-After (SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from handoff.api.app import create_app
from handoff.api.limits import KeyRateLimiter
from handoff.settings import ApiSettings
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction


@pytest.fixture
def limited_client(parts):
    with transaction(parts.sessions) as session:
        session.execute(CRM_TABLES["accounts"].insert(), [{"id": "acc_1", "name": "Acme", "owner_id": "u_anna"}])
        session.execute(
            CRM_TABLES["contacts"].insert(),
            [{"id": f"c_{n}", "account_id": "acc_1", "email": f"p{n}@acme.com"} for n in range(3)],
        )
    settings = parts.settings.model_copy(update={"api": ApiSettings(contacts_per_minute=3)})
    with TestClient(create_app(settings, parts, models={}, key_cache_ttl_s=0)) as client:
        yield client


def test_a_key_paging_through_contacts_gets_429_with_retry_after(limited_client, make_key, auth) -> None:
    sales = auth(make_key("sales"))
    for _ in range(3):
        assert limited_client.get("/v1/accounts/acc_1/contacts", headers=sales).status_code == 200
    refused = limited_client.get("/v1/accounts/acc_1/contacts", headers=sales)
    assert refused.status_code == 429 and refused.json()["error"] == "RateLimited"
    assert refused.headers["Retry-After"] == "20"  # 3 a minute: one comes back every 20 s
    # The budget is the key's: another key lists as before; the bulk export counts against its own key too.
    assert limited_client.get("/v1/accounts/acc_1/contacts", headers=auth(make_key("sales"))).status_code == 200
    integration = auth(make_key("integration"))
    answers = [limited_client.get("/v1/contacts", headers=integration).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    # Other routes are not limited by it.
    assert limited_client.get("/v1/me", headers=sales).status_code == 200


def test_the_limit_holds_across_concurrent_requests(limited_client, make_key, auth) -> None:
    sales = auth(make_key("sales"))
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda _: limited_client.get("/v1/accounts/acc_1/contacts", headers=sales).status_code,
                              range(16)))  # fmt: skip
    assert sorted(codes) == [200] * 3 + [429] * 13


def test_the_bucket_refills_evenly_and_zero_turns_it_off() -> None:
    now = [1000.0]
    limiter = KeyRateLimiter(per_minute=3, clock=lambda: now[0])
    assert [limiter.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("k") == pytest.approx(20.0)
    now[0] += 10
    assert limiter.take("k") == pytest.approx(10.0)
    now[0] += 10
    assert limiter.take("k") == 0.0 and limiter.take("k") > 0
    now[0] += 3600  # a quiet hour fills the bucket to its size, no further
    assert [limiter.take("k") for _ in range(4)][-1] > 0
    off = KeyRateLimiter(per_minute=0)
    assert all(off.take("k") == 0.0 for _ in range(1000))
