"""Pydantic models that tools (and the REST API) return. Ids are strings, times ISO-8601 UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UtcDatetime = Annotated[datetime, PlainSerializer(_iso_utc, return_type=str, when_used="json-unless-none")]
EmbeddingStatus = Literal["embedded", "pending", "none"]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SessionOut(_Out):
    """A session without its events."""

    id: str = Field(description="Session UUID; pass it as session_id to other tools.")
    agent: str
    project_id: str | None = None
    started_at: UtcDatetime
    ended_at: UtcDatetime | None = Field(default=None, description="Null while the session is active.")
    is_active: bool = Field(description="True until archon_end_session is called.")
    summary: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    embedding_status: EmbeddingStatus = Field(
        description="embedded: searchable by meaning; pending: stored, vector on its way; "
        "none: nothing to embed yet (no summary)."
    )
    created_at: UtcDatetime
    updated_at: UtcDatetime


class SessionWithCount(SessionOut):
    event_count: int = Field(description="How many events the session has.")


class EventOut(_Out):
    """One logged event."""

    id: str
    session_id: str
    event_type: str
    event_data: dict[str, Any]
    metadata: dict[str, Any] = Field(default_factory=dict)
    timestamp: UtcDatetime
    embedding_status: EmbeddingStatus


class EventsAdded(BaseModel):
    """Events logged in one call: all of them were stored, in the order given."""

    session_id: str
    count: int
    ids: list[str] = Field(description="The new events' ids, in the order they were given.")
    first_timestamp: UtcDatetime
    last_timestamp: UtcDatetime
    embedding_status: EmbeddingStatus = Field(
        default="pending", description="They are embedded for semantic search in the background."
    )


class SessionDetail(SessionOut):
    """A session with a window of its events, oldest first."""

    events: list[EventOut]
    event_count: int = Field(description="Total events in the session (may exceed len(events)).")
    event_offset: int = Field(description="Index of the first returned event among all, oldest first.")
    has_more_events: bool = Field(
        description="True when events exist after the returned window: fetch them with event_offset = "
        "event_offset + len(events). Earlier events exist when event_offset > 0."
    )


class SessionPage(BaseModel):
    sessions: list[SessionOut]
    total: int = Field(description="Sessions matching the filters in all.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Pass as offset for the next page; null on the last page.")


class ActiveSessions(BaseModel):
    sessions: list[SessionWithCount]
    total: int = Field(description="Active sessions matching the filters in all.")
    limit: int
    offset: int
    next_offset: int | None


class RecentSessions(BaseModel):
    agent: str
    days: int
    since: UtcDatetime
    sessions: list[SessionWithCount]
    total_events: int = Field(description="Sum of event_count over the returned sessions.")


class LastSession(BaseModel):
    found: bool = Field(description="False when the agent has no sessions yet.")
    session: SessionDetail | None = Field(
        default=None, description="The most recent session with its latest events (oldest first)."
    )


class SessionCount(BaseModel):
    agent: str
    days: int
    since: UtcDatetime
    count: int


MatchSource = Literal["semantic", "keyword", "events"]


class _HitScores(BaseModel):
    similarity: float = Field(
        description="Calibrated cosine similarity, 0..1 (0.7 = clearly related); 0 if not embedded yet."
    )
    score: float = Field(description="Fused rank score 0..1 that orders the results (best first).")
    matched_by: list[MatchSource] = Field(
        description="semantic: by meaning; keyword: by words or identifiers; events: through the session's events."
    )


class SessionHit(SessionOut, _HitScores):
    pass


class EventHit(EventOut, _HitScores):
    agent: str = Field(description="Agent of the event's session.")


class _SearchResults(BaseModel):
    query: str
    mode: Literal["hybrid", "semantic", "keyword"]
    threshold: float
    notice: str | None = Field(default=None, description="Set when results are degraded, e.g. keyword-only.")


class SessionSearchResults(_SearchResults):
    results: list[SessionHit] = Field(description="Best match first.")
    pending_embeddings: int = Field(
        description="Sessions stored but not yet embedded (found by keyword, not yet by meaning)."
    )


class EventSearchResults(_SearchResults):
    results: list[EventHit] = Field(description="Best match first.")
    pending_embeddings: int = Field(description="Events stored but not yet embedded (found by keyword meanwhile).")


class StoreStats(BaseModel):
    """Counts and the embedding state of the store."""

    sessions: int
    active_sessions: int
    events: int
    pending_sessions: int = Field(description="Sessions stored but not yet embedded.")
    pending_events: int = Field(description="Events stored but not yet embedded.")
    failing_embeddings: int = Field(description="Pending rows whose embedding failed at least once (being retried).")
    last_embedding_error: str | None = None
    embedding_provider: str
    embedding_model: str
    embedding_dimensions: int
    stored_embedding_model: str | None = Field(description="The model the database was embedded with.")
    stored_embedding_dimensions: int | None = None
