"""MCP tools: thin wrappers that validate via the services and shape the output."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from archon_mcp.config import Settings
from archon_mcp.tools import admin, events, search, sessions, summaries

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


def register_tools(server: MCPServer, settings: Settings) -> None:
    sessions.register(server, settings)
    events.register(server, settings)
    search.register(server, settings)
    admin.register(server, settings)
    summaries.register(server, settings)
