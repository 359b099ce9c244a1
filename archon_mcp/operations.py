"""Every operation once: its request model, its answer and the service call that serves it.

The MCP tools (`tools/`) and the REST endpoints (`api/_routes.py`) are both generated from or call
into this table, so an operation cannot take other parameters, defaults or checks on one edge than
on the other. The `description` is what the calling model reads as the tool's description."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from archon_mcp.config import EVENT_FIELDS, MAX_RESUME_TOKENS
from archon_mcp.schemas import (
    ActiveSessions,
    AddEventRequest,
    AddEventsRequest,
    BrowseSessionsRequest,
    CountSessionsRequest,
    CreateSessionRequest,
    EndSessionRequest,
    EventOut,
    EventsAdded,
    EventSearchResults,
    GetActiveSessionsRequest,
    GetLastSessionRequest,
    GetRecentSessionsRequest,
    GetSessionRequest,
    GetStatsRequest,
    LastSession,
    ListSessionsRequest,
    RecentSessions,
    Request,
    ResumeContext,
    ResumeContextRequest,
    SearchEventsRequest,
    SearchSessionsRequest,
    SessionCount,
    SessionDetail,
    SessionOut,
    SessionPage,
    SessionSearchResults,
    SessionSummary,
    StoreStats,
    SummarizeSessionRequest,
    UpdateSessionSummaryRequest,
)
from archon_mcp.services.resume_format import fit_rendered, json_with_size, render_markdown
from archon_mcp.services.summary_format import NO_SAMPLING, Sampling

if TYPE_CHECKING:
    from archon_mcp.app import AppContext

R = TypeVar("R", bound=Request)
O = TypeVar("O", bound=BaseModel)  # noqa: E741


@dataclass(frozen=True)
class Operation(Generic[R, O]):
    tool: str  # the MCP tool's name
    request: type[R]
    output: type[O]
    run: Callable[[AppContext, R], Awaitable[O]]
    description: str
    read_only: bool


# --- what the answers share: project names, and bookkeeping only on request --------------------------
def _models(value: Any) -> Iterator[BaseModel]:
    """`value` and every model nested in its fields (lists included), depth first."""
    if isinstance(value, BaseModel):
        yield value
        for name in type(value).model_fields:
            yield from _models(getattr(value, name))
    elif isinstance(value, list):
        for item in value:
            yield from _models(item)


async def _with_names(app: AppContext, result: O) -> O:
    """Every `project_id` in `result` gets its project's name beside it (`project`)."""
    carriers = [
        m for m in _models(result) if "project" in type(m).model_fields and "project_id" in type(m).model_fields
    ]
    ids = {m.project_id for m in carriers if m.project_id}  # type: ignore[attr-defined]
    names = await app.projects.names(ids) if ids else {}
    for model in carriers:
        model.project = names.get(model.project_id) if model.project_id else None  # type: ignore[attr-defined]
    return result


# What the hooks write into each event's metadata to make retries idempotent (services/hooks.py).
_HOOK_EVENT_KEYS = frozenset({"hook_key", "hook_at"})


def lean(result: O, *, verbose: bool, write: bool = False) -> O:
    """`result` without its bookkeeping unless `verbose`: creation and update times, embedding status,
    empty metadata, the hooks' retry keys in event metadata, and the session id repeated on each event
    of a session. A `write`'s answer keeps the embedding status and metadata of what it just wrote
    (whether it is still being embedded, what was stored). Omitted fields are None, which the answer
    models leave out (`_outputs.BOOKKEEPING`)."""
    if verbose:
        return result
    for model in _models(result):
        if isinstance(model, SessionOut):
            model.created_at = model.updated_at = None
        if isinstance(model, SessionOut | EventOut) and not write:
            model.embedding_status = None
            if isinstance(model, EventOut) and model.metadata:
                model.metadata = {k: v for k, v in model.metadata.items() if k not in _HOOK_EVENT_KEYS}
            if not model.metadata:
                model.metadata = None
        if isinstance(model, SessionDetail):
            for event in model.events:
                event.session_id = None
    return result


async def _answer(app: AppContext, result: O, *, verbose: bool = False, write: bool = False) -> O:
    return lean(await _with_names(app, result), verbose=verbose, write=write)


async def _filter_project(app: AppContext, r: Any) -> uuid.UUID | None:
    """The project a list or search is limited to: `project` (a name that must exist) or `project_id`."""
    return await app.projects.resolve(project=r.project, project_id=r.project_id, create=False)


