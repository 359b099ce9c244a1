"""SQL over archon_sessions. Functions take an AsyncSession (ORM) or an AsyncConnection (Core: the
write path) and never commit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, cast, func, select, update
from sqlalchemy import insert as sql_insert
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from archon_mcp.models import AgentSession, AnyRow, SessionEvent

_sessions = AgentSession.__table__

# What a write returns: every column but the vector and the tsvector, named like the ORM
# attributes (`metadata_`), so the same converters read a Core row and an ORM object.
RETURNED = tuple(
    column.label("metadata_") if column.name == "metadata" else column
    for column in _sessions.c
    if column.name not in ("embedding", "search_tsv")
)


def _event_count():
    return (
        select(func.count(SessionEvent.id))
        .where(SessionEvent.session_id == AgentSession.id)
        .correlate(AgentSession)
        .scalar_subquery()
    )


async def insert(conn: AsyncConnection | AsyncSession, **values: Any) -> AnyRow:
    """One INSERT ... RETURNING (server defaults: id, times). `values` use column names."""
    return (await conn.execute(sql_insert(_sessions).values(**values).returning(*RETURNED))).one()


async def end_if_active(conn: AsyncConnection, session_id: uuid.UUID, **values: Any) -> AnyRow | None:
    """Set `ended_at` (and `values`) if the session exists and is still active, in one statement.
    None otherwise.

    The row is locked FOR UPDATE in a CTE before `ended_at` is computed: that waits for the events
    being added (they hold FOR SHARE) and stops new ones, so every event of the session is older
    than its end. (A bare UPDATE computes its new values before it waits for the row lock, and an
    event that took a share lock in the meantime could end up 0.3 ms after `ended_at`.)"""
    locked = (
        select(_sessions.c.id)
        .where(_sessions.c.id == session_id, _sessions.c.ended_at.is_(None))
        .with_for_update()
        .cte("locked")
    )
    stmt = (
        update(_sessions)
        .where(_sessions.c.id == locked.c.id)
        .values(ended_at=func.clock_timestamp(), updated_at=func.clock_timestamp(), **values)
        .returning(*RETURNED)
    )
    return (await conn.execute(stmt)).first()


async def ended_at(conn: AsyncConnection, session_id: uuid.UUID) -> tuple[bool, datetime | None]:
    """(exists, ended_at): why a conditional write found nothing to do."""
    row = (await conn.execute(select(_sessions.c.ended_at).where(_sessions.c.id == session_id))).first()
    return (False, None) if row is None else (True, row.ended_at)


async def get(
    db: AsyncSession, session_id: uuid.UUID, *, lock: Literal["share", "update"] | None = None
) -> AgentSession | None:
    stmt = select(AgentSession).where(AgentSession.id == session_id)
    if lock is not None:
        stmt = stmt.with_for_update(read=lock == "share")
    return await db.scalar(stmt)


def filter_sessions(
    stmt: Select[Any],
    *,
    agent: str | None = None,
    project_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    active_only: bool = False,
    ended_only: bool = False,
) -> Select[Any]:
    """The session filters every listing, search and export shares (times bound `started_at`)."""
    if agent is not None:
        stmt = stmt.where(AgentSession.agent == agent)
    if project_id is not None:
        stmt = stmt.where(AgentSession.project_id == project_id)
    if since is not None:
        stmt = stmt.where(AgentSession.started_at >= since)
    if until is not None:
        stmt = stmt.where(AgentSession.started_at < until)
    if active_only:
        stmt = stmt.where(AgentSession.ended_at.is_(None))
    if ended_only:
        stmt = stmt.where(AgentSession.ended_at.is_not(None))
    return stmt


async def page(
    db: AsyncSession,
    *,
    limit: int,
    offset: int,
    agent: str | None = None,
    project_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    active_only: bool = False,
    ended_only: bool = False,
) -> tuple[list[tuple[AgentSession, int]], int]:
    """Newest first, each with its event count (counted for the returned page only). Returns (rows, total)."""

    def filtered(stmt: Select[Any]) -> Select[Any]:
        return filter_sessions(
            stmt,
            agent=agent,
            project_id=project_id,
            since=since,
            until=until,
            active_only=active_only,
            ended_only=ended_only,
        )

    stmt = filtered(select(AgentSession, _event_count().label("event_count")))
    stmt = stmt.order_by(AgentSession.started_at.desc(), AgentSession.id.desc()).limit(limit).offset(offset)
    rows = (await db.execute(stmt)).all()
    total = await db.scalar(filtered(select(func.count(AgentSession.id))))
    return [(row[0], int(row[1] or 0)) for row in rows], int(total or 0)


async def get_with_event_count(conn: AsyncConnection, session_id: uuid.UUID) -> AnyRow | None:
    """The session (Core row, see RETURNED) and its `event_count`, in one statement."""
    stmt = select(*RETURNED, _event_count().label("event_count")).where(_sessions.c.id == session_id)
    return (await conn.execute(stmt)).first()


async def latest_with_event_count(conn: AsyncConnection, agent: str) -> AnyRow | None:
    """The agent's most recent session and its `event_count`, in one statement."""
    stmt = (
        select(*RETURNED, _event_count().label("event_count"))
        .where(_sessions.c.agent == agent)
        .order_by(_sessions.c.started_at.desc(), _sessions.c.id.desc())
        .limit(1)
    )
    return (await conn.execute(stmt)).first()


