"""A fake OpenAI-compatible embeddings endpoint, plugged in through the openai client's own
HTTP transport hook (`http_client=openai.DefaultAsyncHttpxClient(transport=...)`)."""

from __future__ import annotations

import hashlib
import json
import math
import re

import httpx2
import openai


def bag_of_words_vector(text: str, dimensions: int) -> list[float]:
    """Deterministic stand-in for a model: texts sharing words get similar vectors."""
    vector = [0.0] * dimensions
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        vector[digest[0] % dimensions] += 1.0 if digest[1] % 2 else -1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class FakeEmbeddingsServer:
    """Behaves like /v1/embeddings; `mode` switches it between healthy and broken."""

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self.mode = "ok"  # ok | error500 | rate_limit | timeout | wrong_dimensions
        self.calls = 0
        self.inputs: list[list[str]] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.calls += 1
        body = json.loads(request.content)
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        self.inputs.append(texts)
        if self.mode == "error500":
            return httpx2.Response(500, json={"error": {"message": "upstream exploded", "type": "server_error"}})
        if self.mode == "rate_limit":
            return httpx2.Response(429, json={"error": {"message": "Rate limit reached", "type": "rate_limit"}})
        if self.mode == "timeout":
            raise httpx2.ReadTimeout("timed out", request=request)
        size = self.dimensions + (7 if self.mode == "wrong_dimensions" else 0)
        data = [
            {"object": "embedding", "index": i, "embedding": bag_of_words_vector(t, size)} for i, t in enumerate(texts)
        ]
        return httpx2.Response(
            200,
            json={
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )

    def http_client(self) -> openai.DefaultAsyncHttpxClient:
        return openai.DefaultAsyncHttpxClient(transport=httpx2.MockTransport(self.handle))
