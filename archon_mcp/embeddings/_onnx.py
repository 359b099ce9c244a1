"""The same all-MiniLM-L6-v2 vectors on ONNX Runtime, without torch in the process.

The model is exported to ONNX once (`_export`, in a subprocess that does import torch) and cached
under the data dir; this module then needs only `onnxruntime`, `tokenizers` and `numpy`.
Tokenization follows sentence-transformers (`TextBatches`, shared with the OpenVINO runtime).
Vectors agree with sentence-transformers' to cosine
>= 0.9999 (checked when exporting, and by tests/test_onnx_runtime.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from archon_mcp.embeddings._local import _MALLOC_TRIM, ENCODE_BATCH, ThreadedEmbedder, _resolve_model_path
from archon_mcp.errors import EmbeddingError

log = logging.getLogger(__name__)

# Bump when the exported graph changes: the cache key includes it.
EXPORT_FORMAT = 1
EXPORT_TIMEOUT_SECONDS = 600.0


def onnx_supported(model_dir: Path) -> bool:
    """Whether the folder holds a model this export reproduces: a transformer, mean pooling, Normalize."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        return False
    types = [m.get("type", "").rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)]
    others = ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
    only_mean = pooling.get("pooling_mode_mean_tokens") is True and not any(pooling.get(k) for k in others)
    return types == ["Transformer", "Pooling", "Normalize"] and only_mean and (model_dir / "tokenizer.json").is_file()


def _cache_key(model_dir: Path) -> str:
    digest = hashlib.sha256(f"format={EXPORT_FORMAT}".encode())
    for name in ("config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json"):
        path = model_dir / name
        if path.is_file():
            stat = path.stat()
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def onnx_path(model_dir: Path, cache_dir: Path, name: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name.rsplit("/", 1)[-1])[:80]
    return cache_dir / f"{safe}-{_cache_key(model_dir)}.onnx"


def ensure_exported(model_dir: Path, cache_dir: Path, name: str) -> Path:
    """The cached ONNX file for `model_dir`, exported first if missing (one process at a time)."""
    path = onnx_path(model_dir, cache_dir, name)
    if path.is_file():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _file_lock(path.with_name(path.name + ".lock")):
        if path.is_file():  # another process exported it while we waited
            return path
        log.info("exporting %s to ONNX (once; cached in %s)", model_dir.name, cache_dir)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "archon_mcp.embeddings._export", str(model_dir), str(path)],
                capture_output=True,
                text=True,
                timeout=EXPORT_TIMEOUT_SECONDS,
                env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EmbeddingError(f"could not export the model to ONNX: {exc}") from exc
        if done.returncode != 0 or not path.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise EmbeddingError(
                "could not export the model to ONNX (it needs torch and transformers, from the `local` extra), "
                f"or set ARCHON_EMBEDDING_RUNTIME=torch: {' | '.join(tail)}"
            )
    return path


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: exports may race; os.replace keeps the file whole either way
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class TextBatches:
    """sentence-transformers' tokenization: the model's tokenizer.json, truncated at its `max_seq_length`
    (256 for MiniLM), padded to the longest text of each batch. Texts go longest first, so a batch pads little."""

    def __init__(self, model_dir: Path) -> None:
        import numpy as np
        from tokenizers import Tokenizer

        self._np = np
        max_length = 256
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            max_length = int(json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tokenizer.enable_truncation(max_length)
        pad_id = tokenizer.token_to_id("[PAD]") or 0
        tokenizer.enable_padding(pad_id=pad_id, pad_token="[PAD]")  # to the longest text of the batch
        self._tokenizer = tokenizer

    def __call__(
        self, texts: list[str], batch_size: int, inputs: set[str]
    ) -> Iterator[tuple[list[int], dict[str, Any]]]:
        """(positions in `texts`, the model's input arrays) per batch."""
        np = self._np
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            encoded = self._tokenizer.encode_batch([texts[i] for i in chunk])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64)}
            if "token_type_ids" in inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            yield chunk, feed


class OnnxModel:
    """Tokenizer + ONNX Runtime session: texts in, normalised vectors out (thread-safe)."""

    runtime = "onnx"

    def __init__(self, model_dir: Path, onnx_file: Path, *, threads: int) -> None:
        import onnxruntime as ort

        self._batches = TextBatches(model_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads would otherwise spin on the cores a request needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No arena: it keeps the peak of the largest batch (16 texts x 256 tokens: ~410 MB resident instead
        # of ~160 MB); plain malloc gives it back (malloc_trim after each batch). Throughput: no measurable change.
        options.enable_cpu_mem_arena = False
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dimensions = int(self._session.get_outputs()[0].shape[-1])

    def encode(
        self, texts: list[str], batch_size: int = ENCODE_BATCH, *, background: bool = False
    ) -> list[list[float]]:
        out: list[list[float]] = [[] for _ in texts]
        for chunk, feed in self._batches(texts, batch_size, self._inputs):
            vectors = self._session.run(None, feed)[0]
            for i, vector in zip(chunk, vectors, strict=True):
                out[i] = vector.tolist()
        return out


class OnnxEmbedder(ThreadedEmbedder):
    """The local model on ONNX Runtime; same threads and priorities as `LocalEmbedder`."""

    def __init__(self, model: str, dimensions: int, *, cache_dir: Path, threads: int = 1) -> None:
        super().__init__(model, dimensions, threads)
        self.cache_dir = cache_dir

    def _runtime(self, model_dir: Path, onnx_file: Path) -> Any:
        """The model to run the export on: ONNX Runtime here, OpenVINO in `_openvino`."""
        try:
            return OnnxModel(model_dir, onnx_file, threads=self.threads)
        except ImportError as exc:
            raise EmbeddingError(
                "the ONNX runtime needs onnxruntime: pip install 'archon-mcp[local]', "
                "or set ARCHON_EMBEDDING_RUNTIME=torch"
            ) from exc

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                model_dir = Path(_resolve_model_path(self.model))
                if not onnx_supported(model_dir):
                    raise EmbeddingError(
                        f"model {self.model!r} cannot run on ONNX here (it needs a transformer with mean pooling "
                        "and normalisation, and a tokenizer.json): set ARCHON_EMBEDDING_RUNTIME=torch"
                    )
                onnx_file = ensure_exported(model_dir, self.cache_dir, self.model)
                model = self._runtime(model_dir, onnx_file)
                if model.dimensions != self.dimensions:
                    raise EmbeddingError(
                        f"local model {self.model!r} makes {model.dimensions}-dimensional vectors but "
                        f"ARCHON_EMBEDDING_DIMENSIONS is {self.dimensions}"
                    )
                self._model = model
                log.info("local model %s on %s", self.model, model.runtime)
                if _MALLOC_TRIM is not None:
                    _MALLOC_TRIM(0)
            return self._model

    def _encode(self, texts: list[str], background: bool = False) -> list[list[float]]:
        vectors = self._load().encode(texts, background=background)
        if _MALLOC_TRIM is not None:
            _MALLOC_TRIM(0)
        return vectors
