"""OpenAI or any OpenAI-compatible embeddings endpoint (Ollama, vLLM, LiteLLM...)."""

from __future__ import annotations

from typing import Any

from archon_mcp.errors import EmbeddingError

# Models that accept the `dimensions` argument (the text-embedding-3 family).
_SHORTENABLE = ("text-embedding-3-small", "text-embedding-3-large")


class OpenAIEmbedder:
    provider = "openai"

    def __init__(
        self,
        model: str,
        dimensions: int,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        http_client: Any = None,
    ) -> None:
        import openai

        self.model = model
        self.dimensions = dimensions
        self._client = openai.AsyncOpenAI(
            # Local servers such as Ollama ignore the key but the client insists on one.
            api_key=api_key or ("unused" if base_url else None),
            base_url=base_url,
            timeout=timeout,
            max_retries=0,  # the embedding worker owns retries and backoff
            http_client=http_client,
        )

    async def embed(self, texts: list[str], *, background: bool = False) -> list[list[float]]:
        import openai

        if not texts:
            return []
        kwargs: dict[str, Any] = {}
        if self.model in _SHORTENABLE:
            kwargs["dimensions"] = self.dimensions
        try:
            response = await self._client.embeddings.create(model=self.model, input=texts, **kwargs)
        except openai.OpenAIError as exc:
            raise EmbeddingError(f"embedding request to {self.model!r} failed: {exc}") from exc
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(texts):
            raise EmbeddingError(f"asked for {len(texts)} embeddings, got {len(data)}")
        vectors = [list(item.embedding) for item in data]
        for vector in vectors:
            if len(vector) != self.dimensions:
                raise EmbeddingError(
                    f"model {self.model!r} returned {len(vector)}-dimensional vectors, expected "
                    f"{self.dimensions}: set ARCHON_EMBEDDING_DIMENSIONS to the model's size"
                )
        return vectors

    async def warmup(self) -> None:
        return None

    async def aclose(self) -> None:
        await self._client.close()
