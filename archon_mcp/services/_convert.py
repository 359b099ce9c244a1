"""ORM objects and Core rows -> the public pydantic models."""

from __future__ import annotations

from typing import Any

from archon_mcp.models import AgentSession, AnyRow, SessionEvent
from archon_mcp.schemas import EmbeddingStatus, EventOut, SessionOut, SessionWithCount


def embedding_status(row: AgentSession | SessionEvent | AnyRow) -> EmbeddingStatus:
    if row.needs_embedding:
        return "pending"
    # `embedding_model` is set together with the vector (and cleared with it): reading it does not
    # load the deferred vector column.
    return "embedded" if row.embedding_model is not None else "none"


def session_fields(row: AgentSession | AnyRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "agent": row.agent,
        "project_id": str(row.project_id) if row.project_id else None,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "is_active": row.ended_at is None,
        "summary": row.summary,
        "metadata": row.metadata_ or {},
        "embedding_status": embedding_status(row),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def event_fields(row: SessionEvent | AnyRow) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "session_id": str(row.session_id),
        "event_type": row.event_type,
        "event_data": row.event_data,
        "metadata": row.metadata_ or {},
        "timestamp": row.timestamp,
        "embedding_status": embedding_status(row),
    }


def session_out(row: AgentSession | AnyRow) -> SessionOut:
    return SessionOut(**session_fields(row))


def session_with_count(row: AgentSession | AnyRow, event_count: int) -> SessionWithCount:
    return SessionWithCount(**session_fields(row), event_count=event_count)


def event_out(row: SessionEvent | AnyRow) -> EventOut:
    return EventOut(**event_fields(row))
