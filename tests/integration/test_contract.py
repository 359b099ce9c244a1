"""Pins the tool surface (names and parameters) so that it cannot drift by accident."""

from __future__ import annotations

import pytest

from archon_mcp.config import Settings
from archon_mcp.server import build_server
from archon_mcp.tools import TOOL_NAMES

pytestmark = pytest.mark.anyio

EXPECTED: dict[str, tuple[list[str], list[str]]] = {
    # tool: (required parameters, all parameters in order)
    "archon_create_session": (["agent"], ["agent", "project_id", "project", "metadata"]),
    "archon_end_session": (["session_id"], ["session_id", "summary"]),
    "archon_get_session": (["session_id"], ["session_id", "event_limit", "event_offset", "verbose"]),
    "archon_list_sessions": ([], ["agent", "project_id", "project", "since", "limit", "offset", "until", "verbose"]),
    "archon_add_event": (
        ["session_id", "event_type", "event_data"],
        ["session_id", "event_type", "event_data", "metadata"],
    ),
    "archon_add_events": (["session_id", "events"], ["session_id", "events"]),
    "archon_search_sessions": (
        ["query"],
        [
            "query",
            "limit",
            "threshold",
            "agent",
            "project_id",
            "project",
            "since",
            "until",
            "active_only",
            "mode",
            "verbose",
        ],
    ),
    "archon_search_events": (
        ["query"],
        [
            "query",
            "limit",
            "threshold",
            "session_id",
            "event_type",
            "agent",
            "project_id",
            "project",
            "since",
            "until",
            "mode",
            "verbose",
        ],
    ),
    "archon_get_last_session": (["agent"], ["agent", "event_limit", "verbose"]),
    "archon_count_sessions": (["agent"], ["agent", "days"]),
    "archon_get_recent_sessions": (["agent"], ["agent", "days", "limit", "verbose"]),
    "archon_update_session_summary": (["session_id", "summary"], ["session_id", "summary", "metadata"]),
    "archon_get_active_sessions": ([], ["agent", "project_id", "project", "limit", "offset", "verbose"]),
    "archon_get_stats": ([], []),
    "archon_summarize_session": (["session_id"], ["session_id", "methods", "store"]),
    "archon_resume_context": (["agent"], ["agent", "project_id", "project", "max_tokens", "format"]),
}

DEFAULTS = {
    ("archon_list_sessions", "limit"): 20,
    ("archon_search_sessions", "limit"): 10,
    ("archon_search_sessions", "threshold"): 0.7,
    ("archon_search_events", "threshold"): 0.7,
    ("archon_search_sessions", "mode"): "hybrid",
    ("archon_search_events", "mode"): "hybrid",
    ("archon_count_sessions", "days"): 30,
    ("archon_get_recent_sessions", "days"): 7,
    ("archon_get_recent_sessions", "limit"): 20,
    ("archon_summarize_session", "store"): True,
    ("archon_resume_context", "max_tokens"): 2000,
    ("archon_resume_context", "format"): "json",
    ("archon_get_session", "verbose"): False,
    ("archon_search_events", "verbose"): False,
}


async def test_tool_names_and_parameters_are_pinned() -> None:
    server = build_server(Settings(database_url="postgresql://unused/none"))
    tools = {tool.name: tool for tool in await server.list_tools()}
    assert sorted(tools) == sorted(TOOL_NAMES) == sorted(EXPECTED)
    for name, (required, params) in EXPECTED.items():
        schema = tools[name].input_schema
        assert list(schema["properties"]) == params, name
        assert sorted(schema.get("required", [])) == sorted(required), name
        assert tools[name].output_schema is not None, f"{name} must return structured output"
        assert len(tools[name].description or "") > 60, f"{name} needs a description for the calling model"
    for (name, param), default in DEFAULTS.items():
        assert tools[name].input_schema["properties"][param]["default"] == default, (name, param)


async def test_descriptions_name_allowed_agents_and_event_types() -> None:
    server = build_server(Settings(database_url="postgresql://unused/none", agents="claude,ops"))
    tools = {tool.name: tool for tool in await server.list_tools()}
    agent_doc = tools["archon_create_session"].input_schema["properties"]["agent"]["description"]
    assert "claude, ops" in agent_doc
    event_doc = tools["archon_add_event"].input_schema["properties"]["event_type"]["description"]
    for kind in ("task_created", "decision_made", "error_encountered", "context_shared"):
        assert kind in event_doc
