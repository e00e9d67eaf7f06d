"""Speed of scoring through the API: single-account churn and single estimate, next to `mlflow models serve`.

The API and two `mlflow models serve` (the churn and the effort champions, `models:/handoff-<name>@champion`) run as
subprocesses on 127.0.0.1 with one worker each, all at once, and are loaded in turn for `HANDOFF_BENCH_ROUNDS`
rounds; each number is the median over the rounds. Load: `wrk` (keep-alive) when installed, else a keep-alive Python
client; one connection for latency (p50/p99), eight for throughput. Results: `eval/results/api-bench.json`.

The store is the embedded SQLite default; `HANDOFF_BENCH_DATABASE_URL` (an empty PostgreSQL database, say) benches
the API on that store instead, with results in `eval/results/api-bench-<dialect>.json`.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.machine import snapshot

RESULTS = Path(__file__).resolve().parents[1] / "results"
BENCH_ACCOUNTS = int(os.environ.get("HANDOFF_BENCH_ACCOUNTS", "400"))
DURATION_S = int(os.environ.get("HANDOFF_BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("HANDOFF_BENCH_ROUNDS", "3"))
DATABASE_URL = os.environ.get("HANDOFF_BENCH_DATABASE_URL") or None  # None: the embedded SQLite store
TARGET_P50_MS = 2.0
TARGET_RATIO = 30.0
ANCHOR = {"fastapi_raw_booster_rps": 4500, "mlflow_serve_rps": 133}  # PRODUCT.md, measured on this machine class


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(port: int, path: str, process: subprocess.Popen, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"server on port {port} did not come up in {timeout_s} s")


def prepare(home: Path) -> dict[str, Any]:
    """A store with the demo history and trained champions (trained here when missing), and an admin key."""
    from handoff.access.keys import create_key
    from handoff.crm.service import crm_is_empty, load_demo_data
    from handoff.risk.registry import MODEL_NAMES, champion_version
    from handoff.risk.service import default_as_of
    from handoff.settings import Settings
    from handoff.store.crm_tables import CRM_TABLES
    from handoff.store.db import transaction
    from handoff.wiring import Parts

    settings = Settings(home=home, database_url=DATABASE_URL)
    parts = Parts(settings)
    parts.migrate()
    if crm_is_empty(parts.engine):
        print(f"loading a {BENCH_ACCOUNTS}-account demo history into {home} ...", flush=True)
        load_demo_data(parts.engine, accounts=BENCH_ACCOUNTS, replace=True)
    missing = tuple(n for n in MODEL_NAMES if champion_version(settings, n) is None)
    if missing:
        from handoff.risk.training import train_all

        print(f"training {', '.join(missing)} (no champion yet) ...", flush=True)
        train_all(parts, source="database", models=missing)
    from sqlalchemy import select

    accounts, deals = CRM_TABLES["accounts"], CRM_TABLES["deals"]
    with transaction(parts.sessions) as session:
        key, _ = create_key(session, role="admin", name="bench")
        as_of = default_as_of(session)
        account_id = session.scalars(select(accounts.c.id).where(accounts.c.status == "active").limit(1)).first()
        # A deal whose project gives the whole brief: mlflow's schema (from a training example) requires every field.
        projects = CRM_TABLES["projects"]
        sized = projects.c.team_size.is_not(None) & projects.c.scope_items.is_not(None)
        with_project = select(deals.c.id).join(projects, projects.c.deal_id == deals.c.id).where(sized)
        deal_id = session.scalars(with_project.order_by(deals.c.id).limit(1)).first()
    parts.close()
    return {
        "settings": settings,
        "key": key,
        "account_id": account_id,
        "deal_id": deal_id,
        "as_of": as_of,
        "version": champion_version(settings, "churn"),
    }


def mlflow_payload(settings, account_id: str, as_of) -> bytes:
    """The same account's feature row, as MLflow's scoring server reads it (`dataframe_split`, signature types)."""
    from handoff.risk import features as feats
    from handoff.risk.registry import _signature_frame, load_champion
    from handoff.risk.store import load_account_frames
    from handoff.wiring import Parts

    parts = Parts(settings)
    model = load_champion(settings, "churn")
    with parts.sessions() as session:
        frames = load_account_frames(session, feats.ENTITIES_BY_NAME.keys(), [account_id])
        row = feats.account_features(frames, as_of).loc[[account_id], model.feature_names]
    parts.close()
    return _split_payload(_signature_frame(row))


def mlflow_estimate_payload(settings, deal_id: str) -> bytes:
    """The deal's kickoff feature row for the effort model, as MLflow's scoring server reads it."""
    import pandas as pd

    from handoff.risk.registry import _signature_frame, load_champion
    from handoff.risk.schemas import EstimateBrief
    from handoff.risk.service import brief_features
    from handoff.wiring import Parts

    parts = Parts(settings)
    model = load_champion(settings, "effort")
    with parts.sessions() as session:
        _, record, _ = brief_features(session, EstimateBrief(deal_id=deal_id), datetime.now(UTC).date())
    parts.close()
    frame = pd.DataFrame([{name: record.get(name) for name in model.feature_names}])
    return _split_payload(_signature_frame(frame))


def _split_payload(frame) -> bytes:
    split = json.loads(frame.to_json(orient="split", index=False, date_format="iso"))
    return json.dumps({"dataframe_split": {"columns": split["columns"], "data": split["data"]}}).encode()


def _wrk(url: str, connections: int, headers: dict[str, str], body: bytes | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "request.lua"
        lines = [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
        if body is not None:
            (Path(folder) / "body").write_bytes(body)
            lines += ['wrk.method = "POST"', f'wrk.body = io.open("{Path(folder) / "body"}", "rb"):read("*a")']
        script.write_text("\n".join(lines) + "\n")
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{DURATION_S}s",
                "--timeout",
                "30s",
                "--latency",
                "-s",
                str(script),
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def millis(label: str) -> float:
        match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        return float(match.group(1)) * units[match.group(2)] if match else float("nan")

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "p50_ms": millis(" 50%"),
        "p90_ms": millis(" 90%"),
        "p99_ms": millis(" 99%"),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def _python_load(port: int, path: str, connections: int, headers: dict[str, str], body: bytes | None) -> dict:
    """Fallback without wrk: closed-loop keep-alive clients in threads."""
    import threading

    latencies: list[float] = []
    failures = [0]
    stop_at = time.monotonic() + DURATION_S

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            connection.request("POST" if body else "GET", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            latencies.append(time.perf_counter() - started)
            failures[0] += response.status >= 300

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return {"p50_ms": pick(0.5), "p90_ms": pick(0.9), "p99_ms": pick(0.99), "rps": len(latencies) / DURATION_S,
            "non_2xx": failures[0]}  # fmt: skip


def measure(port: int, path: str, headers: dict[str, str], body: bytes | None = None) -> dict[str, Any]:
    """Latency on one connection, throughput on eight; a warm-up first so caches and JIT paths are hot."""
    for _ in range(20):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST" if body else "GET", path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{path} answered {response.status}: {payload[:300]!r}")
    run = (lambda c: _wrk(f"http://127.0.0.1:{port}{path}", c, headers, body)) if shutil.which("wrk") else (
        lambda c: _python_load(port, path, c, headers, body)
    )  # fmt: skip
    single, loaded = run(1), run(8)
    return {
        "p50_ms": single["p50_ms"],
        "p90_ms": single["p90_ms"],
        "p99_ms": single["p99_ms"],
        "rps_1_connection": single["rps"],
        "rps_8_connections": loaded["rps"],
        "p50_ms_8_connections": loaded["p50_ms"],
        "non_2xx": single["non_2xx"] + loaded["non_2xx"],
    }


def _serve_api(settings, port: int) -> subprocess.Popen:
    env = {**os.environ, "HANDOFF_HOME": str(settings.resolved_home)}
    env.pop("HANDOFF_DATABASE_URL", None)
    if settings.database_url:
        env["HANDOFF_DATABASE_URL"] = settings.database_url
    command = [sys.executable, "-m", "uvicorn", "--factory", "handoff.api.app:create_app", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log"]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _serve_mlflow(settings, port: int, name: str) -> subprocess.Popen:
    # mlflow starts `uvicorn` from PATH: put this interpreter's scripts first so it finds the venv's.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "MLFLOW_TRACKING_URI": settings.resolved_tracking_uri, "PATH": path}
    command = [sys.executable, "-m", "mlflow", "models", "serve", "--env-manager", "local", "-m",
               f"models:/handoff-{name}@champion", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _ratio(ours: dict[str, Any], theirs: dict[str, Any]) -> float | None:
    """Requests per second at 8 connections, ours over mlflow serve's."""
    return ours["rps_8_connections"] / theirs["rps_8_connections"] if theirs["rps_8_connections"] else None


