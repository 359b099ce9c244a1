"""Every tool through a real MCP client against the real database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.helpers import call, call_error

pytestmark = pytest.mark.anyio

PROJECT = "b231255f-6ed9-4440-80de-958bcf7b4f9f"


async def test_create_session_returns_the_stored_session(client) -> None:
    session = await call(
        client, "archon_create_session", agent="claude", project_id=PROJECT, metadata={"phase": "Phase 2", "day": 1}
    )
    assert uuid.UUID(session["id"])
    assert session["agent"] == "claude"
    assert session["project_id"] == PROJECT
    assert session["metadata"] == {"phase": "Phase 2", "day": 1}
    assert session["is_active"] is True and session["ended_at"] is None
    assert session["started_at"].endswith("Z")
    started = datetime.fromisoformat(session["started_at"].replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - started) < timedelta(minutes=1)
    assert session["embedding_status"] == "none"


async def test_agent_names_are_case_insensitive(client) -> None:
    session = await call(client, "archon_create_session", agent="  Gemini ")
    assert session["agent"] == "gemini"


async def test_end_session_sets_end_time_and_summary(client) -> None:
    session = await call(client, "archon_create_session", agent="gpt")
    ended = await call(client, "archon_end_session", session_id=session["id"], summary="Fixed the flaky login test")
    assert ended["is_active"] is False
    assert ended["summary"] == "Fixed the flaky login test"
    assert ended["ended_at"] >= ended["started_at"]
    assert ended["embedding_status"] in ("pending", "embedded")


async def test_end_session_without_summary(client) -> None:
    session = await call(client, "archon_create_session", agent="gpt")
    ended = await call(client, "archon_end_session", session_id=session["id"])
    assert ended["summary"] is None and ended["ended_at"] is not None
    assert ended["embedding_status"] == "none"


@pytest.mark.parametrize("round_", range(4))
async def test_events_racing_end_session_are_stored_before_the_end_or_refused(client, round_: int) -> None:
    """add_event and end_session are one statement each: every event either lands before the
    session's end (and is kept) or is refused with the conflict error; none is stored after it
    (this caught an UPDATE that computed `ended_at` before waiting for the events' share locks)."""
    import asyncio

    session = await call(client, "archon_create_session", agent="claude")
    sid = session["id"]

    async def add(n: int) -> tuple[int, Any]:
        await asyncio.sleep(0.002 * (n % 10))
        return n, await client.call_tool(
            "archon_add_event", {"session_id": sid, "event_type": "context_shared", "event_data": {"n": n}}
        )

    async def end() -> dict:
        await asyncio.sleep(0.004 * (1 + round_))
        return await call(client, "archon_end_session", session_id=sid, summary="raced")

    *results, ended = await asyncio.gather(*(add(n) for n in range(40)), end())
    stored = {n: r.structured_content for n, r in results if not r.is_error}
    refused = [" ".join(b.text for b in r.content) for _, r in results if r.is_error]
    assert all("ended at" in message for message in refused), refused
    end_time = datetime.fromisoformat(ended["ended_at"])
    late = [e for e in stored.values() if datetime.fromisoformat(e["timestamp"]) > end_time]
    assert not late, f"stored after the end ({ended['ended_at']}): {late}"
    detail = await call(client, "archon_get_session", session_id=sid, event_limit=100)
    assert sorted(e["event_data"]["n"] for e in detail["events"]) == sorted(stored)
    assert detail["event_count"] == len(stored)
    again = await call_error(client, "archon_add_event", session_id=sid, event_type="x", event_data={"late": True})
    assert "ended at" in again and "archon_create_session" in again


async def test_add_event_and_get_session_returns_events_in_time_order(client) -> None:
    session = await call(client, "archon_create_session", agent="claude")
    kinds = ["task_created", "decision_made", "error_encountered", "task_completed"]
    for i, kind in enumerate(kinds):
        event = await call(
            client,
            "archon_add_event",
            session_id=session["id"],
            event_type=kind,
            event_data={"n": i, "nested": {"list": [1, 2, {"deep": True}]}},
            metadata={"file": "session_service.py"},
        )
        assert event["session_id"] == session["id"]
        assert event["event_type"] == kind
        assert event["event_data"] == {"n": i, "nested": {"list": [1, 2, {"deep": True}]}}
        assert event["metadata"] == {"file": "session_service.py"}
    detail = await call(client, "archon_get_session", session_id=session["id"])
    assert [e["event_type"] for e in detail["events"]] == kinds
    assert detail["event_count"] == 4 and detail["has_more_events"] is False
    timestamps = [e["timestamp"] for e in detail["events"]]
    assert timestamps == sorted(timestamps)


async def test_add_events_stores_a_batch_in_order_and_makes_it_searchable(client, app) -> None:
    session = await call(client, "archon_create_session", agent="claude")
    await call(client, "archon_add_event", session_id=session["id"], event_type="task_created", event_data={"n": 0})
    batch = [
        {"event_type": "decision_made", "event_data": {"decision": "use pgvector HNSW for the billing search"}},
        {"event_type": "error_encountered", "event_data": {"error": "KeyError: 'invoice_total' in billing.py"}},
        {"event_type": "task_completed", "event_data": {"task_id": "7"}, "metadata": {"file": "billing.py"}},
    ]
    added = await call(client, "archon_add_events", session_id=session["id"], events=batch)
    assert added["count"] == 3 and len(set(added["ids"])) == 3 and added["embedding_status"] == "pending"
    assert added["first_timestamp"] < added["last_timestamp"]
    detail = await call(client, "archon_get_session", session_id=session["id"], verbose=True)
    assert [e["event_type"] for e in detail["events"]] == ["task_created", *(b["event_type"] for b in batch)]
    assert [e["id"] for e in detail["events"][1:]] == added["ids"]
    assert detail["events"][3]["metadata"] == {"file": "billing.py"} and detail["events"][1]["metadata"] == {}
    found = await call(client, "archon_search_events", query="invoice_total KeyError", session_id=session["id"])
    assert found["results"][0]["id"] == added["ids"][1]
    assert await app.worker.wait_idle(30)
    stats = await call(client, "archon_get_stats")
    assert stats["events"] == 4 and stats["pending_events"] == 0


async def test_add_events_is_all_or_nothing_and_names_the_bad_item(client) -> None:
    session = await call(client, "archon_create_session", agent="claude")
    good = {"event_type": "note", "event_data": {"text": "fine"}}
    cases = {
        "events[1]: event_data is required": [good, {"event_type": "note"}],
        "events[2] must be an object": [good, good, "just text"],
        "events[0] has unknown fields ['colour']": [{**good, "colour": "red"}],
        "events must be a non-empty list": [],
        "send at most 500 per call": [good] * 501,
    }
    for expected, events in cases.items():
        message = await call_error(client, "archon_add_events", session_id=session["id"], events=events)
        assert expected in message, (expected, message)
    detail = await call(client, "archon_get_session", session_id=session["id"])
    assert detail["event_count"] == 0
    await call(client, "archon_end_session", session_id=session["id"])
    ended = await call_error(client, "archon_add_events", session_id=session["id"], events=[good])
    assert "ended" in ended and "archon_create_session" in ended
    missing = str(uuid.uuid4())
    unknown = await call_error(client, "archon_add_events", session_id=missing, events=[good])
    assert f"no session with id {missing}" in unknown


async def test_get_session_pages_through_events(client) -> None:
    session = await call(client, "archon_create_session", agent="claude")
    for i in range(7):
        await call(client, "archon_add_event", session_id=session["id"], event_type="step", event_data={"i": i})
    first = await call(client, "archon_get_session", session_id=session["id"], event_limit=3)
    assert [e["event_data"]["i"] for e in first["events"]] == [0, 1, 2]
    assert first["event_count"] == 7 and first["has_more_events"] is True
    last = await call(client, "archon_get_session", session_id=session["id"], event_limit=3, event_offset=6)
    assert [e["event_data"]["i"] for e in last["events"]] == [6]
    assert last["event_offset"] == 6


async def test_list_sessions_filters_and_paginates(client, app) -> None:
    other_project = str(uuid.uuid4())
    made = []
    for agent, project in [("claude", PROJECT), ("claude", other_project), ("gemini", PROJECT), ("claude", None)]:
        made.append(await call(client, "archon_create_session", agent=agent, project_id=project))
    # Backdate one session so `since` has something to exclude.
    async with app.database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE archon_sessions SET started_at = now() - interval '10 days' WHERE id = :id"),
            {"id": made[3]["id"]},
        )

    everything = await call(client, "archon_list_sessions")
    assert everything["total"] == 4
    assert [s["id"] for s in everything["sessions"]] == [made[2]["id"], made[1]["id"], made[0]["id"], made[3]["id"]]

    claude = await call(client, "archon_list_sessions", agent="claude")
    assert {s["id"] for s in claude["sessions"]} == {made[0]["id"], made[1]["id"], made[3]["id"]}

    project = await call(client, "archon_list_sessions", project_id=PROJECT)
    assert {s["id"] for s in project["sessions"]} == {made[0]["id"], made[2]["id"]}

    week_ago = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    recent = await call(client, "archon_list_sessions", since=week_ago)
    assert made[3]["id"] not in {s["id"] for s in recent["sessions"]} and recent["total"] == 3

    page1 = await call(client, "archon_list_sessions", limit=3)
    assert len(page1["sessions"]) == 3 and page1["next_offset"] == 3
    page2 = await call(client, "archon_list_sessions", limit=3, offset=page1["next_offset"])
    assert [s["id"] for s in page2["sessions"]] == [made[3]["id"]] and page2["next_offset"] is None


