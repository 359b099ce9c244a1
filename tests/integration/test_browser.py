"""The session browser in a real headless Chromium (Debian's package, driven by Playwright) against the
real server and a seeded database. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import text

from tests.helpers import AUTH, CHROMIUM, CHROMIUM_ARGS, TOKEN, Running, async_playwright, serve_app

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
async def served(app) -> AsyncIterator[Running]:
    if async_playwright is None:
        pytest.skip("the playwright package is not installed (pip install playwright)")
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    async for running in serve_app(app, "http"):
        yield running


async def seed(running: Running) -> dict[str, Any]:
    """Sessions of several agents over the last days, one with a rich summary, one with 100k events."""
    ids: dict[str, Any] = {}
    async with httpx2.AsyncClient(base_url=running.url, headers=AUTH, timeout=60) as http:

        async def session(agent: str, summary: str | None, events: list[tuple[str, dict]], days_ago: int) -> str:
            sid = (await http.post("/api/sessions", json={"agent": agent})).json()["id"]
            for kind, data in events:
                r = await http.post(f"/api/sessions/{sid}/events", json={"event_type": kind, "event_data": data})
                assert r.status_code == 201, r.text
            if summary:
                assert (await http.post(f"/api/sessions/{sid}/end", json={"summary": summary})).status_code == 200
            async with running.app.database.session() as db, db.begin():
                shift = {"sid": sid, "d": days_ago}
                await db.execute(
                    text(
                        "UPDATE archon_sessions SET started_at = started_at - make_interval(days => :d) WHERE id = :sid"
                    ),
                    shift,
                )
                await db.execute(
                    text(
                        "UPDATE archon_session_events SET timestamp = timestamp - make_interval(days => :d) "
                        "WHERE session_id = :sid"
                    ),
                    shift,
                )
            return sid

        ids["migration"] = await session(
            "claude",
            "Fixed the failing PostgreSQL schema migration by adding the missing pgvector extension",
            [
                ("task_created", {"title": "Repair database migration 002"}),
                ("error_encountered", {"error": "type vector does not exist", "context": "alembic upgrade head"}),
                ("decision_made", {"decision": "create the vector extension in the first migration"}),
                ("task_completed", {"title": "Repair database migration 002", "outcome": "success"}),
            ],
            days_ago=2,
        )
        r = await http.put(
            f"/api/sessions/{ids['migration']}/summary",
            json={
                "summary": "Fixed the failing PostgreSQL schema migration by adding the missing pgvector extension",
                "metadata": {
                    "key_events": ["migration_failed", "extension_created"],
                    "decisions": ["create extension in migration 001"],
                    "outcomes": ["alembic upgrade head passes"],
                    "next_steps": ["add a CI job that migrates an empty database"],
                },
            },
        )
        assert r.status_code == 200, r.text
        ids["party"] = await session(
            "gemini", "Planned the team offsite and booked a venue", [("task_created", {"title": "Book venue"})], 5
        )
        ids["gpt"] = await session("gpt", None, [("context_shared", {"note": "handing over to claude"})], 1)
        ids["big"] = await session("user", None, [], 0)
        async with running.app.database.session() as db, db.begin():
            await db.execute(
                text(
                    "INSERT INTO archon_session_events (session_id, event_type, event_data, timestamp) "
                    "SELECT CAST(:sid AS uuid), (ARRAY['task_created','decision_made','error_encountered'])[1 + g % 3], "
                    "jsonb_build_object('step', g), now() - interval '1 second' * (100000 - g) "
                    "FROM generate_series(1, 100000) AS g"
                ),
                {"sid": ids["big"]},
            )
        # Wait for the embeddings of what was written through the API, so that search finds it.
        await running.app.worker.wait_idle(60)
    return ids


async def test_session_browser_in_chromium(served: Running) -> None:
    ids = await seed(served)
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            # Without a token the page asks for one; the token form then unlocks it.
            await page.goto(f"{served.url}/")
            await page.wait_for_selector("#auth:not([hidden])")
            await page.fill("#auth-form input[name=token]", TOKEN)
            await page.click("#auth-form button")
            await page.wait_for_selector("#session-table")

            # ?token= is taken once, kept in sessionStorage and removed from the address bar.
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{served.url}/?token={TOKEN}")
            await page.wait_for_selector("#session-table")
            assert "token" not in page.url
            rows = page.locator("#session-table tbody tr")
            assert await rows.count() == 4
            assert await page.locator(f"tr[data-id='{ids['big']}'] td.num").inner_text() == "100,000"
            assert "1–4 of 4" in await page.locator("#pager").inner_text()
            await page.screenshot(path=str(ARTIFACTS / "sessions.png"), full_page=True)

            # Filters: agent, then status.
            await page.select_option("#filters select[name=agent]", "gemini")
            await page.wait_for_function("document.querySelectorAll('#session-table tbody tr').length === 1")
            assert await page.locator("#session-table tbody tr").get_attribute("data-id") == ids["party"]
            await page.goto(f"{served.url}/#/sessions?active=true")
            await page.wait_for_function("document.querySelectorAll('#session-table tbody tr').length === 2")
            active = {await r.get_attribute("data-id") for r in await page.locator("#session-table tbody tr").all()}
            assert active == {ids["gpt"], ids["big"]}

            # One session: summary facets and the coloured timeline.
            await page.goto(f"{served.url}/#/sessions")
            await page.click(f"tr[data-id='{ids['migration']}']")
            await page.wait_for_selector("#events .tl-item")
            summary = await page.locator("#summary").inner_text()
            assert "pgvector extension" in summary
            for facet in ("create extension in migration 001", "alembic upgrade head passes", "add a CI job"):
                assert facet in summary
            types = [await t.inner_text() for t in await page.locator("#events .tl-type").all()]
            assert types == ["task_created", "error_encountered", "decision_made", "task_completed"]
            colours = {
                await d.evaluate("e => getComputedStyle(e).backgroundColor")
                for d in await page.locator(".tl-dot").all()
            }
            assert len(colours) == 4, f"each event type has its own colour: {colours}"
            await page.screenshot(path=str(ARTIFACTS / "session.png"), full_page=True)

            # 100k events: one page at a time, jump to the latest.
            await page.goto(f"{served.url}/#/session/{ids['big']}")
            await page.wait_for_selector("#events .tl-item")
            assert await page.locator("#events .tl-item").count() == 50
            assert "events 1–50 of 100,000" in await page.locator("#event-pager").inner_text()
            await page.click("#event-pager button:has-text('Latest')")
            await page.wait_for_function("document.querySelector('#event-pager')?.innerText.includes('99,951–100,000')")
            assert "#100,000" in await page.locator("#events .tl-item").last.inner_text()
            await page.screenshot(path=str(ARTIFACTS / "session-100k.png"))

            # Search from the top bar: sessions and events with scores.
            await page.fill("#quick-search input", "database migration error")
            await page.press("#quick-search input", "Enter")
            await page.wait_for_selector("#session-results .session-hit, #session-results .empty")
            first = page.locator("#session-results .session-hit").first
            assert await first.count() == 1, await page.locator("#view").inner_text()
            assert ids["migration"] in (await first.locator("a").get_attribute("href") or "")
            score = float((await first.locator(".score").inner_text()).strip())
            assert 0.5 <= score <= 1.0
            assert await page.locator("#event-results .event-hit").count() >= 1
            await page.screenshot(path=str(ARTIFACTS / "search.png"), full_page=True)

            # Activity chart: stacked bars per day per agent.
            await page.goto(f"{served.url}/#/activity?days=14")
            await page.wait_for_selector("#chart-sessions svg rect")
            agents = {await r.get_attribute("data-agent") for r in await page.locator("#chart-sessions rect").all()}
            assert agents == {"claude", "gemini", "gpt", "user"}
            bars = await page.locator("#chart-events rect").all()
            total = sum([int(await r.get_attribute("data-value") or 0) for r in bars])
            assert total == 100_000 + 4 + 1 + 1
            assert await page.locator("#total-sessions").inner_text() == "4"
            await page.screenshot(path=str(ARTIFACTS / "activity.png"), full_page=True)

            # The API docs page renders the OpenAPI document.
            await page.goto(f"{served.url}/docs")
            await page.wait_for_selector("details.endpoint")
            assert await page.locator("details.endpoint").count() >= 15
            await page.screenshot(path=str(ARTIFACTS / "docs.png"))
        finally:
            await browser.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