# --- the service calls ------------------------------------------------------------------------------
async def create_session(app: AppContext, r: CreateSessionRequest) -> SessionOut:
    pid = await app.projects.resolve(project=r.project, project_id=r.project_id)
    session = await app.sessions.create_session(agent=r.agent, project_id=pid, metadata=r.metadata)
    return await _answer(app, session, write=True)


async def end_session(app: AppContext, r: EndSessionRequest) -> SessionOut:
    return await _answer(app, await app.sessions.end_session(session_id=r.session_id, summary=r.summary), write=True)


async def get_session(app: AppContext, r: GetSessionRequest) -> SessionDetail:
    detail = await app.sessions.get_session(
        session_id=r.session_id, event_limit=r.event_limit, event_offset=r.event_offset
    )
    return await _answer(app, detail, verbose=r.verbose)


async def list_sessions(app: AppContext, r: ListSessionsRequest) -> SessionPage:
    active = r.active if isinstance(r, BrowseSessionsRequest) else None  # REST's status filter
    page = await app.sessions.list_sessions(
        agent=r.agent,
        project_id=await _filter_project(app, r),
        since=r.since,
        until=r.until,
        active=active,
        limit=r.limit,
        offset=r.offset,
    )
    return await _answer(app, page, verbose=r.verbose)


async def add_event(app: AppContext, r: AddEventRequest) -> EventOut:
    event = await app.sessions.add_event(
        session_id=r.session_id, event_type=r.event_type, event_data=r.event_data, metadata=r.metadata
    )
    return lean(event, verbose=False, write=True)


async def add_events(app: AppContext, r: AddEventsRequest) -> EventsAdded:
    return await app.sessions.add_events(session_id=r.session_id, events=r.events)


async def search_sessions(app: AppContext, r: SearchSessionsRequest) -> SessionSearchResults:
    found = await app.search.search_sessions(
        query=r.query,
        limit=r.limit,
        threshold=r.threshold,
        agent=r.agent,
        project_id=await _filter_project(app, r),
        since=r.since,
        until=r.until,
        active_only=r.active_only,
        mode=r.mode,
    )
    return await _answer(app, found, verbose=r.verbose)


async def search_events(app: AppContext, r: SearchEventsRequest) -> EventSearchResults:
    found = await app.search.search_events(
        query=r.query,
        limit=r.limit,
        threshold=r.threshold,
        session_id=r.session_id,
        event_type=r.event_type,
        agent=r.agent,
        project_id=await _filter_project(app, r),
        since=r.since,
        until=r.until,
        mode=r.mode,
    )
    return lean(found, verbose=r.verbose)


async def get_last_session(app: AppContext, r: GetLastSessionRequest) -> LastSession:
    last = await app.sessions.get_last_session(agent=r.agent, event_limit=r.event_limit)
    return await _answer(app, last, verbose=r.verbose)


async def count_sessions(app: AppContext, r: CountSessionsRequest) -> SessionCount:
    return await app.sessions.count_sessions(agent=r.agent, days=r.days)


async def get_recent_sessions(app: AppContext, r: GetRecentSessionsRequest) -> RecentSessions:
    recent = await app.sessions.get_recent_sessions(agent=r.agent, days=r.days, limit=r.limit)
    return await _answer(app, recent, verbose=r.verbose)


async def update_session_summary(app: AppContext, r: UpdateSessionSummaryRequest) -> SessionOut:
    session = await app.sessions.update_session_summary(session_id=r.session_id, summary=r.summary, metadata=r.metadata)
    return await _answer(app, session, write=True)


async def get_active_sessions(app: AppContext, r: GetActiveSessionsRequest) -> ActiveSessions:
    page = await app.sessions.get_active_sessions(
        agent=r.agent, project_id=await _filter_project(app, r), limit=r.limit, offset=r.offset
    )
    return await _answer(app, page, verbose=r.verbose)


async def get_stats(app: AppContext, _: GetStatsRequest) -> StoreStats:
    from archon_mcp.services.maintenance import store_stats

    return await store_stats(app.database, app.embedder, app.worker)


