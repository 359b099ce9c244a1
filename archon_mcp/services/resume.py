"""Context resumption: what a new session needs from the earlier ones, in one call and within a size budget."""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

from pydantic import BaseModel, Field

from archon_mcp.config import Settings
from archon_mcp.db import Database
from archon_mcp.errors import ArchonError
from archon_mcp.models import AgentSession
from archon_mcp.repositories import summaries as summaries_repo
from archon_mcp.services import _validation as v
from archon_mcp.services.search import SearchService
from archon_mcp.services.summaries import _clean_item, analyze_events, extractive_summary

MIN_TOKENS, MAX_TOKENS = 200, 50_000
CHARS_PER_TOKEN = 4
_EVENT_TYPES = (
    "task_created",
    "task_updated",
    "task_completed",
    "decision_made",
    "error_encountered",
    "error_resolved",
)
_MAX_EVENTS = 5000  # newest relevant events read across the recent sessions
_MAX_ITEMS = 20
_MAX_RELATED = 5


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


class ResumeService:
    def __init__(self, database: Database, search: SearchService, settings: Settings) -> None:
        self._db = database
        self._search = search
        self._settings = settings

    async def resume_context(self, agent: Any, project_id: Any = None, max_tokens: Any = 2000) -> ResumeContext:
        agent_name = v.check_agent(agent, self._settings)
        project = v.parse_optional_uuid(project_id, "project_id")
        budget = v.check_int(max_tokens, "max_tokens", MIN_TOKENS, MAX_TOKENS)
        async with self._db.session() as db:
            recent = await summaries_repo.recent_sessions(
                db, agent=agent_name, project_id=project, limit=self._settings.resume_recent_sessions
            )
            events = await summaries_repo.events_of_sessions(
                db, [s.id for s in recent], event_types=_EVENT_TYPES, limit=_MAX_EVENTS
            )
        context = ResumeContext(
            agent=agent_name,
            project_id=str(project) if project else None,
            found=bool(recent),
            last_session=None,
            open_tasks=[],
            recent_decisions=[],
            unresolved_errors=[],
            related_sessions=[],
            sessions_scanned=len(recent),
            max_tokens=budget,
            estimated_tokens=0,
            trimmed={},
        )
        if not recent:
            return fit_budget(context)
        # Sessions are ordered by start time; events across them too, so a task opened in one session
        # and completed in a later one is closed.
        facts = analyze_events(events)
        last = recent[0]
        context.last_session = self._brief(last, [e for e in events if e.session_id == last.id])
        context.open_tasks = [
            OpenTask(title=t.title, task_id=t.task_id, session_id=t.session_id, created_at=_iso(t.at) or "")
            for t in reversed(facts.open_tasks)
        ][:_MAX_ITEMS]
        context.recent_decisions = [
            RecentItem(text=text, session_id=str(e.session_id), at=_iso(e.timestamp) or "")
            for text, e in reversed(facts.decisions)
        ][:_MAX_ITEMS]
        context.unresolved_errors = [
            RecentItem(text=text, session_id=str(e.session_id), at=_iso(e.timestamp) or "")
            for text, e in reversed(facts.unresolved_errors)
        ][:_MAX_ITEMS]
        context.related_sessions = await self._related(last, agent_name, project, context)
        return fit_budget(context)

    def _brief(self, row: AgentSession, events: list) -> LastSessionBrief:
        metadata = row.metadata_ or {}
        steps = metadata.get("next_steps")
        if isinstance(steps, list) and all(isinstance(s, str) for s in steps):
            next_steps = [_clean_item(s) for s in steps][:_MAX_ITEMS]
        elif events:
            next_steps = extractive_summary(row, events, len(events)).next_steps
        else:
            next_steps = []
        status = metadata.get("summary_status")
        return LastSessionBrief(
            id=str(row.id),
            project_id=str(row.project_id) if row.project_id else None,
            started_at=_iso(row.started_at) or "",
            ended_at=_iso(row.ended_at),
            is_active=row.ended_at is None,
            summary=row.summary,
            next_steps=next_steps,
            summary_status=status if isinstance(status, str) else None,
        )

    async def _related(
        self, last: AgentSession, agent: str, project: Any, context: ResumeContext
    ) -> list[RelatedSession]:
        """Earlier sessions closest in meaning to where the last one left off (similarity set), then the
        most recent other summarised ones (similarity null) to fill the list."""
        related: list[RelatedSession] = []
        query_parts = [last.summary or ""]
        query_parts += [t.title for t in context.open_tasks[:5]]
        query = " ".join(p for p in query_parts if p).strip()[: self._settings.max_query_chars]
        if query:
            try:
                found = await self._search.search_sessions(
                    query,
                    limit=_MAX_RELATED + 1,
                    threshold=self._settings.resume_related_threshold,
                    agent=None if project else agent,
                    project_id=str(project) if project else None,
                )
                related = [
                    RelatedSession(
                        id=h.id,
                        agent=h.agent,
                        started_at=_iso(h.started_at) or "",
                        summary=_clean_item(h.summary or ""),
                        similarity=h.similarity,
                    )
                    for h in found.results
                    if h.id != str(last.id) and h.summary
                ][:_MAX_RELATED]
            except ArchonError:
                pass  # e.g. the embedding model is down: recency below still answers
        if len(related) < _MAX_RELATED:
            async with self._db.session() as db:
                rows = await summaries_repo.earlier_sessions(
                    db,
                    project_id=project,
                    agent=agent,
                    exclude=[last.id, *(uuid.UUID(r.id) for r in related)],
                    limit=_MAX_RELATED - len(related),
                )
            related += [
                RelatedSession(
                    id=str(r.id),
                    agent=r.agent,
                    started_at=_iso(r.started_at) or "",
                    summary=_clean_item(r.summary or ""),
                    similarity=None,
                )
                for r in rows
            ]
        return related


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
