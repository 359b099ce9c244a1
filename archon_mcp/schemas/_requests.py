"""One request model per operation: the MCP tool's parameters, the REST endpoint's query or body, and
the OpenAPI document all come from these fields (names, types, defaults, descriptions).

Descriptions may name settings as `$name` (`$agents`, `$max_page_size`, ...): each edge fills them in
from the running server's Settings (`describe`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from string import Template
from typing import Annotated, Any, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from archon_mcp.config import COMMON_EVENT_TYPES, MAX_RESUME_TOKENS, MIN_RESUME_TOKENS, Settings
from archon_mcp.errors import ArchonError, InvalidInputError
from archon_mcp.schemas._fields import (
    Agent,
    Days,
    EventLimit,
    EventType,
    EventTypeFilter,
    JsonObject,
    Methods,
    Mode,
    NewEvents,
    Offset,
    OptionalAgent,
    OptionalJsonObject,
    OptionalProjectName,
    OptionalSummary,
    OptionalTime,
    OptionalUuid,
    PageLimit,
    Query,
    ResumeFormatField,
    SearchLimit,
    SessionId,
    Summary,
    Threshold,
    bounded,
)


class Request(BaseModel):
    """An operation's validated input. Unknown fields are refused (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def parse(cls, settings: Settings, /, **values: Any) -> Self:
        """Validate `values` against `settings`; the first problem becomes an InvalidInputError."""
        try:
            return cls.model_validate(values, context={"settings": settings})
        except ValidationError as exc:
            raise input_error(exc, cls) from None


# --- descriptions ---------------------------------------------------------------------------------
def setting_values(settings: Settings) -> dict[str, Any]:
    return {
        "agents": ", ".join(settings.agents),
        "common_event_types": ", ".join(COMMON_EVENT_TYPES),
        "max_page_size": settings.max_page_size,
        "max_event_limit": settings.max_event_limit,
        "max_search_results": settings.max_search_results,
        "max_days": settings.max_days,
        "max_event_type_chars": settings.max_event_type_chars,
        "max_json_bytes": settings.max_json_bytes,
        "max_batch_events": settings.max_batch_events,
        "min_resume_tokens": MIN_RESUME_TOKENS,
        "max_resume_tokens": MAX_RESUME_TOKENS,
    }


def describe(value: Any, settings: Settings) -> Any:
    """`value` (a description, or a JSON schema holding descriptions) with `$setting` names filled in."""
    values = setting_values(settings)
    if isinstance(value, str):
        return Template(value).safe_substitute(values)
    if isinstance(value, dict):
        return {key: describe(item, settings) for key, item in value.items()}
    if isinstance(value, list):
        return [describe(item, settings) for item in value]
    return value


# --- errors ---------------------------------------------------------------------------------------
_TYPE_WORDS = {
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a JSON object",
    "literal_error": "is not one of the allowed values",
}


def input_error(exc: ValidationError, model: type[BaseModel]) -> ArchonError:
    """The first problem of a failed validation, in the words of the project's checks."""
    return error_from(exc.errors()[0], allowed=model.model_fields)


