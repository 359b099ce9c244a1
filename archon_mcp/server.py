"""Composition root: `build_server(settings)` wires the MCP server to the application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer

from archon_mcp import __version__
from archon_mcp.config import Settings
from archon_mcp.operations import START_AND_END
from archon_mcp.prompts import register_prompts_and_resources
from archon_mcp.startup import BackgroundApp
from archon_mcp.tools import register_tools

if TYPE_CHECKING:
    from archon_mcp.app import AppContext

log = logging.getLogger(__name__)

INSTRUCTIONS = f"""archon-mcp is your short-term memory across work sessions.
{START_AND_END}
Log decisions, errors (and error_resolved when fixed) and tasks (task_created / task_completed with the
same task_id) with archon_add_event: the next session's context is built from them.
Find earlier work with archon_search_sessions / archon_search_events (by meaning and keywords) or
archon_list_sessions / archon_get_recent_sessions (by time). Projects go by name (project="billing-api").
Answers are compact; pass verbose=true to a read for its bookkeeping fields."""


def build_server(
    settings: Settings, app: AppContext | BackgroundApp | None = None, *, shared: bool = False
) -> MCPServer[Any]:
    """An MCP server over `app`. Without one, or with a `BackgroundApp`, the server opens the
    application in the background (the handshake does not wait for PostgreSQL, migrations or the
    model; tool calls do) and closes it when the session ends. `shared`: `app` serves many sessions
    at once (archon_mcp.hub); its owner opens and closes it, never a session."""

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[AppContext | BackgroundApp]:
        if app is not None and (shared or not isinstance(app, BackgroundApp)):
            yield app
            return
        own = app or BackgroundApp(settings)
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


# How long a signalled stdio server gives the application to close (the embedding worker, the
# database pool) before it leaves anyway. Normally ~50 ms; the MCP SDK client SIGKILLs after 2 s.
STDIO_CLOSE_SECONDS = 1.5


async def run_stdio(settings: Settings, stopping: asyncio.Event) -> None:
    """Serve MCP on stdin/stdout until end of input, or until `stopping` is set (SIGTERM/SIGINT).

    On a signal the application is closed directly rather than by unwinding the MCP server: the
    SDK's stdio transport reads stdin on a thread that nothing can interrupt, so the server itself
    may not finish until its client closes stdin. The caller exits without waiting for it."""
    background = BackgroundApp(settings)
    from archon_mcp.stdio import run_stdio as serve_stdio  # our transport: every bad line is answered

    serving = asyncio.ensure_future(serve_stdio(build_server(settings, background)))
    signalled = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait((serving, signalled), return_when=asyncio.FIRST_COMPLETED)
    finally:
        signalled.cancel()
    if serving.done():
        serving.result()
        return
    try:
        await asyncio.wait_for(background.close(), STDIO_CLOSE_SECONDS)
    except TimeoutError:
        log.warning("the application did not close within %.1f s; leaving anyway", STDIO_CLOSE_SECONDS)
