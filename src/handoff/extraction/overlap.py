"""How much two texts say the same: word tokens without stop words (Chinese as character bigrams), F1 and cover."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_STOP_TEXT = (
    "a an the to of and or for on in at by with from be is are was were will would could can please you your i we it "
    "this that me my our us as do have has if so not"
)
STOP_WORDS = frozenset(_STOP_TEXT.split())
CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_CJK_STOP = frozenset("的了和是在与及请将把被对为于也就都而并或")


def tokens(text: str | None) -> list[str]:
    """English words without stop words, then each Chinese run as character bigrams (a lone character alone)."""
    lowered = (text or "").lower()
    out = [word for word in re.findall(r"[a-z0-9]+", lowered) if word not in STOP_WORDS]
    for run in CJK_RUN.findall(lowered):
        run = "".join(ch for ch in run if ch not in _CJK_STOP)
        out += [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
    return out


def token_f1(predicted: str | None, gold: str | None) -> float:
    a, b = tokens(predicted), tokens(gold)
    if not a or not b:
        return 0.0
    common = sum(min(a.count(t), b.count(t)) for t in set(a))
    if not common:
        return 0.0
    precision, recall = common / len(a), common / len(b)
    return 2 * precision * recall / (precision + recall)


def evidence_cover(predicted: str | None, gold: str | None) -> float:
    """Share of the gold evidence's words the prediction holds, when at least 30 % of the prediction is on topic."""
    gold_words, predicted_words = set(tokens(gold)), set(tokens(predicted))
    if not gold_words or not predicted_words:
        return 0.0
    shared = len(gold_words & predicted_words)
    return shared / len(gold_words) if shared / len(predicted_words) >= 0.3 else 0.0


def pair_score(predicted: Mapping[str, Any], gold: Mapping[str, Any]) -> float:
    """How well a predicted task (title, evidence) says a gold one: the best of title F1, evidence cover and F1."""
    return max(
        token_f1(predicted.get("title"), gold.get("title")),
        evidence_cover(predicted.get("evidence"), gold.get("evidence")),
        token_f1(predicted.get("evidence"), gold.get("evidence")),
    )