def error_from(error: Mapping[str, Any], *, allowed: Iterable[str], unknown: str = "field") -> ArchonError:
    """One pydantic error (a dict of `ValidationError.errors()`) as the caller should read it; `unknown`
    names what an unexpected key is (a field, a query parameter)."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ArchonError):
        return cause
    field = ".".join(str(part) for part in error.get("loc", ())) or "the request"
    kind = error.get("type")
    if kind == "missing":
        return InvalidInputError(f"{field} is required")
    if kind == "extra_forbidden":
        return InvalidInputError(f"unknown {unknown} {field!r}; this endpoint takes: {', '.join(allowed) or 'none'}")
    if kind in _TYPE_WORDS:
        shown = error.get("input")
        got = f" (got {str(shown)[:40]!r})" if isinstance(shown, str | int | float) else ""
        return InvalidInputError(f"{field} {_TYPE_WORDS[kind]}{got}")
    if isinstance(cause, ValueError):
        return InvalidInputError(f"{field}: {cause}")
    return InvalidInputError(f"{field}: {error.get('msg', 'invalid value')}")


# --- defaults that keep a typical answer under 2,000 tokens (README, "What the tools send back") ---
LAST_SESSION_EVENTS = 20
SESSION_EVENTS = 30

# --- shared descriptions --------------------------------------------------------------------------
_SESSION_ID = "UUID of the session, as returned by archon_create_session."
_AGENT = "Agent name, one of: $agents."
_ONLY_AGENT = "Only this agent ($agents); omit for all."
_PROJECT = "Project UUID (the seed's API); a name in `project` is easier. Give one of the two."
_PROJECT_NAME = (
    "Project name, e.g. 'billing-api' (the git repository's or folder's name): the same name is the same "
    "project in every conversation and from every client, created on first use. Or pass project_id."
)
_PROJECT_FILTER = "Only this project, by name, e.g. 'billing-api' (an unknown name is an error). Or project_id."
_VERBOSE = (
    "true: also return the bookkeeping fields (created_at, updated_at, embedding_status, empty metadata {}, "
    "each event's session_id inside a session). Default false keeps the answer small."
)
_PAGE_LIMIT = "Page size, 1..$max_page_size."
_OFFSET = "How many results to skip (use next_offset from the last page)."
_QUERY = "What you are looking for, as a descriptive phrase, e.g. 'database migration errors'."
# REST has always called it `q`: still accepted there (and anywhere), `query` is the documented name.
_QUERY_NAMES = AliasChoices("query", "q")
_SEARCH_LIMIT = "Most results, 1..$max_search_results."
_THRESHOLD = (
    "Minimum similarity 0..1 (calibrated per model). 0.7 = clearly related; "
    "lower it (0.5) for broader results, 0.0 returns the nearest regardless."
)
_SEARCH_AGENT = "Only this agent ($agents)."
_SINCE = "Only from this ISO-8601 time on."
_UNTIL = "Only before this ISO-8601 time."
_MODE = (
    "hybrid (default): meaning and keywords fused, finds exact identifiers too; "
    "semantic: meaning only; keyword: words and identifiers only (threshold not applied)."
)
_DAYS = "Look back this many days, 1..$max_days."


# --- sessions -------------------------------------------------------------------------------------
class CreateSessionRequest(Request):
    agent: Agent = Field(description=_AGENT)
    project_id: OptionalUuid = Field(default=None, description=_PROJECT)
    project: OptionalProjectName = Field(default=None, description=_PROJECT_NAME)
    metadata: OptionalJsonObject = Field(
        default=None,
        validate_default=True,
        description='Optional JSON object of context, e.g. {"feature": "auth", "phase": "2"}.',
    )


class EndSessionRequest(Request):
    session_id: SessionId = Field(description=_SESSION_ID)
    summary: OptionalSummary = Field(
        default=None, description="What was done, specific and searchable (it is embedded for semantic search)."
    )


class GetSessionRequest(Request):
    session_id: SessionId = Field(description=_SESSION_ID)
    event_limit: EventLimit = Field(
        default=SESSION_EVENTS, description="Most events to return, 1..$max_event_limit; page on with event_offset."
    )
    event_offset: Offset = Field(default=0, description="Skip this many events (oldest first).")
    verbose: bool = Field(default=False, description=_VERBOSE)


class ListSessionsRequest(Request):
    agent: OptionalAgent = Field(default=None, description=_ONLY_AGENT)
    project_id: OptionalUuid = Field(default=None, description=_PROJECT)
    project: OptionalProjectName = Field(default=None, description=_PROJECT_FILTER)
    since: OptionalTime = Field(
        default=None, description="Only sessions started at or after this ISO-8601 time, e.g. 2026-01-31T00:00:00Z."
    )
    limit: PageLimit = Field(default=20, description=_PAGE_LIMIT)
    offset: Offset = Field(default=0, description=_OFFSET)
    until: OptionalTime = Field(default=None, description="Only sessions started before this ISO-8601 time.")
    verbose: bool = Field(default=False, description=_VERBOSE)


class BrowseSessionsRequest(ListSessionsRequest):
    """`GET /api/sessions`: archon_list_sessions plus the session browser's status filter."""

    active: bool | None = Field(
        default=None, description="true: only active sessions; false: only ended ones; omitted: both."
    )


class GetActiveSessionsRequest(Request):
    agent: OptionalAgent = Field(default=None, description=_ONLY_AGENT)
    project_id: OptionalUuid = Field(default=None, description=_PROJECT)
    project: OptionalProjectName = Field(default=None, description=_PROJECT_FILTER)
    limit: PageLimit = Field(default=50, description=_PAGE_LIMIT)
    offset: Offset = Field(default=0, description=_OFFSET)
    verbose: bool = Field(default=False, description=_VERBOSE)


class GetLastSessionRequest(Request):
    agent: Agent = Field(description=_AGENT)
    event_limit: EventLimit = Field(
        default=LAST_SESSION_EVENTS,
        description="How many of its latest events to include, 1..$max_event_limit; older ones: archon_get_session.",
    )
    verbose: bool = Field(default=False, description=_VERBOSE)


class CountSessionsRequest(Request):
    agent: Agent = Field(description=_AGENT)
    days: Days = Field(default=30, description=_DAYS)


class GetRecentSessionsRequest(Request):
    agent: Agent = Field(description=_AGENT)
    days: Days = Field(default=7, description=_DAYS)
    limit: PageLimit = Field(default=20, description=_PAGE_LIMIT)
    verbose: bool = Field(default=False, description=_VERBOSE)


class UpdateSessionSummaryRequest(Request):
    session_id: SessionId = Field(description=_SESSION_ID)
    summary: Summary = Field(description="The new summary text (replaces the old one).")
    metadata: OptionalJsonObject = Field(
        default=None,
        validate_default=True,
        description="Optional keys merged into the session metadata, typically key_events, decisions, "
        "outcomes, next_steps (lists of strings). Existing keys not named here are kept.",
    )


