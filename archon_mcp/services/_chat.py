"""A chat model for summaries: an OpenAI-compatible endpoint asked for JSON-schema structured output."""

from __future__ import annotations

import logging
from typing import Any

from archon_mcp.config import Settings
from archon_mcp.services.summary_format import (
    SUMMARY_JSON_SCHEMA,
    SummaryFormatError,
)

log = logging.getLogger(__name__)


# --- chat model over the OpenAI API ---------------------------------------------------------------------
class OpenAIChat:
    """An OpenAI-compatible chat endpoint asked for JSON-schema structured output."""

    def __init__(self, settings: Settings, *, http_client: Any = None) -> None:
        import openai

        key = settings.summarizer_api_key or settings.openai_api_key
        base_url = settings.summarizer_base_url or settings.openai_base_url
        assert settings.summarizer_model is not None
        self.model = settings.summarizer_model
        self._max_tokens = settings.summarizer_max_tokens
        self._client = openai.AsyncOpenAI(
            api_key=key.get_secret_value() if key else ("unused" if base_url else None),
            base_url=base_url,
            timeout=settings.summarizer_timeout,
            max_retries=0,  # a failure falls through to the next method instead
            http_client=http_client,
        )

    async def __call__(self, system: str, user: str) -> str:
        response = await self._client.chat.completions.create(
            model=self.model,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "session_summary", "strict": True, "schema": SUMMARY_JSON_SCHEMA},
            },
            max_tokens=self._max_tokens,
            temperature=0,
        )
        if not response.choices:
            raise SummaryFormatError("the chat model returned no choices")
        return response.choices[0].message.content or ""

    async def aclose(self) -> None:
        await self._client.close()
