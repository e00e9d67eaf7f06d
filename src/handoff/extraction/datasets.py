"""The labelled public corpora the action-item classifier learns from: one sentence, one label, one group."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LabelledSentences:
    """Sentences with a 0/1 "creates a task" label and the unit they must stay grouped by in CV (an email id)."""

    name: str
    sentences: list[str]
    labels: list[int]
    groups: list[str]

    def __len__(self) -> int:
        return len(self.sentences)


def load_parakweet(datasets_dir: Path) -> LabelledSentences:
    """Parakweet train split: `Yes` (request/propose/dated commit) vs `No`; sentences stand alone."""
    path = datasets_dir / "parakweet_email_intent" / "Ask0729-fixed.txt"
    sentences, labels = [], []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if "\t" not in line:
            continue
        label, sentence = line.split("\t", 1)
        sentences.append(sentence.strip())
        labels.append(1 if label.strip() == "Yes" else 0)
    return LabelledSentences("parakweet", sentences, labels, [f"p{i}" for i in range(len(sentences))])


def load_lin(datasets_dir: Path) -> LabelledSentences:
    """Lin et al. Enron email: a sentence is positive when any judged verb in it is a `Task`; grouped by email."""
    path = datasets_dir / "lin_enron_tasks" / "Dataset_email.csv"
    sentences, labels, groups = [], [], []
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for row in csv.DictReader(handle):
            text = (row.get("Sentence") or "").strip()
            if not text:
                continue
            tags = [tag.strip() for tag in (row.get("Task/Goal") or "").split(",")]
            sentences.append(text)
            labels.append(1 if "Task" in tags else 0)
            groups.append(f"lin{row['Email_id']}")
    return LabelledSentences("lin_enron_tasks", sentences, labels, groups)


def load_bc3(datasets_dir: Path) -> LabelledSentences:
    """BC3 W3C threads: positive when a majority (>= 2 of 3) voted Request, Propose or Commit; grouped by thread."""
    path = datasets_dir / "bc3_email_speech_acts" / "bc3_sentences.csv"
    sentences, labels, groups = [], [], []
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for row in csv.DictReader(handle):
            text = (row.get("text") or "").strip()
            if not text:
                continue
            votes = max(int(row["req_votes"] or 0), int(row["prop_votes"] or 0), int(row["cmt_votes"] or 0))
            sentences.append(text)
            labels.append(1 if votes >= 2 else 0)
            groups.append(f"bc3{row['listno']}")
    return LabelledSentences("bc3", sentences, labels, groups)


def load_all(datasets_dir: Path) -> list[LabelledSentences]:
    return [load_parakweet(datasets_dir), load_lin(datasets_dir), load_bc3(datasets_dir)]


REAL_DEV = "extraction_real_dev"


@dataclass(frozen=True)
class GoldMessage:
    """One message of extraction_real_dev: its id and kind, its raw mail or notes text, and its gold tasks."""

    id: str
    kind: str  # "email" or "notes"
    part: str  # "emails", "notes_en" or "notes_zh"
    text: str  # the raw RFC 822 mail, or the notes file
    sent_at: str | None
    tasks: list[dict]


def load_real_dev(datasets_dir: Path) -> list[GoldMessage]:
    """Real Enron mail and public minutes with gold tasks (GUIDELINES.md beside them says how they were labelled)."""
    import json
    import re

    root = datasets_dir / REAL_DEV
    gold_path = root / "gold.jsonl"
    if not gold_path.is_file():
        raise FileNotFoundError(f"{gold_path} is missing: set HANDOFF_DATASETS_DIR to the shared datasets folder")
    messages = []
    for line in gold_path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        gold = json.loads(line)
        if gold["kind"] == "email":
            text = (root / "emails" / f"{gold['id']}.eml").read_text(encoding="utf-8", errors="replace")
            part = "emails"
        else:
            text = (root / "notes" / f"{gold['id']}.md").read_text(encoding="utf-8", errors="replace")
            part = "notes_zh" if re.search(r"[\u4e00-\u9fff]", text[:4000]) else "notes_en"
        uid = f"{gold['kind']}-{gold['id']}"
        messages.append(GoldMessage(uid, gold["kind"], part, text, gold.get("sent_at"), gold.get("tasks") or []))
    return messages