def _dialect(settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).get_backend_name() if settings.database_url else "sqlite"


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each number's median over the rounds; `non_2xx` summed (one failure anywhere counts)."""
    out = {key: statistics.median(run[key] for run in runs) for key in runs[0] if key != "non_2xx"}
    return {**out, "non_2xx": sum(run["non_2xx"] for run in runs)}


def main() -> dict[str, Any]:
    home = Path(os.environ.get("HANDOFF_BENCH_HOME") or tempfile.mkdtemp(prefix="handoff-api-bench-"))
    ready = prepare(home)
    machine_before = snapshot()
    settings = ready["settings"]
    auth = {"Authorization": f"Bearer {ready['key']}"}
    json_type = {"Content-Type": "application/json"}
    payloads = {
        "churn": mlflow_payload(settings, ready["account_id"], ready["as_of"]),
        "effort": mlflow_estimate_payload(settings, ready["deal_id"]),
    }
    ports = {name: _free_port() for name in ("api", "churn", "effort")}
    servers = {"api": _serve_api(settings, ports["api"])}
    servers.update({name: _serve_mlflow(settings, ports[name], name) for name in payloads})
    # All three servers stay up (an idle one costs no CPU) and are loaded in turn, round after round: the shared
    # VM's speed drifts over minutes, and measuring one server after the other would hand the drift to the ratio.
    targets = {
        "api_churn": (ports["api"], f"/v1/accounts/{ready['account_id']}/churn", auth, None),
        "mlflow_churn": (ports["churn"], "/invocations", json_type, payloads["churn"]),
        "api_estimate": (
            ports["api"],
            "/v1/estimates",
            {**auth, **json_type},
            json.dumps({"deal_id": ready["deal_id"]}).encode(),
        ),
        "mlflow_effort": (ports["effort"], "/invocations", json_type, payloads["effort"]),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    try:
        _wait(ports["api"], "/healthz", servers["api"])
        for name in payloads:
            _wait(ports[name], "/ping", servers[name])
        for round_number in range(1, ROUNDS + 1):
            for name, (port, path, headers, body) in targets.items():
                runs[name].append(measure(port, path, headers, body))
            ratios = _ratio(runs["api_churn"][-1], runs["mlflow_churn"][-1])
            print(f"round {round_number}/{ROUNDS}: churn ratio {ratios:.1f}x", flush=True)
    finally:
        for process in servers.values():
            _stop(process)
    from eval.api.stages import estimate_stages

    print("timing an estimate's stages in process ...", flush=True)
    stages = estimate_stages(settings, ready["deal_id"])
    churn, mlflow = _median_run(runs["api_churn"]), _median_run(runs["mlflow_churn"])
    estimate, served_effort = _median_run(runs["api_estimate"]), _median_run(runs["mlflow_effort"])
    ratio = _ratio(churn, mlflow)
    estimate_ratio = _ratio(estimate, served_effort)
    round_ratios = [_ratio(ours, theirs) for ours, theirs in zip(runs["api_churn"], runs["mlflow_churn"], strict=True)]
    result = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_generator": "wrk" if shutil.which("wrk") else "python http.client",
        "duration_s_per_run": DURATION_S,
        "rounds": ROUNDS,
        "aggregate": "median over interleaved rounds",
        "demo_accounts": BENCH_ACCOUNTS,
        "store": _dialect(settings),
        "machine": {"before": machine_before, "after": snapshot()},
        "churn_model_version": ready["version"],
        "api_churn_one_account": churn,
        "api_estimate_one_deal": estimate,
        "mlflow_serve_churn_one_row": mlflow,
        "mlflow_serve_effort_one_row": served_effort,
        "estimate_stages_in_process_ms": stages,
        "churn_rps_ratio_api_over_mlflow": ratio,
        "churn_rps_ratio_each_round": round_ratios,
        "estimate_rps_ratio_api_over_mlflow_effort": estimate_ratio,
        "targets": {"p50_ms": TARGET_P50_MS, "rps_ratio": TARGET_RATIO},
        "meets": {
            "churn_p50": churn["p50_ms"] <= TARGET_P50_MS,
            "estimate_p50": estimate["p50_ms"] <= TARGET_P50_MS,
            "churn_ratio": ratio is not None and ratio >= TARGET_RATIO,
            "estimate_ratio": estimate_ratio is not None and estimate_ratio >= TARGET_RATIO,
        },
        "anchor": ANCHOR,
        "notes": "Churn: the account's point-in-time features are cached per (account, as-of day) for 5 minutes; "
        "the champion scores and explains (top-5 drivers) on every request. mlflow serve gets the feature row "
        "itself and returns the probability only. Estimate: the full risk.service.estimate path (reads the CRM, "
        "builds features, three models with factors, 3 similar projects, stores the estimate); its mlflow "
        "counterpart serves the effort model alone, given the deal's feature row, and returns P10/P50/P90 only.",
    }
    RESULTS.mkdir(exist_ok=True)
    name = "api-bench.json" if result["store"] == "sqlite" else f"api-bench-{result['store']}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2, default=str) + "\n")
    _print(result)
    return result


