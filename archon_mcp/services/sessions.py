"""Sessions and events: the SessionService of the usage guide. Owns transactions; SQL is in repositories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from archon_mcp.config import Settings
from archon_mcp.db import Database
from archon_mcp.embeddings import session_text
from archon_mcp.errors import ConflictError, InvalidInputError, NotFoundError
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
)
from archon_mcp.services import _validation as v
from archon_mcp.services._convert import event_out, session_fields, session_out, session_with_count

_FIND_HINT = "; list sessions with archon_list_sessions or archon_get_active_sessions"


def _next_offset(offset: int, returned: int, total: int) -> int | None:
    return offset + returned if offset + returned < total else None


class SessionService:
    """Every session operation of the usage guide, with validation and one transaction each."""

    def __init__(self, database: Database, settings: Settings, on_pending: Callable[[], None]) -> None:
        self._db = database
        self._settings = settings
        # Called after a commit that left rows waiting for an embedding (wakes the worker).
        self._on_pending = on_pending
        # ARCHON_REDACT=all: what the tools and the REST API store is redacted here, below every entry point.
        self._redact: Callable[[Any], Any] = redact_value if settings.redact == "all" else (lambda value: value)

    # --- helpers ------------------------------------------------------------------------------
    def _limit(self, value: Any, field: str = "limit") -> int:
        return v.check_int(value, field, 1, self._settings.max_page_size)

    def _offset(self, value: Any) -> int:
        return v.check_int(value, "offset", 0, 10_000_000)

    def _days(self, value: Any) -> int:
        return v.check_int(value, "days", 1, self._settings.max_days)

    def _session_id(self, value: Any):
        return v.parse_uuid(value, "session_id", ". Use the id returned by archon_create_session")

    def _needs_embedding(self, summary: str | None, metadata: dict[str, Any]) -> bool:
        return bool(session_text(summary, metadata))

    async def _load(self, db, session_id, *, lock: Literal["share", "update"] | None = None):
        row = await sessions_repo.get(db, session_id, lock=lock)
        if row is None:
            raise NotFoundError(f"no session with id {session_id}{_FIND_HINT}")
        return row

    async def _detail(self, db, row, *, event_limit: int, event_offset: int | None) -> SessionDetail:
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
    async def create_session(self, agent: Any, project_id: Any = None, metadata: Any = None) -> SessionOut:
        agent_name = v.check_agent(agent, self._settings)
        project = v.parse_optional_uuid(project_id, "project_id")
        meta = self._redact(v.check_json_object(metadata, "metadata", self._settings, required=False))
        needs = self._needs_embedding(None, meta)
        async with self._db.connect() as conn:
            row = await sessions_repo.insert(
                conn, agent=agent_name, project_id=project, metadata=meta, needs_embedding=needs
            )
        if needs:
            self._on_pending()
        return session_out(row)

    async def end_session(self, session_id: Any, summary: Any = None) -> SessionOut:
        sid = self._session_id(session_id)
        text = self._redact(v.check_text(summary, "summary", self._settings.max_summary_chars, required=False))
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
                raise ConflictError(
                    f"session {sid} already ended at {ended}; to change its summary use "
                    "archon_update_session_summary, to keep working start a new session with archon_create_session"
                )
        if row.needs_embedding:
            self._on_pending()
        return session_out(row)

    async def get_session(self, session_id: Any, event_limit: Any = 100, event_offset: Any = 0) -> SessionDetail:
        sid = self._session_id(session_id)
        limit = v.check_int(event_limit, "event_limit", 1, self._settings.max_event_limit)
        offset = self._offset(event_offset)
        # Two statements, no transaction (autocommit): the session with its event count, then the
        # page of events. An event added in between can only make the page run one event further.
        async with self._db.connect() as conn:
            row = await sessions_repo.get_with_event_count(conn, sid)
            if row is None:
                raise NotFoundError(f"no session with id {sid}{_FIND_HINT}")
            return await self._detail(conn, row, event_limit=limit, event_offset=offset)

    async def list_sessions(
        self,
        agent: Any = None,
        project_id: Any = None,
        since: Any = None,
        limit: Any = 20,
        offset: Any = 0,
        until: Any = None,
    ) -> SessionPage:
        filters = {
            "agent": v.check_agent(agent, self._settings) if agent is not None else None,
            "project_id": v.parse_optional_uuid(project_id, "project_id"),
            "since": v.parse_datetime(since, "since"),
            "until": v.parse_datetime(until, "until"),
        }
        lim, off = self._limit(limit), self._offset(offset)
        async with self._db.session() as db:
            rows, total = await sessions_repo.page(db, limit=lim, offset=off, **filters)
        sessions = [session_out(row) for row, _ in rows]
        return SessionPage(
            sessions=sessions, total=total, limit=lim, offset=off, next_offset=_next_offset(off, len(sessions), total)
        )

    # --- events -------------------------------------------------------------------------------
    async def add_event(self, session_id: Any, event_type: Any, event_data: Any, metadata: Any = None) -> EventOut:
        sid = self._session_id(session_id)
        kind = v.check_event_type(event_type, self._settings)
        data = self._redact(v.check_json_object(event_data, "event_data", self._settings, required=True))
        meta = self._redact(v.check_json_object(metadata, "metadata", self._settings, required=False))
        async with self._db.connect() as conn:
            row = await events_repo.insert_if_active(conn, sid, kind, data, meta)
            if row is None:
                raise self._not_active_for_events(sid, await self._ended_at(conn, sid))
        self._on_pending()
        return event_out(row)

    async def add_events(self, session_id: Any, events: Any) -> EventsAdded:
        """Several events in one transaction (all stored, or none), in the order given."""
        sid = self._session_id(session_id)
        limit = self._settings.max_batch_events
        if not isinstance(events, list) or not events:
            raise InvalidInputError(
                f"events must be a non-empty list (at most {limit}) of objects like "
                '{"event_type": "task_completed", "event_data": {"task_id": "123"}}'
            )
        if len(events) > limit:
            raise InvalidInputError(f"events has {len(events)} items; send at most {limit} per call")
        rows = [self._batch_item(i, item) for i, item in enumerate(events)]
        async with self._db.connect() as conn:
            stored = await events_repo.insert_many_if_active(conn, sid, rows)
            if not stored:
                raise self._not_active_for_events(sid, await self._ended_at(conn, sid))
        self._on_pending()
        return EventsAdded(
            session_id=str(sid),
            count=len(stored),
            ids=[str(e.id) for e in stored],
            first_timestamp=stored[0].timestamp,
            last_timestamp=stored[-1].timestamp,
        )

    async def _ended_at(self, conn: Any, sid: Any) -> str | None:
        """When the session ended (ISO 8601), None while it is active; NotFoundError if there is none."""
        exists, ended = await sessions_repo.ended_at(conn, sid)
        if not exists:
            raise NotFoundError(f"no session with id {sid}{_FIND_HINT}")
        return None if ended is None else ended.isoformat()

    def _not_active_for_events(self, sid: Any, ended: str | None) -> ConflictError:
        return ConflictError(
            f"session {sid} ended at {ended}; events can only be added to an active session. Start a new "
            "one with archon_create_session and log the event there"
        )

    def _batch_item(self, index: int, item: Any) -> dict[str, Any]:
        where = f"events[{index}]"
        if not isinstance(item, dict):
            raise InvalidInputError(f"{where} must be an object with event_type, event_data and optional metadata")
        unknown = sorted(set(item) - {"event_type", "event_data", "metadata"})
        if unknown:
            raise InvalidInputError(f"{where} has unknown fields {unknown}; allowed: event_type, event_data, metadata")
        try:
            return {
                "event_type": v.check_event_type(item.get("event_type"), self._settings),
                "event_data": self._redact(
                    v.check_json_object(item.get("event_data"), "event_data", self._settings, required=True)
                ),
                "metadata": self._redact(
                    v.check_json_object(item.get("metadata"), "metadata", self._settings, required=False)
                ),
            }
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}: {exc}") from exc

    # --- temporal queries ---------------------------------------------------------------------
    async def get_last_session(self, agent: Any, event_limit: Any = 50) -> LastSession:
        agent_name = v.check_agent(agent, self._settings)
        limit = v.check_int(event_limit, "event_limit", 1, self._settings.max_event_limit)
        async with self._db.connect() as conn:
            row = await sessions_repo.latest_with_event_count(conn, agent_name)
            if row is None:
                return LastSession(found=False, session=None)
            return LastSession(found=True, session=await self._detail(conn, row, event_limit=limit, event_offset=None))

    async def count_sessions(self, agent: Any, days: Any = 30) -> SessionCount:
        agent_name = v.check_agent(agent, self._settings)
        n_days = self._days(days)
        since = datetime.now(UTC) - timedelta(days=n_days)
        async with self._db.session() as db:
            total = await sessions_repo.count(db, agent=agent_name, since=since)
        return SessionCount(agent=agent_name, days=n_days, since=since, count=total)

    async def get_recent_sessions(self, agent: Any, days: Any = 7, limit: Any = 20) -> RecentSessions:
        agent_name = v.check_agent(agent, self._settings)
        n_days, lim = self._days(days), self._limit(limit)
        since = datetime.now(UTC) - timedelta(days=n_days)
        async with self._db.session() as db:
            rows = await sessions_repo.recent_with_event_counts(db, agent=agent_name, since=since, limit=lim)
        sessions = [session_with_count(row, n) for row, n in rows]
        return RecentSessions(
            agent=agent_name,
            days=n_days,
            since=since,
            sessions=sessions,
            total_events=sum(s.event_count for s in sessions),
        )

    # --- summaries ----------------------------------------------------------------------------
    async def update_session_summary(self, session_id: Any, summary: Any, metadata: Any = None) -> SessionOut:
        sid = self._session_id(session_id)
        text = self._redact(v.check_text(summary, "summary", self._settings.max_summary_chars))
        meta = self._redact(v.check_json_object(metadata, "metadata", self._settings, required=False))
        async with self._db.session() as db, db.begin():
            row = await self._load(db, sid, lock="update")
            merged = {**(row.metadata_ or {}), **meta}
            row = await sessions_repo.set_fields(
                db,
                sid,
                summary=text,
                metadata_=merged,
                needs_embedding=self._needs_embedding(text, merged),
                embedding_attempts=0,
                embedding_next_attempt_at=None,
            )
        if row.needs_embedding:
            self._on_pending()
        return session_out(row)

    async def get_active_sessions(
        self, agent: Any = None, project_id: Any = None, limit: Any = 50, offset: Any = 0
    ) -> ActiveSessions:
        filters = {
            "agent": v.check_agent(agent, self._settings) if agent is not None else None,
            "project_id": v.parse_optional_uuid(project_id, "project_id"),
            "active_only": True,
        }
        lim, off = self._limit(limit), self._offset(offset)
        async with self._db.session() as db:
            rows, total = await sessions_repo.page(db, limit=lim, offset=off, with_event_count=True, **filters)
        sessions = [session_with_count(row, n or 0) for row, n in rows]
        return ActiveSessions(
            sessions=sessions, total=total, limit=lim, offset=off, next_offset=_next_offset(off, len(sessions), total)
        )
