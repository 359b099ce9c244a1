"""Vector search SQL (pgvector HNSW, cosine distance)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from archon_mcp.models import AgentSession, SessionEvent


async def tune_hnsw(db: AsyncSession, limit: int) -> None:
    """Per-transaction recall knobs: a wider candidate list, and iterative scans so that
    filtered queries still fill `limit` (pgvector >= 0.8)."""
    ef_search = max(100, limit * 4)
    await db.execute(text("SELECT set_config('hnsw.ef_search', :v, true)"), {"v": str(ef_search)})
    await db.execute(text("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)"))


async def nearest_sessions(
    db: AsyncSession,
    vector: list[float],
    *,
    model_name: str,
    max_distance: float,
    limit: int,
    agent: str | None = None,
    project_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    active_only: bool = False,
) -> list[tuple[AgentSession, float]]:
    distance = AgentSession.embedding.cosine_distance(vector)
    stmt = select(AgentSession, distance.label("distance")).where(
        AgentSession.embedding.is_not(None), AgentSession.embedding_model == model_name, distance <= max_distance
    )
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
    stmt = stmt.order_by(distance).limit(limit)
    return [(row[0], float(row[1])) for row in (await db.execute(stmt)).all()]


async def nearest_events(
    db: AsyncSession,
    vector: list[float],
    *,
    model_name: str,
    max_distance: float,
    limit: int,
    session_id: uuid.UUID | None = None,
    event_type: str | None = None,
    agent: str | None = None,
    project_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[tuple[SessionEvent, str, float]]:
    distance = SessionEvent.embedding.cosine_distance(vector)
    stmt: Any = (
        select(SessionEvent, AgentSession.agent, distance.label("distance"))
        .join(AgentSession, AgentSession.id == SessionEvent.session_id)
        .where(
            SessionEvent.embedding.is_not(None),
            SessionEvent.embedding_model == model_name,
            distance <= max_distance,
        )
    )
    if session_id is not None:
        stmt = stmt.where(SessionEvent.session_id == session_id)
    if event_type is not None:
        stmt = stmt.where(SessionEvent.event_type == event_type)
    if agent is not None:
        stmt = stmt.where(AgentSession.agent == agent)
    if project_id is not None:
        stmt = stmt.where(AgentSession.project_id == project_id)
    if since is not None:
        stmt = stmt.where(SessionEvent.timestamp >= since)
    if until is not None:
        stmt = stmt.where(SessionEvent.timestamp < until)
    stmt = stmt.order_by(distance).limit(limit)
    return [(row[0], row[1], float(row[2])) for row in (await db.execute(stmt)).all()]
