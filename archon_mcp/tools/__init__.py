"""MCP tools: one per operation of `archon_mcp.operations`, its parameters generated from the request model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import Context, MCPServer

from archon_mcp.config import Settings
from archon_mcp.operations import OPERATIONS, Operation
from archon_mcp.schemas import Request
from archon_mcp.tools import summaries
from archon_mcp.tools._runtime import READ_ONLY, WRITE, register_tool

if TYPE_CHECKING:
    from archon_mcp.app import AppContext

TOOL_NAMES = (
    "archon_create_session",
    "archon_end_session",
    "archon_get_session",
    "archon_list_sessions",
    "archon_add_event",
    "archon_add_events",
    "archon_search_sessions",
    "archon_search_events",
    "archon_get_last_session",
    "archon_count_sessions",
    "archon_get_recent_sessions",
    "archon_update_session_summary",
    "archon_get_active_sessions",
    "archon_get_stats",
    "archon_summarize_session",
    "archon_resume_context",
)


def _register(server: MCPServer, settings: Settings, op: Operation[Any, Any]) -> None:
    async def call(app: AppContext, request: Request, _: Context) -> Any:
        return await op.run(app, request)

    register_tool(
        server,
        settings,
        op.request,
        call,
        name=op.tool,
        description=op.description,
        output=op.output,
        annotations=READ_ONLY if op.read_only else WRITE,
    )


def register_tools(server: MCPServer, settings: Settings) -> None:
    for op in OPERATIONS:
        _register(server, settings, op)
    summaries.register(server, settings)
