"""Property-based tests: generated (often hostile) arguments for the tools. Every call either
succeeds and what was stored reads back exactly, or fails with a clean tool error; counts add up."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.helpers import call

pytestmark = pytest.mark.anyio

PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

# JSON values as an agent could send them: odd text (NUL, RTL, emoji), huge numbers, deep nesting.
text_values = st.text(max_size=40) | st.sampled_from(["", "\x00", "a\x00b", "'; DROP TABLE x; --", "é\u202e", "😀" * 3])
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text_values
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text_values, children, max_size=4),
    max_leaves=30,
)
anything = json_values | st.lists(json_values, max_size=3)


def _message(result) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


def assert_clean_error(result, tool: str) -> None:
    message = _message(result)
    assert "Traceback" not in message
    # An unexpected crash shows only "Error executing tool <name>"; ours always explain.
    assert re.match(rf"Error executing tool {tool}: \S", message) or "validation error" in message, message


async def _counts(app) -> tuple[int, int]:
    async with app.database.engine.connect() as conn:
        return (
            await conn.scalar(text("SELECT count(*) FROM archon_sessions")),
            await conn.scalar(text("SELECT count(*) FROM archon_session_events")),
        )


def _same_json(a, b) -> bool:
    """Equality as JSON: PostgreSQL keeps numbers exactly but 1.0 may come back as 1."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))
    return a == b


@PROPERTY_SETTINGS
@given(
    agent=st.sampled_from(["claude", "GPT", "bard", "", "x" * 300]) | text_values,
    metadata=anything,
    project=text_values,
)
async def test_create_session_stores_exactly_or_refuses(client, app, agent, metadata, project) -> None:
    before = await _counts(app)
    args = {"agent": agent, "metadata": metadata}
    if project:
        args["project_id"] = project
    result = await client.call_tool("archon_create_session", args)
    after = await _counts(app)
    if result.is_error:
        assert_clean_error(result, "archon_create_session")
        assert after == before
        return
    assert after == (before[0] + 1, before[1])
    stored = await call(client, "archon_get_session", session_id=result.structured_content["id"], verbose=True)
    assert _same_json(stored["metadata"], {} if metadata is None else metadata)
    assert stored["agent"] == agent.strip().lower()


@pytest.fixture
async def open_session(client) -> str:
    return (await call(client, "archon_create_session", agent="claude"))["id"]


@PROPERTY_SETTINGS
@given(
    event_type=st.sampled_from(["task_created", "custom_kind", "", "two words", "x" * 200]) | text_values, data=anything
)
async def test_add_event_round_trips_or_refuses(client, app, open_session, event_type, data) -> None:
    before = await _counts(app)
    result = await client.call_tool(
        "archon_add_event", {"session_id": open_session, "event_type": event_type, "event_data": data}
    )
    after = await _counts(app)
    if result.is_error:
        assert_clean_error(result, "archon_add_event")
        assert after == before
        return
    assert after == (before[0], before[1] + 1)
    event_id = result.structured_content["id"]
    detail = await call(client, "archon_get_session", session_id=open_session, event_limit=500)
    (stored,) = [e for e in detail["events"] if e["id"] == event_id]
    assert _same_json(stored["event_data"], data) and stored["event_type"] == event_type.strip()


@PROPERTY_SETTINGS
@given(
    events=st.lists(
        st.fixed_dictionaries(
            {
                "event_type": st.sampled_from(["task_created", "note", "", "two words"]) | text_values,
                "event_data": anything,
            }
        )
        | anything,
        max_size=6,
    )
    | anything
)
async def test_add_events_stores_all_in_order_or_none(client, app, open_session, events) -> None:
    before = await _counts(app)
    result = await client.call_tool("archon_add_events", {"session_id": open_session, "events": events})
    after = await _counts(app)
    if result.is_error:
        assert_clean_error(result, "archon_add_events")
        assert after == before
        return
    assert after == (before[0], before[1] + len(events))
    ids = result.structured_content["ids"]
    detail = await call(client, "archon_get_session", session_id=open_session, event_limit=500)
    stored = [e for e in detail["events"] if e["id"] in set(ids)]
    assert [e["id"] for e in stored] == ids  # oldest first == the order given
    for event, given_event in zip(stored, events, strict=True):
        assert _same_json(event["event_data"], given_event["event_data"])
        assert event["event_type"] == given_event["event_type"].strip()