async def resume_context(app: AppContext, r: ResumeContextRequest) -> ResumeContext:
    """The context trimmed to `max_tokens` measured on the text that is sent (`ResumeContext.sent_text`):
    the compact JSON, or the Markdown with format=markdown."""
    # Gathered unbounded, then cut on the rendered text: a budget counted on another form would cut
    # too much (Markdown is shorter) or too little.
    if r.project is not None and r.project_id is None and await app.projects.find(r.project) is None:
        # The first call of work on a new project: nothing to resume yet, which is an answer, not an error.
        from archon_mcp.services.projects import normalize_name  # loads SQLAlchemy: not at server start-up

        context = ResumeContext(
            agent=r.agent,
            project_id=None,
            project=normalize_name(r.project),
            found=False,
            last_session=None,
            open_tasks=[],
            recent_decisions=[],
            unresolved_errors=[],
            related_sessions=[],
            sessions_scanned=0,
            max_tokens=r.max_tokens,
            estimated_tokens=0,
            trimmed={},
        )
    else:
        context = await app.resume.resume_context(
            agent=r.agent, project_id=await _filter_project(app, r), max_tokens=MAX_RESUME_TOKENS
        )
        context = await _with_names(app, context)
    context.max_tokens = r.max_tokens
    if r.format == "markdown":
        text, context = fit_rendered(context, r.max_tokens, lambda c: render_markdown(c, project_name=c.project))
    else:
        text, context = fit_rendered(context, r.max_tokens, json_with_size)
    context.set_sent_text(text)
    return context


async def summarize_session(
    app: AppContext, r: SummarizeSessionRequest, sampling: Sampling = NO_SAMPLING
) -> SessionSummary:
    """`sampling`: what MCP sampling of the client's model gave (tools/summaries.py); without it the
    sampling method is skipped, as over REST."""
    summary = await app.summaries.summarize(
        session_id=r.session_id, methods=r.methods, store=r.store, sampling=sampling
    )
    return await _answer(app, summary, write=True)


# --- what the calling model reads ------------------------------------------------------------------
# How to start and end work: the server's instructions, these descriptions and the README say this.
START_AND_END = (
    'Start work with archon_resume_context(agent, project="<repository name>"): where you left off. Then '
    "archon_create_session(agent, project=...), log significant events with archon_add_event, and end with "
    "archon_end_session and a specific, searchable summary. With the archon-mcp hooks installed "
    "(archon-mcp hooks install) the session is recorded automatically and its resume context arrives at "
    "start: do not create or end sessions yourself."
)

# Which event types and event_data fields the summaries and archon_resume_context understand.
EVENT_GUIDE = "Fields read: " + " | ".join(f"{kind}: {fields}" for kind, fields in EVENT_FIELDS.items()) + "."


def _op(
    tool: str,
    request: type[R],
    output: type[O],
    run: Callable[[AppContext, R], Awaitable[O]],
    *,
    read_only: bool,
    description: str,
) -> Operation[Any, Any]:
    return Operation(tool, request, output, run, description, read_only)


