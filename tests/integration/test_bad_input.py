"""Bad input gets a tool error that says what to fix, and nothing is written."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.helpers import call, call_error

pytestmark = pytest.mark.anyio

MISSING = str(uuid.uuid4())


async def _counts(app) -> tuple[int, int]:
    async with app.database.engine.connect() as conn:
        sessions = await conn.scalar(text("SELECT count(*) FROM archon_sessions"))
        events = await conn.scalar(text("SELECT count(*) FROM archon_session_events"))
    return sessions, events


@pytest.fixture
async def session(client) -> dict:
    return await call(client, "archon_create_session", agent="claude", metadata={"keep": "me"})


@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    [
        (
            "archon_create_session",
            {"agent": "copilot"},
            "unknown agent 'copilot': use one of claude, gemini, gpt, user",
        ),
        ("archon_create_session", {"agent": ""}, "agent is required"),
        (
            "archon_create_session",
            {"agent": "claude", "project_id": "proj-1"},
            "project_id 'proj-1' is not a valid UUID",
        ),
        ("archon_create_session", {"agent": "claude", "metadata": ["a"]}, "metadata must be a JSON object"),
        ("archon_get_session", {"session_id": "not-a-uuid"}, "session_id 'not-a-uuid' is not a valid UUID"),
        ("archon_get_session", {"session_id": MISSING}, f"no session with id {MISSING}"),
        ("archon_end_session", {"session_id": MISSING}, f"no session with id {MISSING}"),
        ("archon_update_session_summary", {"session_id": MISSING, "summary": "x"}, "no session with id"),
        ("archon_add_event", {"session_id": MISSING, "event_type": "x", "event_data": {}}, "no session with id"),
        ("archon_list_sessions", {"limit": 0}, "limit must be between 1 and 100"),
        ("archon_list_sessions", {"limit": 100000}, "limit must be between 1 and 100"),
        ("archon_list_sessions", {"offset": -1}, "offset must be between 0"),
        ("archon_list_sessions", {"since": "last tuesday"}, "since 'last tuesday' is not an ISO-8601 date-time"),
        ("archon_list_sessions", {"agent": "bard"}, "unknown agent 'bard'"),
        ("archon_get_session", {"session_id": MISSING, "event_limit": 0}, "event_limit must be between 1 and 500"),
        ("archon_count_sessions", {"agent": "claude", "days": 0}, "days must be between 1 and 3650"),
        ("archon_get_recent_sessions", {"agent": "claude", "limit": 101}, "limit must be between 1 and 100"),
        ("archon_search_sessions", {"query": ""}, "query must not be empty"),
        ("archon_search_sessions", {"query": "x", "threshold": 1.5}, "threshold must be between 0.0 and 1.0"),
        ("archon_search_sessions", {"query": "x", "limit": 51}, "limit must be between 1 and 50"),
        ("archon_search_events", {"query": "x" * 2001}, "query is 2001 characters long; the limit is 2000"),
        ("archon_search_events", {"query": "x", "session_id": "42"}, "session_id '42' is not a valid UUID"),
        ("archon_get_last_session", {"agent": "nobody"}, "unknown agent 'nobody'"),
    ],
)
async def test_bad_arguments_get_clear_tool_errors(client, app, tool, args, expected) -> None:
    before = await _counts(app)
    message = await call_error(client, tool, **args)
    assert expected in message
    assert await _counts(app) == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"event_type": "", "event_data": {}}, "event_type must not be empty"),
        ({"event_type": "   ", "event_data": {}}, "event_type must not be empty"),
        ({"event_type": "task created", "event_data": {}}, "must be one word in snake_case"),
        ({"event_type": "x" * 65, "event_data": {}}, "event_type is 65 characters long; the limit is 64"),
        ({"event_type": "note", "event_data": ["a", "b"]}, "event_data must be a JSON object (got list)"),
        ({"event_type": "note", "event_data": "just text"}, "event_data must be a JSON object (got str)"),
        ({"event_type": "note", "event_data": None}, "event_data is required"),
        ({"event_type": "note", "event_data": {"blob": "x" * 70_000}}, "the limit is 65536"),
        ({"event_type": "note", "event_data": {"bad": "nul\u0000byte"}}, "event_data.bad contains a NUL character"),
        ({"event_type": "note\u0000", "event_data": {}}, "event_type contains a NUL character"),
        ({"event_type": "note", "event_data": {}, "metadata": 5}, "metadata must be a JSON object"),
    ],
)
async def test_bad_events_are_rejected_and_nothing_is_written(client, app, session, args, expected) -> None:
    before = await _counts(app)
    message = await call_error(client, "archon_add_event", session_id=session["id"], **args)
    assert expected in message
    assert await _counts(app) == before


async def test_deeply_nested_event_data_is_rejected(client, app, session) -> None:
    deep: dict = {}
    node = deep
    for _ in range(30):
        node["child"] = {}
        node = node["child"]
    message = await call_error(client, "archon_add_event", session_id=session["id"], event_type="x", event_data=deep)
    assert "nested deeper than 20 levels" in message


async def test_event_on_ended_session_is_refused(client, app, session) -> None:
    await call(client, "archon_end_session", session_id=session["id"], summary="done")
    before = await _counts(app)
    message = await call_error(
        client, "archon_add_event", session_id=session["id"], event_type="task_created", event_data={"t": 1}
    )
    assert "events can only be added to an active session" in message
    assert "archon_create_session" in message
    assert await _counts(app) == before


async def test_ending_twice_is_refused_and_keeps_the_first_summary(client, session) -> None:
    first = await call(client, "archon_end_session", session_id=session["id"], summary="first summary")
    message = await call_error(client, "archon_end_session", session_id=session["id"], summary="second")
    assert "already ended" in message and "archon_update_session_summary" in message
    detail = await call(client, "archon_get_session", session_id=session["id"])
    assert detail["summary"] == "first summary"
    assert detail["ended_at"] == first["ended_at"]


async def test_oversized_summary_is_refused_and_session_unchanged(client, session) -> None:
    message = await call_error(client, "archon_end_session", session_id=session["id"], summary="s" * 20_001)
    assert "summary is 20001 characters long; the limit is 20000" in message
    detail = await call(client, "archon_get_session", session_id=session["id"])
    assert detail["is_active"] is True and detail["summary"] is None


async def test_bad_metadata_update_keeps_existing_metadata(client, session) -> None:
    message = await call_error(
        client,
        "archon_update_session_summary",
        session_id=session["id"],
        summary="ok",
        metadata=["not", "an", "object"],
    )
    assert "metadata must be a JSON object (got list)" in message
    detail = await call(client, "archon_get_session", session_id=session["id"])
    assert detail["metadata"] == {"keep": "me"} and detail["summary"] is None


async def test_unpaired_surrogate_is_refused(client, session) -> None:
    message = await call_error(
        client, "archon_add_event", session_id=session["id"], event_type="x", event_data={"t": "bad \ud800 text"}
    )
    assert "unpaired UTF-16 surrogate" in message


async def test_search_metacharacters_are_plain_text(client) -> None:
    s = await call(client, "archon_create_session", agent="claude")
    await call(client, "archon_end_session", session_id=s["id"], summary="Dropped the users table by mistake")
    found = await call(
        client, "archon_search_sessions", query="'; DROP TABLE archon_sessions; -- & | ! :* ()", threshold=0.0
    )
    assert found["results"][0]["id"] == s["id"]
    assert (await call(client, "archon_get_session", session_id=s["id"]))["id"] == s["id"]
