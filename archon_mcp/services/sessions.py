"""Sessions and events: the SessionService of the usage guide. Owns transactions; SQL is in repositories."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from archon_mcp.config import Settings
from archon_mcp.db import Database
from archon_mcp.embeddings import session_text
from archon_mcp.errors import ConflictError, NotFoundError
from archon_mcp.models import AgentSession, AnyRow
from archon_mcp.redact import redact_value
from archon_mcp.repositories import events as events_repo
from archon_mcp.repositories import sessions as sessions_repo
from archon_mcp.schemas import (
    ActiveSessions,
    EventOut,
    EventsAdded,
    LastSession,
    RecentSessions,
    SessionCount,
    SessionDetail,
    SessionOut,
    SessionPage,
    iso_utc_or_none,
)
from archon_mcp.services._convert import event_out, session_fields, session_out, session_with_count


def _not_found(session_id: uuid.UUID) -> NotFoundError:
    return NotFoundError(f"no session with id {session_id}", hint="find_session")


class SessionService:
    """Every session operation of the usage guide, one transaction each. Arguments arrive validated
    (the request models in `schemas`), as keywords."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        on_pending: Callable[[], None],
        *,
        on_ended: Callable[[SessionOut], Awaitable[SessionOut]] | None = None,
    ) -> None:
        self._db = database
        self._settings = settings
        # Called after a commit that left rows waiting for an embedding (wakes the worker).
        self._on_pending = on_pending
        # Called with every session end_session has ended (after its commit); what it returns is the
        # answer (the app wires the background summary here: ARCHON_SUMMARIZE_ON_END).
        self._on_ended = on_ended
        # ARCHON_REDACT=all: what the tools and the REST API store is redacted here, below every entry point.
        self._redact: Callable[[Any], Any] = redact_value if settings.redact == "all" else (lambda value: value)

    # --- helpers ------------------------------------------------------------------------------
    def _needs_embedding(self, summary: str | None, metadata: dict[str, Any]) -> bool:
        return bool(session_text(summary, metadata))

    async def _load(
        self, db: AsyncSession, session_id: uuid.UUID, *, lock: Literal["share", "update"] | None = None
    ) -> AgentSession:
        row = await sessions_repo.get(db, session_id, lock=lock)
        if row is None:
            raise _not_found(session_id)
        return row

    async def _detail(
        self, db: AsyncConnection, row: AnyRow, *, event_limit: int, event_offset: int | None
    ) -> SessionDetail:
        """`row` carries `event_count`. `event_offset=None` means: the latest `event_limit` events."""
        total = row.event_count
        offset = max(0, total - event_limit) if event_offset is None else event_offset
        events = await events_repo.window(db, row.id, limit=event_limit, offset=offset)
        return SessionDetail(
            **session_fields(row),
            events=[event_out(e) for e in events],
            event_count=total,
            event_offset=offset,
            # Only what lies after the window: `while has_more_events` must end (earlier: event_offset > 0).
            has_more_events=offset + len(events) < total,
        )

    # --- session management -------------------------------------------------------------------
    async def create_session(
        self, *, agent: str, project_id: uuid.UUID | None = None, metadata: dict[str, Any] | None = None
    ) -> SessionOut:
        meta = self._redact(metadata or {})
        needs = self._needs_embedding(None, meta)
        async with self._db.connect() as conn:
            row = await sessions_repo.insert(
                conn, agent=agent, project_id=project_id, metadata=meta, needs_embedding=needs
            )
        if needs:
            self._on_pending()
        return session_out(row)

    async def end_session(self, *, session_id: uuid.UUID, summary: str | None = None) -> SessionOut:
        sid, text = session_id, self._redact(summary)
        values: dict[str, Any] = {}
        if text is not None and text.strip():
            # A non-blank summary is always something to embed (session_text starts with it).
            values = {
                "summary": text,
                "needs_embedding": True,
                "embedding_attempts": 0,
                "embedding_next_attempt_at": None,
            }
        async with self._db.connect() as conn:
            row = await sessions_repo.end_if_active(conn, sid, **values)
            if row is None:
                ended = await self._ended_at(conn, sid)
                raise ConflictError(f"session {sid} already ended at {ended}", hint="ended_session")
        if row.needs_embedding:
            self._on_pending()
        out = session_out(row)
        return out if self._on_ended is None else await self._on_ended(out)

    async def get_session(
        self, *, session_id: uuid.UUID, event_limit: int = 100, event_offset: int = 0
    ) -> SessionDetail:
        # Two statements, no transaction (autocommit): the session with its event count, then the
        # page of events. An event added in between can only make the page run one event further.
        async with self._db.connect() as conn:
            row = await sessions_repo.get_with_event_count(conn, session_id)
            if row is None:
                raise _not_found(session_id)
            return await self._detail(conn, row, event_limit=event_limit, event_offset=event_offset)

    async def list_sessions(
        self,
        *,
        agent: str | None = None,
        project_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        active: bool | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> SessionPage:
        """Newest first with event counts; `active` True/False keeps only active/ended sessions."""
        async with self._db.session() as db:
            rows, total = await sessions_repo.page(
                db,
                limit=limit,
                offset=offset,
                agent=agent,
                project_id=project_id,
                since=since,
                until=until,
                active_only=active is True,
                ended_only=active is False,
            )
        sessions = [session_with_count(row, n) for row, n in rows]
        # Page.of builds `cls`; its annotation says Page[T] (schemas/_outputs.py: `-> Self` would drop these casts).
        return cast(SessionPage, SessionPage.of(sessions, total=total, limit=limit, offset=offset))

    # --- events -------------------------------------------------------------------------------
    async def add_event(
        self,
        *,
        session_id: uuid.UUID,
        event_type: str,
        event_data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
    ) -> EventOut:
        async with self._db.connect() as conn:
            row = await events_repo.insert_if_active(
                conn, session_id, event_type, self._redact(event_data), self._redact(metadata or {})
            )
            if row is None:
                raise self._not_active_for_events(session_id, await self._ended_at(conn, session_id))
        self._on_pending()
        return event_out(row)

    async def add_events(self, *, session_id: uuid.UUID, events: list[dict[str, Any]]) -> EventsAdded:
        """Several events (checked dicts of event_type, event_data, metadata) in one transaction: all
        stored, or none, in the order given."""
        async with self._db.connect() as conn:
            events = [
                {**e, "event_data": self._redact(e["event_data"]), "metadata": self._redact(e.get("metadata") or {})}
                for e in events
            ]
            stored = await events_repo.insert_many_if_active(conn, session_id, events)
            if not stored:
                raise self._not_active_for_events(session_id, await self._ended_at(conn, session_id))
        self._on_pending()
        return EventsAdded(
            session_id=str(session_id),
            count=len(stored),
            ids=[str(e.id) for e in stored],
            first_timestamp=stored[0].timestamp,
            last_timestamp=stored[-1].timestamp,
        )

    async def _ended_at(self, conn: AsyncConnection, sid: uuid.UUID) -> str | None:
        """When the session ended (ISO 8601), None while it is active; NotFoundError if there is none."""
        exists, ended = await sessions_repo.ended_at(conn, sid)
        if not exists:
            raise _not_found(sid)
        return iso_utc_or_none(ended)

    def _not_active_for_events(self, sid: uuid.UUID, ended: str | None) -> ConflictError:
        return ConflictError(
            f"session {sid} ended at {ended}; events can only be added to an active session", hint="add_to_active"
        )

    # --- temporal queries ---------------------------------------------------------------------
    async def get_last_session(self, *, agent: str, event_limit: int = 50) -> LastSession:
        async with self._db.connect() as conn:
            row = await sessions_repo.latest_with_event_count(conn, agent)
            if row is None:
                return LastSession(found=False, session=None)
            detail = await self._detail(conn, row, event_limit=event_limit, event_offset=None)
            return LastSession(found=True, session=detail)

    async def count_sessions(self, *, agent: str, days: int = 30) -> SessionCount:
        since = datetime.now(UTC) - timedelta(days=days)
        async with self._db.session() as db:
            total = await sessions_repo.count(db, agent=agent, since=since)
        return SessionCount(agent=agent, days=days, since=since, count=total)

    async def get_recent_sessions(self, *, agent: str, days: int = 7, limit: int = 20) -> RecentSessions:
        since = datetime.now(UTC) - timedelta(days=days)
        async with self._db.session() as db:
            rows = await sessions_repo.recent_with_event_counts(db, agent=agent, since=since, limit=limit)
        sessions = [session_with_count(row, n) for row, n in rows]
        return RecentSessions(
            agent=agent,
            days=days,
            since=since,
            sessions=sessions,
            total_events=sum(s.event_count for s in sessions),
        )

    # --- summaries ----------------------------------------------------------------------------
    async def update_session_summary(
        self, *, session_id: uuid.UUID, summary: str, metadata: dict[str, Any] | None = None
    ) -> SessionOut:
        async with self._db.session() as db, db.begin():
            row = await self._load(db, session_id, lock="update")
            summary = self._redact(summary)
            merged = {**(row.metadata_ or {}), **self._redact(metadata or {})}
            row = await sessions_repo.set_fields(
                db,
                session_id,
                summary=summary,
                metadata_=merged,
                needs_embedding=self._needs_embedding(summary, merged),
                embedding_attempts=0,
                embedding_next_attempt_at=None,
            )
        if row.needs_embedding:
            self._on_pending()
        return session_out(row)

    async def get_active_sessions(
        self, *, agent: str | None = None, project_id: uuid.UUID | None = None, limit: int = 50, offset: int = 0
    ) -> ActiveSessions:
        async with self._db.session() as db:
            rows, total = await sessions_repo.page(
                db, limit=limit, offset=offset, agent=agent, project_id=project_id, active_only=True
            )
        sessions = [session_with_count(row, n) for row, n in rows]
        return cast(ActiveSessions, ActiveSessions.of(sessions, total=total, limit=limit, offset=offset))