def _print(result: dict[str, Any]) -> None:
    rows = [
        ("API churn (1 account)", result["api_churn_one_account"]),
        ("API estimate (1 deal)", result["api_estimate_one_deal"]),
        ("mlflow serve churn (1 row)", result["mlflow_serve_churn_one_row"]),
        ("mlflow serve effort (1 row)", result["mlflow_serve_effort_one_row"]),
    ]
    print(f"\n{'what':<28} {'p50 ms':>8} {'p99 ms':>8} {'req/s c=1':>10} {'req/s c=8':>10} {'non-2xx':>8}")
    for name, m in rows:
        print(
            f"{name:<28} {m['p50_ms']:>8.2f} {m['p99_ms']:>8.2f} {m['rps_1_connection']:>10.1f} "
            f"{m['rps_8_connections']:>10.1f} {m['non_2xx']:>8}"
        )
    print("\nwhere an estimate's time goes, in process (medians, ms):")
    for stage, millis in result["estimate_stages_in_process_ms"].items():
        print(f"  {stage:<58} {millis:>7.3f}")
    ratio = result["churn_rps_ratio_api_over_mlflow"]
    estimate_ratio = result["estimate_rps_ratio_api_over_mlflow_effort"]
    rounds = ", ".join(f"{r:.1f}x" for r in result["churn_rps_ratio_each_round"])
    print(f"\nchurn req/s ratio API / mlflow serve: {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x; rounds {rounds})")
    print(f"estimate req/s ratio API (3 models, factors, stored) / mlflow serve (effort only): {estimate_ratio:.1f}x")
    print(f"targets: p50 <= {TARGET_P50_MS} ms; met: {result['meets']}; store: {result['store']}")
    before, after = result["machine"]["before"], result["machine"]["after"]
    print(f"machine: {after['cpus']} cores, load {after['load_average_1_5_15']}; a fixed Python loop took "
          f"{before['python_loop_ms']} ms before and {after['python_loop_ms']} ms after (shared VM: compare runs whose "
          "loop times agree)")  # fmt: skip
    print(f"anchor (PRODUCT.md): FastAPI + raw booster ~{ANCHOR['fastapi_raw_booster_rps']} req/s, "
          f"mlflow serve ~{ANCHOR['mlflow_serve_rps']} req/s")  # fmt: skip


if __name__ == "__main__":
    main()
