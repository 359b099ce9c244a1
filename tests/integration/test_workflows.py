"""The usage guide's Workflows 1-5, through MCP, with the answers the guide shows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tests.helpers import call

pytestmark = pytest.mark.anyio

PROJECT = "b231255f-6ed9-4440-80de-958bcf7b4f9f"


async def test_workflow_1_basic_session(client) -> None:
    session = await call(client, "archon_create_session", agent="claude", metadata={"task": "bug fix"})
    await call(
        client,
        "archon_add_event",
        session_id=session["id"],
        event_type="error_encountered",
        event_data={"error": "TypeError in line 42"},
    )
    await call(
        client,
        "archon_add_event",
        session_id=session["id"],
        event_type="decision_made",
        event_data={"decision": "add type validation"},
    )
    ended = await call(
        client,
        "archon_end_session",
        session_id=session["id"],
        summary="Fixed TypeError by adding validation to parse_input() function",
    )
    assert ended["ended_at"] is not None
    detail = await call(client, "archon_get_session", session_id=session["id"])
    assert [e["event_type"] for e in detail["events"]] == ["error_encountered", "decision_made"]
    assert detail["events"][0]["event_data"] == {"error": "TypeError in line 42"}
    assert detail["summary"] == "Fixed TypeError by adding validation to parse_input() function"
    assert detail["metadata"] == {"task": "bug fix"}


async def test_workflow_2_project_linked_session(client) -> None:
    session = await call(
        client, "archon_create_session", agent="claude", project_id=PROJECT, metadata={"phase": "Phase 2", "day": 2}
    )
    await call(
        client,
        "archon_add_event",
        session_id=session["id"],
        event_type="task_created",
        event_data={"task_id": "t-1", "title": "Implement SessionService", "feature": "Short-Term Memory"},
    )
    await call(
        client,
        "archon_end_session",
        session_id=session["id"],
        summary="Implemented SessionService with 12 methods, comprehensive tests, and usage documentation",
    )
    listed = await call(client, "archon_list_sessions", project_id=PROJECT)
    assert [s["id"] for s in listed["sessions"]] == [session["id"]]
    assert listed["sessions"][0]["project_id"] == PROJECT


async def test_workflow_3_context_resumption(client) -> None:
    previous = await call(client, "archon_create_session", agent="claude", project_id=PROJECT)
    for title in ["Write migration", "Add indexes", "Implement SessionService"]:
        await call(
            client,
            "archon_add_event",
            session_id=previous["id"],
            event_type="task_created",
            event_data={"task_id": title.lower(), "title": title},
        )
    await call(client, "archon_add_event", session_id=previous["id"], event_type="decision_made", event_data={"d": 1})
    await call(client, "archon_end_session", session_id=previous["id"], summary="Built the session tables")

    last = (await call(client, "archon_get_last_session", agent="claude"))["session"]
    assert last["summary"] == "Built the session tables"
    working_on = [e["event_data"]["title"] for e in last["events"][-5:] if e["event_type"] == "task_created"]
    assert working_on == ["Write migration", "Add indexes", "Implement SessionService"]

    new = await call(
        client,
        "archon_create_session",
        agent="claude",
        project_id=last["project_id"],
        metadata={"previous_session": last["id"], "context": "continuing from previous work"},
    )
    assert new["project_id"] == PROJECT
    assert new["metadata"]["previous_session"] == previous["id"]
    assert (await call(client, "archon_get_last_session", agent="claude"))["session"]["id"] == new["id"]


async def test_workflow_4_semantic_memory_search(client) -> None:
    wanted = await call(client, "archon_create_session", agent="claude")
    await call(
        client,
        "archon_end_session",
        session_id=wanted["id"],
        summary="Completed database migration with 10 new tables and semantic search",
    )
    for summary in [
        "Fixed TypeError by adding validation to parse_input() function",
        "Designed the onboarding screens and wrote the copy for the welcome email",
    ]:
        other = await call(client, "archon_create_session", agent="gemini")
        await call(client, "archon_end_session", session_id=other["id"], summary=summary)

    results = (
        await call(client, "archon_search_sessions", query="database migration schema changes", limit=5, threshold=0.7)
    )["results"]
    lines = [f"Found {len(results)} relevant sessions:"]
    for r in results:
        lines.append(f"{r['similarity']:.0%} match - {r['started_at']} Agent: {r['agent']} Summary: {r['summary']}")
    assert lines[0] == "Found 1 relevant sessions:"
    assert results[0]["id"] == wanted["id"] and results[0]["agent"] == "claude"
    assert "Completed database migration with 10 new tables" in lines[1]

    nothing = await call(client, "archon_search_sessions", query="quarterly marketing budget forecast", threshold=0.7)
    assert nothing["results"] == []  # "No relevant sessions found"


async def test_workflow_5_activity_analytics(client, app) -> None:
    plan = {1: [2, 0], 2: [1], 3: [4, 1, 1]}  # days ago -> event counts of that day's sessions
    for days_ago, event_counts in plan.items():
        for n in event_counts:
            s = await call(client, "archon_create_session", agent="claude")
            for i in range(n):
                await call(client, "archon_add_event", session_id=s["id"], event_type="step", event_data={"i": i})
            async with app.database.engine.begin() as conn:
                await conn.execute(
                    text("UPDATE archon_sessions SET started_at = now() - make_interval(days => :d) WHERE id = :id"),
                    {"d": days_ago, "id": s["id"]},
                )
    old = await call(client, "archon_create_session", agent="claude")
    async with app.database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE archon_sessions SET started_at = now() - interval '9 days' WHERE id = :id"), {"id": old["id"]}
        )

    week = (await call(client, "archon_get_recent_sessions", agent="claude", days=7))["sessions"]
    week_count = len(week)
    total_events = sum(s["event_count"] for s in week)
    by_day: dict[str, int] = {}
    for session in week:
        day = session["started_at"].split("T")[0]
        by_day[day] = by_day.get(day, 0) + 1
    most_active = max(by_day.items(), key=lambda x: x[1])

    assert week_count == 6
    assert total_events == 9
    assert f"{total_events / week_count:.1f}" == "1.5"
    three_days_ago = datetime.now(UTC).date().toordinal() - 3
    assert datetime.fromisoformat(most_active[0]).toordinal() == three_days_ago
    assert most_active[1] == 3
