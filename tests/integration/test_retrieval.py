"""What makes search find things: BM25 inside PostgreSQL, events indexed with their context, and
time named in the query. Real PostgreSQL, real MCP client, the real local model."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from sqlalchemy import text

from tests.helpers import call, create_database, make_settings

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def _store_at(admin_url: str, name: str, revision: str) -> AsyncIterator[tuple[Any, Any]]:
    """A new database migrated to `revision` only, with one session: (the database, the session id)."""
    from archon_mcp.db import Database

    database = Database(make_settings(await create_database(admin_url, name)))
    await database.start(migrate=False, check_embedding=False)
    try:
        await database.upgrade(revision)
        async with database.engine.begin() as conn:
            sid = await conn.scalar(text("INSERT INTO archon_sessions (agent) VALUES ('claude') RETURNING id"))
        yield database, sid
    finally:
        await database.close()


async def _session(client, **kwargs) -> str:
    return (await call(client, "archon_create_session", agent="claude", **kwargs))["id"]


async def _events(client, session_id: str, texts: list[str], event_type: str = "message") -> list[str]:
    events = [{"event_type": event_type, "event_data": {"text": t}} for t in texts]
    return (await call(client, "archon_add_events", session_id=session_id, events=events))["ids"]


def _texts(results: dict) -> list[str]:
    return [r["event_data"].get("text") for r in results["results"]]


async def test_rare_terms_weigh_more_than_common_ones(client) -> None:
    """BM25's inverse document frequency: 'pottery' (one row) outweighs 'Priya' (every row)."""
    sid = await _session(client)
    filler = [f"Priya talked about the weather on day {i}" for i in range(60)]
    await _events(client, sid, [*filler, "Priya and Tomas talked", "Tomas signed up for a pottery class"])
    found = await call(client, "archon_search_events", query="Priya pottery", mode="keyword", limit=5)
    assert _texts(found)[0] == "Tomas signed up for a pottery class", _texts(found)


async def test_a_rare_term_is_found_among_more_common_rows_than_are_ranked(client) -> None:
    """More rows share the query's common words than a keyword query ranks (CANDIDATE_BUDGET): the
    one row with the rare term is still a candidate (rarest terms first), and comes first."""
    from archon_mcp.repositories.search import CANDIDATE_BUDGET

    sid = await _session(client)
    common = [f"deploy error in the staging cluster, attempt {i}" for i in range(CANDIDATE_BUDGET + 200)]
    for start in range(0, len(common), 400):
        await _events(client, sid, common[start : start + 400])
    await _events(client, sid, ["deploy error TASK-1482 in the staging cluster"])
    found = await call(client, "archon_search_events", query="deploy error rollback TASK-1482", mode="keyword")
    assert _texts(found)[0] == "deploy error TASK-1482 in the staging cluster", _texts(found)[:3]


