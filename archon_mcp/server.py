"""Composition root: `build_server(settings)` wires the MCP server to the application."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer

from archon_mcp import __version__
from archon_mcp.config import Settings
from archon_mcp.prompts import register_prompts_and_resources
from archon_mcp.startup import BackgroundApp
from archon_mcp.tools import register_tools

if TYPE_CHECKING:
    from archon_mcp.app import AppContext

INSTRUCTIONS = """archon-mcp is your short-term memory across work sessions.
Start work with archon_get_last_session (what you did last time) and archon_create_session.
Log significant events with archon_add_event (decisions, errors, completed tasks).
End with archon_end_session and a specific, searchable summary.
Find earlier work with archon_search_sessions / archon_search_events (by meaning) or
archon_list_sessions / archon_get_recent_sessions (by time)."""


def build_server(settings: Settings, app: AppContext | None = None) -> MCPServer[Any]:
    """An MCP server over `app`; without one, the server opens its own in the background (the
    handshake does not wait for PostgreSQL, migrations or the model; tool calls do) and closes it
    when the session ends."""

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[AppContext | BackgroundApp]:
        if app is not None:
            yield app
            return
        own = BackgroundApp(settings)
        own.start()
        try:
            yield own
        finally:
            await own.close()

    server: MCPServer[Any] = MCPServer(
        name="archon-mcp",
        title="Archon short-term memory",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        log_level=settings.log_level if settings.log_level != "DEBUG" else "DEBUG",
    )
    register_tools(server, settings)
    register_prompts_and_resources(server, settings)
    return server
