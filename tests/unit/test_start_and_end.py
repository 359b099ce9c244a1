"""The server's instructions, the tool descriptions and the README say the same about starting and
ending work, and about the event fields the tools read (no database: the server is only built)."""

from __future__ import annotations

from pathlib import Path

import pytest

from archon_mcp.config import EVENT_FIELDS, Settings
from archon_mcp.operations import START_AND_END
from archon_mcp.server import INSTRUCTIONS, build_server

pytestmark = pytest.mark.anyio

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _flat(text: str) -> str:
    return " ".join(text.split())


async def test_instructions_and_descriptions_start_with_resume_context() -> None:
    tools = {t.name: t for t in await build_server(Settings(database_url="postgresql://unused/none")).list_tools()}
    assert START_AND_END.startswith("Start work with archon_resume_context(")
    assert START_AND_END in INSTRUCTIONS
    assert "archon_get_last_session (what you did last time)" not in INSTRUCTIONS
    for name in ("archon_create_session", "archon_resume_context"):
        assert _flat(START_AND_END) in _flat(tools[name].description or ""), name
    assert "recorded automatically" in START_AND_END and "hooks" in START_AND_END
    # The README's "How to start and end work" says it in the same order.
    flat = _flat(README)
    assert 'start with `archon_resume_context(agent, project="<repository name>")`' in flat
    assert "the session is recorded automatically" in flat


async def test_every_event_type_the_summaries_read_is_documented() -> None:
    tools = {t.name: t for t in await build_server(Settings(database_url="postgresql://unused/none")).list_tools()}
    add_event = _flat(tools["archon_add_event"].description or "")
    for kind, fields in EVENT_FIELDS.items():
        assert f"{kind}: {_flat(fields)}" in add_event, kind
        assert f"| `{kind}`" in README, f"README's event table lacks {kind}"
    assert '"resolved": true' in add_event and "task_id" in add_event
    resume = tools["archon_resume_context"].description or ""
    assert "error_resolved" in resume and '"resolved": true' in resume and "task_id" in resume
