"""The resume context an agent gets back, its size budget, and its text form. Imported by the MCP tools and
prompts at start-up, so it must stay free of SQLAlchemy and the services."""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel, Field

CHARS_PER_TOKEN = 4


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


class LastSessionBrief(BaseModel):
    id: str
    project_id: str | None
    started_at: str
    ended_at: str | None
    is_active: bool
    summary: str | None = Field(description="The stored summary; null when the session was never summarised.")
    next_steps: list[str] = Field(description="From the stored summary, else derived from the session's events.")
    summary_status: str | None = Field(default=None, description="pending while a background summary runs.")


class OpenTask(BaseModel):
    title: str
    task_id: str | None
    session_id: str
    created_at: str


class RecentItem(BaseModel):
    text: str
    session_id: str
    at: str


class RelatedSession(BaseModel):
    id: str
    agent: str
    started_at: str
    summary: str
    similarity: float | None = Field(description="Calibrated similarity to the last session; null: by recency.")


class ResumeContext(BaseModel):
    """Everything a new session needs from the earlier ones, newest first, within `max_tokens`."""

    agent: str
    project_id: str | None
    found: bool = Field(description="False when the agent has no sessions (for this project).")
    last_session: LastSessionBrief | None
    open_tasks: list[OpenTask] = Field(description="Created but not completed, across the recent sessions.")
    recent_decisions: list[RecentItem] = Field(description="Newest first.")
    unresolved_errors: list[RecentItem] = Field(description="Newest first.")
    related_sessions: list[RelatedSession] = Field(
        description="Earlier sessions of the project: by meaning first (similarity), then the most recent."
    )
    sessions_scanned: int
    max_tokens: int
    estimated_tokens: int = Field(description="Size of this answer, estimated as characters / 4.")
    trimmed: dict[str, int] = Field(description="How many items of each list were left out to fit max_tokens.")


def estimate_tokens(context: ResumeContext) -> int:
    return math.ceil(len(context.model_dump_json()) / CHARS_PER_TOKEN)


# Dropped first when over budget, each list from its least important end (oldest / least related).
_TRIM_ORDER = ("related_sessions", "recent_decisions", "unresolved_errors", "open_tasks")


def fit_budget(context: ResumeContext) -> ResumeContext:
    """Trim deterministically until the answer fits `max_tokens`, and record what was cut."""
    trimmed = dict.fromkeys((*_TRIM_ORDER, "last_session_next_steps", "last_session_summary_chars"), 0)
    context.trimmed = trimmed
    for name in _TRIM_ORDER:
        items = getattr(context, name)
        while items and estimate_tokens(context) > context.max_tokens:
            items.pop()
            trimmed[name] += 1
    last = context.last_session
    if last is not None:
        while last.next_steps and estimate_tokens(context) > context.max_tokens:
            last.next_steps.pop()
            trimmed["last_session_next_steps"] += 1
        if last.summary and estimate_tokens(context) > context.max_tokens:
            excess = (estimate_tokens(context) - context.max_tokens) * CHARS_PER_TOKEN + 8
            keep = max(0, len(last.summary) - excess)
            trimmed["last_session_summary_chars"] = len(last.summary) - keep
            last.summary = last.summary[:keep] + "…"
    context.trimmed = {k: n for k, n in trimmed.items() if n}
    context.estimated_tokens = estimate_tokens(context)
    return context


def render_markdown(context: ResumeContext) -> str:
    """The resume context as text for the `resume` prompt."""
    lines = [
        f"# Resume context for {context.agent}" + (f" (project {context.project_id})" if context.project_id else "")
    ]
    if not context.found:
        lines.append("No earlier sessions: start fresh with archon_create_session.")
        return "\n".join(lines)
    last = context.last_session
    if last is not None:
        state = "still active" if last.is_active else f"ended {last.ended_at}"
        lines += ["", f"## Last session {last.id} (started {last.started_at}, {state})", last.summary or "(no summary)"]
        if last.next_steps:
            lines += ["", "Next steps:"] + [f"- {s}" for s in last.next_steps]
    sections = [
        ("Open tasks", [f"- {t.title}" + (f" (task {t.task_id})" if t.task_id else "") for t in context.open_tasks]),
        ("Recent decisions", [f"- {d.text}" for d in context.recent_decisions]),
        ("Unresolved errors", [f"- {e.text}" for e in context.unresolved_errors]),
        ("Related earlier sessions", [f"- {s.started_at}: {s.summary}" for s in context.related_sessions]),
    ]
    for title, items in sections:
        if items:
            lines += ["", f"## {title}", *items]
    if context.trimmed:
        lines += ["", "(trimmed to fit: " + json.dumps(context.trimmed) + ")"]
    lines += ["", "Continue from here: create a new session with archon_create_session and log events as you go."]
    return "\n".join(lines)
