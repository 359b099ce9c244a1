"""What a summary is, independent of the database: the validated draft every method must produce, the
tool's answer, the prompt, and parsing of a model's answer. Imported by the MCP tools at start-up, so it
must stay free of SQLAlchemy and the services."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from archon_mcp.config import SummaryMethod
from archon_mcp.schemas import SessionOut

METHODS: tuple[SummaryMethod, ...] = ("sampling", "openai", "extractive")
MAX_ITEMS = 12  # per list in a summary
MAX_ITEM_CHARS = 300
MAX_SUMMARY_TEXT = 2000


class SummaryFormatError(ValueError):
    """A model answered something that is not a usable summary."""


# --- the summary a method must produce ----------------------------------------------------------------
def _clean_item(value: str) -> str:
    text = " ".join(value.split())
    return text if len(text) <= MAX_ITEM_CHARS else text[: MAX_ITEM_CHARS - 1] + "…"


class SummaryDraft(BaseModel):
    """What every method returns, validated: models that answer anything else are not stored."""

    model_config = ConfigDict(extra="ignore")

    summary: str = Field(min_length=10, max_length=MAX_SUMMARY_TEXT * 2)
    key_events: list[str] = Field(default_factory=list, max_length=50)
    decisions: list[str] = Field(default_factory=list, max_length=50)
    outcomes: list[str] = Field(default_factory=list, max_length=50)
    next_steps: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("summary")
    @classmethod
    def _summary(cls, value: str) -> str:
        text = " ".join(value.split())
        if len(text) < 10:
            raise ValueError("summary is empty")
        return text[:MAX_SUMMARY_TEXT]

    @field_validator("key_events", "decisions", "outcomes", "next_steps")
    @classmethod
    def _items(cls, value: list[str]) -> list[str]:
        cleaned = [_clean_item(item) for item in value]
        return [item for item in cleaned if item][:MAX_ITEMS]


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


# --- what the tool returns ----------------------------------------------------------------------------
class MethodAttempt(BaseModel):
    method: SummaryMethod
    outcome: Literal["used", "failed", "skipped"]
    detail: str = Field(description="Why it was skipped or failed, or which model answered.")


class SessionSummary(BaseModel):
    """A structured session summary and how it was made."""

    session_id: str
    summary: str
    key_events: list[str]
    decisions: list[str]
    outcomes: list[str]
    next_steps: list[str]
    method: SummaryMethod = Field(description="sampling (the client's model), openai (chat model) or extractive.")
    model: str | None = Field(default=None, description="The model that wrote it, when a model did.")
    events_total: int = Field(description="Events the session has.")
    events_read: int = Field(description="Events the summary was made from (long sessions: first and last ones).")
    chunks: int = Field(description="Model calls in the map step (1: the whole session fitted in one call).")
    attempts: list[MethodAttempt] = Field(description="Every method considered, in order.")
    stored: bool = Field(description="True when saved as the session's summary (and re-embedded).")
    session: SessionOut | None = Field(default=None, description="The updated session, when stored.")


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
