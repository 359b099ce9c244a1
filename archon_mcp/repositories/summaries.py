"""SQL for summaries and resume context. Functions take an AsyncSession and never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import cast, func, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from archon_mcp.models import AgentSession, SessionEvent


async def merge_metadata(db: AsyncSession, session_id: uuid.UUID, patch: dict[str, Any]) -> AgentSession | None:
    """`metadata || patch` in one statement, so keys written concurrently by others are kept.

    The embedding state is left alone: `summary_status` and friends are not embedded text."""
    stmt = (
        update(AgentSession)
        .where(AgentSession.id == session_id)
        .values(metadata_=AgentSession.metadata_.op("||")(cast(patch, JSONB)), updated_at=func.clock_timestamp())
        .returning(AgentSession)
        .execution_options(synchronize_session=False)
    )
    row = (await db.execute(stmt)).scalar_one_or_none()
    if row is not None:
        await db.refresh(row)
    return row


async def recent_sessions(
    db: AsyncSession, *, agent: str, project_id: uuid.UUID | None, limit: int
) -> list[AgentSession]:
    """The agent's newest sessions (of one project, when given), newest first."""
    stmt = select(AgentSession).where(AgentSession.agent == agent)
    if project_id is not None:
        stmt = stmt.where(AgentSession.project_id == project_id)
    stmt = stmt.order_by(AgentSession.started_at.desc(), AgentSession.id.desc()).limit(limit)
    return list((await db.scalars(stmt)).all())


async def earlier_sessions(
    db: AsyncSession,
    *,
    project_id: uuid.UUID | None,
    agent: str,
    exclude: Sequence[uuid.UUID],
    limit: int,
) -> list[AgentSession]:
    """Summarised sessions other than `exclude`, newest first: the project's (any agent) or the agent's."""
    stmt = select(AgentSession).where(AgentSession.summary.is_not(None))
    if project_id is not None:
        stmt = stmt.where(AgentSession.project_id == project_id)
    else:
        stmt = stmt.where(AgentSession.agent == agent)
    if exclude:
        stmt = stmt.where(AgentSession.id.not_in(list(exclude)))
    stmt = stmt.order_by(AgentSession.started_at.desc(), AgentSession.id.desc()).limit(limit)
    return list((await db.scalars(stmt)).all())


async def events_of_sessions(
    db: AsyncSession, session_ids: Sequence[uuid.UUID], *, event_types: Sequence[str], limit: int
) -> list[SessionEvent]:
    """Events of these types in these sessions, oldest first; the newest `limit` of them."""
    if not session_ids:
        return []
    newest = (
        select(SessionEvent)
        .where(SessionEvent.session_id.in_(list(session_ids)), SessionEvent.event_type.in_(list(event_types)))
        .order_by(SessionEvent.timestamp.desc(), SessionEvent.id.desc())
        .limit(limit)
    )
    rows = list((await db.scalars(newest)).all())
    rows.reverse()
    return rows
