"""What the tools send back fits a model's context: compact JSON text, each fact once, bookkeeping only
with verbose=true, and archon_resume_context's budget measured on the text actually sent."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx2
import pytest

from tests.helpers import call

pytestmark = pytest.mark.anyio

BOOKKEEPING = ("created_at", "updated_at", "embedding_status")


def _coding_day(n: int) -> list[dict[str, Any]]:
    """`n` events as a coding agent (or the hooks) logs them: prompts, edits, commands, a failure and
    its fix, decisions and tasks, each with the hooks' retry key in its metadata."""
    steps: list[tuple[str, dict[str, Any]]] = [
        (
            "user_prompt",
            {
                "prompt": "The invoice export times out for customers with more than 10k invoices; "
                "find out why and make it stream the CSV instead of building it in memory."
            },
        ),
        ("task_created", {"task_id": "EXP-12", "title": "Stream the invoice CSV export"}),
        ("file_edited", {"path": "billing/export.py", "tool": "Edit"}),
        ("command_run", {"command": "pytest tests/test_export.py -q", "exit_status": 1, "tool": "Bash"}),
        (
            "error_encountered",
            {
                "error": "FAILED tests/test_export.py::test_large_export - TimeoutError: export took 31.2 s "
                "(limit 30 s); the query loads every invoice row before writing the first line",
                "command": "pytest tests/test_export.py -q",
                "exit_status": 1,
            },
        ),
        (
            "decision_made",
            {
                "decision": "Use a server-side cursor with yield_per(500) and StreamingResponse",
                "rationale": "constant memory, first bytes within 200 ms",
            },
        ),
        ("file_edited", {"path": "billing/export.py", "tool": "Edit"}),
        ("command_run", {"command": "pytest tests/test_export.py -q", "exit_status": 0, "tool": "Bash"}),
        ("error_resolved", {"error": "FAILED tests/test_export.py::test_large_export"}),
        ("task_completed", {"task_id": "EXP-12", "outcome": "export streams 50k invoices in 4 s"}),
    ]
    events = []
    for i in range(n):
        kind, data = steps[i % len(steps)]
        events.append(
            {
                "event_type": kind,
                "event_data": data,
                "metadata": {"hook_key": f"tool:toolu_01ABCDEFGHJKLMNOP{i:05d}", "hook_at": "2026-12-01T10:00:00Z"},
            }
        )
    return events


async def _session_with_events(client: Any, n: int, **create: Any) -> dict[str, Any]:
    session = await call(client, "archon_create_session", agent="claude", **create)
    events = _coding_day(n)
    for start in range(0, n, 50):
        await call(client, "archon_add_events", session_id=session["id"], events=events[start : start + 50])
    return session


def _text(result: Any) -> str:
    assert not result.is_error, result.content
    assert len(result.content) == 1 and result.content[0].type == "text"
    return result.content[0].text


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


async def test_a_typical_get_last_session_is_compact_and_under_8000_characters(client) -> None:
    await _session_with_events(client, 60, project="billing-api")
    result = await client.call_tool("archon_get_last_session", {"agent": "claude"})
    text = _text(result)
    # The text block is the structured content as compact JSON: no indentation, nothing else.
    assert json.loads(text) == result.structured_content
    assert text == _compact(result.structured_content), "the text must be compact JSON"
    assert "\n" not in text
    session = result.structured_content["session"]
    assert len(session["events"]) == 20 and session["event_count"] == 60 and session["event_offset"] == 40
    assert len(text) < 8000, f"get_last_session with default arguments sent {len(text)} characters"
    for key in BOOKKEEPING:
        assert key not in session and all(key not in e for e in session["events"]), key
    assert all("session_id" not in e for e in session["events"]), "each event repeated its session's id"
    assert all("metadata" not in e for e in session["events"]), "the hooks' retry keys are bookkeeping"


async def test_verbose_returns_the_bookkeeping(client) -> None:
    session = await _session_with_events(client, 3)
    lean = await call(client, "archon_get_session", session_id=session["id"])
    full = await call(client, "archon_get_session", session_id=session["id"], verbose=True)
    for key in BOOKKEEPING:
        assert key not in lean and key in full, key
    assert "metadata" not in lean and full["metadata"] == {}
    assert full["events"][0]["session_id"] == session["id"] and full["events"][0]["embedding_status"]
    assert full["events"][0]["metadata"]["hook_key"].startswith("tool:")
    # The same with every read that takes verbose.
    for tool, args in [
        ("archon_list_sessions", {}),
        ("archon_get_active_sessions", {}),
        ("archon_get_recent_sessions", {"agent": "claude"}),
    ]:
        short = (await call(client, tool, **args))["sessions"][0]
        long = (await call(client, tool, verbose=True, **args))["sessions"][0]
        assert all(k not in short for k in BOOKKEEPING) and all(k in long for k in BOOKKEEPING), tool
    hits = await call(client, "archon_search_events", query="invoice CSV export", mode="keyword")
    assert hits["results"] and all("embedding_status" not in h and h["session_id"] for h in hits["results"])
    verbose_hits = await call(client, "archon_search_events", query="invoice CSV export", mode="keyword", verbose=True)
    assert all("embedding_status" in h for h in verbose_hits["results"])


