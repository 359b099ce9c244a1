"""SQL for export, import and purge. Functions take an AsyncSession and never commit."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import cast, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from archon_mcp.models import AgentSession, AnyRow, SessionEvent
from archon_mcp.repositories.sessions import filter_sessions

# What a backup holds: every stored column except vectors, embedding bookkeeping and generated ones.
SESSION_COLUMNS = (
    AgentSession.id,
    AgentSession.agent,
    AgentSession.project_id,
    AgentSession.started_at,
    AgentSession.ended_at,
    AgentSession.summary,
    AgentSession.metadata_.label("metadata"),
    AgentSession.created_at,
    AgentSession.updated_at,
)
EVENT_COLUMNS = (
    SessionEvent.id,
    SessionEvent.session_id,
    SessionEvent.event_type,
    SessionEvent.event_data,
    SessionEvent.metadata_.label("metadata"),
    SessionEvent.timestamp,
)


async def session_batch(
    db: AsyncSession,
    *,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    agent: str | None = None,
    project_id: uuid.UUID | None = None,
    since: datetime | None = None,
) -> Sequence[AnyRow]:
    """The next `limit` sessions in (started_at, id) order after the key `after` (keyset pagination)."""
    stmt = filter_sessions(select(*SESSION_COLUMNS), agent=agent, project_id=project_id, since=since)
    if after is not None:
        stmt = stmt.where(func.row(AgentSession.started_at, AgentSession.id) > func.row(*after))
    stmt = stmt.order_by(AgentSession.started_at, AgentSession.id).limit(limit)
    return (await db.execute(stmt)).all()


async def stream_events(
    db: AsyncSession, session_ids: list[uuid.UUID], *, fetch_size: int = 1000
) -> AsyncIterator[Sequence[AnyRow]]:
    """Events of these sessions, grouped by session in the order given, oldest first within a session,
    in lists of up to `fetch_size`. Read through a server-side cursor, so a huge session costs no memory."""
    ids = cast(session_ids, ARRAY(UUID(as_uuid=True)))
    stmt = (
        select(*EVENT_COLUMNS)
        .where(SessionEvent.session_id == func.any(ids))
        .order_by(func.array_position(ids, SessionEvent.session_id), SessionEvent.timestamp, SessionEvent.id)
        .execution_options(yield_per=fetch_size)
    )
    result = await db.stream(stmt)
    # Whole partitions, not row by row: each async step is a greenlet switch, costly per row.
    async for partition in result.partitions():
        yield partition


async def existing_session_ids(db: AsyncSession, session_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    stmt = select(AgentSession.id).where(AgentSession.id == func.any(cast(session_ids, ARRAY(UUID(as_uuid=True)))))
    return set((await db.scalars(stmt)).all())


async def insert_sessions(db: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert sessions keeping their ids; ids already stored are left alone. Returns how many were new."""
    if not rows:
        return 0
    stmt = insert(AgentSession).on_conflict_do_nothing(index_elements=[AgentSession.id]).returning(AgentSession.id)
    return len((await db.execute(stmt, rows)).all())


async def insert_events(db: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert events keeping their ids; ids already stored are left alone. Returns how many were new."""
    if not rows:
        return 0
    stmt = insert(SessionEvent).on_conflict_do_nothing(index_elements=[SessionEvent.id]).returning(SessionEvent.id)
    return len((await db.execute(stmt, rows)).all())


async def database_now(db: AsyncSession) -> datetime:
    return (await db.execute(text("SELECT now()"))).scalar_one()


def _purge_filter(cutoff: datetime, agent: str | None) -> tuple[str, dict[str, Any]]:
    # Active sessions (ended_at IS NULL) never match.
    where = "ended_at IS NOT NULL AND ended_at < :cutoff"
    params: dict[str, Any] = {"cutoff": cutoff}
    if agent is not None:
        where += " AND agent = :agent"
        params["agent"] = agent
    return where, params


async def count_purgeable(db: AsyncSession, *, cutoff: datetime, agent: str | None) -> tuple[int, int]:
    """(sessions, events) that a purge with this cutoff would delete."""
    where, params = _purge_filter(cutoff, agent)
    row = (
        await db.execute(
            text(
                f"""
                WITH doomed AS (SELECT id FROM archon_sessions WHERE {where})
                SELECT (SELECT count(*) FROM doomed),
                       (SELECT count(*) FROM archon_session_events e JOIN doomed d ON e.session_id = d.id)
                """
            ),
            params,
        )
    ).one()
    return int(row[0]), int(row[1])


async def purge_batch(db: AsyncSession, *, cutoff: datetime, agent: str | None, limit: int) -> tuple[int, int]:
    """Delete up to `limit` ended sessions older than `cutoff`; their events go by the FK cascade.
    Returns (sessions, events) deleted. The row locks keep events from being added meanwhile."""
    where, params = _purge_filter(cutoff, agent)
    row = (
        await db.execute(
            text(
                f"""
                WITH doomed AS (
                  SELECT id FROM archon_sessions WHERE {where}
                  ORDER BY ended_at, id LIMIT :limit FOR UPDATE
                ),
                gone AS (DELETE FROM archon_sessions s USING doomed d WHERE s.id = d.id RETURNING s.id)
                SELECT (SELECT count(*) FROM gone),
                       (SELECT count(*) FROM archon_session_events e JOIN doomed d ON e.session_id = d.id)
                """
            ),
            {**params, "limit": limit},
        )
    ).one()
    return int(row[0]), int(row[1])