async def test_get_last_session_returns_latest_with_latest_events(client) -> None:
    assert (await call(client, "archon_get_last_session", agent="user")) == {"found": False, "session": None}
    await call(client, "archon_create_session", agent="claude")
    latest = await call(client, "archon_create_session", agent="claude")
    await call(client, "archon_create_session", agent="gemini")
    for i in range(5):
        await call(client, "archon_add_event", session_id=latest["id"], event_type="step", event_data={"i": i})
    result = await call(client, "archon_get_last_session", agent="claude", event_limit=2)
    assert result["found"] is True
    assert result["session"]["id"] == latest["id"]
    assert [e["event_data"]["i"] for e in result["session"]["events"]] == [3, 4]
    assert result["session"]["event_count"] == 5


async def test_count_sessions_counts_only_the_window(client, app) -> None:
    for _ in range(3):
        await call(client, "archon_create_session", agent="claude")
    old = await call(client, "archon_create_session", agent="claude")
    await call(client, "archon_create_session", agent="gemini")
    async with app.database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE archon_sessions SET started_at = now() - interval '20 days' WHERE id = :id"), {"id": old["id"]}
        )
    week = await call(client, "archon_count_sessions", agent="claude", days=7)
    month = await call(client, "archon_count_sessions", agent="claude")
    assert week["count"] == 3 and week["days"] == 7
    assert month["count"] == 4 and month["days"] == 30


