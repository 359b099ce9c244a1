"""Context resumption: what a new session needs from the earlier ones, in one call and within a size budget."""

from __future__ import annotations

import uuid
from typing import Any

from archon_mcp.config import Settings
from archon_mcp.db import Database
from archon_mcp.errors import ArchonError
from archon_mcp.models import AgentSession
from archon_mcp.repositories import summaries as summaries_repo
from archon_mcp.schemas import clean_item as _clean_item
from archon_mcp.schemas import iso_utc_or_none
from archon_mcp.services._digest import extractive_summary
from archon_mcp.services._event_analysis import analyze_events
from archon_mcp.services.resume_format import (
    LastSessionBrief,
    OpenTask,
    RecentItem,
    RelatedSession,
    ResumeContext,
    fit_budget,
)
from archon_mcp.services.search import SearchService

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


class ResumeService:
    def __init__(self, database: Database, search: SearchService | None, settings: Settings) -> None:
        """`search=None`: related sessions by recency only, never embedding the query (the hook process
        loads no model)."""
        self._db = database
        self._search = search
        self._settings = settings

    async def resume_context(
        self, *, agent: str, project_id: uuid.UUID | None = None, max_tokens: int = 2000
    ) -> ResumeContext:
        agent_name, project, budget = agent, project_id, max_tokens
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
            OpenTask(title=t.title, task_id=t.task_id, session_id=t.session_id, created_at=iso_utc_or_none(t.at) or "")
            for t in reversed(facts.open_tasks)
        ][:_MAX_ITEMS]
        context.recent_decisions = [
            RecentItem(text=text, session_id=str(e.session_id), at=iso_utc_or_none(e.timestamp) or "")
            for text, e in reversed(facts.decisions)
        ][:_MAX_ITEMS]
        context.unresolved_errors = [
            RecentItem(text=text, session_id=str(e.session_id), at=iso_utc_or_none(e.timestamp) or "")
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
            started_at=iso_utc_or_none(row.started_at) or "",
            ended_at=iso_utc_or_none(row.ended_at),
            is_active=row.ended_at is None,
            summary=row.summary,
            next_steps=next_steps,
            summary_status=status if isinstance(status, str) else None,
            ended_by=metadata.get("ended_by") if isinstance(metadata.get("ended_by"), str) else None,
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
        if query and self._search is not None:
            try:
                found = await self._search.search_sessions(
                    query=query,
                    limit=_MAX_RELATED + 1,
                    threshold=self._settings.resume_related_threshold,
                    agent=None if project else agent,
                    project_id=project,
                )
                related = [
                    RelatedSession(
                        id=h.id,
                        agent=h.agent,
                        started_at=iso_utc_or_none(h.started_at) or "",
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
                    started_at=iso_utc_or_none(r.started_at) or "",
                    summary=_clean_item(r.summary or ""),
                    similarity=None,
                )
                for r in rows
            ]
        return related
