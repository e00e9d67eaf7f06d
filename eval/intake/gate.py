"""The spam and bulk gate's header rules on the public spam/ham corpus: the share of spam that would reach
extraction and the share of ham quarantined as spam, with the corpora's leftover verdict headers as shipped and
masked (the corpus README warns that upstream filters' headers make a header gate look better than it is).

Run: `python -m eval.run gate`. Writes `eval/results/gate-eval.json`. Rules only, nothing learned: no CV is needed;
the content classifier (the gate's `content_score` hook) is measured by its own eval."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

from handoff.intake.reading import read_email
from handoff.settings import Settings

RESULTS = Path(__file__).resolve().parents[1] / "results"
# The README's list of upstream verdict headers; masked by renaming, so the rest of the message is untouched.
_VERDICT = re.compile(
    rb"^(X-Spam-[\w-]*|X-Spamd-Result|X-Rspamd-[\w-]*|X-Spam|X-AmavisStatus|XStatus|X-DSPAM-[\w-]*|X-Bogosity|"
    rb"X-Barracuda-Spam-[\w-]*):",
    re.IGNORECASE | re.MULTILINE,
)


def _mask(raw: bytes) -> bytes:
    split = re.search(rb"\r?\n\r?\n", raw)
    head, body = (raw[: split.start()], raw[split.start() :]) if split else (raw, b"")
    return _VERDICT.sub(rb"X-Masked-\1:", head) + body


def _outcome(raw: bytes) -> str:
    reading = read_email(raw)
    if reading.rejection:
        return "rejected"
    return reading.verdict.outcome if reading.verdict else "accepted"


def main() -> None:
    corpus = Settings().datasets_dir / "mail_spam_ham"
    rows = list(csv.DictReader((corpus / "labels.csv").open(encoding="utf-8")))
    report: dict[str, dict] = {}
    for variant, transform in (("as_shipped", lambda raw: raw), ("verdict_headers_masked", _mask)):
        by_class: dict[str, Counter] = {}
        by_label: dict[str, Counter] = {}  # the source corpus's own label: spam (phishing too) or ham (bulk too)
        for row in rows:
            outcome = _outcome(transform((corpus / row["path"]).read_bytes()))
            by_class.setdefault(row["klass"], Counter())[outcome] += 1
            by_label.setdefault(row["label"], Counter())[outcome] += 1
        summary = {}
        for klass, counts in sorted(by_class.items()):
            total = sum(counts.values())
            summary[klass] = {"n": total, **{k: round(v / total, 4) for k, v in sorted(counts.items())}}
        spam, ham = by_label.get("spam", Counter()), by_label.get("ham", Counter())
        summary["spam_and_phishing_reaching_extraction"] = round(spam["accepted"] / max(1, sum(spam.values())), 4)
        summary["ham_quarantined_as_spam"] = round(ham["spam"] / max(1, sum(ham.values())), 4)
        report[variant] = summary
    report["targets"] = {"spam_creating_tasks_at_most": 0.03, "ham_quarantined_at_most": 0.005}
    report["note"] = (
        "header rules only (no spam filter, no content score); list mail labelled ham is `bulk` by policy; "
        "spam that reaches extraction may still yield no task"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gate-eval.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for variant in ("as_shipped", "verdict_headers_masked"):
        summary = report[variant]
        print(
            f"{variant:>24}: spam+phishing reaching extraction {summary['spam_and_phishing_reaching_extraction']:.1%}"
            f" (target <= 3%), ham quarantined {summary['ham_quarantined_as_spam']:.1%} (target <= 0.5%)"
        )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
