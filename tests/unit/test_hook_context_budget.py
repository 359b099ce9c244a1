"""The SessionStart context fits ARCHON_HOOK_CONTEXT_TOKENS counted on the text actually printed."""

from __future__ import annotations

import json

import pytest

from archon_mcp.services.hooks import hook_context_output
from archon_mcp.services.resume_format import (
    LastSessionBrief,
    OpenTask,
    RecentItem,
    RelatedSession,
    ResumeContext,
    fit_rendered,
    render_markdown,
)

SID = "1c2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


def context(items: int = 40, *, active: bool = False, ended_by: str | None = None) -> ResumeContext:
    return ResumeContext(
        agent="claude",
        project_id="7d1e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
        found=True,
        last_session=LastSessionBrief(
            id=SID,
            project_id=None,
            started_at="2026-12-01T10:00:00Z",
            ended_at=None if active else "2026-12-01T11:00:00Z",
            is_active=active,
            summary="Worked on invoices. " * 30,
            next_steps=[f'next step {i} with "quotes" and\nnewlines' for i in range(items)],
            ended_by=ended_by,
        ),
        open_tasks=[
            OpenTask(title=f"open task {i}", task_id=str(i), session_id=SID, created_at="x") for i in range(items)
        ],
        recent_decisions=[RecentItem(text=f"decision {i} " * 5, session_id=SID, at="x") for i in range(items)],
        unresolved_errors=[RecentItem(text=f"error {i} " * 5, session_id=SID, at="x") for i in range(items)],
        related_sessions=[
            RelatedSession(id=SID, agent="claude", started_at="x", summary="earlier " * 20, similarity=None)
            for _ in range(5)
        ],
        sessions_scanned=3,
        max_tokens=50_000,
        estimated_tokens=0,
        trimmed={},
    )


def render(ctx: ResumeContext) -> str:
    return hook_context_output(render_markdown(ctx, project_name="billing-api", closing="Recorded by hooks."))


@pytest.mark.parametrize("budget", [150, 400, 1500])
def test_the_printed_text_fits_the_budget(budget: int) -> None:
    text, fitted = fit_rendered(context(), budget, render)
    assert len(text) <= budget * 4, (len(text), budget * 4)
    assert fitted.estimated_tokens == -(-len(text) // 4)
    assert text == render(fitted)  # exactly what would be printed
    payload = json.loads(text)
    assert payload["hookSpecificOutput"]["hookEventName"] == "SessionStart"


def test_least_important_lists_go_first() -> None:
    text, fitted = fit_rendered(context(), 1500, render)
    markdown = json.loads(text)["hookSpecificOutput"]["additionalContext"]
    assert "open task 0" in markdown  # open tasks are the last list to be cut
    assert fitted.related_sessions == []
    assert "(trimmed to fit" in markdown


def test_a_large_budget_keeps_everything() -> None:
    text, fitted = fit_rendered(context(items=3), 50_000, render)
    assert fitted.trimmed == {}
    markdown = json.loads(text)["hookSpecificOutput"]["additionalContext"]
    assert "open task 2" in markdown and "decision 2" in markdown and "earlier" in markdown


def test_an_active_last_session_is_said_to_be_active() -> None:
    markdown = render_markdown(context(items=1, active=True))
    assert "still active" in markdown
    assert "is still active: if it is yours, keep logging events to it" in markdown
    assert "Continue from here: create a new session" not in markdown


def test_a_stale_ended_session_says_so() -> None:
    markdown = render_markdown(context(items=1, ended_by="stale"))
    assert "ended by itself" in markdown
