"""The summary prompt and parsing of a model's answer into the validated draft (`schemas.SummaryDraft`).
Imported by the MCP tools at start-up, so it must stay free of SQLAlchemy and the services."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from archon_mcp.config import SummaryMethod
from archon_mcp.schemas import (
    MAX_ITEM_CHARS,
    MAX_ITEMS,
    MAX_SUMMARY_TEXT,
    SUMMARY_METHODS,
    MethodAttempt,
    SessionSummary,
    SummaryDraft,
)

METHODS: tuple[SummaryMethod, ...] = SUMMARY_METHODS
__all__ = [
    "MAX_ITEMS",
    "MAX_ITEM_CHARS",
    "MAX_SUMMARY_TEXT",
    "METHODS",
    "SUMMARY_JSON_SCHEMA",
    "SYSTEM_PROMPT",
    "MethodAttempt",
    "SampledAnswer",
    "SessionSummary",
    "SummaryDraft",
    "SummaryFormatError",
    "parse_draft",
]


class SummaryFormatError(ValueError):
    """A model answered something that is not a usable summary."""


SUMMARY_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string", "description": "2-5 specific, searchable sentences: what was done and why."},
        "key_events": {"type": "array", "items": {"type": "string"}, "description": "Notable events, in order."},
        "decisions": {"type": "array", "items": {"type": "string"}, "description": "Decisions and their reasons."},
        "outcomes": {"type": "array", "items": {"type": "string"}, "description": "Finished work and results."},
        "next_steps": {"type": "array", "items": {"type": "string"}, "description": "Open tasks, unresolved errors."},
    },
    "required": ["summary", "key_events", "decisions", "outcomes", "next_steps"],
    "additionalProperties": False,
}

_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


def parse_draft(answer: str | None) -> SummaryDraft:
    """A model's answer -> a validated draft; SummaryFormatError when it is not one."""
    if not answer or not answer.strip():
        raise SummaryFormatError("the answer was empty")
    text = _FENCE.sub("", answer.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise SummaryFormatError("the answer held no JSON object")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise SummaryFormatError(f"the answer was not valid JSON ({exc.msg})") from exc
    try:
        return SummaryDraft.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()[:3])
        raise SummaryFormatError(f"the answer did not match the summary schema ({problems})") from exc


SYSTEM_PROMPT = (
    "You summarise an AI agent's work session for its future self. Answer with one JSON object only, no prose, "
    'with keys "summary" (2-5 specific sentences naming files, features and errors, so it is searchable), '
    '"key_events", "decisions" (with reasons), "outcomes" (finished work) and "next_steps" (open tasks and '
    "unresolved errors): each a list of short strings. Use only facts from the events."
)


@dataclass
class SampledAnswer:
    """What MCP sampling produced before the tool ran (2026-07-28 clients answer between rounds)."""

    draft: SummaryDraft | None
    detail: str
    model: str | None = None


# (system prompt, user prompt) -> the model's answer text.
ChatModel = Callable[[str, str], Awaitable[str]]


@dataclass(frozen=True)
class Sampling:
    """What MCP sampling of the client's own model offers one summary: a model to ask directly
    (`sampler`, handshake-era clients), an answer the client already gave (`answer`, 2026-07-28
    clients), or neither, and why (`unavailable`, reported in `attempts`)."""

    sampler: ChatModel | None = None
    answer: SampledAnswer | None = None
    unavailable: str = "no MCP client request to sample from"


NO_SAMPLING = Sampling()
