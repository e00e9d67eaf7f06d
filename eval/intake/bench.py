"""Intake speed: messages/second the SMTP inbox accepts (durable in the ledger) and ingests end to end.

Run: `python -m eval.bench intake` (or `make bench`). Writes `eval/results/intake-bench.json`."""

from __future__ import annotations

import json
import re
import smtplib
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[1] / "results"
CORPUS = Path(__file__).resolve().parents[2] / "tests" / "intake" / "corpus"
MESSAGES = 300
END_TO_END = 100  # the real extractor is the slow part: fewer messages keep `make bench` short
CLIENTS = 4
FORWARDED = ("gmail_forward_en.eml", "outlook_forward_en_qp_latin1.eml", "outlook_forward_zh_gbk.eml",
             "apple_mail_forward.eml", "thunderbird_forward.eml", "nested_forward.eml", "big5_direct.eml",
             "reply_quote_signature.eml", "attachments_rfc2231.eml", "winmail_dat.eml")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _messages(count: int) -> list[bytes]:
    """Corpus mail made unique per copy (Message-ID and one body line), so none is a duplicate."""
    templates = [(CORPUS / name).read_bytes() for name in FORWARDED]
    out = []
    for i in range(count):
        raw = templates[i % len(templates)]
        raw = re.sub(rb"(?im)^message-id:.*$", f"Message-ID: <bench-{i}@handoff.bench>".encode(), raw, count=1)
        out.append(raw.replace(b"\r\n\r\n", f"\r\nX-Bench: {i}\r\n\r\n".encode(), 1))
    return out


def _send(port: int, batch: list[bytes]) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        for raw in batch:
            client.sendmail("sam@handoff-demo.com", ["tasks@handoff.local"], raw)


def _blast(port: int, messages: list[bytes]) -> float:
    """Seconds for CLIENTS concurrent smtplib connections to deliver every message."""
    batches = [messages[i::CLIENTS] for i in range(CLIENTS)]
    threads = [threading.Thread(target=_send, args=(port, batch)) for batch in batches]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def _discarding_sink_rate(messages: list[bytes]) -> float:
    """Baseline: aiosmtpd that accepts and drops every message (no fsync, no database)."""
    from aiosmtpd.controller import Controller

    class Drop:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    port = _free_port()
    controller = Controller(Drop(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        return len(messages) / _blast(port, messages)
    finally:
        controller.stop()


def _null_stage():
    from handoff.intake.worker import TaskStage

    class Nothing:
        name = "none"

        def extract(self, message, roster):
            return []

    class Recorded:
        created: list[str] = []
        updated: list[str] = []
        linked: list[str] = []

    return TaskStage(extractor=Nothing(), load_roster=lambda session: [], record_tasks=lambda session, **_: Recorded())


def _process_rate(parts, stage) -> tuple[float, int]:
    from handoff.intake.service import process_pending

    started = time.perf_counter()
    done = process_pending(parts, stage=stage)
    return done / (time.perf_counter() - started), done


def main() -> dict[str, Any]:
    from handoff.intake.service import counts, process_pending, receive_raw
    from handoff.intake.sources.smtp import smtp_inbox
    from handoff.intake.worker import TaskStage
    from handoff.settings import Settings
    from handoff.wiring import Parts

    messages = _messages(MESSAGES)
    baseline_rate = _discarding_sink_rate(messages)
    results: dict[str, Any] = {"messages": MESSAGES, "end_to_end_messages": END_TO_END, "smtp_clients": CLIENTS}
    with tempfile.TemporaryDirectory() as home:
        parts = Parts(Settings(home=Path(home), _env_file=None))
        parts.migrate()
        port = _free_port()
        inbox = smtp_inbox(parts, "127.0.0.1", port)
        inbox.start()
        try:
            seconds = _blast(port, messages)
        finally:
            inbox.stop()
        results["smtp_accepted_per_s"] = round(MESSAGES / seconds, 1)
        results["smtp_discarding_sink_per_s"] = round(baseline_rate, 1)

        null_rate, _ = _process_rate(parts, _null_stage())
        with parts.sessions() as session:
            intake_only = counts(session)
        if intake_only.get("failed"):  # a rate of messages that failed fast would be no measurement at all
            raise RuntimeError(f"intake-only pass failed {intake_only['failed']} messages: {intake_only}")
        results["ingest_intake_only_per_s"] = round(null_rate, 1)
        results["intake_only_by_status"] = intake_only
        parts.close()
    with tempfile.TemporaryDirectory() as home:
        # The same messages again in a fresh store, this time through the real extractor and task service.
        parts = Parts(Settings(home=Path(home), _env_file=None))
        parts.migrate()
        for raw in messages[:END_TO_END]:
            receive_raw(parts, raw, "bench")
        try:
            stage = TaskStage.real(parts.settings)
            # Load the models first so the numbers are the steady state a running worker sees (the extractor
            # only reaches for MiniLM on sentences its n-gram stage is unsure of, so warm that up explicitly).
            stage.extractor.extract(_warmup_text(), [])
            from handoff.extraction.embeddings import encode

            encode(["Could you send the revised statement of work by Friday?"])
            per_message = []
            started = time.perf_counter()
            while True:
                one = time.perf_counter()
                if not process_pending(parts, limit=1, stage=stage):
                    break
                per_message.append(time.perf_counter() - one)
            total = time.perf_counter() - started
            with parts.sessions() as session:
                results["by_status"] = counts(session)
            results["extractor"] = type(stage.extractor).__name__
            results["ingest_end_to_end_per_s"] = round(len(per_message) / total, 1)
            results["ingest_end_to_end_p95_ms"] = round(statistics.quantiles(per_message, n=20)[18] * 1000, 1)
        except Exception as error:  # the real extractor is missing or broken: say so instead of inventing a number
            results["extractor"] = f"unavailable: {type(error).__name__}: {str(error)[:200]}"
        parts.close()
    results["anchor"] = "product target: offline extraction >= 50 emails/s on 2 cores, p95 <= 150 ms per email"
    results["baseline"] = (
        "smtp: aiosmtpd that discards mail (no fsync, no DB); ingest: intake path with a no-op extractor"
    )
    _print(results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "intake-bench.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return results


def _warmup_text():
    from datetime import UTC, datetime

    from handoff.extraction.model import MessageText

    return MessageText(text="Please send the revised quote by Friday.", sent_at=datetime.now(UTC))


def _print(results: dict[str, Any]) -> None:
    rows = [
        (
            "SMTP accepted, durable (msg/s)",
            results.get("smtp_accepted_per_s"),
            results.get("smtp_discarding_sink_per_s"),
        ),
        ("ingest, intake path only (msg/s)", results.get("ingest_intake_only_per_s"), None),
        ("ingest end to end (msg/s)", results.get("ingest_end_to_end_per_s"), results.get("ingest_intake_only_per_s")),
        ("ingest end to end p95 (ms)", results.get("ingest_end_to_end_p95_ms"), None),
    ]
    print(f"{'measure':<36}{'value':>10}{'baseline':>12}")
    for name, value, baseline in rows:
        print(f"{name:<36}{value if value is not None else '-':>10}{baseline if baseline is not None else '-':>12}")
    print(f"extractor: {results.get('extractor')}; {results['anchor']}")


if __name__ == "__main__":
    main()
