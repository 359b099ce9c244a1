"""Embedding providers behind one small protocol; `create_embedder` picks one from settings."""

from __future__ import annotations

from typing import Any

from archon_mcp.config import Settings
from archon_mcp.embeddings._base import Embedder
from archon_mcp.embeddings._calibration import calibrate
from archon_mcp.embeddings._text import event_text, session_text

__all__ = ["Embedder", "calibrate", "create_embedder", "event_text", "session_text"]


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
    from archon_mcp.embeddings._local import LocalEmbedder

    return LocalEmbedder(model, dimensions, threads=settings.embedding_threads)
