"""Projects by name through the real MCP client and the REST API: `project="billing-api"` is one project
in every conversation and from every client, results carry the name, and UUID project_ids still work."""

from __future__ import annotations

import uuid
from typing import Any

import httpx2
import pytest
from mcp import Client

from archon_mcp.app import open_app
from archon_mcp.server import build_server
from tests.helpers import (
    AUTH,
    CHROMIUM,
    CHROMIUM_ARGS,
    TOKEN,
    assert_error,
    async_playwright,
    call,
    call_error,
    serve_app,
)

pytestmark = pytest.mark.anyio


async def test_the_same_name_from_two_clients_is_one_project(app, settings, client) -> None:
    # A second server process of another client on the same store (its own app, its own MCP session).
    async with open_app(settings, embedder=app.embedder, run_worker=False) as other_app:
        async with Client(build_server(settings, other_app)) as other:
            mine = await call(client, "archon_create_session", agent="claude", project="billing-api")
            theirs = await call(other, "archon_create_session", agent="gemini", project="Billing-API ")
    assert mine["project_id"] and mine["project_id"] == theirs["project_id"], (mine, theirs)
    # The name as first written is the project's name, whatever case a later caller used.
    assert mine["project"] == theirs["project"] == "billing-api"
    listed = await call(client, "archon_list_sessions", project="BILLING-api")
    assert {s["id"] for s in listed["sessions"]} == {mine["id"], theirs["id"]}
    assert {s["project"] for s in listed["sessions"]} == {"billing-api"}


async def test_results_carry_the_project_name(client) -> None:
    session = await call(client, "archon_create_session", agent="claude", project="billing-api")
    await call(
        client,
        "archon_add_event",
        session_id=session["id"],
        event_type="decision_made",
        event_data={"decision": "charge invoices in cents to avoid rounding errors"},
    )
    unnamed = await call(client, "archon_create_session", agent="claude")
    assert "project" in unnamed and unnamed["project"] is None and unnamed["project_id"] is None

    detail = await call(client, "archon_get_session", session_id=session["id"])
    last = await call(client, "archon_get_last_session", agent="claude")
    assert last["session"]["id"] == unnamed["id"]
    active = await call(client, "archon_get_active_sessions", project="billing-api")
    recent = await call(client, "archon_get_recent_sessions", agent="claude")
    found = await call(
        client, "archon_search_sessions", query="invoices in cents", threshold=0.0, project="billing-api"
    )
    resume = await call(client, "archon_resume_context", agent="claude", project="billing-api")
    assert detail["project"] == "billing-api"
    assert [s["project"] for s in active["sessions"]] == ["billing-api"]
    assert {s["id"]: s["project"] for s in recent["sessions"]} == {session["id"]: "billing-api", unnamed["id"]: None}
    assert [r["id"] for r in found["results"]] == [session["id"]] and found["results"][0]["project"] == "billing-api"
    assert resume["project"] == "billing-api" and resume["project_id"] == session["project_id"]
    assert resume["last_session"]["project"] == "billing-api"
    markdown = await client.call_tool(
        "archon_resume_context", {"agent": "claude", "project": "billing-api", "format": "markdown"}
    )
    assert "(project billing-api)" in markdown.content[0].text, markdown.content[0].text


async def test_project_filters_by_name_on_every_operation(client) -> None:
    billing = await call(client, "archon_create_session", agent="claude", project="billing-api")
    await call(
        client,
        "archon_add_event",
        session_id=billing["id"],
        event_type="error_encountered",
        event_data={"error": "StripeTimeout while charging invoice 42"},
    )
    web = await call(client, "archon_create_session", agent="claude", project="web-frontend")
    await call(
        client,
        "archon_add_event",
        session_id=web["id"],
        event_type="error_encountered",
        event_data={"error": "StripeTimeout in the checkout page"},
    )
    events = await call(client, "archon_search_events", query="StripeTimeout", mode="keyword", project="billing-api")
    assert [e["session_id"] for e in events["results"]] == [billing["id"]], events
    sessions = await call(
        client, "archon_search_sessions", query="StripeTimeout", mode="keyword", project="web-frontend"
    )
    assert [s["id"] for s in sessions["results"]] == [web["id"]], sessions
    listed = await call(client, "archon_list_sessions", project="web-frontend")
    assert [s["id"] for s in listed["sessions"]] == [web["id"]]
    resume = await call(client, "archon_resume_context", agent="claude", project="billing-api")
    assert resume["last_session"]["id"] == billing["id"]
    assert [e["text"] for e in resume["unresolved_errors"]] == ["StripeTimeout while charging invoice 42"]


async def test_unknown_name_in_a_filter_is_a_clear_error_and_creates_nothing(client, app) -> None:
    for tool, args in [
        ("archon_list_sessions", {}),
        ("archon_get_active_sessions", {}),
        ("archon_search_sessions", {"query": "anything"}),
        ("archon_search_events", {"query": "anything"}),
    ]:
        message = await call_error(client, tool, project="no-such-project", **args)
        assert "no project is called 'no-such-project'" in message, (tool, message)
    # Resuming a project nobody worked on yet is the first call of its first session: an answer.
    fresh = await call(client, "archon_resume_context", agent="claude", project=" no-such-project ")
    assert fresh["found"] is False and fresh["project"] == "no-such-project" and fresh["last_session"] is None
    text = await client.call_tool(
        "archon_resume_context", {"agent": "claude", "project": "no-such-project", "format": "markdown"}
    )
    assert "No earlier sessions" in text.content[0].text
    assert await app.projects.find("no-such-project") is None, "a filter must not create the project"


