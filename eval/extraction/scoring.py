"""Task-level scores of extracted tasks against gold tasks, by the rules of extraction_real_dev's README and GUIDELINES.

A predicted task matches a gold task when their titles' token F1 is at least 0.5 (English words without stop words,
Chinese as character bigrams) or the predicted evidence covers the gold evidence; each gold task matches at most one
prediction, best pairs first. Optional gold tasks are neither owed nor punished. `recipient` and `sender` assignees are
resolved against the mail's To/Cc and From.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email import message_from_string
from email.utils import getaddresses
from typing import Any

from handoff.extraction.overlap import CJK_RUN, pair_score, tokens

MATCH_BAR = 0.5


def _people(raw: str | None, *headers: str) -> list[tuple[str, str]]:
    if not raw:
        return []
    message = message_from_string(raw)
    found: list[tuple[str, str]] = []
    for header in headers:
        found += [(name or "", address or "") for name, address in getaddresses(message.get_all(header, []))]
    return found


def assignee_matches(predicted: str | None, gold: str, raw: str | None) -> bool:
    """`recipient` resolves against To/Cc, `sender` against From, a name against itself; any shared name token."""
    if not predicted:
        return False
    if gold == "sender":
        candidates = _people(raw, "From")
    elif gold == "recipient":
        candidates = _people(raw, "To", "Cc")
    else:
        candidates = [(gold, gold)]
    predicted_tokens = set(tokens(predicted.replace("@", " ").replace(".", " ")))
    for name, address in candidates:
        text = f"{name} {address.split('@')[0]}".replace(".", " ").replace("_", " ")
        wanted = {t for t in tokens(text) if len(t) >= 3 or CJK_RUN.fullmatch(t)}
        if wanted & predicted_tokens:
            return True
    return False


@dataclass
class Tally:
    """Counts over the documents of one part; `rates()` turns them into the reported numbers."""

    docs: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    due_ok: int = 0
    due_n: int = 0
    assignee_ok: int = 0
    assignee_n: int = 0
    negatives_empty: int = 0
    negatives: int = 0
    misses: list[dict[str, Any]] = field(default_factory=list)
    false_alarms: list[dict[str, Any]] = field(default_factory=list)

    def rates(self) -> dict[str, Any]:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

        def share(ok: int, n: int) -> float | None:
            return round(ok / n, 3) if n else None

        return {
            "docs": self.docs,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(precision, 3),
            "recall": round(recall, 3),
            "f1": round(f1, 3),
            "due_accuracy": share(self.due_ok, self.due_n),
            "assignee_accuracy": share(self.assignee_ok, self.assignee_n),
            "task_free_kept_empty": share(self.negatives_empty, self.negatives),
        }


def score_document(tally: Tally, gold: Mapping[str, Any], predicted: Sequence[Mapping[str, Any]]) -> None:
    """Adds one document's matches to `tally`; unmatched required gold tasks and unmatched predictions are kept."""
    gold_tasks = list(gold.get("tasks") or [])
    raw = gold.get("raw")
    required = [task for task in gold_tasks if not task.get("optional")]
    tally.docs += 1
    if not required:
        tally.negatives += 1
        tally.negatives_empty += not predicted
    pairs = sorted(
        ((pair_score(p, g), i, j) for i, p in enumerate(predicted) for j, g in enumerate(gold_tasks)), reverse=True
    )
    used_predicted: set[int] = set()
    used_gold: set[int] = set()
    for value, i, j in pairs:
        if value < MATCH_BAR or i in used_predicted or j in used_gold:
            continue
        used_predicted.add(i)
        used_gold.add(j)
        p, g = predicted[i], gold_tasks[j]
        if g.get("due"):
            tally.due_n += 1
            tally.due_ok += str(p.get("due") or "")[:10] == g["due"][:10]
        if g.get("assignee"):
            tally.assignee_n += 1
            tally.assignee_ok += assignee_matches(p.get("assignee"), g["assignee"], raw)
    matched_required = sum(1 for j in used_gold if not gold_tasks[j].get("optional"))
    tally.tp += matched_required
    tally.fp += len(predicted) - len(used_predicted)
    tally.fn += len(required) - matched_required
    doc = gold.get("id")
    tally.misses += [
        {"doc": doc, "title": g.get("title"), "evidence": g.get("evidence")}
        for j, g in enumerate(gold_tasks)
        if j not in used_gold and not g.get("optional")
    ]
    tally.false_alarms += [
        {"doc": doc, "title": p.get("title"), "evidence": p.get("evidence")}
        for i, p in enumerate(predicted)
        if i not in used_predicted
    ]


def score_parts(
    golds: Iterable[Mapping[str, Any]], predictions: Mapping[str, Sequence[Mapping[str, Any]]]
) -> dict[str, Tally]:
    """One tally per `part` of the gold documents; a document without a prediction counts as no tasks."""
    tallies: dict[str, Tally] = {}
    for gold in golds:
        tally = tallies.setdefault(str(gold["part"]), Tally())
        score_document(tally, gold, predictions.get(str(gold["id"]), []))
    return tallies