async def test_the_rows_holding_most_common_query_words_are_ranked_when_they_do_not_all_fit(client) -> None:
    """Of the rows ranked per query (CANDIDATE_BUDGET, B), 'pottery's 0.9 B rows take 0.9 B: only
    0.1 B of the 1.1 B rows of 'rollback' can be. The one row that also holds 'deploy' (in 1.1 B
    rows too) is among them (the rest of the budget goes first to the rows that hold more of the
    query's words), and it ranks first. (Which 0.1 B an unordered scan would give is up to
    PostgreSQL.)"""
    from archon_mcp.repositories.search import CANDIDATE_BUDGET as B

    sid = await _session(client)
    rows = [f"signed up for pottery class {i}" for i in range(B * 9 // 10)]
    rows += [f"rollback planned {i}" for i in range(B * 11 // 10)]
    rows += [f"deploy finished for build {i}" for i in range(B * 11 // 10)]
    for start in range(0, len(rows), 400):
        await _events(client, sid, rows[start : start + 400])
    await _events(client, sid, ["plan a hike soon", "deploy then rollback of the billing service", "plan a hike"])
    found = await call(client, "archon_search_events", query="deploy rollback pottery", mode="keyword", limit=3)
    assert _texts(found)[0] == "deploy then rollback of the billing service", _texts(found)


async def test_bm25_scores_are_the_documented_formula(app, client) -> None:
    """The SQL's BM25 equals the formula of docs/SEARCH.md computed here from each row's lexemes:
    Lucene's idf, k1 and b, an occurrence in the row's context (the event before it) counting
    CONTEXT_WEIGHT of one in its own text, in the term frequency and in the document length; and so
    does the BM25 of each candidate's session (`session_bm25`, the evidence an event draws on)."""
    import math

    from archon_mcp.repositories import search as repo

    sid = await _session(client, metadata={"project": "billing"})
    await _events(client, sid, [
        "the billing deploy failed twice, deploy again",
        "rolled the billing deploy back",
        "the weather was nice",
        "deploy deploy deploy of the search service",
        "billing invoices are sent on Monday",
    ])  # fmt: skip
    await call(
        client, "archon_end_session", session_id=sid, summary="Fixed the billing deploy; a rollback was planned."
    )
    for summary in ("Planned the rollback of the search deploy.", "Wrote the billing invoices.", "Lunch."):
        other = await _session(client)
        await call(client, "archon_end_session", session_id=other, summary=summary)
    query = "billing deploy rollback"
    async with app.database.connect() as conn:
        stats = {table: await repo.table_stats(conn, table) for table in ("events", "sessions")}
        lexemes, df = await repo.lexemes_and_frequencies(conn, query, stats)
        idf = [repo.idf(stats["sessions"].rows, df["sessions"][lexeme]) for lexeme in lexemes]
        terms = repo.SessionTerms(lexemes, idf, stats["sessions"].avg_length)
        found = await repo.keyword_search(
            conn, "events", lexemes, df["events"], stats["events"], limit=10,
            filters=repo.SearchFilters(session_id=sid), extras=repo.Extras(session_terms=terms),
        )  # fmt: skip
        vectors: dict = {}
        for table in ("archon_session_events", "archon_sessions"):
            rows = await conn.execute(text(f"SELECT t.id, u.lexeme, u.weights FROM {table} t, unnest(t.search_tsv) u"))
            for row_id, lexeme, weights in rows.all():
                vectors.setdefault(row_id, {})[lexeme] = weights
    assert lexemes == ["bill", "deploy", "rollback"] and stats["events"].rows == 5 and stats["sessions"].rows == 4

    def reference(terms: dict[str, list[str]], table: str) -> float:
        own = sum(1 for weights in terms.values() if "A" in weights)
        context = sum(1 for weights in terms.values() if any(w != "A" for w in weights))
        length = own + repo.CONTEXT_WEIGHT * context
        total, rows = 0.0, stats[table].rows
        for lexeme in lexemes:
            weights = terms.get(lexeme, [])
            tf = sum(1.0 if w == "A" else repo.CONTEXT_WEIGHT for w in weights)
            if not tf:
                continue
            idf = math.log(1 + (rows - df[table][lexeme] + 0.5) / (df[table][lexeme] + 0.5))
            norm = repo.BM25_K1 * (1 - repo.BM25_B + repo.BM25_B * length / stats[table].avg_length)
            total += idf * tf * (repo.BM25_K1 + 1) / (tf + norm)
        return total

    events = {c.row.id: c for c in found}
    expected = {event_id: reference(vectors[event_id], "events") for event_id in events}
    assert {event_id: c.bm25 for event_id, c in events.items()} == pytest.approx(expected, rel=1e-9)
    assert len(found) == 5  # every row holds 'bill' in its context: the session's project
    assert not any(c.all_terms for c in found)  # no row holds 'rollback' ('rolled' is another lexeme)
    session_bm25 = reference(vectors[uuid.UUID(sid)], "sessions")
    assert session_bm25 > 0 and all(c.row.session_bm25 == pytest.approx(session_bm25, rel=1e-9) for c in found)


async def test_an_event_is_found_through_the_event_before_it(client) -> None:
    """An answer carries its question: 'Yes, last Saturday' is found by 'pottery workshop', after the
    question itself, and comes back exactly as it was stored."""
    sid = await _session(client)
    await call(
        client,
        "archon_add_event",
        session_id=sid,
        event_type="message",
        event_data={"speaker": "Tomas", "text": "Did you ever go to the pottery workshop downtown?"},
    )
    await call(
        client,
        "archon_add_event",
        session_id=sid,
        event_type="message",
        event_data={"speaker": "Priya", "text": "Yes, last Saturday, it was wonderful!"},
    )
    await _events(client, sid, ["We should plan a hike soon."])
    found = await call(client, "archon_search_events", query="pottery workshop", mode="keyword")
    assert _texts(found)[:2] == [
        "Did you ever go to the pottery workshop downtown?",
        "Yes, last Saturday, it was wonderful!",
    ]
    assert found["results"][1]["event_data"] == {"speaker": "Priya", "text": "Yes, last Saturday, it was wonderful!"}
    assert "We should plan a hike soon." not in _texts(found)


async def test_a_batch_gives_each_event_the_one_before_it_as_context(client) -> None:
    sid = await _session(client)
    await _events(client, sid, ["psycopg.errors.UndefinedTable raised by the nightly export", "fixed it, rerun passed"])
    found = await call(client, "archon_search_events", query="UndefinedTable", mode="keyword")
    assert _texts(found) == ["psycopg.errors.UndefinedTable raised by the nightly export", "fixed it, rerun passed"]


async def test_session_descriptors_are_part_of_an_events_context(client) -> None:
    sid = await _session(client, metadata={"title": "billing-api refactor", "day": 3})
    other = await _session(client, metadata={"title": "docs cleanup"})
    await _events(client, sid, ["renamed the module"])
    await _events(client, other, ["renamed the module"])
    found = await call(client, "archon_search_events", query="billing refactor", mode="keyword")
    assert [r["session_id"] for r in found["results"]] == [sid]


async def test_hybrid_finds_the_context_match_by_meaning_too(client) -> None:
    """The vector of an event carries its context as well: at the default threshold the answer to a
    question about the database migration is found although its own text never says so."""
    sid = await _session(client)
    await _events(
        client,
        sid,
        [
            "The alembic database migration failed on the production replica with a lock timeout",
            "Retried it at night with a smaller batch size and it went through",
        ],
    )
    found = await call(
        client, "archon_search_events", query="how was the database migration finally fixed", limit=5, threshold=0.0
    )
    assert "Retried it at night with a smaller batch size and it went through" in _texts(found)[:2], _texts(found)


async def test_an_event_next_to_a_strong_match_ranks_above_a_lone_one(client) -> None:
    """The fix and what it fixed, side by side: 'pinned the cache key' next to 'that fixed the flaky
    billing deploy' outranks a slightly better lone match on its own words elsewhere."""
    fixed = await _session(client)
    await _events(client, fixed, ["I pinned the cache key in the build script", "That fixed the flaky billing deploy"])
    other = await _session(client)
    await _events(client, other, ["I pinned the cache key in the billing build script", "Lunch was great today"])
    found = await call(
        client, "archon_search_events", query="cache key fix for the flaky billing deploy", threshold=0, limit=10
    )
    order = _texts(found)
    assert order.index("I pinned the cache key in the build script") < order.index(
        "I pinned the cache key in the billing build script"
    ), order


@pytest.mark.parametrize(
    ("data", "query", "named"),
    [
        ({"speaker": "Caroline", "text": "I bought new shoes"}, "What did Caroline buy?", True),
        ({"speaker": "Caroline"}, "what did CAROLINE's sister say", True),  # any case, split at "'"
        ({"file": "src/auth.py"}, "errors in src/auth.py since Monday", True),
        ({"task": "TASK-1482"}, "status of task 1482", True),  # split the same way on both sides
        ({"speaker": "Carol"}, "What did Caroline buy?", False),  # whole words only
        ({"speaker": "Caroline"}, "what did Carol buy", False),
        ({"note": "John Smith"}, "what did Smith John say", False),  # the value's words in order
        ({"text": "a value longer than forty characters: caroline"}, "caroline", False),
        ({"attempt": 3}, "the 3 failed deploys", False),  # strings only
        ({"nested": {"speaker": "Caroline"}}, "Caroline", False),  # top-level values only
        ({"speaker": "-"}, "a - b", False),  # nothing to name
        ({"speaker": "x"}, "x marks the spot", False),  # too short to name anything
        ({"passed": "no"}, "no errors at all", False),  # stop words name nothing
        ({"status": "done"}, "which tasks are done", True),
        ({"title": "fix the flaky billing deploy job now"}, "did we fix the flaky billing deploy job now?", True),
        ({"title": "fix the flaky billing deploy job now"}, "fix the flaky billing deploy job", False),  # all of it
        ({"speaker": "Caroline"}, "Caroline " + "and more words " * 140, True),  # anywhere in a long query
        ({"speaker": "Caroline"}, "", False),
        ([], "Caroline", False),
        ("Caroline", "Caroline", False),
        # Of a hostile event's thousands of keys, the first 64 in jsonb's order (shortest first) count.
        ({"a": "Caroline", **{f"key{i:04d}": "x y" for i in range(5000)}}, "Caroline", True),
        ({"speaker_of_it": "Caroline", **{f"key{i:04d}": "x y" for i in range(5000)}}, "Caroline", False),
    ],
    ids=lambda value: str(value)[:40],
)
async def test_which_values_a_query_names(app, data, query, named) -> None:
    """Migration 0006: a short top-level string value that the query holds as a run of consecutive
    words, both split and compared the way the keyword index splits (case aside)."""
    import json

    async with app.database.connect() as conn:
        found = await conn.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM unnest(archon_named_values(CAST(:data AS jsonb))) AS v "
                "WHERE strpos(' ' || archon_words(:query) || ' ', ' ' || v || ' ') > 0)"
            ),
            {"data": json.dumps(data), "query": query},
        )
    assert found is named


async def test_the_trigger_keeps_the_named_values_and_the_migration_fills_old_rows(app, client, admin_url) -> None:
    """Every write path gets `named_values` from the trigger (one event, a batch, an edit of the
    data through SQL), and upgrading a 0005 store fills the rows already there."""
    sid = await _session(client)
    one = (await call(client, "archon_add_event", session_id=sid, event_type="message",
                      event_data={"speaker": "Caroline", "text": "I went to the lake", "file": "src/auth.py"}))["id"]  # fmt: skip
    batch = (await call(client, "archon_add_events", session_id=sid, events=[
        {"event_type": "task_updated", "event_data": {"task": "TASK-1482", "status": "done", "passed": "no"}},
    ]))["ids"]  # fmt: skip
    async with app.database.engine.begin() as conn:
        await conn.execute(
            text("""UPDATE archon_session_events SET event_data = '{"speaker": "Melanie"}' WHERE id = :id"""),
            {"id": batch[0]},
        )
        rows = dict((await conn.execute(text("SELECT id::text, named_values FROM archon_session_events"))).all())
    assert sorted(rows[one]) == ["caroline", "i went to the lake", "src auth py"]  # a short text too
    assert rows[batch[0]] == ["melanie"]  # recomputed when the data changes

    async with _store_at(admin_url, "archon_upgrade_0006", "0005") as (database, old_sid):
        async with database.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO archon_session_events (session_id, event_type, event_data) VALUES "
                    """(:s, 'message', '{"speaker": "Jon", "text": "a text long enough to be no name of anything"}'),"""
                    """(:s, 'message', '{"text": "no short value in this one, only a long text"}')"""
                ),
                {"s": old_sid},
            )
        await database.upgrade("head")
        async with database.engine.connect() as conn:
            named = sorted((await conn.execute(text("SELECT named_values FROM archon_session_events"))).scalars())
        assert named == [[], ["jon"]]
        await database.upgrade("0005")  # the downgrade drops the column and the functions
        await database.upgrade("head")


async def test_the_events_of_the_one_a_query_names_rank_above_those_that_mention_it(app, client) -> None:
    """Both speak of the trip: 'what did Caroline say about the trip' finds Caroline's own words
    before Melanie's question that names her, and only because of the named-value bonus (without it
    the question, nearer in meaning, comes first)."""
    from archon_mcp.services._ranking import Weights

    for turns in (
        [{"speaker": "Melanie", "text": "Caroline, how was the trip?"}, {"speaker": "Melanie", "text": "Bread again"}],
        [{"speaker": "Caroline", "text": "The trip to the lake was calm"}, {"speaker": "Caroline", "text": "Bye!"}],
    ):
        sid = await _session(client)
        await call(client, "archon_add_events", session_id=sid,
                   events=[{"event_type": "message", "event_data": t} for t in turns])  # fmt: skip
    query = "what did Caroline say about the trip"

    async def speakers() -> list[str]:
        found = await call(client, "archon_search_events", query=query, threshold=0.0, limit=3)
        return [r["event_data"]["speaker"] + ": " + r["event_data"]["text"] for r in found["results"]]

    order = await speakers()
    assert order[0] == "Caroline: The trip to the lake was calm", order
    app.search.weights = Weights(named_value=0.0)
    try:
        order = await speakers()
    finally:
        app.search.weights = Weights()
    assert order[0] == "Melanie: Caroline, how was the trip?", order


async def test_a_time_named_in_the_query_ranks_rows_in_that_window_first(app, client) -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    app.search.clock = lambda: now
    sid = await _session(client)
    old, recent = await _events(
        client, sid, ["deploy failed: image pull backoff", "deploy failed: image pull backoff"], "error_encountered"
    )
    async with app.database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE archon_session_events SET timestamp = :t WHERE id = :id"),
            {"t": now - timedelta(days=40), "id": old},
        )
        await conn.execute(
            text("UPDATE archon_session_events SET timestamp = :t WHERE id = :id"),
            {"t": now - timedelta(days=1, hours=2), "id": recent},
        )
    found = await call(client, "archon_search_events", query="deploy failures yesterday", threshold=0.0, limit=2)
    assert [r["id"] for r in found["results"]] == [recent, old]
    found = await call(client, "archon_search_events", query="deploy failures in October", threshold=0.0, limit=2)
    assert [r["id"] for r in found["results"]] == [old, recent]
    # An explicit time filter wins over the words: no window then, only the filter.
    since = (now - timedelta(days=60)).isoformat()
    found = await call(client, "archon_search_events", query="deploy failures yesterday", threshold=0.0, since=since)
    assert {r["id"] for r in found["results"]} == {old, recent}


async def test_unrelated_queries_still_return_nothing_at_the_default_threshold(client) -> None:
    sid = await _session(client)
    await _events(
        client, sid, ["alembic upgrade failed with psycopg.errors.ForeignKeyViolation", "added ON DELETE CASCADE"]
    )
    await call(
        client, "archon_end_session", session_id=sid, summary="Fixed the foreign key migration of the events table"
    )
    assert (await call(client, "archon_search_events", query="quarterly marketing budget forecast"))["results"] == []
    assert (await call(client, "archon_search_sessions", query="quarterly marketing budget forecast"))["results"] == []
    found = await call(client, "archon_search_events", query="ForeignKeyViolation")
    assert _texts(found)[0] == "alembic upgrade failed with psycopg.errors.ForeignKeyViolation"


async def test_the_migration_indexes_existing_events_with_their_context(admin_url: str) -> None:
    """Upgrading a 0003 store builds the new keyword index for the rows already there, in order."""
    async with _store_at(admin_url, "archon_upgrade_0004", "0003") as (database, sid):
        async with database.engine.begin() as conn:
            for i, words in enumerate(["the pottery workshop question", "yes it was great"]):
                await conn.execute(
                    text(
                        "INSERT INTO archon_session_events (session_id, event_type, event_data, timestamp) "
                        "VALUES (:s, 'message', jsonb_build_object('text', CAST(:w AS text)), now() + make_interval(secs => :i))"
                    ),
                    {"s": sid, "w": words, "i": i},
                )
        await database.upgrade("head")
        async with database.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT event_data ->> 'text', search_tsv @@ to_tsquery('simple', 'potteri') "
                        "FROM archon_session_events ORDER BY timestamp"
                    )
                )
            ).all()
        assert rows == [("the pottery workshop question", True), ("yes it was great", True)]
        await database.upgrade("0003")  # the downgrade restores the generated column
        await database.upgrade("head")


