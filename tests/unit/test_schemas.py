"""The request models: the checks and messages every edge shares, without a database."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from archon_mcp.config import Settings
from archon_mcp.errors import InvalidInputError, NotFoundError, message_for
from archon_mcp.schemas import (
    AddEventsRequest,
    CreateSessionRequest,
    ListSessionsRequest,
    Page,
    SearchEventsRequest,
    SessionWithCount,
    SummarizeSessionRequest,
    describe,
    iso_utc,
)

SETTINGS = Settings(database_url="postgresql://unused/none", agents="claude,ops")
SID = "1c2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


def test_the_schemas_package_imports_without_sqlalchemy() -> None:
    code = "import sys, archon_mcp.schemas; print('sqlalchemy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False", "archon_mcp.schemas must not import SQLAlchemy"


def test_values_are_normalised_to_their_types() -> None:
    request = SearchEventsRequest.parse(
        SETTINGS, query="  migration  ", session_id=SID, agent="OPS", since="2026-01-31", mode="keyword"
    )
    assert request.query == "migration" and request.agent == "ops" and request.mode == "keyword"
    assert request.session_id == uuid.UUID(SID)
    assert request.since == datetime(2026, 1, 31, tzinfo=UTC)
    assert (request.limit, request.threshold, request.until) == (10, 0.7, None)
    assert CreateSessionRequest.parse(SETTINGS, agent="claude").metadata == {}


@pytest.mark.parametrize(
    ("model", "values", "expected"),
    [
        (ListSessionsRequest, {"limit": 0}, "limit must be between 1 and 100 (got 0)"),
        (ListSessionsRequest, {"limit": "ten"}, "limit must be a whole number (got 'ten')"),
        (ListSessionsRequest, {"agent": "gpt"}, "unknown agent 'gpt': use one of claude, ops"),
        (ListSessionsRequest, {"colour": "red"}, "unknown field 'colour'; this endpoint takes: agent, project_id"),
        (ListSessionsRequest, {"since": "last tuesday"}, "since 'last tuesday' is not an ISO-8601 date-time"),
        (CreateSessionRequest, {}, "agent is required"),
        (CreateSessionRequest, {"agent": "ops", "metadata": ["a"]}, "metadata must be a JSON object (got list)"),
        (SearchEventsRequest, {"query": "x", "mode": "fuzzy"}, "mode 'fuzzy' is not one of: hybrid (default)"),
        (SearchEventsRequest, {"query": "x", "threshold": 1.5}, "threshold must be between 0.0 and 1.0"),
        (SearchEventsRequest, {"query": "  "}, "query must not be empty"),
        (AddEventsRequest, {"session_id": SID, "events": []}, "events must be a non-empty list"),
        (AddEventsRequest, {"session_id": SID, "events": [{"event_type": "Bad Type", "event_data": {}}]}, "events[0]:"),
        (SummarizeSessionRequest, {"session_id": SID, "methods": ["magic"]}, "unknown summary method 'magic'"),
    ],
)
def test_bad_values_get_the_projects_messages(model, values, expected) -> None:
    with pytest.raises(InvalidInputError) as caught:
        model.parse(SETTINGS, **values)
    assert expected in str(caught.value)


def test_limits_follow_the_settings_in_force() -> None:
    small = SETTINGS.model_copy(update={"max_page_size": 5})
    assert ListSessionsRequest.parse(SETTINGS, limit=50).limit == 50
    with pytest.raises(InvalidInputError, match="between 1 and 5"):
        ListSessionsRequest.parse(small, limit=50)


def test_hints_are_worded_per_edge() -> None:
    with pytest.raises(InvalidInputError) as caught:
        SearchEventsRequest.parse(SETTINGS, query="x", session_id="42")
    assert "archon_create_session" not in str(caught.value)  # no hint on this optional filter
    missing = NotFoundError("no session with id x", hint="find_session")
    assert message_for(missing, "mcp").endswith("archon_list_sessions or archon_get_active_sessions")
    assert message_for(missing, "rest").endswith("GET /api/sessions or GET /api/sessions/active")
    assert "archon_" not in message_for(missing, "rest") and message_for(missing, "cli") == "no session with id x"


def test_descriptions_name_the_settings() -> None:
    assert describe("Agent name, one of: $agents.", SETTINGS) == "Agent name, one of: claude, ops."
    assert describe({"a": ["1..$max_page_size", 3]}, SETTINGS) == {"a": ["1..100", 3]}


def test_one_page_type_computes_next_offset() -> None:
    assert Page[SessionWithCount].of([], total=5, limit=2, offset=9).next_offset is None  # past the end
    assert Page[SessionWithCount].of([], total=0, limit=2, offset=0).next_offset is None


def test_one_time_format() -> None:
    moment = datetime(2026, 1, 31, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    assert iso_utc(moment) == "2026-01-31T09:00:00Z"
