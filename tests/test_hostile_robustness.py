"""What a hostile user found (issue 13), pinned: event types, paging past the end, export through a
planted file, bad lines on stdio, bad settings at start-up. Real PostgreSQL, real MCP client, real
subprocesses for the CLI and stdio."""

from __future__ import annotations

import io
import json
import uuid

import pytest

from archon_mcp.services.activity import ActivityService
from archon_mcp.services.transfer import import_jsonl
from tests.helpers import call, call_error

pytestmark = pytest.mark.anyio


@pytest.fixture
async def session(client) -> dict:
    return await call(client, "archon_create_session", agent="claude")


# --- event_type is snake_case ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("TASK_CREATED", "use 'task_created'"),
        ("taskCreated", "use 'task_created'"),
        ("task-created", "use 'task_created'"),
        ("\u200btask", "'\\u200b' (U+200B) is not allowed"),
        ("<script>alert(1)</script>", "'<' (U+003C) is not allowed"),
        ("../../etc", "'.' (U+002E) is not allowed"),
        ("1st_try", "start it with a letter"),
        ("x" * 65, "event_type is 65 characters long; the limit is 64"),
    ],
)
async def test_event_type_must_be_snake_case(client, session, event_type, expected) -> None:
    message = await call_error(
        client, "archon_add_event", session_id=session["id"], event_type=event_type, event_data={"a": 1}
    )
    assert expected in message, message
    if "characters long" not in message:
        assert "must be one word in snake_case" in message
    batch = await call_error(
        client, "archon_add_events", session_id=session["id"], events=[{"event_type": event_type, "event_data": {}}]
    )
    assert expected in batch, batch
    detail = await call(client, "archon_get_session", session_id=session["id"])
    assert detail["event_count"] == 0


async def test_snake_case_event_types_are_accepted(client, session) -> None:
    for kind in ("task_created", "x", "step2", "a" * 64, "  padded_type  "):
        event = await call(client, "archon_add_event", session_id=session["id"], event_type=kind, event_data={})
        assert event["event_type"] == kind.strip()


async def test_import_applies_the_same_event_type_rule(app) -> None:
    sid, good, bad = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    lines = [
        {"type": "session", "id": sid, "agent": "claude", "started_at": "2026-01-02T03:04:05Z"},
        {"type": "event", "id": good, "session_id": sid, "event_type": "task_created", "event_data": {}},
        {"type": "event", "id": bad, "session_id": sid, "event_type": "TASK_CREATED", "event_data": {}},
    ]
    for line in lines[1:]:
        line["timestamp"] = "2026-01-02T03:04:06Z"
    source = io.BytesIO(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    report = await import_jsonl(app.database, app.settings, source)
    assert report.events_imported == 1 and report.rejected_count == 1, report.render()
    assert "line 3: event_type 'TASK_CREATED' must be one word in snake_case" in report.render()
    assert "use 'task_created'" in report.render()


# --- paging past the end --------------------------------------------------------------------------
async def test_has_more_events_turns_false_on_and_past_the_last_page(client, session) -> None:
    sid = session["id"]
    await call(
        client,
        "archon_add_events",
        session_id=sid,
        events=[{"event_type": "step", "event_data": {"i": i}} for i in range(5)],
    )
    pages, offset = [], 0
    while True:  # the loop a client writes: it must end
        page = await call(client, "archon_get_session", session_id=sid, event_limit=2, event_offset=offset)
        pages.append([e["event_data"]["i"] for e in page["events"]])
        if not page["has_more_events"]:
            break
        offset = page["event_offset"] + len(page["events"])
        assert len(pages) < 10, "has_more_events never turned false"
    assert pages == [[0, 1], [2, 3], [4]]
    exact = await call(client, "archon_get_session", session_id=sid, event_limit=5, event_offset=0)
    assert exact["has_more_events"] is False and len(exact["events"]) == 5
    past = await call(client, "archon_get_session", session_id=sid, event_limit=10, event_offset=9_999_999)
    assert past["events"] == [] and past["has_more_events"] is False and past["event_count"] == 5
    middle = await call(client, "archon_get_session", session_id=sid, event_limit=1, event_offset=3)
    assert middle["has_more_events"] is True
    last = await call(client, "archon_get_last_session", agent="claude", event_limit=2)
    assert [e["event_data"]["i"] for e in last["session"]["events"]] == [3, 4]
    assert last["session"]["has_more_events"] is False and last["session"]["event_offset"] == 3


async def test_next_offset_is_null_on_and_past_the_last_page(client, app) -> None:
    for _ in range(3):
        await call(client, "archon_create_session", agent="gemini")
    listed = await call(client, "archon_list_sessions", agent="gemini", limit=3)
    assert listed["next_offset"] is None and listed["total"] == 3
    first = await call(client, "archon_list_sessions", agent="gemini", limit=2)
    assert first["next_offset"] == 2
    second = await call(client, "archon_list_sessions", agent="gemini", limit=2, offset=2)
    assert len(second["sessions"]) == 1 and second["next_offset"] is None
    past = await call(client, "archon_list_sessions", agent="gemini", limit=2, offset=9_999_999)
    assert past["sessions"] == [] and past["next_offset"] is None
    active = await call(client, "archon_get_active_sessions", agent="gemini", limit=2, offset=9_999_999)
    assert active["sessions"] == [] and active["next_offset"] is None
    browse = ActivityService(app.database, app.settings)  # what GET /api/sessions pages with
    assert (await browse.browse_sessions(agent="gemini", limit=2)).next_offset == 2
    assert (await browse.browse_sessions(agent="gemini", limit=2, offset=2)).next_offset is None
    assert (await browse.browse_sessions(agent="gemini", limit=2, offset=9_999_999)).next_offset is None