async def test_stale_keyword_statistics_are_refreshed_behind_the_search(app, client, monkeypatch) -> None:
    """Past their TTL the table statistics are recomputed on the side: the search that finds them
    old answers with the last ones and does not wait for the refresh."""
    from archon_mcp.repositories import search as repo
    from archon_mcp.services import search as service_module

    sid = await _session(client)
    await _events(client, sid, ["the deploy of the billing service failed", "rolled the billing deploy back"])
    first = await call(client, "archon_search_events", query="billing deploy", mode="keyword")
    assert first["results"]

    real = repo.table_stats
    release = anyio.Event()
    calls: list[str] = []

    async def slow_stats(conn, table, **kwargs):
        calls.append(table)
        await release.wait()  # a refresh that takes as long as the test wants
        return await real(conn, table, **kwargs)

    monkeypatch.setattr(repo, "table_stats", slow_stats)
    monkeypatch.setattr(service_module, "STATS_TTL_SECONDS", 0.0)
    again = await call(client, "archon_search_events", query="billing deploy", mode="keyword")
    assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]]  # answered, refresh pending
    assert calls == ["events"]
    before = app.search._stats["events"][0]
    release.set()
    refresh = app.search._refreshing.get("events")
    if refresh is not None:
        await refresh
    assert app.search._stats["events"][0] > before


