"""The committed classifier artifact (small, pickle-free, sensible) and the training recipe (reproducible)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from handoff.extraction.classifier import ARTIFACT_DIR, committed_classifier, load_classifier
from handoff.extraction.datasets import load_lin, load_parakweet
from handoff.extraction.embeddings import encode
from handoff.extraction.training import fit_classifier


def test_artifact_is_small_safe_and_carries_its_card() -> None:
    weights = ARTIFACT_DIR / "action_items.npz"
    assert weights.stat().st_size < 1_000_000
    with np.load(weights, allow_pickle=False) as data:  # raises if anything in it needs pickle
        assert set(data.files) == {"dense_coef", "mean", "scale", "ngram_coef", "idf", "intercepts"}
    card = json.loads((ARTIFACT_DIR / "action_items.json").read_text("utf-8"))
    assert card["cv_metrics"]["parakweet"]["in_domain"]["ours"]["f1"] > 0
    assert (ARTIFACT_DIR / "MODEL_CARD.md").exists()


def test_requests_score_above_statements() -> None:
    """Behaviour (minimum functionality and direction), not accuracy: that is measured by `make eval`."""
    requests = [
        "Could you send me the contract by Friday?",
        "Please review the attached deck.",
        "I'll call you tomorrow.",
    ]
    statements = ["The weather was lovely in Lisbon.", "Our revenue grew last quarter.", "Thanks for your help!"]
    model = committed_classifier()
    texts = requests + statements
    probabilities = model.probabilities(texts, encode(texts))
    assert probabilities[:3].min() > model.threshold > probabilities[3:].max()


@pytest.mark.slow  # trains the classifier twice
def test_training_is_reproducible_and_round_trips(tmp_path: Path, datasets_dir: Path) -> None:
    corpus = load_parakweet(datasets_dir)
    sentences, labels = corpus.sentences[::25], corpus.labels[::25]  # a tiny slice: the test stays fast
    vectors = encode(sentences)
    first = fit_classifier(sentences, vectors, labels)
    second = fit_classifier(sentences, vectors, labels)
    np.testing.assert_array_equal(first.ngram_coef, second.ngram_coef)
    np.testing.assert_allclose(first.dense_coef, second.dense_coef)
    first.save(tmp_path)
    loaded = load_classifier(tmp_path)
    np.testing.assert_allclose(
        loaded.probabilities(sentences[:5], vectors[:5]), first.probabilities(sentences[:5], vectors[:5]), rtol=1e-5
    )


def test_lin_labels_are_grouped_by_email(datasets_dir: Path) -> None:
    corpus = load_lin(datasets_dir)
    assert len(corpus) == 6418 and sum(corpus.labels) == 1649
    assert len(set(corpus.groups)) == 1000
