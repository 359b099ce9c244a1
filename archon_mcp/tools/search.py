"""Search tools: find sessions and events by meaning and keywords (hybrid search)."""

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field, WithJsonSchema

from archon_mcp.config import Settings
from archon_mcp.schemas import EventSearchResults, SessionSearchResults
from archon_mcp.tools._runtime import app_of, run_tool
from archon_mcp.tools.sessions import READ_ONLY, ProjectId


def register(server: MCPServer, settings: Settings) -> None:
    agents = ", ".join(settings.agents)
    Query = Annotated[
        str,
        Field(description="What you are looking for, as a descriptive phrase, e.g. 'database migration errors'."),
    ]
    Limit = Annotated[int, Field(description=f"Most results, 1..{settings.max_search_results}.")]
    Threshold = Annotated[
        float,
        Field(
            description="Minimum similarity 0..1 (calibrated per model). 0.7 = clearly related; "
            "lower it (0.5) for broader results, 0.0 returns the nearest regardless."
        ),
    ]
    Agent = Annotated[str | None, Field(description=f"Only this agent ({agents}).")]
    Since = Annotated[str | None, Field(description="Only from this ISO-8601 time on.")]
    Until = Annotated[str | None, Field(description="Only before this ISO-8601 time.")]
    # Advertised as an enum; checked by the service so a wrong value gets a plain message.
    Mode = Annotated[
        str,
        WithJsonSchema({"type": "string", "enum": ["hybrid", "semantic", "keyword"]}),
        Field(
            description="hybrid (default): meaning and keywords fused, finds exact identifiers too; "
            "semantic: meaning only; keyword: words and identifiers only (threshold not applied)."
        ),
    ]

    @server.tool(annotations=READ_ONLY)
    async def archon_search_sessions(
        ctx: Context,
        query: Query,
        limit: Limit = 10,
        threshold: Threshold = 0.7,
        agent: Agent = None,
        project_id: ProjectId = None,
        since: Since = None,
        until: Until = None,
        active_only: Annotated[bool, Field(description="Only sessions not yet ended.")] = False,
        mode: Mode = "hybrid",
    ) -> SessionSearchResults:
        """Find sessions by meaning and keywords: their summary, key events and metadata, and their
        events (so sessions without a summary are found too). Best match first, each with
        `similarity` (0..1) and `matched_by`. Rows not yet embedded are still found by keyword."""
        search = (await app_of(ctx)).search
        return await run_tool(
            search.search_sessions(query, limit, threshold, agent, project_id, since, until, active_only, mode)
        )

    @server.tool(annotations=READ_ONLY)
    async def archon_search_events(
        ctx: Context,
        query: Query,
        limit: Limit = 10,
        threshold: Threshold = 0.7,
        session_id: Annotated[str | None, Field(description="Only events of this session (UUID).")] = None,
        event_type: Annotated[str | None, Field(description="Only this event type, e.g. error_encountered.")] = None,
        agent: Agent = None,
        project_id: ProjectId = None,
        since: Since = None,
        until: Until = None,
        mode: Mode = "hybrid",
    ) -> EventSearchResults:
        """Find events by meaning and keywords of their type and data (exact identifiers such as
        error names, file names and task ids match too), best match first, each with `similarity`,
        `matched_by` and its session_id."""
        search = (await app_of(ctx)).search
        return await run_tool(
            search.search_events(query, limit, threshold, session_id, event_type, agent, project_id, since, until, mode)
        )
