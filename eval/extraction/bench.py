"""`make bench` for extraction: offline extractor throughput (emails/s) and p95 latency per email on this machine."""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from eval.extraction.golden import load_cases, load_roster, message_of

RESULTS = Path(__file__).resolve().parents[1] / "results"
ROUNDS = 5


def main() -> dict[str, Any]:
    from handoff.extraction.embeddings import encode
    from handoff.extraction.offline import OfflineExtractor

    emails = [message_of(case) for case in load_cases() if case["kind"] == "email"]
    roster = load_roster()
    extractor = OfflineExtractor()
    extractor.extract(emails[0], roster)  # load the model and the artifact once, outside the timing
    latencies: list[float] = []
    cpu_ms: list[float] = []
    started = time.perf_counter()
    for _ in range(ROUNDS):
        for message in emails:
            t0, c0 = time.perf_counter(), time.process_time()
            extractor.extract(message, roster)
            latencies.append((time.perf_counter() - t0) * 1000)
            cpu_ms.append((time.process_time() - c0) * 1000)
    total = time.perf_counter() - started
    # The anchor: raw MiniLM sentence throughput on the same machine, now.
    sentences = [s for m in emails for s in m.text.split("\n") if len(s.split()) > 3][:256]
    t0 = time.perf_counter()
    encode(sentences)
    minilm_rate = len(sentences) / (time.perf_counter() - t0)
    result = {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus (shared with other work while measured)",
        "emails": len(emails) * ROUNDS,
        "emails_per_s": round(len(emails) * ROUNDS / total, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "p95_ms": round(float(np.percentile(latencies, 95)), 1),
        # CPU time is what contention inflates least: it says what the same work costs on idle cores.
        "cpu_ms_per_email_p50": round(float(np.percentile(cpu_ms, 50)), 1),
        "cpu_ms_per_email_p95": round(float(np.percentile(cpu_ms, 95)), 1),
        "emails_per_cpu_s": round(1000 * len(cpu_ms) / float(np.sum(cpu_ms)), 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "targets": {"emails_per_s": ">= 50", "p95_ms": "<= 150"},
        "anchor_minilm_sentences_per_s_now": round(minilm_rate, 1),
        "anchor_minilm_sentences_per_s_brief": 670,
    }
    # MiniLM is ~98 % of the time per email (profiled), so scaling by MiniLM's own slowdown right now estimates the
    # idle-machine figure. An estimate, not a measurement: it is labelled as such everywhere it is shown.
    slowdown = result["anchor_minilm_sentences_per_s_brief"] / max(minilm_rate, 1e-9)
    result["projected_idle_emails_per_s"] = round(result["emails_per_s"] * slowdown, 1)
    result["projected_idle_p95_ms"] = round(result["p95_ms"] / slowdown, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "extraction-bench.json").write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(f"offline extraction: {result['emails_per_s']} emails/s (target >= 50), p50 {result['p50_ms']} ms, "
          f"p95 {result['p95_ms']} ms (target <= 150)")  # fmt: skip
    print(f"CPU time per email: p50 {result['cpu_ms_per_email_p50']} ms, p95 {result['cpu_ms_per_email_p95']} ms "
          f"({result['emails_per_cpu_s']} emails per CPU-second); load {result['load_average_1m']}")  # fmt: skip
    print(f"projected to an idle machine (MiniLM at 670/s; an estimate, not measured): "
          f"{result['projected_idle_emails_per_s']} emails/s, p95 {result['projected_idle_p95_ms']} ms")  # fmt: skip
    print(f"anchor: MiniLM {result['anchor_minilm_sentences_per_s_now']} sentences/s now (brief: 670/s idle)")
    return result


if __name__ == "__main__":
    main()