async def test_get_recent_sessions_includes_event_counts(client) -> None:
    a = await call(client, "archon_create_session", agent="claude")
    b = await call(client, "archon_create_session", agent="claude")
    for _ in range(3):
        await call(client, "archon_add_event", session_id=a["id"], event_type="step", event_data={})
    await call(client, "archon_add_event", session_id=b["id"], event_type="step", event_data={})
    recent = await call(client, "archon_get_recent_sessions", agent="claude")
    counts = {s["id"]: s["event_count"] for s in recent["sessions"]}
    assert counts == {a["id"]: 3, b["id"]: 1}
    assert recent["total_events"] == 4 and recent["days"] == 7


async def test_update_session_summary_merges_metadata(client) -> None:
    session = await call(client, "archon_create_session", agent="claude", metadata={"phase": "Phase 2"})
    updated = await call(
        client,
        "archon_update_session_summary",
        session_id=session["id"],
        summary="Completed Phase 2 Day 1 with database schema migration",
        metadata={"key_events": ["migration_created"], "next_steps": ["implement SessionService"]},
    )
    assert updated["summary"] == "Completed Phase 2 Day 1 with database schema migration"
    assert updated["metadata"] == {
        "phase": "Phase 2",
        "key_events": ["migration_created"],
        "next_steps": ["implement SessionService"],
    }
    assert updated["embedding_status"] in ("pending", "embedded")
    assert updated["is_active"] is True  # updating a summary does not end the session


