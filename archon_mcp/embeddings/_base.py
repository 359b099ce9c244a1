from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors. Implementations import heavy libraries lazily."""

    provider: str
    model: str
    dimensions: int

    async def embed(self, texts: list[str], *, background: bool = False) -> list[list[float]]:
        """One vector per text, in order, each of `dimensions` floats. Raises EmbeddingError.

        `background`: the embedding queue's batches, which may yield the CPU to requests (the local
        model runs them on a low-priority thread); a search's query vector is not background."""
        ...

    async def warmup(self) -> None:
        """Load whatever the first call would (a model, a client) so the first search is fast."""
        ...

    async def aclose(self) -> None: ...
