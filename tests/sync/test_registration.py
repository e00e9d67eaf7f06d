"""`handoff sync hooks register` against the loopback tools, with handoff served on loopback for Asana's handshake
and Trello's HEAD check: each hook made once, an existing one reused, Asana's re-registration never refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import delete, select
from sync_vendors import TRELLO_BOARD, Fault, Vendors

from handoff.sync.outbox import close_connectors, configured_connectors
from handoff.sync.registration import register_hooks
from handoff.sync.tables import sync_hook_secrets
from handoff.testing.smtp_capture import free_port
from handoff.wiring import Parts

JIRA_SECRET, TRELLO_SECRET = "jira-hook-secret-0123", "trello-app-secret-0123"


@pytest.fixture
def served(sync_parts: Parts) -> Iterator[Parts]:
    """The API on a loopback port, its URL the sync settings' public URL, the hook secrets set."""
    import uvicorn

    from handoff.api.app import create_app

    port = free_port()
    sync = sync_parts.settings.sync
    sync.public_url = f"http://127.0.0.1:{port}"
    sync.timeout_s = 30.0  # Asana's POST waits for its handshake with this server, on a loaded machine
    sync.jira.webhook_secret, sync.trello.secret = SecretStr(JIRA_SECRET), SecretStr(TRELLO_SECRET)
    config = uvicorn.Config(
        create_app(parts=sync_parts, models={}, key_cache_ttl_s=0),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield sync_parts
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _kept_secret(parts: Parts) -> str | None:
    with parts.sessions() as session:
        return session.execute(select(sync_hook_secrets.c.secret)).scalar()


def _register(parts: Parts, target: str | None = None) -> dict[str, tuple[str, str | None]]:
    connectors = configured_connectors(parts.settings.sync, sleep=lambda _: None)
    try:
        results = register_hooks(parts.sessions, parts.settings.sync, target=target, connectors=connectors)
    finally:
        close_connectors(connectors)
    return {result.target: (result.outcome, result.detail) for result in results}


def _cli(parts: Parts, vendors: Vendors, *args: str) -> subprocess.CompletedProcess[str]:
    """`handoff sync hooks register ARGS` in a subprocess on the parts' store, all three tools configured."""
    sync = parts.settings.sync
    env = {
        **os.environ,
        "HANDOFF_HOME": str(parts.settings.home),
        "HANDOFF_DATABASE_URL": parts.settings.resolved_database_url,
        "HANDOFF_SYNC__PUBLIC_URL": sync.public_url,
        "HANDOFF_SYNC__JIRA__WEBHOOK_SECRET": JIRA_SECRET,
        "HANDOFF_SYNC__TRELLO__SECRET": TRELLO_SECRET,
    }
    for target, section in vendors.targets().items():
        for name, value in section.items():
            env[f"HANDOFF_SYNC__{target.upper()}__{name.upper()}"] = value
    line = [sys.executable, "-m", "handoff", "sync", "hooks", "register", *args]
    return subprocess.run(line, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.slow  # the CLI in subprocesses
def test_register_makes_each_hook_once_and_a_second_run_reuses_them(served, vendors) -> None:
    first = _cli(served, vendors, "--json")
    assert first.returncode == 0, first.stderr
    hooks = {hook["target"]: hook for hook in json.loads(first.stdout)["hooks"]}
    assert {target: hook["outcome"] for target, hook in hooks.items()} == dict.fromkeys(
        ("jira", "asana", "trello"), "created"
    )
    base = served.settings.sync.public_url
    assert {target: hook["url"] for target, hook in hooks.items()} == {
        target: f"{base}/v1/hooks/{target}" for target in hooks
    }
    jira, asana, trello = (vendors.hooks[vendor] for vendor in ("jira", "asana", "trello"))
    assert len(jira) == len(asana) == len(trello) == 1
    assert jira[0]["_secret"] == JIRA_SECRET and jira[0]["events"] == ["jira:issue_updated"]
    assert 'project = "HO"' in jira[0]["filters"]["issue-related-events-section"]
    assert _kept_secret(served) == asana[0]["_secret"]  # the handshake reached handoff and was kept
    assert trello[0]["idModel"] == TRELLO_BOARD and trello[0]["callbackURL"] == f"{base}/v1/hooks/trello"
    assert vendors.violations == []
    again = _cli(served, vendors)
    assert again.returncode == 0, again.stderr
    said = " ".join(again.stderr.split())  # the terminal may wrap lines
    assert said.count("already registered, reused") == 3, said
    assert [len(vendors.hooks[vendor]) for vendor in ("jira", "asana", "trello")] == [1, 1, 1]
    for secret in (JIRA_SECRET, TRELLO_SECRET, vendors.targets()["asana"]["token"]):
        assert secret not in first.stdout + again.stdout + again.stderr


def test_asana_re_registration_reuses_a_checkable_hook_and_remakes_one_it_cannot_check(served, vendors) -> None:
    assert _register(served, "asana") == {"asana": ("created", None)}
    first = vendors.hooks["asana"][0]
    # The hook is gone in Asana (deleted there) while its secret is still kept: the new handshake is not refused.
    vendors.hooks["asana"].clear()
    assert _register(served, "asana") == {"asana": ("created", None)}
    second = vendors.hooks["asana"][0]
    assert second["gid"] != first["gid"] and _kept_secret(served) == second["_secret"]
    # The secret was lost (a new database) while the hook lives: it cannot be checked, so it is made again.
    with served.sessions.begin() as session:
        session.execute(delete(sync_hook_secrets))
    assert _register(served, "asana") == {"asana": ("created", None)}
    assert [hook["gid"] for hook in vendors.hooks["asana"]] != [second["gid"]]
    assert len(vendors.hooks["asana"]) == 1 and _kept_secret(served) == vendors.hooks["asana"][0]["_secret"]


def test_a_hook_made_between_the_look_and_the_create_is_reused_after_the_tools_refusal(served, vendors) -> None:
    assert _register(served) == dict.fromkeys(("jira", "asana", "trello"), ("created", None))
    kept = _kept_secret(served)
    made = {vendor: [dict(hook) for hook in vendors.hooks[vendor]] for vendor in ("asana", "trello")}
    # The first look misses the hook each tool has (another run made it just now); the create is refused as a
    # duplicate (Asana's 403 "Duplicated webhook", Trello's 400), the second look finds it, and it is reused.
    vendors.fail("asana", Fault(status=200), method="GET", path="/api/1.0/webhooks")
    vendors.fail(
        "trello", Fault(status=200), method="GET", path=f"/1/tokens/{vendors.targets()['trello']['token']}/webhooks"
    )
    posts = vendors.count("asana", "POST", "/api/1.0/webhooks")
    results = _register(served)
    assert results["trello"] == ("exists", None) and vendors.hooks["trello"] == made["trello"]
    # Asana's 403 is no crash. The hook found had its secret dropped by this run (it looked like a stale one), so
    # it cannot be checked any more: it is replaced by one whose handshake is kept.
    assert results["asana"] == ("created", None)
    assert vendors.count("asana", "POST", "/api/1.0/webhooks") == posts + 2  # the 403, then the new hook
    assert len(vendors.hooks["asana"]) == 1 and vendors.hooks["asana"][0]["gid"] != made["asana"][0]["gid"]
    assert _kept_secret(served) == vendors.hooks["asana"][0]["_secret"] != kept


def test_register_names_what_is_missing(sync_parts, vendors) -> None:
    results = _register(sync_parts)
    assert {target: outcome for target, (outcome, _) in results.items()} == dict.fromkeys(
        ("jira", "asana", "trello"), "failed"
    )
    assert all("HANDOFF_SYNC__PUBLIC_URL" in detail for _, detail in results.values())
    sync_parts.settings.sync.public_url = "https://handoff.example"
    results = _register(sync_parts, "jira")
    assert results["jira"][0] == "failed" and "HANDOFF_SYNC__JIRA__WEBHOOK_SECRET" in results["jira"][1]
    assert vendors.hooks["jira"] == []
