"""SQL over archon_sessions. Functions take an AsyncSession and never commit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, func, select, update
from sqlalchemy import insert as sql_insert
from sqlalchemy.ext.asyncio import AsyncSession

from archon_mcp.models import AgentSession, SessionEvent


def _event_count():
    return (
        select(func.count(SessionEvent.id))
        .where(SessionEvent.session_id == AgentSession.id)
        .correlate(AgentSession)
        .scalar_subquery()
    )


async def insert(db: AsyncSession, **values: Any) -> AgentSession:
    # One INSERT ... RETURNING brings back the server defaults (id, times): no refresh SELECT.
    stmt = sql_insert(AgentSession).values(**values).returning(AgentSession)
    return (await db.scalars(stmt)).one()


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
    db: AsyncSession, *, limit: int, offset: int, with_event_count: bool = False, **filters: Any
) -> tuple[list[tuple[AgentSession, int | None]], int]:
    """Newest first. Returns (rows with optional event counts, total matching)."""
    columns: list[Any] = [AgentSession]
    if with_event_count:
        columns.append(_event_count().label("event_count"))
    stmt = filter_sessions(select(*columns), **filters)
    stmt = stmt.order_by(AgentSession.started_at.desc(), AgentSession.id.desc()).limit(limit).offset(offset)
    rows = (await db.execute(stmt)).all()
    total = await db.scalar(filter_sessions(select(func.count(AgentSession.id)), **filters))
    return [(row[0], row[1] if with_event_count else None) for row in rows], int(total or 0)


async def latest(db: AsyncSession, agent: str) -> AgentSession | None:
    stmt = (
        select(AgentSession)
        .where(AgentSession.agent == agent)
        .order_by(AgentSession.started_at.desc(), AgentSession.id.desc())
        .limit(1)
    )
    return await db.scalar(stmt)


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