async def test_writes_answer_with_what_was_written_but_no_timestamps_twice(client) -> None:
    session = await call(client, "archon_create_session", agent="claude")
    assert session["embedding_status"] == "none" and session["metadata"] == {}
    assert "created_at" not in session and "updated_at" not in session


async def test_summarize_session_says_each_thing_once(client) -> None:
    session = await _session_with_events(client, 10)
    result = await client.call_tool(
        "archon_summarize_session", {"session_id": session["id"], "methods": ["extractive"]}
    )
    answer = result.structured_content
    assert _text(result) == _compact(answer)
    assert answer["stored"] is True and answer["decisions"] and answer["key_events"]
    nested = answer["session"]
    assert "summary" not in nested, "the summary is already the answer's own field"
    for key in ("key_events", "decisions", "outcomes", "next_steps", "summary_method", "summary_model"):
        assert key not in nested.get("metadata", {}), key
    # Nothing is lost: the stored session still holds all of it.
    stored = await call(client, "archon_get_session", session_id=session["id"])
    assert stored["summary"] == answer["summary"] and stored["metadata"]["decisions"] == answer["decisions"]
    assert stored["metadata"]["summary_method"] == answer["method"] == "extractive"


async def _history(client: Any) -> None:
    for n in range(4):
        s = await _session_with_events(client, 30, project="billing-api")
        await call(
            client,
            "archon_add_event",
            session_id=s["id"],
            event_type="task_created",
            event_data={"task_id": f"OPEN-{n}", "title": f"Follow-up {n}: paginate the export API " * 2},
        )
        await call(
            client, "archon_end_session", session_id=s["id"], summary=f"Session {n}: " + "streamed the export; " * 20
        )


@pytest.mark.parametrize("max_tokens", [200, 400, 1000])
async def test_resume_context_budget_is_measured_on_the_text_sent(client, max_tokens: int) -> None:
    await _history(client)
    for fmt in ("json", "markdown"):
        result = await client.call_tool(
            "archon_resume_context",
            {"agent": "claude", "project": "billing-api", "max_tokens": max_tokens, "format": fmt},
        )
        text = _text(result)
        answer = result.structured_content
        assert len(text) <= max_tokens * 4, f"{fmt}: {len(text)} characters sent for max_tokens={max_tokens}"
        assert answer["estimated_tokens"] == math.ceil(len(text) / 4), fmt
        if max_tokens < 1000:
            assert answer["trimmed"], f"{fmt}: this history does not fit {max_tokens} tokens, something must be cut"
        if fmt == "json":
            assert text == _compact(answer)
        else:
            assert text.startswith("# Resume context for claude (project billing-api)"), text[:80]
            assert not text.lstrip().startswith("{")


async def test_resume_markdown_is_the_prompt_rendering_and_keeps_what_fits(client) -> None:
    await _history(client)
    result = await client.call_tool(
        "archon_resume_context", {"agent": "claude", "project": "billing-api", "format": "markdown"}
    )
    text = _text(result)
    answer = result.structured_content
    assert answer["trimmed"] == {} and len(text) <= 2000 * 4
    assert "## Open tasks" in text and "(task OPEN-3)" in text
    assert answer["last_session"]["summary"].split(";")[0] in text


async def test_rest_resume_markdown_and_meta_document_the_event_fields(http: httpx2.AsyncClient) -> None:
    response = await http.post("/api/sessions", json={"agent": "claude", "project": "billing-api"})
    sid = response.json()["id"]
    await http.post(
        f"/api/sessions/{sid}/events",
        json={"event_type": "task_created", "event_data": {"task_id": "T1", "title": "x"}},
    )
    md = await http.get(
        "/api/agents/claude/resume", params={"project": "billing-api", "format": "markdown", "max_tokens": 200}
    )
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown"), md.text
    assert md.text.startswith("# Resume context for claude (project billing-api)") and len(md.text) <= 800
    bad = await http.get("/api/agents/claude/resume", params={"format": "yaml"})
    assert bad.status_code == 400 and "json (default), markdown" in bad.json()["error"]["message"]
    meta = (await http.get("/api/meta")).json()
    assert "error_resolved" in meta["event_types"]
    assert "task_id" in meta["event_fields"]["task_completed"]
    assert "resolved" in meta["event_fields"]["error_encountered"]
