"""Keys that expire and rotate, and /metrics behind a key when the setting says so (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from handoff.access.keys import create_key, list_keys, parse_expiry, rotate_key
from handoff.access.tables import api_keys
from handoff.api.app import create_app
from handoff.errors import Conflict, InvalidInput
from handoff.store.db import transaction
from handoff.wiring import Parts

NOW = datetime(2026, 12, 1, 12, 0)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def test_expiry_is_a_span_a_day_or_a_moment() -> None:
    assert parse_expiry("30d", NOW) == NOW + timedelta(days=30)
    assert parse_expiry("12h", NOW) == NOW + timedelta(hours=12)
    assert parse_expiry("2w", NOW) == NOW + timedelta(weeks=2)
    assert parse_expiry("2027-01-31", NOW) == datetime(2027, 2, 1)  # valid through the whole day, UTC
    assert parse_expiry("2027-01-31T10:00:00+02:00", NOW) == datetime(2027, 1, 31, 8, 0)
    for bad in ("soon", "30", "-1d", "2027-13-01"):
        with pytest.raises(InvalidInput):
            parse_expiry(bad, NOW)


def _expire_now(parts: Parts, key_id: str) -> None:
    with transaction(parts.sessions) as session:
        session.execute(
            update(api_keys).where(api_keys.c.id == key_id).values(expires_at=utcnow() - timedelta(seconds=1))
        )


def test_an_expired_key_gets_401_with_a_clear_message(client, parts, auth) -> None:
    with transaction(parts.sessions) as session:
        key, record = create_key(session, role="pm", expires_at=utcnow() + timedelta(days=1))
        with pytest.raises(InvalidInput, match="already passed"):
            create_key(session, role="pm", expires_at=utcnow() - timedelta(days=1))
    assert client.get("/v1/me", headers=auth(key)).status_code == 200
    _expire_now(parts, record.id)
    answer = client.get("/v1/me", headers=auth(key))
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.json()["error"] == "Unauthenticated"
    assert f"API key {record.id} expired at" in answer.json()["detail"]
    assert client.get("/v1/me", headers=auth("hk_unknown")).json()["detail"] == "unknown or revoked API key"


def test_rotation_revokes_at_once_or_after_a_grace_period(client, parts, auth) -> None:
    with transaction(parts.sessions) as session:
        old_key, old = create_key(session, role="sales", name="crm-sync", expires_at=utcnow() + timedelta(30))
        new_key, new, replaced = rotate_key(session, old.id)
    assert new_key != old_key and (new.name, new.role, new.rotated_from) == ("crm-sync", "sales", old.id)
    assert replaced.revoked_at is not None
    assert new.expires_at is not None and abs(
        (new.expires_at - new.created_at) - (old.expires_at - old.created_at)
    ) < timedelta(seconds=1)
    assert client.get("/v1/me", headers=auth(old_key)).status_code == 401
    assert client.get("/v1/me", headers=auth(new_key)).json()["key_id"] == new.id

    with transaction(parts.sessions) as session:
        newer_key, newer, graced = rotate_key(session, new.id, grace=timedelta(hours=1))
        with pytest.raises(Conflict):
            rotate_key(session, old.id)  # revoked keys are not rotated
    assert graced.revoked_at is None and graced.expires_at <= utcnow() + timedelta(hours=1)
    # During the grace both work, so clients can move one by one; after it the old one is expired.
    assert client.get("/v1/me", headers=auth(new_key)).status_code == 200
    assert client.get("/v1/me", headers=auth(newer_key)).status_code == 200
    _expire_now(parts, new.id)
    assert "expired" in client.get("/v1/me", headers=auth(new_key)).json()["detail"]
    assert client.get("/v1/me", headers=auth(newer_key)).status_code == 200


def test_metrics_take_a_key_when_the_setting_is_on(parts, make_key, auth) -> None:
    guarded = Parts(
        parts.settings.model_copy(update={"api": parts.settings.api.model_copy(update={"metrics_require_key": True})})
    )
    with TestClient(create_app(parts=guarded, models={}, key_cache_ttl_s=0)) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=auth(make_key("pm"))).status_code == 403
        scraped = client.get("/metrics", headers=auth(make_key("integration")))
        assert scraped.status_code == 200 and "handoff_http_requests_total" in scraped.text
    with TestClient(create_app(parts=parts, models={}, key_cache_ttl_s=0)) as client:
        assert client.get("/metrics").status_code == 200  # the default: open, like /healthz


@pytest.mark.slow  # the CLI in subprocesses
def test_the_cli_prints_a_rotated_key_once(settings, tmp_path) -> None:
    env = {**os.environ, "HANDOFF_HOME": str(settings.home)}
    env.pop("HANDOFF_DATABASE_URL", None)

    def handoff(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "handoff", "keys", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    created = handoff("create", "--role", "integration", "--expires", "30d", "--json")
    assert created.returncode == 0, created.stderr
    first = json.loads(created.stdout)
    assert first["expires_at"].endswith("Z")
    rotated = handoff("rotate", first["id"], "--grace", "1h")
    assert rotated.returncode == 0, rotated.stderr
    new_key = rotated.stdout.strip()
    assert new_key.startswith("hk_") and new_key != first["key"]
    assert new_key not in rotated.stderr and "expires" in rotated.stderr
    assert handoff("rotate", first["id"], "--grace", "soon").returncode == 2
    listed = handoff("list", "--json")
    states = {key["id"]: key for key in json.loads(listed.stdout)}
    assert states[first["id"]]["revoked_at"] is None and states[first["id"]]["expires_at"] is not None
    with Parts(settings).sessions() as session:
        assert len(list_keys(session)) == 2
