"""SQL over archon_session_events. Functions take an AsyncSession (ORM) or an AsyncConnection
(Core: the write path) and never commit."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, bindparam, func, select, true
from sqlalchemy import insert as sql_insert
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from archon_mcp.models import AgentSession, SessionEvent

_events = SessionEvent.__table__
_sessions = AgentSession.__table__

# What a write returns: the columns the public EventOut is made of, named like the ORM attributes
# (`metadata_`), so the same converters read a Core row and an ORM object.
RETURNED = (
    _events.c.id,
    _events.c.session_id,
    _events.c.event_type,
    _events.c.event_data,
    _events.c.metadata.label("metadata_"),
    _events.c.timestamp,
    _events.c.needs_embedding,
    _events.c.embedding_model,
)

# One statement, one round trip (autocommit): the event is stored only if its session exists and
# is active, and FOR SHARE holds the session row until the insert is done, so a concurrent
# end_session (FOR UPDATE) either waits for the event or ends the session first, and then this
# inserts nothing.
_INSERT_IF_ACTIVE = (
    sql_insert(_events)
    .from_select(
        ["session_id", "event_type", "event_data", "metadata", "needs_embedding"],
        select(
            _sessions.c.id,
            bindparam("event_type", type_=_events.c.event_type.type),
            bindparam("event_data", type_=JSONB),
            bindparam("metadata", type_=JSONB),
            true(),
        )
        .where(_sessions.c.id == bindparam("session_id", type_=_sessions.c.id.type), _sessions.c.ended_at.is_(None))
        .with_for_update(read=True),
    )
    .returning(*RETURNED)
)


async def insert_if_active(
    conn: AsyncConnection, session_id: uuid.UUID, event_type: str, event_data: dict, metadata: dict
) -> Row[Any] | None:
    """The stored event, or None when the session does not exist or has ended."""
    params = {"session_id": session_id, "event_type": event_type, "event_data": event_data, "metadata": metadata}
    return (await conn.execute(_INSERT_IF_ACTIVE, params)).first()


async def insert_many(conn: AsyncConnection, session_id: uuid.UUID, rows: list[dict[str, Any]]) -> list[Row[Any]]:
    """One multi-row INSERT ... RETURNING. The rows share the transaction's `now()`, so each gets one
    more microsecond than the one before: the session keeps them in the order given."""
    values = [
        {
            "event_type": row["event_type"],
            "event_data": row["event_data"],
            "metadata": row["metadata"],
            "session_id": session_id,
            "needs_embedding": True,
            "timestamp": func.now() + func.make_interval(0, 0, 0, 0, 0, 0, i / 1_000_000),
        }
        for i, row in enumerate(rows)
    ]
    stored = list((await conn.execute(sql_insert(_events).values(values).returning(*RETURNED))).all())
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