async def test_get_active_sessions_lists_only_open_sessions(client) -> None:
    open_one = await call(client, "archon_create_session", agent="claude")
    closed = await call(client, "archon_create_session", agent="gemini")
    await call(client, "archon_end_session", session_id=closed["id"], summary="done")
    await call(client, "archon_add_event", session_id=open_one["id"], event_type="step", event_data={})
    active = await call(client, "archon_get_active_sessions")
    assert [s["id"] for s in active["sessions"]] == [open_one["id"]]
    assert active["sessions"][0]["event_count"] == 1 and active["total"] == 1
    assert (await call(client, "archon_get_active_sessions", agent="gemini"))["sessions"] == []


async def test_search_sessions_finds_the_relevant_session_first(client) -> None:
    summaries = {
        "db": "Completed database migration with 10 new tables and semantic search",
        "ui": "Styled the settings page with a dark theme and responsive layout",
        "bug": "Fixed TypeError by adding validation to parse_input() function",
    }
    ids = {}
    for key, summary in summaries.items():
        s = await call(client, "archon_create_session", agent="claude")
        await call(client, "archon_end_session", session_id=s["id"], summary=summary)
        ids[key] = s["id"]
    found = await call(client, "archon_search_sessions", query="database migration and schema changes", limit=5)
    assert [r["id"] for r in found["results"]] == [ids["db"]], found
    assert 0.7 <= found["results"][0]["similarity"] <= 1.0
    everything = await call(client, "archon_search_sessions", query="database migration", threshold=0.0, limit=2)
    assert len(everything["results"]) == 2, "limit must be honoured"
    sims = [r["similarity"] for r in everything["results"]]
    assert sims == sorted(sims, reverse=True) and everything["results"][0]["id"] == ids["db"]


async def test_search_events_finds_matching_events_with_filters(client) -> None:
    s1 = await call(client, "archon_create_session", agent="claude")
    s2 = await call(client, "archon_create_session", agent="gemini")
    err = await call(
        client,
        "archon_add_event",
        session_id=s1["id"],
        event_type="error_encountered",
        event_data={"error": "connection refused when the migration ran against postgres"},
    )
    await call(
        client,
        "archon_add_event",
        session_id=s1["id"],
        event_type="decision_made",
        event_data={"decision": "use React"},
    )
    other = await call(
        client,
        "archon_add_event",
        session_id=s2["id"],
        event_type="error_encountered",
        event_data={"error": "postgres migration failed: connection refused"},
    )
    found = await call(
        client, "archon_search_events", query="database migration connection error", threshold=0.5, verbose=True
    )
    # The two errors, and perhaps the decision logged right after the first error: it is indexed
    # (and embedded) with that error as its context, and draws on it as its neighbour.
    ids = [r["id"] for r in found["results"]]
    assert {err["id"], other["id"]} <= set(ids) and len(ids) <= 3, found
    assert ids[0] in {err["id"], other["id"]}, found
    assert all(r["embedding_status"] == "embedded" for r in found["results"])
    only_s1 = await call(
        client, "archon_search_events", query="database migration connection error", threshold=0.5, session_id=s1["id"]
    )
    assert only_s1["results"][0]["id"] == err["id"]
    assert {r["session_id"] for r in only_s1["results"]} == {s1["id"]}
    by_agent = await call(
        client, "archon_search_events", query="database migration connection error", threshold=0.5, agent="gemini"
    )
    assert [r["id"] for r in by_agent["results"]] == [other["id"]] and by_agent["results"][0]["agent"] == "gemini"


async def test_threshold_one_returns_nothing_unrelated(client) -> None:
    s = await call(client, "archon_create_session", agent="claude")
    await call(client, "archon_end_session", session_id=s["id"], summary="Wrote release notes for version 2.1")
    found = await call(client, "archon_search_sessions", query="kubernetes pod eviction", threshold=0.7)
    assert found["results"] == []
