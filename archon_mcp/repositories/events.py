"""SQL over archon_session_events. Functions take an AsyncSession (ORM) or an AsyncConnection
(Core: the write path) and never commit."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, func, select, text, true
from sqlalchemy import insert as sql_insert
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from archon_mcp.models import AgentSession, AnyRow, SessionEvent

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
) -> AnyRow | None:
    """The stored event, or None when the session does not exist or has ended."""
    params = {"session_id": session_id, "event_type": event_type, "event_data": event_data, "metadata": metadata}
    return (await conn.execute(_INSERT_IF_ACTIVE, params)).first()


# Many events in one statement, compiled once whatever their number: the batch is one JSONB array
# parameter (a multi-row VALUES statement is compiled anew for every size, ~25 ms of Python for 50
# rows). The rows share the statement's `now()`, so each gets one more microsecond than the one
# before: the session keeps them in the order given. Inserted only while the session is active,
# under the same share lock as one event.
_INSERT_MANY_IF_ACTIVE = text(
    """
    INSERT INTO archon_session_events
        (session_id, event_type, event_data, metadata, needs_embedding, "timestamp")
    SELECT s.id, item.value ->> 'event_type', item.value -> 'event_data', item.value -> 'metadata', true,
           now() + make_interval(secs => (item.ordinality - 1) / 1000000.0)
    FROM archon_sessions AS s
    CROSS JOIN jsonb_array_elements(CAST(:events AS jsonb)) WITH ORDINALITY AS item(value, ordinality)
    WHERE s.id = :session_id AND s.ended_at IS NULL
    FOR SHARE OF s
    RETURNING id, session_id, event_type, event_data, metadata AS metadata_, "timestamp", needs_embedding,
              embedding_model
    """
).bindparams(bindparam("events", type_=JSONB), bindparam("session_id", type_=_sessions.c.id.type))


async def insert_many_if_active(
    conn: AsyncConnection, session_id: uuid.UUID, rows: list[dict[str, Any]]
) -> list[AnyRow]:
    """`rows`: dicts of event_type, event_data, metadata. All stored in order, or none (an empty
    list) when the session does not exist or has ended."""
    params = {"session_id": session_id, "events": rows}
    stored = list((await conn.execute(_INSERT_MANY_IF_ACTIVE, params)).all())
    return sorted(stored, key=lambda event: event.timestamp)


async def count_for_session(db: AsyncSession, session_id: uuid.UUID) -> int:
    stmt = select(func.count(SessionEvent.id)).where(SessionEvent.session_id == session_id)
    return int(await db.scalar(stmt) or 0)


async def window(db: AsyncSession | AsyncConnection, session_id: uuid.UUID, *, limit: int, offset: int) -> list[AnyRow]:
    """Events oldest first, `limit` of them starting at `offset` (Core rows, see RETURNED)."""
    stmt = (
        select(*RETURNED)
        .where(_events.c.session_id == session_id)
        .order_by(_events.c.timestamp, _events.c.id)
        .limit(limit)
        .offset(offset)
    )
    return list((await db.execute(stmt)).all())


# --- events recorded by client hooks ------------------------------------------------------------------
async def has_hook_key(conn: AsyncConnection | AsyncSession, session_id: uuid.UUID, key: str) -> bool:
    """True when the session already holds an event recorded under this hook key (a retried hook call)."""
    stmt = (
        select(_events.c.id)
        .where(_events.c.session_id == session_id, _events.c.metadata["hook_key"].astext == key)
        .limit(1)
    )
    return (await conn.execute(stmt)).first() is not None


async def unresolved_command_error(
    conn: AsyncConnection | AsyncSession, session_id: uuid.UUID, command: str
) -> str | None:
    """The error text of the newest `error_encountered` of this session for `command`, unless an
    `error_resolved` for the same command came after it. None when there is nothing to resolve."""
    data = _events.c.event_data
    stmt = (
        select(_events.c.event_type, data["error"].astext.label("error"))
        .where(
            _events.c.session_id == session_id,
            _events.c.event_type.in_(("error_encountered", "error_resolved")),
            data["command"].astext == command,
        )
        .order_by(_events.c.timestamp.desc(), _events.c.id.desc())
        .limit(1)
    )
    row = (await conn.execute(stmt)).first()
    return row.error if row is not None and row.event_type == "error_encountered" else None
