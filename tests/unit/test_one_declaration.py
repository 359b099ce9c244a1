"""Each operation is declared once (its request model): the MCP tool's input schema, the REST endpoint's
parameters or body and the OpenAPI document all come from its fields. Proof by adding a field."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import httpx2
import pytest
from pydantic import Field

from archon_mcp import operations
from archon_mcp.api import _routes
from archon_mcp.api._routes import build_api
from archon_mcp.config import Settings
from archon_mcp.operations import OPERATIONS
from archon_mcp.schemas import EventSearchResults, SearchEventsRequest
from archon_mcp.server import build_server

pytestmark = pytest.mark.anyio

SETTINGS = Settings(database_url="postgresql://unused/none")

# MCP tool -> (method, REST path, the field that travels in the path)
REST = {
    "archon_create_session": ("post", "/api/sessions", None),
    "archon_end_session": ("post", "/api/sessions/{session_id}/end", "session_id"),
    "archon_get_session": ("get", "/api/sessions/{session_id}", "session_id"),
    "archon_list_sessions": ("get", "/api/sessions", None),
    "archon_add_event": ("post", "/api/sessions/{session_id}/events", "session_id"),
    "archon_add_events": ("post", "/api/sessions/{session_id}/events/batch", "session_id"),
    "archon_search_sessions": ("get", "/api/search/sessions", None),
    "archon_search_events": ("get", "/api/search/events", None),
    "archon_get_last_session": ("get", "/api/agents/{agent}/last-session", "agent"),
    "archon_count_sessions": ("get", "/api/agents/{agent}/count", "agent"),
    "archon_get_recent_sessions": ("get", "/api/agents/{agent}/recent", "agent"),
    "archon_update_session_summary": ("put", "/api/sessions/{session_id}/summary", "session_id"),
    "archon_get_active_sessions": ("get", "/api/sessions/active", None),
    "archon_get_stats": ("get", "/api/stats", None),
    "archon_summarize_session": ("post", "/api/sessions/{session_id}/summarize", "session_id"),
    "archon_resume_context": ("get", "/api/agents/{agent}/resume", "agent"),
}
REST_ONLY = {"archon_list_sessions": {"active"}}  # the session browser's status filter


def _fake_app() -> Any:
    return SimpleNamespace(settings=SETTINGS, database=None)


def _rest_fields(doc: dict[str, Any], method: str, path: str) -> dict[str, dict[str, Any]]:
    """name -> JSON schema of every input of an endpoint (path, query and body fields)."""
    operation = doc["paths"][path][method]
    fields = {p["name"]: {**p["schema"], "description": p.get("description")} for p in operation.get("parameters", [])}
    body = operation.get("requestBody")
    if body:
        schema = body["content"]["application/json"]["schema"]
        ref = schema.get("$ref") or next(s["$ref"] for s in schema["anyOf"] if "$ref" in s)
        fields |= doc["components"]["schemas"][ref.split("/")[-1]]["properties"]
    return fields


async def _documents() -> tuple[dict[str, Any], dict[str, Any]]:
    tools = {t.name: t.input_schema for t in await build_server(SETTINGS).list_tools()}
    return tools, build_api(_fake_app()).app.openapi()


async def test_mcp_and_rest_take_the_same_parameters_with_the_same_descriptions_and_defaults() -> None:
    tools, doc = await _documents()
    assert set(REST) == set(tools)
    for tool, (method, path, _) in REST.items():
        mcp = tools[tool]["properties"]
        rest = _rest_fields(doc, method, path)
        assert set(rest) == set(mcp) | REST_ONLY.get(tool, set()), tool
        for name, schema in mcp.items():
            assert rest[name].get("description") == schema.get("description"), (tool, name)
            assert rest[name].get("default") == schema.get("default"), (tool, name)


async def test_a_field_added_to_a_request_model_appears_in_mcp_rest_and_openapi(monkeypatch) -> None:
    class WithNote(SearchEventsRequest):
        note: str | None = Field(default=None, description="A parameter added in one place.")

    seen: list[Any] = []

    async def search_events(app: Any, request: WithNote) -> EventSearchResults:
        seen.append(request)
        return EventSearchResults(
            query=request.query, mode=request.mode, threshold=request.threshold, results=[], pending_embeddings=0
        )

    patched = tuple(
        dataclasses.replace(op, request=WithNote, run=search_events) if op.tool == "archon_search_events" else op
        for op in OPERATIONS
    )
    monkeypatch.setattr("archon_mcp.tools.OPERATIONS", patched)
    monkeypatch.setattr(_routes, "SearchEventsRequest", WithNote)
    monkeypatch.setattr(operations, "search_events", search_events)

    tools, doc = await _documents()
    assert tools["archon_search_events"]["properties"]["note"]["description"] == "A parameter added in one place."
    note = next(p for p in doc["paths"]["/api/search/events"]["get"]["parameters"] if p["name"] == "note")
    assert note["description"] == "A parameter added in one place." and not note["required"]

    api = build_api(_fake_app())
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=api), base_url="http://localhost") as client:
        answer = await client.get("/search/events", params={"query": "x", "note": "hello"})
    assert answer.status_code == 200, answer.text
    assert seen and seen[-1].note == "hello", "the REST endpoint must pass the new field to the operation"
