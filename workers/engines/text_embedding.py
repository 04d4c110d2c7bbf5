"""Sentence embeddings with sentence-transformers, from a local model directory, on the CPU.

The hub is never contacted: ``HF_HUB_OFFLINE`` is set before the library is imported and the
model is loaded with ``local_files_only``.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BATCH_SIZE = 32


class SentenceEmbedder:
    """A sentence-transformers model (TextEmbedder): one L2-normalised float32 row per text."""

    def __init__(self, model: SentenceTransformer, *, model_id: str) -> None:
        self._model: SentenceTransformer | None = model
        self.model_id = model_id
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dimensions = int(dimension() or 0)
        self.max_tokens: int | None = model.max_seq_length
        """Longer inputs are truncated to this many tokens."""

    @classmethod
    def load(cls, path: Path, *, model_id: str, device: str = "cpu") -> SentenceEmbedder:
        """Load a sentence-transformers model directory (``modules.json`` and its modules)."""
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a sentence-transformers model directory")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(path), device=device, local_files_only=True)
        model.eval()
        return cls(model, model_id=model_id)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        model = self._loaded()
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = model.encode(
            list(texts),
            batch_size=BATCH_SIZE,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Tokens the model's tokenizer makes of ``text`` (special tokens included)."""
        tokenizer = self._loaded().tokenizer
        return len(tokenizer(text)["input_ids"])

    def _loaded(self) -> SentenceTransformer:
        if self._model is None:
            raise RuntimeError(f"{self.model_id} is closed")
        return self._model

    def close(self) -> None:
        self._model = None
        gc.collect()
