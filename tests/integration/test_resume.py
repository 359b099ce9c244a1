"""archon_resume_context, the `resume` prompt and the archon://sessions/{id} resource, on a seeded history."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError

from tests.helpers import call, call_error, seed

pytestmark = pytest.mark.anyio

PROJECT = "b231255f-6ed9-4440-80de-958bcf7b4f9f"
OTHER_PROJECT = "0b5e7a52-93a4-4c3e-9d1e-6b0e1c2f9a11"


async def seed_history(client: Any) -> dict[str, str]:
    """Three sessions of one project (oldest first) and one of another project."""
    first = await call(client, "archon_create_session", agent="claude", project_id=PROJECT)
    for kind, data in [
        ("task_created", {"task_id": "T1", "title": "Set up CI pipeline"}),
        ("task_created", {"task_id": "T2", "title": "Write API docs"}),
        ("decision_made", {"decision": "Use GitHub Actions", "rationale": "free for public repositories"}),
        ("error_encountered", {"error": "flaky test_transport on SSE", "context": "CI run 12"}),
        ("task_completed", {"task_id": "T1", "outcome": "green on main"}),
    ]:
        await call(client, "archon_add_event", session_id=first["id"], event_type=kind, event_data=data)
    await call(
        client,
        "archon_end_session",
        session_id=first["id"],
        summary="Set up continuous integration with GitHub Actions; CI is green on main.",
    )

    second = await call(client, "archon_create_session", agent="claude", project_id=PROJECT)
    for kind, data in [
        ("task_created", {"task_id": "T3", "title": "Add rate limiting to the REST API"}),
        ("task_completed", {"task_id": "T2", "outcome": "published"}),
        ("decision_made", {"decision": "Limit to 100 requests per minute", "rationale": "matches the REST API docs"}),
        ("error_encountered", {"error": "redis connection refused", "task_id": "T3"}),
        ("error_encountered", {"error": "lint fails on CRLF line endings", "resolved": True}),
    ]:
        await call(client, "archon_add_event", session_id=second["id"], event_type=kind, event_data=data)
    await call(client, "archon_end_session", session_id=second["id"])
    await call(client, "archon_summarize_session", session_id=second["id"])

    elsewhere = await seed(
        client, [("task_created", {"title": "Refactor logging"}), ("decision_made", {"decision": "Use structlog"})]
    )
    return {"first": first["id"], "second": second["id"], "elsewhere": elsewhere}


async def test_resume_context_gives_bearings_in_one_call(client) -> None:
    ids = await seed_history(client)
    ctx = await call(client, "archon_resume_context", agent="claude", project_id=PROJECT)
    assert ctx["found"] is True and ctx["sessions_scanned"] == 2 and ctx["trimmed"] == {}
    last = ctx["last_session"]
    assert last["id"] == ids["second"] and last["is_active"] is False
    assert last["summary"].startswith("claude session with 5 events. Completed 1 task: task T2 (published).")
    assert last["next_steps"] == ["Add rate limiting to the REST API", "Resolve error: redis connection refused"]
    assert [(t["title"], t["task_id"], t["session_id"]) for t in ctx["open_tasks"]] == [
        ("Add rate limiting to the REST API", "T3", ids["second"])
    ], "T1 was completed in the first session and T2 in the second"
    assert [d["text"] for d in ctx["recent_decisions"]] == [
        "Limit to 100 requests per minute — matches the REST API docs",
        "Use GitHub Actions — free for public repositories",
    ]
    assert [e["text"] for e in ctx["unresolved_errors"]] == [
        "redis connection refused",
        "flaky test_transport on SSE — CI run 12",
    ]
    assert [s["id"] for s in ctx["related_sessions"]] == [ids["first"]]
    assert ctx["related_sessions"][0]["summary"].startswith("Set up continuous integration")
    assert ctx["estimated_tokens"] <= ctx["max_tokens"] == 2000


async def test_resume_context_without_project_covers_all_of_the_agents_sessions(client) -> None:
    ids = await seed_history(client)
    ctx = await call(client, "archon_resume_context", agent="claude")
    assert ctx["last_session"]["id"] == ids["elsewhere"]
    assert ctx["last_session"]["summary"] is None
    assert ctx["last_session"]["next_steps"] == ["Refactor logging"], "derived from the events when never summarised"
    assert [t["title"] for t in ctx["open_tasks"]] == ["Refactor logging", "Add rate limiting to the REST API"]
    assert ctx["recent_decisions"][0]["text"] == "Use structlog"
    assert {s["id"] for s in ctx["related_sessions"]} == {ids["first"], ids["second"]}


async def test_resume_context_fits_the_budget_and_reports_what_it_trimmed(client) -> None:
    await seed_history(client)
    full = await call(client, "archon_resume_context", agent="claude", project_id=PROJECT, max_tokens=5000)
    tight = await call(client, "archon_resume_context", agent="claude", project_id=PROJECT, max_tokens=300)
    assert full["trimmed"] == {} and full["estimated_tokens"] > 300
    assert tight["estimated_tokens"] <= 300
    assert tight["trimmed"], "a trimmed answer says what it left out"
    # Least important first: related sessions, then decisions, then errors, then open tasks.
    order = ["related_sessions", "recent_decisions", "unresolved_errors", "open_tasks"]
    for i, name in enumerate(order):
        kept = tight[name]
        assert kept == full[name][: len(kept)], f"{name}: trimming keeps the newest items"
        assert len(kept) + tight["trimmed"].get(name, 0) == len(full[name])
        if tight["trimmed"].get(name):
            assert all(tight[earlier] == [] for earlier in order[:i]), f"{name} trimmed before {order[:i]}"
    assert tight["last_session"]["id"] == full["last_session"]["id"]
    again = await call(client, "archon_resume_context", agent="claude", project_id=PROJECT, max_tokens=300)
    assert again == tight, "trimming is deterministic"


async def test_resume_context_for_an_agent_without_sessions(client) -> None:
    ctx = await call(client, "archon_resume_context", agent="gemini")
    assert ctx["found"] is False and ctx["last_session"] is None
    assert ctx["open_tasks"] == ctx["recent_decisions"] == ctx["unresolved_errors"] == ctx["related_sessions"] == []
    assert "max_tokens" in await call_error(client, "archon_resume_context", agent="claude", max_tokens=5)
    assert "agent" in await call_error(client, "archon_resume_context", agent="robot")


async def test_resume_prompt_through_the_client(client) -> None:
    await seed_history(client)
    prompts = await client.list_prompts()
    resume = next(p for p in prompts.prompts if p.name == "resume")
    assert {a.name: a.required for a in resume.arguments} == {"agent": True, "project": False, "project_id": False}
    result = await client.get_prompt("resume", {"agent": "claude", "project_id": PROJECT})
    text = result.messages[0].content.text
    assert result.messages[0].role == "user"
    assert text.startswith(f"# Resume context for claude (project {PROJECT})")
    assert "## Open tasks\n- Add rate limiting to the REST API (task T3)" in text
    assert "- Resolve error: redis connection refused" in text
    assert "- Use GitHub Actions — free for public repositories" in text
    with pytest.raises(MCPError, match="agent"):
        await client.get_prompt("resume", {"agent": "robot"})


async def test_session_resource_through_the_client(client) -> None:
    ids = await seed_history(client)
    templates = await client.list_resource_templates()
    assert "archon://sessions/{session_id}" in [t.uri_template for t in templates.resource_templates]
    result = await client.read_resource(f"archon://sessions/{ids['second']}")
    content = result.contents[0]
    assert content.mime_type == "application/json"
    session = json.loads(content.text)
    assert session["id"] == ids["second"] and session["event_count"] == 5
    assert [e["event_type"] for e in session["events"]] == [
        "task_created",
        "task_completed",
        "decision_made",
        "error_encountered",
        "error_encountered",
    ]
    assert session["metadata"]["next_steps"] == [
        "Add rate limiting to the REST API",
        "Resolve error: redis connection refused",
    ]
    with pytest.raises(MCPError, match="no session"):
        await client.read_resource("archon://sessions/00000000-0000-0000-0000-000000000000")
