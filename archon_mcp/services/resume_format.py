"""The resume context an agent gets back, its size budget, and its text form. Imported by the MCP tools and
prompts at start-up, so it must stay free of SQLAlchemy and the services."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from archon_mcp.schemas import LastSessionBrief, OpenTask, RecentItem, RelatedSession, ResumeContext

__all__ = [
    "LastSessionBrief",
    "OpenTask",
    "RecentItem",
    "RelatedSession",
    "ResumeContext",
    "estimate_tokens",
    "fit_budget",
    "fit_rendered",
    "json_with_size",
    "render_markdown",
]

CHARS_PER_TOKEN = 4


def estimate_tokens(context: ResumeContext) -> int:
    return math.ceil(len(context.model_dump_json()) / CHARS_PER_TOKEN)


def json_with_size(context: ResumeContext) -> str:
    """The compact JSON of `context` whose `estimated_tokens` is the size of this very text."""
    text = context.model_dump_json()
    for _ in range(5):  # the number's own digits change the size: converges in a step or two
        size = math.ceil(len(text) / CHARS_PER_TOKEN)
        if size == context.estimated_tokens:
            break
        context.estimated_tokens = size
        text = context.model_dump_json()
    return text


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


def _state(last: LastSessionBrief) -> str:
    if last.is_active:
        return "still active: it was never ended"
    if last.ended_by == "stale":
        return f"ended by itself at {last.ended_at} after a long time without events"
    return f"ended {last.ended_at}"


def render_markdown(context: ResumeContext, *, project_name: str | None = None, closing: str | None = None) -> str:
    """The resume context as text for the `resume` prompt (and a SessionStart hook, with its own `closing`)."""
    project = project_name or context.project_id
    lines = [f"# Resume context for {context.agent}" + (f" (project {project})" if project else "")]
    if not context.found:
        if closing is None:
            lines.append("No earlier sessions: start fresh with archon_create_session.")
        else:
            lines += ["No earlier sessions" + (" of this project" if project else "") + " yet.", "", closing]
        return "\n".join(lines)
    last = context.last_session
    if last is not None:
        lines += [
            "",
            f"## Last session {last.id} (started {last.started_at}, {_state(last)})",
            last.summary or "(no summary)",
        ]
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
    if closing is not None:
        lines += ["", closing]
    elif last is not None and last.is_active:
        lines += [
            "",
            f"The last session {last.id} is still active: if it is yours, keep logging events to it and end it "
            "with archon_end_session when done; otherwise end it, then create a new session with "
            "archon_create_session.",
        ]
    else:
        lines += [
            "",
            "Continue from here: create a new session with archon_create_session and log events as you go.",
        ]
    return "\n".join(lines)


def fit_rendered(
    context: ResumeContext, max_tokens: int, render: Callable[[ResumeContext], str]
) -> tuple[str, ResumeContext]:
    """`render(context)` trimmed (the lists in `fit_budget`'s order, then next steps, then the summary)
    until the text it returns is at most `max_tokens` (characters / 4), the "(trimmed ...)" note
    included. Measured on exactly the text returned, which is what the caller sends."""
    limit = max_tokens * CHARS_PER_TOKEN
    trimmed = dict(context.trimmed)

    def again() -> str:
        context.trimmed = {k: n for k, n in trimmed.items() if n}
        return render(context)

    def cut(name: str, n: int = 1) -> None:
        trimmed[name] = trimmed.get(name, 0) + n

    text = again()
    for name in _TRIM_ORDER:
        items = getattr(context, name)
        while items and len(text) > limit:
            items.pop()
            cut(name)
            text = again()
    last = context.last_session
    if last is not None:
        while last.next_steps and len(text) > limit:
            last.next_steps.pop()
            cut("last_session_next_steps")
            text = again()
        while last.summary and len(text) > limit:
            keep = max(0, len(last.summary) - (len(text) - limit) - 8)
            cut("last_session_summary_chars", len(last.summary) - keep)
            last.summary = last.summary[:keep] + "…" if keep else None
            text = again()
    if len(text) > limit and context.trimmed:  # at the very least, drop the note itself
        context.trimmed = {}
        text = render(context)
    context.estimated_tokens = math.ceil(len(text) / CHARS_PER_TOKEN)
    return text, context
