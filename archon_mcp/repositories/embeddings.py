"""SQL for the embedding queue: claim pending rows with a lease, store vectors, record failures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from archon_mcp.models import AgentSession, SessionEvent

EmbeddedModel = type[AgentSession] | type[SessionEvent]


@dataclass(frozen=True)
class PendingRow:
    id: Any
    text_fields: tuple[Any, ...]
    version: datetime | None  # sessions: updated_at when claimed; a changed row is not overwritten


def _due(model: EmbeddedModel):
    # The bare boolean column (not `IS TRUE`) is what lets PostgreSQL use the partial indexes
    # `... WHERE needs_embedding`; with `IS TRUE` every count scans the whole table.
    return model.needs_embedding & (
        model.embedding_next_attempt_at.is_(None) | (model.embedding_next_attempt_at <= func.now())
    )


async def claim(db: AsyncSession, model: EmbeddedModel, *, limit: int, lease_seconds: float) -> list[PendingRow]:
    """Lease up to `limit` due rows so that other workers (other replicas) skip them meanwhile."""
    chosen = (
        select(model.id)
        .where(_due(model))
        .order_by(model.embedding_next_attempt_at.asc().nulls_first())
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    returning: tuple[Any, ...]
    if model is AgentSession:
        returning = (AgentSession.id, AgentSession.summary, AgentSession.metadata_, AgentSession.updated_at)
    else:
        # The event's context as the keyword index has it (migration 0004): previous event, session.
        context = func.archon_event_context(
            SessionEvent.session_id, SessionEvent.timestamp, SessionEvent.id, SessionEvent.metadata_
        )
        returning = (SessionEvent.id, SessionEvent.event_type, SessionEvent.event_data, text("NULL"), context)
    stmt = (
        update(model)
        .where(model.id.in_(chosen))
        .values(embedding_next_attempt_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, lease_seconds))
        .returning(*returning)
        .execution_options(synchronize_session=False)
    )
    rows = (await db.execute(stmt)).all()
    return [PendingRow(id=r[0], text_fields=(r[1], r[2], *r[4:]), version=r[3]) for r in rows]


async def store(
    db: AsyncSession, model: EmbeddedModel, rows: list[PendingRow], vectors: list[list[float]], model_name: str
) -> None:
    table = model.__table__
    stmt = (
        update(table)
        .where(table.c.id == bindparam("row_id"), table.c.needs_embedding)
        .values(
            embedding=bindparam("vector"),
            embedding_model=model_name,
            needs_embedding=False,
            embedding_attempts=0,
            embedding_next_attempt_at=None,
            embedding_error=None,
        )
    )
    if model is AgentSession:
        stmt = stmt.where(table.c.updated_at == bindparam("version"))
    # Rows are updated in id order: concurrent writers (other replicas) then lock them in the same
    # order and cannot deadlock with each other.
    params = sorted(
        ({"row_id": r.id, "vector": vec, "version": r.version} for r, vec in zip(rows, vectors, strict=True)),
        key=lambda p: str(p["row_id"]),
    )
    if model is not AgentSession:
        for p in params:
            del p["version"]
    await db.execute(stmt, params)


async def release(db: AsyncSession, model: EmbeddedModel, rows: list[PendingRow]) -> None:
    """End the lease of claimed rows that were not embedded: they are due again at once."""
    table = model.__table__
    await db.execute(
        update(table)
        .where(table.c.id.in_([r.id for r in rows]), table.c.needs_embedding)
        .values(embedding_next_attempt_at=func.now())
    )


async def mark_nothing_to_embed(db: AsyncSession, model: EmbeddedModel, rows: list[PendingRow]) -> None:
    table = model.__table__
    await db.execute(
        update(table)
        .where(table.c.id.in_([r.id for r in rows]))
        .values(needs_embedding=False, embedding=None, embedding_model=None, embedding_next_attempt_at=None)
    )


async def record_failure(
    db: AsyncSession, model: EmbeddedModel, rows: list[PendingRow], error: str, max_delay: float
) -> None:
    """Exponential backoff per row (2, 4, 8... seconds, jittered, capped at `max_delay`)."""
    table = model.__table__
    delay = func.least(max_delay, func.power(2, table.c.embedding_attempts + 1)) * (0.5 + func.random())
    await db.execute(
        update(table)
        .where(table.c.id.in_([r.id for r in rows]))
        .values(
            embedding_attempts=table.c.embedding_attempts + 1,
            embedding_next_attempt_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, delay),
            embedding_error=error[:1000],
        )
    )


async def pending_counts(db: AsyncSession) -> dict[str, int]:
    """Rows waiting for a vector, per table, in one statement (each count reads the partial index
    `WHERE needs_embedding`)."""
    sessions = select(func.count()).where(AgentSession.needs_embedding).scalar_subquery()
    events = select(func.count()).where(SessionEvent.needs_embedding).scalar_subquery()
    counts = (await db.execute(select(sessions, events))).one()
    return {"sessions": int(counts[0] or 0), "events": int(counts[1] or 0)}


async def retype_vectors(db: AsyncSession, dimensions: int) -> None:
    """Change the vector size of both tables; all stored vectors are dropped (Postgres rebuilds the
    HNSW indexes on the now-empty columns)."""
    for table in ("archon_sessions", "archon_session_events"):
        await db.execute(
            text(f"ALTER TABLE {table} ALTER COLUMN embedding TYPE vector({int(dimensions)}) USING NULL::vector")
        )


async def mark_all_pending(db: AsyncSession) -> None:
    for model in (AgentSession, SessionEvent):
        table = model.__table__
        await db.execute(
            update(table).values(
                needs_embedding=True, embedding_attempts=0, embedding_next_attempt_at=None, embedding_error=None
            )
        )


async def release_leases(db: AsyncSession) -> None:
    """Make every pending row due now (after an interrupted run, leases may still be held)."""
    for model in (AgentSession, SessionEvent):
        table = model.__table__
        await db.execute(update(table).where(table.c.needs_embedding).values(embedding_next_attempt_at=None))


async def record_model(db: AsyncSession, provider: str, model_name: str, dimensions: int) -> None:
    await db.execute(
        text(
            "UPDATE archon_embedding_config SET provider = :p, model = :m, dimensions = :d, updated_at = now() "
            "WHERE id = 1"
        ),
        {"p": provider, "m": model_name, "d": dimensions},
    )


async def stats(db: AsyncSession) -> dict[str, Any]:
    row = (
        await db.execute(
            text(
                """
                SELECT
                  (SELECT count(*) FROM archon_sessions) AS sessions,
                  (SELECT count(*) FROM archon_sessions WHERE ended_at IS NULL) AS active_sessions,
                  (SELECT count(*) FROM archon_session_events) AS events,
                  (SELECT count(*) FROM archon_sessions WHERE needs_embedding) AS pending_sessions,
                  (SELECT count(*) FROM archon_session_events WHERE needs_embedding) AS pending_events,
                  (SELECT count(*) FROM archon_sessions WHERE needs_embedding AND embedding_attempts > 0)
                    + (SELECT count(*) FROM archon_session_events WHERE needs_embedding AND embedding_attempts > 0)
                    AS failing,
                  (SELECT max(embedding_error) FROM archon_session_events WHERE needs_embedding) AS last_event_error
                """
            )
        )
    ).one()
    return dict(row._mapping)