async def count(db: AsyncSession, *, agent: str, since: datetime) -> int:
    stmt = select(func.count(AgentSession.id)).where(AgentSession.agent == agent, AgentSession.started_at >= since)
    return int(await db.scalar(stmt) or 0)


async def recent_with_event_counts(
    db: AsyncSession, *, agent: str, since: datetime, limit: int
) -> list[tuple[AgentSession, int]]:
    stmt = (
        select(AgentSession, _event_count().label("event_count"))
        .where(AgentSession.agent == agent, AgentSession.started_at >= since)
        .order_by(AgentSession.started_at.desc(), AgentSession.id.desc())
        .limit(limit)
    )
    return [(row[0], int(row[1])) for row in (await db.execute(stmt)).all()]


async def set_fields(db: AsyncSession, session_id: uuid.UUID, **values: Any) -> AgentSession:
    stmt = (
        update(AgentSession)
        .where(AgentSession.id == session_id)
        .values(updated_at=func.clock_timestamp(), **values)
        .returning(AgentSession)
        # RETURNING overwrites the instance already loaded in this session: no refresh SELECT.
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return (await db.execute(stmt)).scalar_one()


# --- sessions recorded by client hooks ---------------------------------------------------------------
async def lock_hook_session(conn: AsyncConnection | AsyncSession, client: str, client_session_id: str) -> None:
    """A transaction-scoped advisory lock on one client session: two hook calls that race to create
    its archon session take turns (the second finds the first one's row)."""
    await conn.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(client + "\x1f" + client_session_id, 0)))
    )


async def find_hook_session(conn: AsyncConnection | AsyncSession, client: str, client_session_id: str) -> AnyRow | None:
    """The newest archon session recorded for this client session (index of migration 0005)."""
    meta = _sessions.c.metadata
    stmt = (
        select(*RETURNED)
        .where(
            meta.has_key("hook_session_id"),
            meta["hook_client"].astext == client,
            meta["hook_session_id"].astext == client_session_id,
        )
        .order_by(_sessions.c.started_at.desc())
        .limit(1)
    )
    return (await conn.execute(stmt)).first()


async def reopen(conn: AsyncConnection | AsyncSession, session_id: uuid.UUID, patch: dict[str, Any]) -> AnyRow | None:
    """An ended session active again (a resumed client session), `patch` merged into its metadata."""
    stmt = (
        update(_sessions)
        .where(_sessions.c.id == session_id, _sessions.c.ended_at.is_not(None))
        .values(
            ended_at=None,
            metadata=_sessions.c.metadata.op("||")(cast(patch, JSONB)),
            updated_at=func.clock_timestamp(),
        )
        .returning(*RETURNED)
    )
    return (await conn.execute(stmt)).first()


# --- stale sessions -----------------------------------------------------------------------------------
def _last_activity():
    return func.coalesce(
        select(func.max(SessionEvent.timestamp)).where(SessionEvent.session_id == _sessions.c.id).scalar_subquery(),
        _sessions.c.started_at,
    )


async def end_stale(
    conn: AsyncConnection | AsyncSession, *, before: datetime, now: datetime, limit: int
) -> list[AnyRow]:
    """End active sessions whose last event (or start, when they have none) is older than `before`:
    `ended_at` is that last activity, and the metadata says `ended_by: stale`. Rows locked by another
    writer are skipped (the next sweep gets them). Returns the ended sessions."""
    last = _last_activity().label("last_activity")
    stale = (
        select(_sessions.c.id, last)
        .where(_sessions.c.ended_at.is_(None), _last_activity() < before)
        .order_by(_sessions.c.started_at)
        .limit(limit)
        .with_for_update(of=_sessions, skip_locked=True)
        .cte("stale")
    )
    patch = {"ended_by": "stale", "auto_ended_at": now.isoformat().replace("+00:00", "Z")}
    stmt = (
        update(_sessions)
        .where(_sessions.c.id == stale.c.id, _sessions.c.ended_at.is_(None))
        .values(
            ended_at=func.greatest(stale.c.last_activity, _sessions.c.started_at),
            metadata=_sessions.c.metadata.op("||")(cast(patch, JSONB)),
            updated_at=func.clock_timestamp(),
        )
        .returning(*RETURNED)
    )
    return list((await conn.execute(stmt)).all())
