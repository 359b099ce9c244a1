"""SQL over archon_session_events. Functions take an AsyncSession and never commit."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import insert as sql_insert
from sqlalchemy.ext.asyncio import AsyncSession

from archon_mcp.models import SessionEvent


async def insert(db: AsyncSession, **values: Any) -> SessionEvent:
    # One INSERT ... RETURNING brings back the server defaults (id, timestamp): no refresh SELECT.
    stmt = sql_insert(SessionEvent).values(**values).returning(SessionEvent)
    return (await db.scalars(stmt)).one()


async def insert_many(db: AsyncSession, session_id: uuid.UUID, rows: list[dict[str, Any]]) -> list[SessionEvent]:
    """One multi-row INSERT ... RETURNING. The rows share the transaction's `now()`, so each gets one
    more microsecond than the one before: the session keeps them in the order given."""
    values = [
        {
            **row,
            "session_id": session_id,
            "needs_embedding": True,
            "timestamp": func.now() + func.make_interval(0, 0, 0, 0, 0, 0, i / 1_000_000),
        }
        for i, row in enumerate(rows)
    ]
    stored = list((await db.scalars(sql_insert(SessionEvent).values(values).returning(SessionEvent))).all())
    return sorted(stored, key=lambda event: event.timestamp)


async def count_for_session(db: AsyncSession, session_id: uuid.UUID) -> int:
    stmt = select(func.count(SessionEvent.id)).where(SessionEvent.session_id == session_id)
    return int(await db.scalar(stmt) or 0)


async def window(db: AsyncSession, session_id: uuid.UUID, *, limit: int, offset: int) -> list[SessionEvent]:
    """Events oldest first, `limit` of them starting at `offset`."""
    stmt = (
        select(SessionEvent)
        .where(SessionEvent.session_id == session_id)
        .order_by(SessionEvent.timestamp, SessionEvent.id)
        .limit(limit)
        .offset(offset)
    )
    return list((await db.scalars(stmt)).all())
