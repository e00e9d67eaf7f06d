"""`handoff up` end to end in a subprocess: first start on a tiny demo, real HTTP with keys, SMTP in, clean SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, timeout_s: float = 240.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"handoff up exited early ({process.returncode}): {process.stderr.read()}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout_s} s")


@pytest.mark.slow
@pytest.mark.services  # `handoff up` in a subprocess, with its HTTP and SMTP ports
def test_handoff_up_serves_api_and_inbox_and_stops_cleanly(tmp_path) -> None:
    api_port, smtp_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "HANDOFF_HOME": str(tmp_path / "home"),
        "HANDOFF_API__PORT": str(api_port),
        "HANDOFF_INBOX__SMTP_PORT": str(smtp_port),
        "HANDOFF_UP_ACCOUNTS": "40",
    }
    env.pop("HANDOFF_DATABASE_URL", None)
    command = [sys.executable, "-m", "handoff", "up", "--no-train", "--no-scheduler"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{api_port}"
    try:
        health = _wait_for(f"{base}/healthz", process)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        ready = httpx.get(f"{base}/readyz").json()
        assert ready["database"] is True and ready["models"] == {}

        created = subprocess.run(
            [sys.executable, "-m", "handoff", "keys", "create", "--role", "integration", "--json"],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        key = json.loads(created.stdout)["key"]
        assert httpx.get(f"{base}/v1/ledger").status_code == 401
        assert httpx.get(f"{base}/v1/me", headers={"X-API-Key": key}).json()["role"] == "integration"

        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "jane@customer.example", "tasks@handoff.local", "Hi"
        message.set_content("Could you send the project plan by Friday?")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
            smtp.send_message(message)
        ledger = httpx.get(f"{base}/v1/ledger", headers={"Authorization": f"Bearer {key}"}).json()
        assert [e["source"] for e in ledger["entries"]] == ["smtp"]
        assert "handoff_http_requests_total" in httpx.get(f"{base}/metrics").text
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, stderr
    assert "First admin key" in stderr and "handoff stopped" in stderr
    # Printed once: the examples after it name it only as $HANDOFF_KEY.
    [printed] = re.findall(r"hk_[A-Za-z0-9_\-]{20,}", stderr)
    assert f"HANDOFF_KEY={printed}" in stderr and stderr.count('Bearer $HANDOFF_KEY"') == 2


def test_first_start_training_keeps_its_model_cards_under_the_home(settings, monkeypatch) -> None:
    """`make run` must never rewrite the committed `models/` cards; `handoff train` is what updates them."""
    from handoff.cli import up
    from handoff.risk import registry, training
    from handoff.wiring import Parts

    calls = []
    monkeypatch.setattr(registry, "champion_version", lambda settings, name: None)
    monkeypatch.setattr(
        training, "train_all", lambda parts, **kwargs: calls.append(kwargs) or {"models": {}, "skipped": {}}
    )
    up._ensure_models(Parts(settings))
    assert calls[0]["cards_dir"] == settings.resolved_home / "models"
    assert calls[0]["source"] == "database"
