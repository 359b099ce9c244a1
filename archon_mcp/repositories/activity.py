"""SQL for the session browser: activity per day per agent, and the projects seen.
Functions take an AsyncSession and never commit."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from archon_mcp.models import AgentSession, SessionEvent
from archon_mcp.repositories.sessions import filter_sessions


def _utc_day(column: Any) -> Any:
    # Days are UTC days, whatever the database server's time zone is.
    return func.date(func.timezone("UTC", column))


async def sessions_per_day(
    db: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    agent: str | None = None,
    project_id: uuid.UUID | None = None,
) -> list[tuple[date, str, int]]:
    """(UTC day, agent, sessions started that day), for sessions started in [since, until)."""
    day = _utc_day(AgentSession.started_at).label("day")
    stmt = select(day, AgentSession.agent, func.count(AgentSession.id))
    stmt = filter_sessions(stmt, agent=agent, project_id=project_id, since=since, until=until)
    stmt = stmt.group_by(day, AgentSession.agent).order_by(day, AgentSession.agent)
    return [(row[0], row[1], int(row[2])) for row in (await db.execute(stmt)).all()]


async def events_per_day(
    db: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    agent: str | None = None,
    project_id: uuid.UUID | None = None,
) -> list[tuple[date, str, int]]:
    """(UTC day, agent of the event's session, events logged that day), for events in [since, until)."""
    day = _utc_day(SessionEvent.timestamp).label("day")
    stmt = (
        select(day, AgentSession.agent, func.count(SessionEvent.id))
        .join(AgentSession, AgentSession.id == SessionEvent.session_id)
        .where(SessionEvent.timestamp >= since, SessionEvent.timestamp < until)
    )
    stmt = filter_sessions(stmt, agent=agent, project_id=project_id)
    stmt = stmt.group_by(day, AgentSession.agent).order_by(day, AgentSession.agent)
    return [(row[0], row[1], int(row[2])) for row in (await db.execute(stmt)).all()]


async def distinct_projects(db: AsyncSession, *, limit: int) -> list[uuid.UUID]:
    """Project ids seen in sessions, most recently used first (for the page's project filter)."""
    last_used = func.max(AgentSession.started_at)
    stmt = (
        select(AgentSession.project_id)
        .where(AgentSession.project_id.is_not(None))
        .group_by(AgentSession.project_id)
        .order_by(last_used.desc())
        .limit(limit)
    )
    # The WHERE already drops NULL; the check tells the type checker so.
    return [row[0] for row in (await db.execute(stmt)).all() if row[0] is not None]
