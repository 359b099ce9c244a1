"""Every answer of the MCP tools and the REST API. Ids are strings, times ISO-8601 UTC (`schemas._time`)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from archon_mcp.config import SummaryMethod
from archon_mcp.schemas._time import UtcDatetime

EmbeddingStatus = Literal["embedded", "pending", "none"]


# Left out of an answer when None: the bookkeeping an answer carries only with verbose=true
# (operations.lean sets them to None otherwise), so a compact answer still matches the output schema.
BOOKKEEPING = ("created_at", "updated_at", "embedding_status", "metadata", "session_id")
_BOOKKEEPING_HELP = " Only with verbose=true (on reads)."


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    @model_serializer(mode="wrap")
    def _without_bookkeeping(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for key in BOOKKEEPING:
                if key in data and data[key] is None:
                    del data[key]
        return data


class SessionOut(_Out):
    """A session without its events."""

    id: str = Field(description="Session UUID; pass it as session_id to other tools.")
    agent: str
    project_id: str | None = None
    project: str | None = Field(default=None, description="The project's name, when it has one (e.g. billing-api).")
    started_at: UtcDatetime
    ended_at: UtcDatetime | None = Field(default=None, description="Null while the session is active.")
    is_active: bool = Field(description="True until archon_end_session is called.")
    summary: str | None = None
    metadata: dict[str, Any] | None = Field(default=None, description="Left out when empty, unless verbose=true.")
    embedding_status: EmbeddingStatus | None = Field(
        default=None,
        description="embedded: searchable by meaning; pending: stored, vector on its way; "
        "none: nothing to embed yet (no summary)." + _BOOKKEEPING_HELP,
    )
    created_at: UtcDatetime | None = Field(default=None, description=_BOOKKEEPING_HELP.strip())
    updated_at: UtcDatetime | None = Field(default=None, description=_BOOKKEEPING_HELP.strip())


class SessionWithCount(SessionOut):
    event_count: int = Field(description="How many events the session has.")


class EventOut(_Out):
    """One logged event."""

    id: str
    session_id: str | None = Field(
        default=None, description="Its session; left out inside a session's own events unless verbose=true."
    )
    event_type: str
    event_data: dict[str, Any]
    metadata: dict[str, Any] | None = Field(default=None, description="Left out when empty, unless verbose=true.")
    timestamp: UtcDatetime
    embedding_status: EmbeddingStatus | None = Field(default=None, description=_BOOKKEEPING_HELP.strip())


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


T = TypeVar("T", bound=BaseModel)


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first. The one page shape of every listing."""

    sessions: list[T]
    total: int = Field(description="Sessions matching the filters in all.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Pass as offset for the next page; null on the last page.")

    @classmethod
    def of(cls, items: list[T], *, total: int, limit: int, offset: int) -> Page[T]:
        more = offset + len(items) < total
        return cls(
            sessions=items, total=total, limit=limit, offset=offset, next_offset=offset + len(items) if more else None
        )


class SessionPage(Page[SessionWithCount]):
    """Sessions newest first, each with its event_count."""


class ActiveSessions(Page[SessionWithCount]):
    """Sessions not yet ended, newest first, each with its event_count."""


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
    embedding_runtime: str | None = Field(
        default=None,
        description="What runs the local model once loaded: openvino-bf16, openvino-f32, onnx or torch "
        "(null for a remote provider, or before the model has loaded).",
    )
    stored_embedding_model: str | None = Field(description="The model the database was embedded with.")
    stored_embedding_dimensions: int | None = None


# --- summaries ----------------------------------------------------------------------------------------
MAX_ITEMS = 12  # per list in a summary
MAX_ITEM_CHARS = 300
MAX_SUMMARY_TEXT = 2000


def clean_item(value: str) -> str:
    text = " ".join(value.split())
    return text if len(text) <= MAX_ITEM_CHARS else text[: MAX_ITEM_CHARS - 1] + "…"


class SummaryDraft(BaseModel):
    """What every summary method returns, validated: models that answer anything else are not stored."""

    model_config = ConfigDict(extra="ignore")

    summary: str = Field(min_length=10, max_length=MAX_SUMMARY_TEXT * 2)
    key_events: list[str] = Field(default_factory=list, max_length=50)
    decisions: list[str] = Field(default_factory=list, max_length=50)
    outcomes: list[str] = Field(default_factory=list, max_length=50)
    next_steps: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("summary")
    @classmethod
    def _summary(cls, value: str) -> str:
        text = " ".join(value.split())
        if len(text) < 10:
            raise ValueError("summary is empty")
        return text[:MAX_SUMMARY_TEXT]

    @field_validator("key_events", "decisions", "outcomes", "next_steps")
    @classmethod
    def _items(cls, value: list[str]) -> list[str]:
        cleaned = [clean_item(item) for item in value]
        return [item for item in cleaned if item][:MAX_ITEMS]


# What a stored summary also writes into the session's metadata (services/summaries.py `_store`).
SUMMARY_METADATA_KEYS = ("key_events", "decisions", "outcomes", "next_steps", "summary_method", "summary_model")


class MethodAttempt(BaseModel):
    method: SummaryMethod
    outcome: Literal["used", "failed", "skipped"]
    detail: str = Field(description="Why it was skipped or failed, or which model answered.")


