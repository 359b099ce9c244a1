"""Embedding providers behind one small protocol; `create_embedder` picks one from settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from archon_mcp.config import Settings
from archon_mcp.embeddings._base import Embedder
from archon_mcp.embeddings._calibration import calibrate
from archon_mcp.embeddings._text import event_text, session_text

__all__ = ["Embedder", "calibrate", "create_embedder", "event_text", "local_embedder", "session_text"]


def create_embedder(settings: Settings, *, http_client: Any = None) -> Embedder:
    model = settings.resolved_embedding_model
    dimensions = settings.resolved_embedding_dimensions
    if settings.embedding_provider == "openai":
        from archon_mcp.embeddings._openai import OpenAIEmbedder

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return OpenAIEmbedder(
            model,
            dimensions,
            api_key=key,
            base_url=settings.openai_base_url,
            timeout=settings.embedding_timeout,
            http_client=http_client,
        )
    if settings.model_server and os.name == "posix":
        from archon_mcp.embeddings._shared import SharedModelEmbedder

        return SharedModelEmbedder(
            model,
            dimensions,
            data_dir=settings.data_dir,
            cache_dir=settings.model_cache_dir,
            runtime=settings.embedding_runtime,
            threads=settings.embedding_threads,
            idle=settings.model_server_idle,
            timeout=settings.embedding_timeout,
        )
    return local_embedder(
        model,
        dimensions,
        runtime=settings.embedding_runtime,
        threads=settings.embedding_threads,
        cache_dir=settings.model_cache_dir,
    )


def local_embedder(model: str, dimensions: int, *, runtime: str, threads: int, cache_dir: Path) -> Embedder:
    """The local model in this process: `auto` (OpenVINO where bfloat16 is native, else ONNX Runtime),
    `openvino`, `onnx` (ONNX Runtime) or `torch` (sentence-transformers)."""
    if runtime in ("auto", "openvino"):
        from archon_mcp.embeddings._openvino import AutoEmbedder, OpenVinoEmbedder

        kind = AutoEmbedder if runtime == "auto" else OpenVinoEmbedder
        return kind(model, dimensions, cache_dir=cache_dir, threads=threads)
    if runtime == "onnx":
        from archon_mcp.embeddings._onnx import OnnxEmbedder

        return OnnxEmbedder(model, dimensions, cache_dir=cache_dir, threads=threads)
    from archon_mcp.embeddings._local import LocalEmbedder

    return LocalEmbedder(model, dimensions, threads=threads)
