"""Two API processes (replicas behind one load balancer) over one PostgreSQL: the same estimate from either.

Each replica loads the champions by alias from the same MLflow registry and keeps its own caches; an answer may
never depend on which replica a request reached, even right after the CRM changed under both.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from champion_rows import example_row
from sqlalchemy import select, update

from handoff.access.keys import create_key
from handoff.crm.loader import write_frames
from handoff.risk.registry import log_model, set_champion
from handoff.settings import Settings
from handoff.store.crm_tables import CRM_TABLES
from handoff.store.db import transaction
from handoff.wiring import Parts

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _replica(home: Path, url: str, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "HANDOFF_HOME": str(home),
        "HANDOFF_DATABASE_URL": url,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "uvicorn", "handoff.api.app:create_app", "--factory", "--host", "127.0.0.1"]
    return subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"],
        env=env,
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _ready(process: subprocess.Popen, base: str, versions: dict[str, str]) -> None:
    started = time.monotonic()
    while True:
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else "replica exited"
        try:
            answer = httpx.get(f"{base}/readyz", timeout=2)
            if answer.status_code == 200 and answer.json().get("models") == versions:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() - started < 180, "replica never became ready"
        time.sleep(0.3)


def _comparable(body: dict) -> dict:
    """An estimate without what is its own per request: its id and when it was made."""
    return {key: value for key, value in body.items() if key not in ("id", "created_at")}


@pytest.mark.postgres
@pytest.mark.slow
def test_two_api_processes_answer_the_same_estimate_before_and_after_a_change(
    tmp_path: Path, postgres_url: str, demo_frames, served_models
) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, database_url=postgres_url, _env_file=None)
    settings.ensure_home()
    parts = Parts(settings)
    parts.migrate()
    write_frames(parts.engine, demo_frames)
    versions = {}
    for name, model in served_models.items():
        versions[name] = log_model(settings, model.bundle, {}, {}, {}, {}, "test card", example_row(model.bundle))
        set_champion(settings, name, versions[name])
    with transaction(parts.sessions) as session:
        key, _ = create_key(session, role="pm", name="replicas")
    deals = CRM_TABLES["deals"]
    with parts.sessions() as session:
        deal_ids = list(session.scalars(select(deals.c.id).order_by(deals.c.id).limit(3)))

    ports = [_free_port(), _free_port()]
    replicas = [_replica(home, postgres_url, port) for port in ports]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for process, base in zip(replicas, bases, strict=True):
            _ready(process, base, {name: str(v) for name, v in versions.items()})
        headers = {"Authorization": f"Bearer {key}"}

        def ask(base: str, deal_id: str) -> dict:
            answer = httpx.post(f"{base}/v1/estimates", json={"deal_id": deal_id}, headers=headers, timeout=60)
            assert answer.status_code == 201, answer.text
            return _comparable(answer.json())

        first = {deal: [ask(base, deal) for base in bases] for deal in deal_ids}
        for deal, (one, other) in first.items():
            assert one == other, deal
            assert one["similar_projects"], deal

        # A past project shown as similar is corrected in place (no new row, no new id): both replicas, each with
        # its history cached a moment ago, must answer from the corrected row at once.
        deal = deal_ids[0]
        shown = first[deal][0]["similar_projects"][0]
        corrected = (shown["actual_hours"] or 0.0) + 1234.5
        with transaction(parts.sessions) as session:
            session.execute(
                update(CRM_TABLES["projects"])
                .where(CRM_TABLES["projects"].c.id == shown["project_id"])
                .values(actual_hours=corrected)
            )
        after = [ask(base, deal) for base in bases]
        assert after[0] == after[1]
        card = next(p for p in after[0]["similar_projects"] if p["project_id"] == shown["project_id"])
        assert card["actual_hours"] == pytest.approx(corrected)
    finally:
        for process in replicas:
            process.terminate()
        for process in replicas:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)
            if process.stdout is not None:
                process.stdout.close()
        parts.close()
