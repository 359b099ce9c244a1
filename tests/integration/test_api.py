"""The REST API, auth and Host checks, through a real HTTP client against the real server (uvicorn
in-process on a free port, the real database), plus the bind rule through the CLI as a subprocess."""

from __future__ import annotations

import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr
from sqlalchemy import text

from archon_mcp.api import exposure_problem, transport_security
from archon_mcp.config import Settings
from archon_mcp.tools import TOOL_NAMES
from tests.helpers import AUTH, TOKEN, Running, archon_command, assert_error, free_port, serve_app, server_env

pytestmark = pytest.mark.anyio

PROJECT = str(uuid.uuid4())


async def create(http: httpx2.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await http.post("/api/sessions", json={"agent": "claude", **body})
    assert response.status_code == 201, response.text
    return response.json()


async def add_event(http: httpx2.AsyncClient, session_id: str, event_type: str, **data: Any) -> dict[str, Any]:
    response = await http.post(
        f"/api/sessions/{session_id}/events", json={"event_type": event_type, "event_data": data}
    )
    assert response.status_code == 201, response.text
    return response.json()


# --- documents and metadata ---------------------------------------------------------------------


# Every REST endpoint: (method, path, success status, takes a body). The MCP operations all appear.
ENDPOINTS = (
    ("get", "/api/meta", 200, False),
    ("get", "/api/stats", 200, False),
    ("get", "/api/activity", 200, False),
    ("get", "/api/projects", 200, False),
    ("get", "/api/sessions", 200, False),
    ("post", "/api/sessions", 201, True),
    ("get", "/api/sessions/active", 200, False),
    ("get", "/api/sessions/{session_id}", 200, False),
    ("post", "/api/sessions/{session_id}/end", 200, True),
    ("put", "/api/sessions/{session_id}/summary", 200, True),
    ("post", "/api/sessions/{session_id}/summarize", 200, True),
    ("post", "/api/sessions/{session_id}/events", 201, True),
    ("post", "/api/sessions/{session_id}/events/batch", 201, True),
    ("get", "/api/agents/{agent}/last-session", 200, False),
    ("get", "/api/agents/{agent}/count", 200, False),
    ("get", "/api/agents/{agent}/recent", 200, False),
    ("get", "/api/agents/{agent}/resume", 200, False),
    ("get", "/api/search/sessions", 200, False),
    ("get", "/api/search/events", 200, False),
)


async def test_openapi_document_describes_every_endpoint(http: httpx2.AsyncClient) -> None:
    doc = (await http.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert documented == {(method, path) for method, path, _, _ in ENDPOINTS}
    for method, path, status, body in ENDPOINTS:
        operation = doc["paths"][path][method]
        assert str(status) in operation["responses"], (method, path)
        assert "401" in operation["responses"] and "422" not in operation["responses"], (method, path)
        if body:
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            refs = [schema.get("$ref")] + [s.get("$ref") for s in schema.get("anyOf", [])]
            assert any(ref and ref.split("/")[-1] in doc["components"]["schemas"] for ref in refs), (method, path)
    schemas = doc["components"]["schemas"]
    assert {"SessionOut", "SessionDetail", "EventOut", "ActivityReport", "ErrorBody"} <= set(schemas)
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # Settings are filled into the descriptions, as in the MCP tool schemas.
    limit = next(p for p in doc["paths"]["/api/sessions"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["description"] == "Page size, 1..100." and limit["schema"]["default"] == 20


async def test_meta_stats_and_projects(http: httpx2.AsyncClient) -> None:
    meta = (await http.get("/api/meta")).json()
    assert meta["agents"] == ["claude", "gemini", "gpt", "user"]
    assert "decision_made" in meta["event_types"]
    assert meta["auth_required"] is True
    assert meta["limits"]["max_page_size"] == 100
    session = await create(http, project_id=PROJECT)
    await add_event(http, session["id"], "task_created", title="x")
    stats = (await http.get("/api/stats")).json()
    assert (stats["sessions"], stats["active_sessions"], stats["events"]) == (1, 1, 1)
    assert (await http.get("/api/projects")).json()["projects"] == [PROJECT]


# --- sessions and events ------------------------------------------------------------------------


async def test_session_lifecycle_through_the_api(http: httpx2.AsyncClient) -> None:
    session = await create(http, project_id=PROJECT, metadata={"feature": "web ui"})
    assert session["agent"] == "claude" and session["is_active"] and session["project_id"] == PROJECT
    sid = session["id"]
    first = await add_event(http, sid, "task_created", title="Build the session browser")
    await add_event(http, sid, "decision_made", decision="plain JS, no build step")
    assert first["session_id"] == sid and first["event_data"] == {"title": "Build the session browser"}

    detail = (await http.get(f"/api/sessions/{sid}")).json()
    assert detail["event_count"] == 2 and [e["event_type"] for e in detail["events"]] == [
        "task_created",
        "decision_made",
    ]
    page = (await http.get(f"/api/sessions/{sid}", params={"event_limit": 1, "event_offset": 1})).json()
    assert [e["event_type"] for e in page["events"]] == ["decision_made"]
    assert page["event_offset"] == 1 and page["has_more_events"] is False  # the last page

    ended = await http.post(f"/api/sessions/{sid}/end", json={"summary": "Built the web session browser"})
    assert ended.status_code == 200 and ended.json()["is_active"] is False
    assert ended.json()["summary"] == "Built the web session browser"
    assert_error(await http.post(f"/api/sessions/{sid}/end", json={}), 409, "conflict", "already ended")
    assert_error(
        await http.post(f"/api/sessions/{sid}/events", json={"event_type": "task_created", "event_data": {"a": 1}}),
        409,
        "conflict",
        "POST /api/sessions",  # REST callers are pointed at endpoints, not at MCP tools
    )

    updated = await http.put(
        f"/api/sessions/{sid}/summary",
        json={"summary": "Shipped the browser", "metadata": {"decisions": ["plain JS"], "next_steps": ["charts"]}},
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["summary"] == "Shipped the browser"
    assert body["metadata"] == {"feature": "web ui", "decisions": ["plain JS"], "next_steps": ["charts"]}


async def test_list_sessions_filters_and_paginates(http: httpx2.AsyncClient) -> None:
    ids = []
    for agent in ("claude", "claude", "gemini", "gpt", "claude"):
        ids.append((await create(http, agent=agent, project_id=PROJECT if agent == "claude" else None))["id"])
    await add_event(http, ids[0], "task_created", n=1)
    await add_event(http, ids[0], "task_created", n=2)
    await http.post(f"/api/sessions/{ids[1]}/end", json={})

    everything = (await http.get("/api/sessions")).json()
    assert everything["total"] == 5 and [s["id"] for s in everything["sessions"]] == ids[::-1]
    assert {s["id"]: s["event_count"] for s in everything["sessions"]}[ids[0]] == 2

    claude = (await http.get("/api/sessions", params={"agent": "claude"})).json()
    assert {s["id"] for s in claude["sessions"]} == {ids[0], ids[1], ids[4]}
    project = (await http.get("/api/sessions", params={"project_id": PROJECT})).json()
    assert project["total"] == 3
    ended = (await http.get("/api/sessions", params={"active": "false"})).json()
    assert [s["id"] for s in ended["sessions"]] == [ids[1]]
    active = (await http.get("/api/sessions", params={"active": "true", "agent": "claude"})).json()
    assert {s["id"] for s in active["sessions"]} == {ids[0], ids[4]}

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert (await http.get("/api/sessions", params={"since": tomorrow})).json()["total"] == 0
    assert (await http.get("/api/sessions", params={"until": tomorrow})).json()["total"] == 5

    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = (await http.get("/api/sessions", params={"limit": 2, "offset": offset})).json()
        assert page["limit"] == 2 and len(page["sessions"]) <= 2
        seen += [s["id"] for s in page["sessions"]]
        offset = page["next_offset"]
    assert seen == ids[::-1], "pages must cover every session once, newest first"

    active_tool = (await http.get("/api/sessions/active", params={"agent": "claude"})).json()
    assert active_tool["total"] == 2 and all(s["is_active"] for s in active_tool["sessions"])


async def test_agent_endpoints(http: httpx2.AsyncClient) -> None:
    assert (await http.get("/api/agents/gemini/last-session")).json() == {"found": False, "session": None}
    older = await create(http, agent="gemini")
    newer = await create(http, agent="gemini")
    await add_event(http, newer["id"], "context_shared", note="hello")
    last = (await http.get("/api/agents/gemini/last-session", params={"event_limit": 5})).json()
    assert last["found"] and last["session"]["id"] == newer["id"] and last["session"]["event_count"] == 1
    count = (await http.get("/api/agents/gemini/count", params={"days": 1})).json()
    assert count["count"] == 2 and count["agent"] == "gemini"
    recent = (await http.get("/api/agents/gemini/recent")).json()
    assert [s["id"] for s in recent["sessions"]] == [newer["id"], older["id"]] and recent["total_events"] == 1
    assert_error(await http.get("/api/agents/robot/count"), 400, "invalid_input", "unknown agent 'robot'")


async def test_search_sessions_and_events_with_scores(http: httpx2.AsyncClient) -> None:
    session = await create(http, agent="gpt")
    await add_event(http, session["id"], "error_encountered", error="alembic migration failed: column already exists")
    await http.post(
        f"/api/sessions/{session['id']}/end", json={"summary": "Fixed a failing PostgreSQL schema migration"}
    )
    other = await create(http, agent="user")
    await http.post(f"/api/sessions/{other['id']}/end", json={"summary": "Planned a birthday party with cake"})

    found = (await http.get("/api/search/sessions", params={"q": "database migration", "threshold": 0.3})).json()
    assert found["results"] and found["results"][0]["id"] == session["id"]
    assert 0.3 <= found["results"][0]["similarity"] <= 1.0
    assert other["id"] not in [r["id"] for r in found["results"]]
    by_agent = (await http.get("/api/search/sessions", params={"q": "database migration", "agent": "user"})).json()
    assert by_agent["results"] == []

    events = (await http.get("/api/search/events", params={"q": "migration error", "threshold": 0.3})).json()
    assert events["results"][0]["session_id"] == session["id"] and events["results"][0]["agent"] == "gpt"
    assert events["results"][0]["similarity"] > 0.3
    assert_error(await http.get("/api/search/events"), 400, "invalid_input", "query")
    assert_error(await http.get("/api/search/sessions", params={"q": "x", "threshold": 2}), 400, "invalid_input")


async def test_activity_counts_sessions_and_events_per_day_per_agent(http: httpx2.AsyncClient) -> None:
    a = await create(http, agent="claude")
    b = await create(http, agent="gemini")
    await create(http, agent="claude")
    for i in range(3):
        await add_event(http, a["id"], "task_created", n=i)
    await add_event(http, b["id"], "task_created", n=9)

    report = (await http.get("/api/activity", params={"days": 7})).json()
    today = datetime.now(UTC).date().isoformat()
    assert len(report["dates"]) == 7 and report["dates"][-1] == today
    points = {(p["date"], p["agent"]): (p["sessions"], p["events"]) for p in report["points"]}
    assert points == {(today, "claude"): (2, 3), (today, "gemini"): (1, 1)}
    assert report["agents"][0] == {"agent": "claude", "sessions": 2, "events": 3}
    assert (report["total_sessions"], report["total_events"]) == (3, 4)
    only = (await http.get("/api/activity", params={"days": 1, "agent": "gemini"})).json()
    assert only["points"] == [{"date": today, "agent": "gemini", "sessions": 1, "events": 1}]
    assert_error(await http.get("/api/activity", params={"days": 0}), 400, "invalid_input", "days")


async def test_large_session_is_paged_on_the_server(http: httpx2.AsyncClient, running: Running) -> None:
    session = await create(http, agent="user")
    async with running.app.database.session() as db, db.begin():
        await db.execute(
            text(
                "INSERT INTO archon_session_events (session_id, event_type, event_data, timestamp) "
                "SELECT CAST(:sid AS uuid), (ARRAY['task_created','decision_made','error_encountered'])[1 + g % 3], "
                "jsonb_build_object('n', g), now() - interval '1 second' * (100000 - g) "
                "FROM generate_series(1, 100000) AS g"
            ),
            {"sid": session["id"]},
        )
    tail = (await http.get(f"/api/sessions/{session['id']}", params={"event_limit": 50, "event_offset": 99950})).json()
    assert tail["event_count"] == 100_000 and len(tail["events"]) == 50
    assert [e["event_data"]["n"] for e in tail["events"]] == list(range(99951, 100001))
    assert tail["has_more_events"] is False  # the last page
    listed = (await http.get("/api/sessions", params={"limit": 1})).json()
    assert listed["sessions"][0]["event_count"] == 100_000
    report = (await http.get("/api/activity", params={"days": 7})).json()
    assert report["total_events"] == 100_000
    too_many = await http.get(f"/api/sessions/{session['id']}", params={"event_limit": 100_000})
    assert_error(too_many, 400, "invalid_input", "event_limit")


# --- error shapes -------------------------------------------------------------------------------


async def test_errors_share_one_json_shape(http: httpx2.AsyncClient) -> None:
    assert_error(await http.post("/api/sessions", json={"agent": "robot"}), 400, "invalid_input", "unknown agent")
    assert_error(await http.post("/api/sessions", json={}), 400, "invalid_input", "agent is required")
    assert_error(
        await http.post("/api/sessions", json={"agent": "claude", "project_id": "nope"}), 400, "invalid_input", "UUID"
    )
    assert_error(
        await http.post("/api/sessions", json={"agent": "claude", "colour": "red"}), 400, "invalid_input", "'colour'"
    )
    assert_error(
        await http.post("/api/sessions", content=b"{not json", headers={"Content-Type": "application/json"}),
        400,
        "invalid_input",
        "not valid JSON",
    )
    assert_error(await http.post("/api/sessions", json=["claude"]), 400, "invalid_input", "JSON object")
    assert_error(await http.get("/api/sessions/not-a-uuid"), 400, "invalid_input", "not a valid UUID")
    assert_error(await http.get(f"/api/sessions/{uuid.uuid4()}"), 404, "not_found", "no session")
    assert_error(await http.get("/api/sessions", params={"limit": "ten"}), 400, "invalid_input", "whole number")
    assert_error(await http.get("/api/sessions", params={"limit": 1000}), 400, "invalid_input", "between 1 and 100")
    assert_error(await http.get("/api/sessions", params={"agnet": "claude"}), 400, "invalid_input", "'agnet'")
    assert_error(await http.get("/api/sessions", params={"active": "maybe"}), 400, "invalid_input", "true or false")
    assert_error(await http.get("/api/sessions", params={"since": "yesterday"}), 400, "invalid_input", "ISO-8601")
    session = await create(http)
    assert_error(
        await http.post(f"/api/sessions/{session['id']}/events", json={"event_type": "x", "event_data": "text"}),
        400,
        "invalid_input",
        "event_data must be a JSON object",
    )
    assert_error(
        await http.post(
            f"/api/sessions/{session['id']}/events", json={"event_type": "x", "event_data": {"a": "nul\u0000"}}
        ),
        400,
        "invalid_input",
        "NUL",
    )
    assert_error(await http.get("/api/nothing-here"), 404, "not_found", "/api/nothing-here")
    wrong_method = await http.delete(f"/api/sessions/{session['id']}")
    assert_error(wrong_method, 405, "method_not_allowed")
    assert "GET" in wrong_method.headers["allow"]


# --- auth and DNS-rebinding protection ----------------------------------------------------------


def assert_unauthorized(response: httpx2.Response) -> None:
    assert response.status_code == 401, f"expected 401, got {response.status_code}: {response.text[:300]}"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json() == {"error": {"type": "unauthorized", "message": "authentication required"}}


async def test_api_requires_the_bearer_token(running: Running) -> None:
    async with httpx2.AsyncClient(base_url=running.url) as anonymous:
        await anonymous.post("/api/sessions", json={"agent": "claude"})
        for path in ("/api/sessions", "/api/meta", "/api/openapi.json", "/api/nothing-here"):
            assert_unauthorized(await anonymous.get(path))
        assert_unauthorized(await anonymous.get("/api/sessions", headers={"Authorization": "Bearer wrong-token"}))
        assert_unauthorized(await anonymous.get("/api/sessions", headers={"Authorization": f"Basic {TOKEN}"}))
        assert_unauthorized(await anonymous.get("/api/sessions", headers={"Authorization": f"Bearer {TOKEN}x"}))
        ok = await anonymous.get("/api/sessions", headers={"Authorization": f"bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()["total"] == 0, "the unauthenticated POST must not have been stored"
        page = await anonymous.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "archon" in page.text and TOKEN not in page.text
        assert (await anonymous.get("/static/app.js")).status_code == 200
        assert (await anonymous.get("/docs")).status_code == 200


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


async def test_mcp_endpoint_requires_the_bearer_token(running: Running) -> None:
    async with httpx2.AsyncClient(base_url=running.url) as anonymous:
        assert_unauthorized(await anonymous.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS))
        wrong = {**MCP_HEADERS, "Authorization": "Bearer nope"}
        assert_unauthorized(await anonymous.post("/mcp", json=INITIALIZE, headers=wrong))
        ok = await anonymous.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **AUTH})
        assert ok.status_code == 200, ok.text
    async with (
        httpx2.AsyncClient(headers=AUTH, timeout=60) as authed,
        Client(streamable_http_client(f"{running.url}/mcp", http_client=authed)) as client,
    ):
        assert {t.name for t in (await client.list_tools()).tools} == set(TOOL_NAMES)
        result = await client.call_tool("archon_create_session", {"agent": "claude"})
        assert not result.is_error


async def test_foreign_host_and_origin_are_refused(http: httpx2.AsyncClient, running: Running) -> None:
    port = running.url.rsplit(":", 1)[1]
    refused = await http.get("/api/meta", headers={"Host": "evil.example.com"})
    assert refused.status_code == 421, refused.text
    refused = await http.get("/", headers={"Host": f"attacker.test:{port}"})
    assert refused.status_code == 421, "the web page is guarded too"
    cross = await http.get("/api/meta", headers={"Origin": "http://evil.example.com"})
    assert cross.status_code == 403
    same = await http.get("/api/meta", headers={"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}"})
    assert same.status_code == 200
    mcp = await http.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Host": "evil.example.com"})
    assert mcp.status_code == 421


async def test_sse_transport_serves_mcp_and_api_with_auth(app) -> None:
    async for running in serve_app(app, "sse"):
        async with httpx2.AsyncClient(base_url=running.url) as anonymous:
            assert_unauthorized(await anonymous.get("/sse"))
            assert_unauthorized(await anonymous.post("/messages/?session_id=x", json=INITIALIZE))
            assert_unauthorized(await anonymous.get("/api/meta"))
            assert (await anonymous.get("/api/meta", headers=AUTH)).status_code == 200
        async with Client(sse_client(f"{running.url}/sse", headers=AUTH)) as client:
            assert {t.name for t in (await client.list_tools()).tools} == set(TOOL_NAMES)


# --- the bind rule ------------------------------------------------------------------------------


def test_exposure_rule() -> None:
    assert exposure_problem(Settings(host="127.0.0.1"), insecure=False) is None
    assert exposure_problem(Settings(host="localhost"), insecure=False) is None
    assert exposure_problem(Settings(host="::1"), insecure=False) is None
    problem = exposure_problem(Settings(host="0.0.0.0"), insecure=False)
    assert problem is not None and "ARCHON_AUTH_TOKEN" in problem and "--insecure" in problem
    assert exposure_problem(Settings(host="192.168.1.20"), insecure=False) is not None
    assert exposure_problem(Settings(host="0.0.0.0"), insecure=True) is None
    assert exposure_problem(Settings(host="0.0.0.0", auth_token=SecretStr(TOKEN)), insecure=False) is None


def test_token_file_and_allowed_hosts(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    assert Settings(auth_token_file=token_file).resolved_auth_token == TOKEN
    assert exposure_problem(Settings(host="0.0.0.0", auth_token_file=token_file), insecure=False) is None
    with pytest.raises(ValueError, match="cannot be read"):
        _ = Settings(auth_token_file=tmp_path / "missing").resolved_auth_token
    security = transport_security(Settings(host="10.1.2.3", port=9000, allowed_hosts="memory.example.com"))
    assert {"10.1.2.3:9000", "localhost:*", "memory.example.com", "memory.example.com:*"} <= set(security.allowed_hosts)
    assert "http://10.1.2.3:9000" in security.allowed_origins
    assert "evil.example.com" not in security.allowed_hosts


@pytest.mark.slow
def test_cli_refuses_non_loopback_bind_without_token(data_dir: Path, admin_url: str) -> None:
    env = server_env(data_dir, "archon_bind_rule")
    result = subprocess.run(
        [*archon_command(), "serve", "--transport", "http", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "refusing to listen on 0.0.0.0" in result.stderr and "--insecure" in result.stderr
    env["ARCHON_AUTH_TOKEN_FILE"] = "/nonexistent/token"
    result = subprocess.run(
        [*archon_command(), "serve", "--transport", "sse", "--host", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "ARCHON_AUTH_TOKEN_FILE" in result.stderr, result.stderr


@pytest.mark.slow
def test_cli_serves_api_and_page_with_token(data_dir: Path, admin_url: str) -> None:
    port = free_port()
    env = {**server_env(data_dir, "archon_api_cli"), "ARCHON_AUTH_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [*archon_command(), "serve", "--transport", "http", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            assert time.monotonic() < deadline, "server did not answer within 90 s"
            try:
                response = httpx2.get(f"{base}/api/meta", headers=AUTH, timeout=5)
                break
            except httpx2.TransportError:
                time.sleep(0.3)
        assert response.status_code == 200 and response.json()["auth_required"] is True
        assert httpx2.get(f"{base}/api/meta").status_code == 401
        assert httpx2.get(f"{base}/").status_code == 200
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


# --- the operations REST gained with the shared request models ----------------------------------


async def test_batch_events_keyword_search_summarize_and_resume(http: httpx2.AsyncClient) -> None:
    session = await create(http, agent="claude", project_id=PROJECT)
    sid = session["id"]
    events = [
        {"event_type": "task_created", "event_data": {"task_id": "T-42", "title": "Fix FooBarTimeout in worker"}},
        {"event_type": "decision_made", "event_data": {"decision": "retry with backoff", "rationale": "flaky network"}},
    ]
    added = await http.post(f"/api/sessions/{sid}/events/batch", json={"events": events})
    assert added.status_code == 201, added.text
    assert added.json()["count"] == 2 and len(added.json()["ids"]) == 2
    bad = await http.post(f"/api/sessions/{sid}/events/batch", json={"events": [{"event_type": "Bad Type"}]})
    assert_error(bad, 400, "invalid_input", "events[0]")

    found = await http.get("/api/search/events", params={"query": "FooBarTimeout", "mode": "keyword"})
    assert found.status_code == 200, found.text
    assert found.json()["mode"] == "keyword" and found.json()["results"][0]["event_data"]["task_id"] == "T-42"
    assert_error(await http.get("/api/search/events", params={"q": "x", "mode": "fuzzy"}), 400, "invalid_input", "mode")

    summary = await http.post(f"/api/sessions/{sid}/summarize", json={"methods": ["extractive"]})
    assert summary.status_code == 200, summary.text
    assert summary.json()["method"] == "extractive" and summary.json()["stored"] is True
    sampled = (await http.post(f"/api/sessions/{sid}/summarize", json={"store": False})).json()
    assert {a["method"]: a["outcome"] for a in sampled["attempts"]}["sampling"] == "skipped"

    resume = await http.get("/api/agents/claude/resume", params={"project_id": PROJECT, "max_tokens": 500})
    assert resume.status_code == 200, resume.text
    assert resume.json()["found"] and resume.json()["last_session"]["id"] == sid
    assert_error(
        await http.get("/api/agents/claude/resume", params={"max_tokens": 10}), 400, "invalid_input", "max_tokens"
    )


async def test_get_api_sessions_is_the_list_sessions_operation(http: httpx2.AsyncClient, running: Running) -> None:
    first = await create(http, agent="gemini")
    await add_event(http, first["id"], "task_created", title="x")
    await create(http, agent="gemini")
    rest = (await http.get("/api/sessions", params={"agent": "gemini", "limit": 1, "verbose": "true"})).json()
    mcp = await running.app.sessions.list_sessions(agent="gemini", limit=1)
    assert rest == mcp.model_dump(mode="json")
    assert rest["next_offset"] == 1 and "event_count" in rest["sessions"][0]