async def test_keyword_rows_rank_the_same_whether_bm25_waited_for_the_query_vector_or_not(
    app, client, monkeypatch
) -> None:
    """BM25 returns its rows' cosines itself when the query's vector comes within
    VECTOR_WAIT_SECONDS, else they are looked up after it (a slow provider is not waited for): the
    results are the same either way."""
    from archon_mcp.services import search as service_module

    sid = await _session(client, metadata={"project": "billing"})
    other = await _session(client, metadata={"project": "search"})
    await _events(client, sid, ["the billing deploy failed", "rolled the billing deploy back", "lunch at noon"])
    await _events(client, other, ["deploy of the search index", "the index deploy is slow", "billing is fine"])
    query = {"query": "billing deploy rollback", "threshold": 0.0}
    with_vector: list[bool] = []
    real = service_module.repo.keyword_search

    async def spied(conn, table, *args, **kwargs):
        with_vector.append(kwargs["extras"].vector is not None)
        return await real(conn, table, *args, **kwargs)

    monkeypatch.setattr(service_module.repo, "keyword_search", spied)
    monkeypatch.setattr(service_module, "VECTOR_WAIT_SECONDS", 30.0)
    waited = await call(client, "archon_search_events", **query)
    monkeypatch.setattr(service_module, "VECTOR_WAIT_SECONDS", 0.05)
    app.search._query_cache.clear()  # the vector is made again, by a provider slower than the wait
    embed = app.search._embedder.embed

    async def slow_embed(texts):
        await anyio.sleep(0.3)
        return await embed(texts)

    monkeypatch.setattr(app.search._embedder, "embed", slow_embed)
    looked_up = await call(client, "archon_search_events", **query)
    assert with_vector == [True, False]  # BM25 had the vector the first time, not the second
    assert len(waited["results"]) == 6
    assert [(r["id"], r["score"], r["similarity"]) for r in looked_up["results"]] == [
        (r["id"], r["score"], r["similarity"]) for r in waited["results"]
    ]
    assert all(r["similarity"] > 0 for r in waited["results"])  # every keyword row has its cosine