# --- the table (archon_summarize_session, which also samples the client's model, registers itself in
# tools/summaries.py) ------------------------------------------------------------------------------
OPERATIONS: tuple[Operation[Any, Any], ...] = (
    _op(
        "archon_create_session",
        CreateSessionRequest,
        SessionOut,
        create_session,
        read_only=False,
        description="""Start a new work session for an agent at the start of a logical unit of work (a feature,
        a bug fix); name its project with `project` (e.g. "billing-api": the same name is the same
        project in every conversation). Returns the session; keep its `id`. """
        + START_AND_END,
    ),
    _op(
        "archon_end_session",
        EndSessionRequest,
        SessionOut,
        end_session,
        read_only=False,
        description="""End an active session, optionally with a summary (what was done, specific and searchable:
        the next session's archon_resume_context starts from it). A session can be ended once; to
        change the summary later use archon_update_session_summary. Returns the ended session.""",
    ),
    _op(
        "archon_get_session",
        GetSessionRequest,
        SessionDetail,
        get_session,
        read_only=True,
        description="""Get one session with its events in time order (oldest first). `event_count` is the total;
        page through long sessions with event_offset. Compact by default: verbose=true adds the
        bookkeeping fields.""",
    ),
    _op(
        "archon_list_sessions",
        ListSessionsRequest,
        SessionPage,
        list_sessions,
        read_only=True,
        description="""List sessions, newest first, without their events (each with its event_count). Filter by
        agent, project and start time.""",
    ),
    _op(
        "archon_add_event",
        AddEventRequest,
        EventOut,
        add_event,
        read_only=False,
        description="""Log a significant event (task created/completed, decision made, error hit or resolved,
        pattern seen, context shared) to an active session. The event is stored at once and embedded
        for semantic search in the background. Fails if the session has ended. Tasks are matched by
        task_id (or title) across sessions, so log task_completed with the task_created's task_id;
        log error_resolved (or "resolved": true on the error) so a fixed error no longer shows as
        unresolved. """
        + EVENT_GUIDE,
    ),
    _op(
        "archon_add_events",
        AddEventsRequest,
        EventsAdded,
        add_events,
        read_only=False,
        description="""Log several events to an active session in one call (a burst of steps, a buffered log):
        all are stored or none, in the order given, and embedded in the background. Faster than
        one archon_add_event per event.""",
    ),
    _op(
        "archon_search_sessions",
        SearchSessionsRequest,
        SessionSearchResults,
        search_sessions,
        read_only=True,
        description="""Find sessions by meaning and keywords: their summary, key events and metadata, and their
        events (so sessions without a summary are found too). Best match first, each with
        `similarity` (0..1) and `matched_by`. Rows not yet embedded are still found by keyword.""",
    ),
    _op(
        "archon_search_events",
        SearchEventsRequest,
        EventSearchResults,
        search_events,
        read_only=True,
        description="""Find events by meaning and keywords of their type and data (exact identifiers such as
        error names, file names and task ids match too), best match first, each with `similarity`,
        `matched_by` and its session_id.""",
    ),
    _op(
        "archon_get_last_session",
        GetLastSessionRequest,
        LastSession,
        get_last_session,
        read_only=True,
        description="""Get the agent's most recent session with its latest events (oldest first, 20 by
        default: older ones with archon_get_session). `found` is false when the agent has no
        sessions. To start work, archon_resume_context is shorter and says more (open tasks,
        unresolved errors, decisions).""",
    ),
    _op(
        "archon_count_sessions",
        CountSessionsRequest,
        SessionCount,
        count_sessions,
        read_only=True,
        description="""Count the agent's sessions started in the last `days` days (activity metrics, e.g. this
        week vs this month). Returns the count and the cut-off time.""",
    ),
    _op(
        "archon_get_recent_sessions",
        GetRecentSessionsRequest,
        RecentSessions,
        get_recent_sessions,
        read_only=True,
        description="""The agent's sessions from the last `days` days, newest first, each with its
        `event_count`, plus `total_events`: activity at a glance.""",
    ),
    _op(
        "archon_update_session_summary",
        UpdateSessionSummaryRequest,
        SessionOut,
        update_session_summary,
        read_only=False,
        description="""Replace a session's summary (active or ended) and merge metadata into it, e.g. after
        summarising. The session is re-embedded so search sees the new summary.""",
    ),
    _op(
        "archon_get_active_sessions",
        GetActiveSessionsRequest,
        ActiveSessions,
        get_active_sessions,
        read_only=True,
        description="""Sessions that have not been ended yet, newest first, each with its event_count.
        Use it to find work left open; end stale ones with archon_end_session.""",
    ),
    _op(
        "archon_get_stats",
        GetStatsRequest,
        StoreStats,
        get_stats,
        read_only=True,
        description="""Counts of sessions (all, active) and events, how many are still waiting for an embedding
        (pending rows are stored and keyword-findable, and are retried until embedded), and which
        embedding model is in use.""",
    ),
    _op(
        "archon_resume_context",
        ResumeContextRequest,
        ResumeContext,
        resume_context,
        read_only=True,
        description="""Call first when you start work: where you left off in one call. The last session's
        summary and next steps (and whether it is still active), open tasks (task_created without a
        task_completed or done task_updated of the same task_id or title) across recent sessions,
        recent decisions, unresolved errors (error_encountered not marked "resolved": true, not
        cleared by an error_resolved naming it, nor by completing its task_id), and the most relevant
        earlier sessions. Filter by `project` (a name) or project_id. Lists are newest first; the
        text sent (compact JSON, or Markdown with format="markdown") stays within max_tokens by
        leaving out the least important items, and `trimmed` says how many. """
        + START_AND_END,
    ),
)

BY_TOOL: dict[str, Operation[Any, Any]] = {op.tool: op for op in OPERATIONS}