# --- events ---------------------------------------------------------------------------------------
class AddEventRequest(Request):
    session_id: SessionId = Field(description=_SESSION_ID)
    event_type: EventType = Field(
        description="Event type in snake_case: lowercase letters, digits and underscores, starting with a letter, "
        "at most $max_event_type_chars characters. Common: $common_event_types. Custom types are allowed."
    )
    event_data: JsonObject = Field(
        description='JSON object describing the event, e.g. {"task_id": "123", "title": "..."} or '
        '{"decision": "...", "rationale": "..."}. At most $max_json_bytes bytes.'
    )
    metadata: OptionalJsonObject = Field(
        default=None,
        validate_default=True,
        description='Optional JSON object, e.g. {"file": "service.py", "complexity": "high"}.',
    )


class AddEventsRequest(Request):
    session_id: SessionId = Field(description=_SESSION_ID)
    events: NewEvents = Field(
        description='1 to $max_batch_events objects, each {"event_type": "...", "event_data": {...}, '
        '"metadata": {...} (optional)}, with the same rules as archon_add_event.'
    )


# --- search ---------------------------------------------------------------------------------------
class SearchSessionsRequest(Request):
    query: Query = Field(description=_QUERY, validation_alias=_QUERY_NAMES)
    limit: SearchLimit = Field(default=10, description=_SEARCH_LIMIT)
    threshold: Threshold = Field(default=0.7, description=_THRESHOLD)
    agent: OptionalAgent = Field(default=None, description=_SEARCH_AGENT)
    project_id: OptionalUuid = Field(default=None, description=_PROJECT)
    project: OptionalProjectName = Field(default=None, description=_PROJECT_FILTER)
    since: OptionalTime = Field(default=None, description=_SINCE)
    until: OptionalTime = Field(default=None, description=_UNTIL)
    active_only: bool = Field(default=False, description="Only sessions not yet ended.")
    mode: Mode = Field(default="hybrid", description=_MODE)
    verbose: bool = Field(default=False, description=_VERBOSE)


class SearchEventsRequest(Request):
    query: Query = Field(description=_QUERY, validation_alias=_QUERY_NAMES)
    limit: SearchLimit = Field(default=10, description=_SEARCH_LIMIT)
    threshold: Threshold = Field(default=0.7, description=_THRESHOLD)
    session_id: OptionalUuid = Field(default=None, description="Only events of this session (UUID).")
    event_type: EventTypeFilter = Field(default=None, description="Only this event type, e.g. error_encountered.")
    agent: OptionalAgent = Field(default=None, description=_SEARCH_AGENT)
    project_id: OptionalUuid = Field(default=None, description=_PROJECT)
    project: OptionalProjectName = Field(default=None, description=_PROJECT_FILTER)
    since: OptionalTime = Field(default=None, description=_SINCE)
    until: OptionalTime = Field(default=None, description=_UNTIL)
    mode: Mode = Field(default="hybrid", description=_MODE)
    verbose: bool = Field(default=False, description=_VERBOSE)


# --- summaries, resume, store ---------------------------------------------------------------------
class SummarizeSessionRequest(Request):
    session_id: SessionId = Field(description=_SESSION_ID)
    methods: Methods = Field(
        default=None,
        description="Methods to try, in order, from: sampling (your own model, if your client supports MCP "
        "sampling), openai (the server's configured chat model), extractive (offline digest of the events, "
        "always works and is always tried last). Omit for the server's configured order.",
    )
    store: bool = Field(
        default=True, description="Save it as the session's summary (re-embedded for search). False: preview only."
    )


class ResumeContextRequest(Request):
    agent: Agent = Field(description=_AGENT)
    project_id: OptionalUuid = Field(default=None, description="Only this project's sessions (UUID).")
    project: OptionalProjectName = Field(
        default=None,
        description="Only this project's sessions, by name, e.g. 'billing-api' (the repository's name). A name "
        "no session has used yet answers found=false: nothing to resume, start the project. Or project_id.",
    )
    max_tokens: Annotated[int, bounded(MIN_RESUME_TOKENS, MAX_RESUME_TOKENS)] = Field(
        default=2000,
        description="Size budget of the text sent back, in tokens (estimated as characters / 4), "
        "$min_resume_tokens..$max_resume_tokens.",
    )
    format: ResumeFormatField = Field(
        default="json",
        description="json (default): the fields below as compact JSON; markdown: the same context as short "
        "Markdown text (as the `resume` prompt renders it). max_tokens applies to whichever is sent.",
    )


class GetStatsRequest(Request):
    pass


class ActivityRequest(Request):
    days: Annotated[int, bounded(1, 366)] = Field(default=30, description="Window in days, today included (1..366).")
    agent: OptionalAgent = Field(default=None, description=_ONLY_AGENT)
    project_id: OptionalUuid = Field(default=None, description="Only sessions linked to this project.")
    project: OptionalProjectName = Field(default=None, description=_PROJECT_FILTER)
