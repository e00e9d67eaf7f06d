"""MiniLM runs once per distinct text of a batch (`embeddings.reused`), and its length-grouped batches change no
sentence's vector beyond float rounding."""

from __future__ import annotations

import numpy as np
import pytest

from handoff.extraction import embeddings
from handoff.extraction.embeddings import DIMENSIONS, encode, reused


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """`_run` replaced by a stand-in that records what MiniLM would have been asked, with one vector per text."""
    calls: list[list[str]] = []

    def fake_run(sentences: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        calls.append(list(sentences))
        vectors = np.zeros((len(sentences), DIMENSIONS), dtype=np.float32)
        for row, sentence in enumerate(sentences):
            vectors[row, hash(sentence) % DIMENSIONS] = 1.0
        return vectors

    monkeypatch.setattr(embeddings, "_run", fake_run)
    return calls


def test_inside_reused_each_distinct_text_is_embedded_once(counted: list[list[str]]) -> None:
    with reused():
        first = encode(["Send the SOW.", "Book the room.", "Send the SOW."])
        second = encode(["Book the room.", "Call Anna."])
    assert counted == [["Send the SOW.", "Book the room."], ["Call Anna."]]
    np.testing.assert_array_equal(first[0], first[2])
    np.testing.assert_array_equal(first[1], second[0])
    assert first.shape == (3, DIMENSIONS) and second.shape == (2, DIMENSIONS)


def test_nothing_is_remembered_outside_the_block(counted: list[list[str]]) -> None:
    with reused():
        encode(["Send the SOW."])
    encode(["Send the SOW.", "Send the SOW."])
    with reused():
        encode(["Send the SOW."])
    assert counted == [["Send the SOW."], ["Send the SOW.", "Send the SOW."], ["Send the SOW."]]


def test_length_grouped_batches_keep_each_vector_and_the_input_order() -> None:
    texts = [
        "Could you send the revised statement of work by Friday?",
        "Ok",
        "See https://example.com/a/very/long/path?with=query&and=more&tokens=abcdef0123456789 for the details.",
        "请在周五之前把报价单发给我们，谢谢。",
        "Please book the room.",
    ]
    together = encode(texts, batch_size=2)  # three batches, each of texts that are not neighbours in the input
    alone = np.vstack([encode([text]) for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert np.argmax(together @ alone.T, axis=1).tolist() == list(range(len(texts)))


def test_batches_hold_sentences_of_similar_length_each_once_in_order() -> None:
    lengths = [7, 233, 8, 9, 12, 30, 31, 7, 40, 10]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = list(embeddings._similar_lengths(order, lengths, batch_size=3))
    assert [i for batch in batches for i in batch] == order
    assert all(len(batch) <= 3 for batch in batches)
    for batch in batches:
        shortest, longest = lengths[batch[0]], lengths[batch[-1]]
        assert longest <= shortest * embeddings.PADDING_SLACK + 4
    assert [233] in [[lengths[i] for i in batch] for batch in batches]  # the long footer pads nobody else