async def test_name_and_project_id_that_disagree_are_an_error(client) -> None:
    billing = await call(client, "archon_create_session", agent="claude", project="billing-api")
    await call(client, "archon_create_session", agent="claude", project="web-frontend")
    other_id = str(uuid.uuid4())
    message = await call_error(
        client, "archon_create_session", agent="claude", project="billing-api", project_id=other_id
    )
    assert "billing-api" in message and other_id in message and "one of project or project_id" in message
    message = await call_error(client, "archon_list_sessions", project="web-frontend", project_id=billing["project_id"])
    assert "web-frontend" in message and "one of project or project_id" in message
    # Agreeing is fine.
    same = await call(client, "archon_list_sessions", project="billing-api", project_id=billing["project_id"])
    assert [s["id"] for s in same["sessions"]] == [billing["id"]]


async def test_uuid_project_ids_still_work(client) -> None:
    pid = str(uuid.uuid4())
    session = await call(client, "archon_create_session", agent="claude", project_id=pid)
    assert session["project_id"] == pid and session["project"] is None
    listed = await call(client, "archon_list_sessions", project_id=pid)
    assert [s["id"] for s in listed["sessions"]] == [session["id"]]
    resume = await call(client, "archon_resume_context", agent="claude", project_id=pid)
    assert resume["last_session"]["id"] == session["id"] and resume["project"] is None
    message = await call_error(client, "archon_list_sessions", project_id="billing-api")
    assert "project_id" in message


async def test_rest_takes_project_names_and_answers_with_them(http: httpx2.AsyncClient) -> None:
    async def post(body: dict[str, Any]) -> dict[str, Any]:
        response = await http.post("/api/sessions", json={"agent": "claude", **body})
        assert response.status_code == 201, response.text
        return response.json()

    first = await post({"project": "billing-api"})
    second = await post({"project": "billing-api"})
    legacy = await post({"project_id": str(uuid.uuid4())})
    assert first["project_id"] == second["project_id"] and first["project"] == "billing-api"

    listed = (await http.get("/api/sessions", params={"project": "billing-api"})).json()
    assert {s["id"] for s in listed["sessions"]} == {first["id"], second["id"]}
    assert {s["project"] for s in listed["sessions"]} == {"billing-api"}
    active = (await http.get("/api/sessions/active", params={"project": "billing-api"})).json()
    assert len(active["sessions"]) == 2
    activity = await http.get("/api/activity", params={"project": "billing-api", "days": 1})
    assert activity.status_code == 200 and activity.json()["total_sessions"] == 2, activity.text
    resume = (await http.get("/api/agents/claude/resume", params={"project": "billing-api"})).json()
    assert resume["project"] == "billing-api"
    projects = (await http.get("/api/projects")).json()
    assert {p["id"]: p["name"] for p in projects["named"]} == {
        first["project_id"]: "billing-api",
        legacy["project_id"]: None,
    }
    assert sorted(projects["projects"]) == sorted([first["project_id"], legacy["project_id"]])

    assert_error(
        await http.get("/api/sessions", params={"project": "nope"}), 400, "invalid_input", "no project is called 'nope'"
    )
    assert_error(
        await http.get("/api/sessions", params={"project": "billing-api", "project_id": legacy["project_id"]}),
        400,
        "invalid_input",
        "one of project or project_id",
    )
    assert_error(await http.get("/api/activity", params={"project": "nope"}), 400, "invalid_input", "nope")


@pytest.mark.slow
async def test_the_web_page_shows_and_filters_projects_by_name(app) -> None:

    if async_playwright is None or CHROMIUM is None:
        pytest.skip("playwright or chromium is not installed")
    async for served in serve_app(app, "http"):
        async with httpx2.AsyncClient(base_url=served.url, headers=AUTH, timeout=60) as web:
            billing = (await web.post("/api/sessions", json={"agent": "claude", "project": "billing-api"})).json()
            legacy_id = str(uuid.uuid4())
            legacy = (await web.post("/api/sessions", json={"agent": "claude", "project_id": legacy_id})).json()
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = await browser.new_page()
                errors: list[Exception] = []

                def page_error(exc: Exception, seen: list[Exception] = errors) -> None:
                    seen.append(exc)

                page.on("pageerror", page_error)
                await page.goto(f"{served.url}/?token={TOKEN}")
                await page.wait_for_selector("#session-table")
                cell = page.locator(f"tr[data-id='{billing['id']}'] td").nth(4)
                assert await cell.inner_text() == "billing-api"
                options = [
                    await o.inner_text() for o in await page.locator("#filters select[name=project] option").all()
                ]
                assert "billing-api" in options and billing["project_id"] not in " ".join(options), options
                await page.select_option("#filters select[name=project]", "billing-api")
                await page.wait_for_function("document.querySelectorAll('#session-table tbody tr').length === 1")
                assert await page.locator("#session-table tbody tr").get_attribute("data-id") == billing["id"]
                assert "project=billing-api" in page.url
                # A project known only by its UUID is still offered and filters by its id.
                await page.select_option("#filters select[name=project]", legacy_id)
                await page.wait_for_function(
                    f"document.querySelector('#session-table tbody tr')?.dataset.id === '{legacy['id']}'"
                )
                await page.click(f"tr[data-id='{legacy['id']}']")
                await page.wait_for_selector("#session-header")
                assert legacy_id in await page.locator("#session-header").inner_text()
                await page.goto(f"{served.url}/#/session/{billing['id']}")
                await page.wait_for_function(
                    "document.querySelector('#session-header')?.innerText.includes('billing-api')"
                )
                assert not errors, errors
            finally:
                await browser.close()
