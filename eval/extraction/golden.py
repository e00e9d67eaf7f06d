"""The in-repo golden cases: loading, and task-level scoring of any extractor against them."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from handoff.extraction.model import MessageText, TaskDraft, TeamMember

CASES_DIR = Path(__file__).parent / "cases"


def load_roster() -> list[TeamMember]:
    rows = yaml.safe_load((CASES_DIR / "roster.yaml").read_text(encoding="utf-8"))
    return [TeamMember(r["id"], r["name"], r.get("email"), tuple(r.get("aliases") or ())) for r in rows]


DEVELOPMENT_FILES = ("emails_en.yaml", "emails_zh.yaml", "notes.yaml")
HOLDOUT_FILES = ("holdout.yaml",)


def load_cases(files: tuple[str, ...] = DEVELOPMENT_FILES) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for name in files:
        for case in yaml.safe_load((CASES_DIR / name).read_text(encoding="utf-8")):
            case["file"] = name
            cases.append(case)
    return cases


def message_of(case: dict[str, Any]) -> MessageText:
    return MessageText(
        text=case["text"],
        sent_at=datetime.fromisoformat(case["sent_at"]),
        kind=case["kind"],
        sender=case.get("sender"),
        recipients=tuple(case.get("recipients") or ()),
        subject=case.get("subject"),
    )


def _norm(text: str | None) -> str:
    return re.sub(r"\s+", " ", (text or "")).strip().lower()


def _same_person(gold: str | None, predicted: str | None) -> bool:
    if gold is None or predicted is None:
        return gold is None and predicted is None
    g, p = _norm(gold), _norm(predicted)
    # A name as written matches by its first word ("Dana" vs "Dana Wu"); roster ids must be equal.
    return g == p or (not g.startswith("u_") and (p.startswith(g) or g.startswith(p)))


def score(cases: Sequence[dict[str, Any]], extract: Callable[[dict[str, Any]], list[TaskDraft]]) -> dict[str, Any]:
    """Task P/R/F1 (gold evidence fragment inside the predicted evidence) and field accuracy on matched tasks."""
    true_positive = false_positive = false_negative = 0
    due_right = assignee_right = priority_right = matched = 0
    misses: list[dict[str, Any]] = []
    by_slice: dict[str, dict[str, int]] = {}
    for case in cases:
        predicted = extract(case)
        used: set[int] = set()
        slice_counts = by_slice.setdefault(case["file"], {"tp": 0, "fp": 0, "fn": 0})
        for gold in case["tasks"]:
            fragment = _norm(gold["evidence"])
            hit = next(
                (i for i, draft in enumerate(predicted) if i not in used and fragment in _norm(draft.evidence)), None
            )
            if hit is None:
                false_negative += 1
                slice_counts["fn"] += 1
                misses.append({"case": case["id"], "missed": gold["evidence"]})
                continue
            used.add(hit)
            draft = predicted[hit]
            true_positive += 1
            slice_counts["tp"] += 1
            matched += 1
            due = draft.due.value.isoformat() if draft.due.value else None
            due_right += due == gold.get("due")
            assignee_right += _same_person(gold.get("assignee"), draft.assignee.value)
            priority_right += draft.priority.value == gold.get("priority", "normal")
            if due != gold.get("due") or not _same_person(gold.get("assignee"), draft.assignee.value):
                misses.append(
                    {"case": case["id"], "field_miss": gold["evidence"][:50], "due": [gold.get("due"), due],
                     "assignee": [gold.get("assignee"), draft.assignee.value]}
                )  # fmt: skip
        extra = [d for i, d in enumerate(predicted) if i not in used]
        false_positive += len(extra)
        slice_counts["fp"] += len(extra)
        misses.extend({"case": case["id"], "spurious": d.evidence[:80]} for d in extra)
    precision = true_positive / (true_positive + false_positive) if true_positive + false_positive else 0.0
    recall = true_positive / (true_positive + false_negative) if true_positive + false_negative else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    def f1_of(counts: dict[str, int]) -> float:
        p = counts["tp"] / (counts["tp"] + counts["fp"]) if counts["tp"] + counts["fp"] else 0.0
        r = counts["tp"] / (counts["tp"] + counts["fn"]) if counts["tp"] + counts["fn"] else 0.0
        return round(2 * p * r / (p + r), 4) if p + r else 0.0

    return {
        "cases": len(cases),
        "gold_tasks": true_positive + false_negative,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "due_accuracy": round(due_right / matched, 4) if matched else None,
        "assignee_accuracy": round(assignee_right / matched, 4) if matched else None,
        "priority_accuracy": round(priority_right / matched, 4) if matched else None,
        "f1_by_file": {name: f1_of(counts) for name, counts in by_slice.items()},
        "errors": misses,
    }
