"""Search statements are built once per shape (repositories/search.py): what varies from one search
to the next (lexemes, their weights, filter values, ids, limits, the query vector) is bound by name,
so the SQL text a search sends stays the same and no statement is built on the request path."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql

from archon_mcp.repositories import search as repo
from archon_mcp.repositories.search import Extras, SearchFilters, TableStats

pytestmark = pytest.mark.anyio

STATS = TableStats(rows=100_000, avg_length=15.0, common={})


class Recorder:
    """Stands in for a connection: records what would be executed, returns no rows."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    async def execute(self, stmt: Any, params: dict[str, Any] | None = None) -> Any:
        self.calls.append((stmt, params or {}))
        return self

    def all(self) -> list[Any]:
        return []


def sql(stmt: Any) -> str:
    return str(stmt.compile(dialect=postgresql.asyncpg.dialect()))


async def test_two_keyword_searches_of_one_shape_share_one_statement() -> None:
    db = Recorder()
    vector = [0.1] * 384
    extras = Extras(vector=vector, model_name="m", neighbours=True)
    first = {"deploy": 12.0, "rollback": 30.0}
    second = {"pottery": 3.0, "class": 40.0}
    await repo.keyword_search(
        db, "events", list(first), first, STATS, limit=100, filters=SearchFilters(), extras=extras
    )
    await repo.keyword_search(
        db, "events", list(second), second, STATS, limit=40, filters=SearchFilters(), extras=extras
    )
    (stmt_a, params_a), (stmt_b, params_b) = db.calls
    assert stmt_a is stmt_b
    assert params_a["lexemes"] == ["deploy", "rollback"] and params_b["lexemes"] == ["pottery", "class"]
    assert params_a["rare"] == "deploy | rollback" and params_b["limit"] == 40
    assert "deploy" not in sql(stmt_a) and "pottery" not in sql(stmt_a)


async def test_filter_values_are_bound_and_only_the_filters_set_change_the_statement() -> None:
    db = Recorder()
    df = {"deploy": 12.0}
    since = datetime(2026, 11, 1, tzinfo=UTC)
    for filters in (
        SearchFilters(agent="claude", since=since),
        SearchFilters(agent="gemini", since=since),
        SearchFilters(),
    ):
        await repo.keyword_search(db, "sessions", list(df), df, STATS, limit=10, filters=filters)
    (claude, params), (gemini, other), (unfiltered, _) = db.calls
    assert claude is gemini and claude is not unfiltered
    assert params["f_agent"] == "claude" and other["f_agent"] == "gemini" and params["f_since"] == since
    assert "claude" not in sql(claude)


async def test_lists_of_ids_are_one_array_whatever_their_length() -> None:
    db = Recorder()
    for count in (1, 7, 99):
        ids = [uuid.uuid4() for _ in range(count)]
        await repo.events_by_id(db, ids)
        await repo.cosines(db, "events", ids, Extras(vector=[0.0] * 384, model_name="m", session_cosine=True))
    events = {id(stmt) for stmt, params in db.calls[0::2]}
    cosines = {id(stmt) for stmt, params in db.calls[1::2]}
    assert len(events) == 1 and len(cosines) == 1
    assert [len(params["ids"]) for _, params in db.calls[0::2]] == [1, 7, 99]
    assert "ANY" in sql(db.calls[0][0]).upper()