class SessionSummary(BaseModel):
    """A structured session summary and how it was made."""

    session_id: str
    summary: str
    key_events: list[str]
    decisions: list[str]
    outcomes: list[str]
    next_steps: list[str]
    method: SummaryMethod = Field(description="sampling (the client's model), openai (chat model) or extractive.")
    model: str | None = Field(default=None, description="The model that wrote it, when a model did.")
    events_total: int = Field(description="Events the session has.")
    events_read: int = Field(description="Events the summary was made from (long sessions: first and last ones).")
    chunks: int = Field(description="Model calls in the map step (1: the whole session fitted in one call).")
    attempts: list[MethodAttempt] = Field(description="Every method considered, in order.")
    stored: bool = Field(description="True when saved as the session's summary (and re-embedded).")
    session: SessionOut | None = Field(
        default=None,
        description="The updated session, when stored, without what this answer already says (its summary, "
        "and the summary lists, method and model its metadata also holds).",
    )

    @model_serializer(mode="wrap")
    def _said_once(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        session = data.get("session") if isinstance(data, dict) else None
        if isinstance(session, dict):
            session.pop("summary", None)
            metadata = session.get("metadata")
            if isinstance(metadata, dict):
                for key in SUMMARY_METADATA_KEYS:
                    metadata.pop(key, None)
                if not metadata:
                    session.pop("metadata")
        return data


# --- resume context -----------------------------------------------------------------------------------
class LastSessionBrief(BaseModel):
    id: str
    project_id: str | None
    project: str | None = Field(default=None, description="The project's name, when it has one.")
    started_at: str
    ended_at: str | None
    is_active: bool
    summary: str | None = Field(description="The stored summary; null when the session was never summarised.")
    next_steps: list[str] = Field(description="From the stored summary, else derived from the session's events.")
    summary_status: str | None = Field(default=None, description="pending while a background summary runs.")
    ended_by: str | None = Field(
        default=None, description="stale: ended by itself after ARCHON_STALE_SESSION_HOURS without events."
    )


class OpenTask(BaseModel):
    title: str
    task_id: str | None
    session_id: str
    created_at: str


class RecentItem(BaseModel):
    text: str
    session_id: str
    at: str


class RelatedSession(BaseModel):
    id: str
    agent: str
    started_at: str
    summary: str
    similarity: float | None = Field(description="Calibrated similarity to the last session; null: by recency.")


class ResumeContext(BaseModel):
    """Everything a new session needs from the earlier ones, newest first, within `max_tokens`."""

    agent: str
    project_id: str | None
    project: str | None = Field(default=None, description="The project's name, when it has one.")
    found: bool = Field(description="False when the agent has no sessions (for this project).")
    last_session: LastSessionBrief | None
    open_tasks: list[OpenTask] = Field(description="Created but not completed, across the recent sessions.")
    recent_decisions: list[RecentItem] = Field(description="Newest first.")
    unresolved_errors: list[RecentItem] = Field(description="Newest first.")
    related_sessions: list[RelatedSession] = Field(
        description="Earlier sessions of the project: by meaning first (similarity), then the most recent."
    )
    sessions_scanned: int
    max_tokens: int
    estimated_tokens: int = Field(
        description="Size of the text sent (this JSON, or the Markdown with format=markdown), characters / 4."
    )
    trimmed: dict[str, int] = Field(description="How many items of each list were left out to fit max_tokens.")
    _sent_text: str | None = PrivateAttr(default=None)

    def set_sent_text(self, text: str) -> None:
        """The text the edges send for this answer (what max_tokens was measured on)."""
        self._sent_text = text

    @property
    def sent_text(self) -> str | None:
        return self._sent_text


def answer_text(result: BaseModel) -> str:
    """The text an edge sends for `result`: the text its budget was measured on when it has one
    (`ResumeContext.sent_text`), else compact JSON (no indentation, bookkeeping left out)."""
    text = getattr(result, "sent_text", None)
    return text if isinstance(text, str) else result.model_dump_json(by_alias=True)


# --- activity and server facts (REST) -----------------------------------------------------------------
class ActivityPoint(BaseModel):
    date: dt.date = Field(description="UTC day, YYYY-MM-DD.")
    agent: str
    sessions: int = Field(description="Sessions the agent started that day.")
    events: int = Field(description="Events logged that day in the agent's sessions.")


class AgentTotals(BaseModel):
    agent: str
    sessions: int
    events: int


class ActivityReport(BaseModel):
    """Sessions and events per UTC day per agent over the last `days` days (today included)."""

    days: int
    since: UtcDatetime = Field(description="Start of the first day (inclusive).")
    until: UtcDatetime = Field(description="End of today (exclusive).")
    dates: list[dt.date] = Field(description="Every day of the window, oldest first, including days without activity.")
    points: list[ActivityPoint] = Field(description="Only (day, agent) pairs with some activity, oldest first.")
    agents: list[AgentTotals] = Field(description="Totals per agent over the window, most active first.")
    total_sessions: int
    total_events: int


class Limits(BaseModel):
    max_page_size: int
    max_event_limit: int
    max_search_results: int


class Meta(BaseModel):
    version: str
    agents: list[str]
    event_types: list[str] = Field(description="Common event types; any snake_case type is accepted.")
    event_fields: dict[str, str] = Field(
        description="For each event type the summaries and archon_resume_context read: the event_data fields they "
        "understand (task_id matching, resolved errors...)."
    )
    limits: Limits
    auth_required: bool


class NamedProject(BaseModel):
    id: str
    name: str | None = Field(description="Null for a project known only by its UUID.")


class Projects(BaseModel):
    projects: list[str] = Field(description="Project ids seen in sessions, most recently used first.")
    named: list[NamedProject] = Field(default_factory=list, description="The same projects with their names.")


class ErrorDetail(BaseModel):
    type: str = Field(description="invalid_input, not_found, conflict, database_unavailable, unauthorized, ...")
    message: str = Field(description="What was wrong and how to fix it.")


class ErrorBody(BaseModel):
    error: ErrorDetail