@PROPERTY_SETTINGS
@given(
    query=text_values | st.text(alphabet="&|!():*<>-'\"\\ %_", max_size=30) | st.text(max_size=3000),
    limit=st.integers(min_value=-5, max_value=10**12),
    threshold=st.floats(allow_nan=False, allow_infinity=False, min_value=-2, max_value=2),
    mode=st.sampled_from(["hybrid", "semantic", "keyword", "nope"]),
)
async def test_search_never_crashes(client, app, query, limit, threshold, mode) -> None:
    before = await _counts(app)
    for tool in ("archon_search_sessions", "archon_search_events"):
        result = await client.call_tool(tool, {"query": query, "limit": limit, "threshold": threshold, "mode": mode})
        if result.is_error:
            assert_clean_error(result, tool)
        else:
            hits = result.structured_content["results"]
            assert len(hits) <= limit
            assert all(0.0 <= h["similarity"] <= 1.0 for h in hits)
    assert await _counts(app) == before


@PROPERTY_SETTINGS
@given(
    limit=st.integers(min_value=-(10**20), max_value=10**20),
    offset=st.integers(min_value=-(10**20), max_value=10**20),
    since=st.none() | text_values | st.datetimes().map(lambda d: d.isoformat()),
    days=st.integers(min_value=-(10**6), max_value=10**6),
)
async def test_listing_and_counting_never_crash(client, limit, offset, since, days) -> None:
    calls = [
        ("archon_list_sessions", {"limit": limit, "offset": offset, "since": since}),
        ("archon_get_active_sessions", {"limit": limit, "offset": offset}),
        ("archon_count_sessions", {"agent": "claude", "days": days}),
        ("archon_get_recent_sessions", {"agent": "claude", "days": days, "limit": limit}),
    ]
    for tool, args in calls:
        result = await client.call_tool(tool, args)
        if result.is_error:
            assert_clean_error(result, tool)
        elif tool == "archon_list_sessions":
            assert result.structured_content["limit"] == limit


session_ids = text_values | st.uuids().map(str) | st.integers().map(str)


@PROPERTY_SETTINGS
@given(
    session_id=session_ids,
    summary=st.none() | text_values | st.sampled_from(["s" * 20_000, "s" * 20_001]),
    metadata=anything,
    event_limit=st.integers(min_value=-3, max_value=10**9),
    agent=st.sampled_from(["claude", "user", "robot", ""]) | text_values,
    max_tokens=st.integers(min_value=-(10**6), max_value=10**9),
)
async def test_session_tools_by_id_never_crash_and_never_half_write(
    client, app, open_session, session_id, summary, metadata, event_limit, agent, max_tokens
) -> None:
    """The tools that take a session id (or an agent): random ids, summaries and limits, plus the real
    open session, which must come out either unchanged or exactly as asked."""
    before = await call(client, "archon_get_session", session_id=open_session, verbose=True)
    calls = [
        ("archon_get_session", {"session_id": session_id, "event_limit": event_limit}),
        ("archon_end_session", {"session_id": session_id, "summary": summary}),
        ("archon_update_session_summary", {"session_id": session_id, "summary": summary, "metadata": metadata}),
        ("archon_summarize_session", {"session_id": session_id, "methods": ["extractive"], "store": False}),
        ("archon_get_last_session", {"agent": agent, "event_limit": event_limit}),
        ("archon_resume_context", {"agent": agent, "max_tokens": max_tokens}),
    ]
    for tool, args in calls:
        result = await client.call_tool(tool, {k: v for k, v in args.items() if v is not None})
        if result.is_error:
            assert_clean_error(result, tool)
    update = await client.call_tool(
        "archon_update_session_summary",
        {
            k: v
            for k, v in {"session_id": open_session, "summary": summary, "metadata": metadata}.items()
            if v is not None
        },
    )
    after = await call(client, "archon_get_session", session_id=open_session, verbose=True)
    if update.is_error:
        assert_clean_error(update, "archon_update_session_summary")
        assert (after["summary"], after["metadata"]) == (before["summary"], before["metadata"])
    else:
        assert after["summary"] == summary
        assert _same_json(after["metadata"], {**before["metadata"], **(metadata or {})})
