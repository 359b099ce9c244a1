"""Session tools: start, end, read, list and summarise sessions."""

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from archon_mcp.config import Settings
from archon_mcp.schemas import (
    ActiveSessions,
    LastSession,
    RecentSessions,
    SessionCount,
    SessionDetail,
    SessionOut,
    SessionPage,
)
from archon_mcp.tools._runtime import OptionalJsonObject, app_of, run_tool

READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)
WRITE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False)

SessionId = Annotated[str, Field(description="UUID of the session, as returned by archon_create_session.")]
ProjectId = Annotated[str | None, Field(description="Optional project UUID to link or filter by.")]


def register(server: MCPServer, settings: Settings) -> None:
    agents = ", ".join(settings.agents)
    Agent = Annotated[str, Field(description=f"Agent name, one of: {agents}.")]
    OptionalAgent = Annotated[str | None, Field(description=f"Only this agent ({agents}); omit for all.")]
    Limit = Annotated[int, Field(description=f"Page size, 1..{settings.max_page_size}.")]
    Offset = Annotated[int, Field(description="How many results to skip (use next_offset from the last page).")]

    @server.tool(annotations=WRITE)
    async def archon_create_session(
        ctx: Context,
        agent: Agent,
        project_id: ProjectId = None,
        metadata: Annotated[
            OptionalJsonObject,
            Field(description='Optional JSON object of context, e.g. {"feature": "auth", "phase": "2"}.'),
        ] = None,
    ) -> SessionOut:
        """Start a new work session for an agent. Call this at the start of a logical unit of work
        (a feature, a bug fix), then log events with archon_add_event and finish with
        archon_end_session. Returns the session; keep its `id`."""
        return await run_tool((await app_of(ctx)).sessions.create_session(agent, project_id, metadata))

    @server.tool(annotations=WRITE)
    async def archon_end_session(
        ctx: Context,
        session_id: SessionId,
        summary: Annotated[
            str | None,
            Field(description="What was done, specific and searchable (it is embedded for semantic search)."),
        ] = None,
    ) -> SessionOut:
        """End an active session, optionally with a summary. A session can be ended once; to change
        the summary later use archon_update_session_summary. Returns the ended session."""
        return await run_tool((await app_of(ctx)).sessions.end_session(session_id, summary))

    @server.tool(annotations=READ_ONLY)
    async def archon_get_session(
        ctx: Context,
        session_id: SessionId,
        event_limit: Annotated[int, Field(description=f"Most events to return, 1..{settings.max_event_limit}.")] = 100,
        event_offset: Annotated[int, Field(description="Skip this many events (oldest first).")] = 0,
    ) -> SessionDetail:
        """Get one session with its events in time order (oldest first). `event_count` is the total;
        page through long sessions with event_offset."""
        return await run_tool((await app_of(ctx)).sessions.get_session(session_id, event_limit, event_offset))

    @server.tool(annotations=READ_ONLY)
    async def archon_list_sessions(
        ctx: Context,
        agent: OptionalAgent = None,
        project_id: ProjectId = None,
        since: Annotated[
            str | None,
            Field(description="Only sessions started at or after this ISO-8601 time, e.g. 2026-01-31T00:00:00Z."),
        ] = None,
        limit: Limit = 20,
        offset: Offset = 0,
        until: Annotated[str | None, Field(description="Only sessions started before this ISO-8601 time.")] = None,
    ) -> SessionPage:
        """List sessions, newest first, without their events. Filter by agent, project and start time."""
        sessions = (await app_of(ctx)).sessions
        return await run_tool(sessions.list_sessions(agent, project_id, since, limit, offset, until))

    @server.tool(annotations=READ_ONLY)
    async def archon_get_last_session(
        ctx: Context,
        agent: Agent,
        event_limit: Annotated[
            int, Field(description=f"How many of its latest events to include, 1..{settings.max_event_limit}.")
        ] = 50,
    ) -> LastSession:
        """Get the agent's most recent session with its latest events (oldest first), to resume
        where it left off. `found` is false when the agent has no sessions."""
        return await run_tool((await app_of(ctx)).sessions.get_last_session(agent, event_limit))

    @server.tool(annotations=READ_ONLY)
    async def archon_count_sessions(
        ctx: Context,
        agent: Agent,
        days: Annotated[int, Field(description=f"Look back this many days, 1..{settings.max_days}.")] = 30,
    ) -> SessionCount:
        """Count the agent's sessions started in the last `days` days (activity metrics, e.g. this
        week vs this month). Returns the count and the cut-off time."""
        return await run_tool((await app_of(ctx)).sessions.count_sessions(agent, days))

    @server.tool(annotations=READ_ONLY)
    async def archon_get_recent_sessions(
        ctx: Context,
        agent: Agent,
        days: Annotated[int, Field(description=f"Look back this many days, 1..{settings.max_days}.")] = 7,
        limit: Limit = 20,
    ) -> RecentSessions:
        """The agent's sessions from the last `days` days, newest first, each with its
        `event_count`, plus `total_events`: activity at a glance."""
        return await run_tool((await app_of(ctx)).sessions.get_recent_sessions(agent, days, limit))

    @server.tool(annotations=WRITE)
    async def archon_update_session_summary(
        ctx: Context,
        session_id: SessionId,
        summary: Annotated[str, Field(description="The new summary text (replaces the old one).")],
        metadata: Annotated[
            OptionalJsonObject,
            Field(
                description="Optional keys merged into the session metadata, typically key_events, decisions, "
                "outcomes, next_steps (lists of strings). Existing keys not named here are kept."
            ),
        ] = None,
    ) -> SessionOut:
        """Replace a session's summary (active or ended) and merge metadata into it, e.g. after
        summarising. The session is re-embedded so search sees the new summary."""
        return await run_tool((await app_of(ctx)).sessions.update_session_summary(session_id, summary, metadata))

    @server.tool(annotations=READ_ONLY)
    async def archon_get_active_sessions(
        ctx: Context,
        agent: OptionalAgent = None,
        project_id: ProjectId = None,
        limit: Annotated[int, Field(description=f"Page size, 1..{settings.max_page_size}.")] = 50,
        offset: Offset = 0,
    ) -> ActiveSessions:
        """Sessions that have not been ended yet, newest first, each with its event_count.
        Use it to find work left open; end stale ones with archon_end_session."""
        return await run_tool((await app_of(ctx)).sessions.get_active_sessions(agent, project_id, limit, offset))
