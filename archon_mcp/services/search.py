"""Hybrid search over sessions and events: vector (pgvector) and keyword (BM25 in PostgreSQL), fused.

- `semantic`: nearest vectors; a result needs `similarity >= threshold`; ordered by similarity.
- `keyword`: BM25 over the full-text index (repositories/search.py); `threshold` is not applied
  (a keyword hit is a hit); ordered by BM25.
- `hybrid` (default): both candidate lists, ordered by services/_ranking.py: similarity and BM25
  mixed, each event drawing on its session's match and on its neighbours in the session, each
  session on its best events, rows in a time window the query names ("last week") first. A
  result needs `similarity >= threshold` or a match on every query term, so exact identifiers are
  found even when the embedding misses them, and weak partial word overlaps are not padding.

`similarity` is always the calibrated cosine similarity (0 when the row has no vector yet); `score`
(0..1) orders the results.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from archon_mcp.config import Settings
from archon_mcp.db import Database
from archon_mcp.embeddings import Embedder, calibrate
from archon_mcp.errors import EmbeddingError
from archon_mcp.repositories import embeddings as queue
from archon_mcp.repositories import search as repo
from archon_mcp.repositories.search import Candidate, Extras, SearchFilters, SessionTerms, TableStats, optional_float
from archon_mcp.schemas import (
    EventHit,
    EventSearchResults,
    MatchSource,
    SearchMode,
    SessionHit,
    SessionSearchResults,
)
from archon_mcp.services import _ranking as ranking
from archon_mcp.services._convert import event_fields, session_fields
from archon_mcp.services._when import Window, query_window
from archon_mcp.services.embedding_worker import EmbeddingWorker

log = logging.getLogger(__name__)

QUERY_CACHE_SIZE = 256
# Candidates taken from each list (nearest vectors, BM25) before fusion, whatever `limit` is: a row
# that one signal ranks 40th can be the fused first, and `limit=10` must order like `limit=25`.
MIN_POOL = 100
# BM25's table statistics (row count, mean length, common lexemes) are re-read this often: they
# move slowly, and reading them costs a scan of the planner statistics or a sample.
STATS_TTL_SECONDS = 30.0
# How long BM25, once it has the query's lexemes, waits for the query's vector so as to return its
# rows' cosines itself (the local model embeds a query in 5-10 ms, a remote provider in 100+).
VECTOR_WAIT_SECONDS = 0.015


@dataclass
class Hit:
    """One candidate row with everything that orders it."""

    row: Any  # a light row (repositories/search.py: EVENT_KEYS, SESSION_KEYS)
    cosine: float | None = None
    bm25: float = 0.0
    all_terms: bool = False
    names_value: bool = False  # events: the query names one of its values
    matched_by: list[MatchSource] = field(default_factory=list)
    match: float = 0.0  # its own match (services/_ranking.py)
    score: float = 0.0

    def absorb(self, candidate: Candidate, source: MatchSource) -> None:
        if candidate.cosine is not None:
            self.cosine = candidate.cosine if self.cosine is None else max(self.cosine, candidate.cosine)
        self.bm25 = max(self.bm25, candidate.bm25)
        self.all_terms = self.all_terms or candidate.all_terms
        self.names_value = self.names_value or candidate.names_value
        if source not in self.matched_by:
            self.matched_by.append(source)


def _fuse(lists: Iterable[tuple[MatchSource, list[Candidate]]]) -> dict[Any, Hit]:
    fused: dict[Any, Hit] = {}
    for source, candidates in lists:
        for candidate in candidates:
            entry = fused.setdefault(candidate.row.id, Hit(row=candidate.row))
            entry.absorb(candidate, source)
    return fused


@dataclass
class EventPool:
    """Everything the ranking of one event search needs (bench/locomo_tune.py re-ranks it)."""

    mode: str
    threshold: float
    limit: int
    window: Window | None
    events: dict[Any, Hit]
    sessions: dict[Any, Hit]  # the matches of the events' sessions (summary, metadata)
    pending: int = 0
    notice: str | None = None
    query: str = ""
    neighbours: dict[Any, tuple[Any, Any]] = field(default_factory=dict)  # event id -> (previous, next) ids


@dataclass
class SessionPool:
    mode: str
    threshold: float
    limit: int
    window: Window | None
    sessions: dict[Any, Hit]
    events: dict[Any, Hit]
    pending: int = 0
    notice: str | None = None
    query: str = ""


def _summary(pool: EventPool | SessionPool) -> dict[str, Any]:
    """What a result list says besides its hits."""
    return {
        "query": pool.query,
        "mode": pool.mode,
        "threshold": pool.threshold,
        "pending_embeddings": pool.pending,
        "notice": pool.notice,
    }


class Lexemes(NamedTuple):
    """A query's lexemes, their document frequency per table, and the tables' BM25 statistics."""

    lexemes: list[str]
    df: dict[str, dict[str, float]]
    stats: dict[str, TableStats]

    def session_terms(self) -> SessionTerms:
        """The lexemes weighed for the sessions table: what each candidate event's session BM25 needs."""
        sessions = self.stats["sessions"]
        idf = [repo.idf(sessions.rows, self.df["sessions"][lexeme]) for lexeme in self.lexemes]
        return SessionTerms(self.lexemes, idf, sessions.avg_length)


class SessionKey(NamedTuple):
    """A session's light row (repositories/search.SESSION_KEYS) as an event candidate brings it."""

    id: uuid.UUID
    started_at: datetime


def _in_range(moment: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or moment >= since) and (until is None or moment < until)


def _in_window(moment: datetime | None, window: Window | None) -> bool:
    return window is not None and moment is not None and window[0] <= moment < window[1]


class SearchService:
    def __init__(
        self, database: Database, embedder: Embedder, worker: EmbeddingWorker | None, settings: Settings
    ) -> None:
        self._db = database
        self._embedder = embedder
        self._worker = worker
        self._settings = settings
        self._query_cache: dict[str, list[float]] = {}
        self._stats: dict[str, tuple[float, TableStats]] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self.weights = ranking.DEFAULT_WEIGHTS
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    # --- shared steps --------------------------------------------------------------------------
    def _window(self, text: str, since: datetime | None, until: datetime | None) -> Window | None:
        """A time the query names ranks rows in it higher, unless the caller filtered by time."""
        if since is not None or until is not None:
            return None
        return query_window(text, self.clock())

    async def _query_vector(self, text: str, mode: str) -> tuple[list[float] | None, str | None]:
        """The query's vector, or (in hybrid mode) None and a notice when the provider is down."""
        if mode == "keyword":
            return None, None
        try:
            vector = await self._cached_vector(text[: self._settings.embedding_max_chars])
        except Exception as exc:
            if mode == "semantic":
                raise EmbeddingError(
                    f"could not embed the search query, so semantic search is unavailable: {exc}. "
                    "Retry later or use mode='keyword'"
                ) from exc
            log.warning("query embedding failed, keyword results only: %s", exc)
            return None, f"semantic search unavailable ({exc}); these are keyword matches only"
        # Read-your-writes: rows this server just stored are embedded before we look.
        if self._worker is not None and self._settings.search_wait_for_pending > 0:
            await self._worker.wait_idle(self._settings.search_wait_for_pending)
        return vector, None

    async def _cached_vector(self, text: str) -> list[float]:
        """Agents repeat queries: keep the last few hundred query vectors (20-100 ms each to make)."""
        vector = self._query_cache.pop(text, None)
        if vector is None:
            vector = (await self._embedder.embed([text]))[0]
        self._query_cache[text] = vector  # most recent last
        while len(self._query_cache) > QUERY_CACHE_SIZE:
            self._query_cache.pop(next(iter(self._query_cache)))
        return vector

    async def _table_stats(self, conn, table: str) -> TableStats:
        """BM25's statistics of a table, cached per process. A value older than STATS_TTL_SECONDS is
        still used while a fresh one is computed on a connection of its own: only a process's first
        search waits for them (11-33 ms at 100k events), not the first search after each 30 s."""
        cached = self._stats.get(table)
        if cached is None:
            stats = await repo.table_stats(conn, table)
            self._stats[table] = (time.monotonic(), stats)
            return stats
        if time.monotonic() - cached[0] > STATS_TTL_SECONDS and table not in self._refreshing:
            task = asyncio.create_task(self._refresh_stats(table), name=f"archon-stats-{table}")
            self._refreshing[table] = task
            task.add_done_callback(lambda _: self._refreshing.pop(table, None))
        return cached[1]

    async def _refresh_stats(self, table: str) -> None:
        try:
            stats = await self._on_own_connection(repo.table_stats, table)
        except Exception as exc:  # the last value stays; the next search after the TTL tries again
            log.warning("could not refresh the keyword statistics of %s: %s", table, exc)
            return
        self._stats[table] = (time.monotonic(), stats)

    def _pool(self, limit: int) -> int:
        return max(limit * 4, MIN_POOL)

    def _similarity(self, cosine: float | None) -> float:
        return 0.0 if cosine is None else round(calibrate(self._embedder.model, cosine), 4)

    def _keep(self, entry: Hit, mode: str, threshold: float) -> bool:
        if mode == "keyword":
            return True
        if self._similarity(entry.cosine) >= threshold:
            return True
        return mode == "hybrid" and entry.all_terms

    def _match_all(self, hits: dict[Any, Hit], mode: str, weights: ranking.Weights) -> None:
        """Each row's own match: similarity and BM25 mixed (hybrid), or the one signal of the mode."""
        top = ranking.best(h.bm25 for h in hits.values())
        if mode == "hybrid" and weights.rrf_k > 0:
            with_vector = [(h.cosine, h) for h in hits.values() if h.cosine is not None]
            by_similarity = [h for _, h in sorted(with_vector, key=lambda pair: -pair[0])]
            by_keyword = sorted((h for h in hits.values() if h.bm25 > 0), key=lambda h: -h.bm25)
            s_rank = {id(h): i for i, h in enumerate(by_similarity)}
            k_rank = {id(h): i for i, h in enumerate(by_keyword)}
            for h in hits.values():
                h.match = ranking.rrf_match(s_rank.get(id(h)), k_rank.get(id(h)), weights)
            return
        for h in hits.values():
            similarity = self._similarity(h.cosine)
            if mode == "semantic":
                h.match = similarity
            elif mode == "keyword":
                h.match = h.bm25 / top if top > 0 else 0.0
            else:
                h.match = ranking.match(similarity, h.bm25, top, weights)

    def _top(self, hits: Iterable[Hit], limit: int) -> list[Hit]:
        ranked = sorted(hits, key=lambda h: (h.score, self._similarity(h.cosine), str(h.row.id)), reverse=True)
        return ranked[:limit]

    async def _on_own_connection(self, lookup: Callable[..., Any], *args: Any) -> Any:
        """One read on a pooled connection of its own, so that independent lookups run side by side."""
        async with self._db.connect() as conn:
            return await lookup(conn, *args)

    async def _pending(self, table: Literal["events", "sessions"]) -> int:
        return (await self._on_own_connection(queue.pending_counts))[table]

    async def _semantic(
        self, table: Literal["events", "sessions"], vector: list[float] | None, pool: int, filters, extras: Extras
    ) -> list:
        """Nearest rows by vector, with the HNSW search widened to the pool and the table's size (a
        transaction: SET LOCAL)."""
        if vector is None:
            return []
        search = repo.semantic_events if table == "events" else repo.semantic_sessions
        async with self._db.begin() as conn:
            stats = await self._table_stats(conn, table)
            await repo.tune_hnsw(conn, pool, stats.rows)
            return await search(
                conn, vector, model_name=self._embedder.model, limit=pool, filters=filters, extras=extras
            )

    async def _lexemes(self, text: str, tables: tuple[str, ...]) -> Lexemes:
        """The query's lexemes and their document frequencies in each table, in one statement."""
        async with self._db.connect() as conn:
            stats = {table: await self._table_stats(conn, table) for table in tables}
            lexemes, df = await repo.lexemes_and_frequencies(conn, text, stats)
            return Lexemes(lexemes, df, stats)

    async def _keyword(
        self, table: Literal["events", "sessions"], lexemes: list[str], df: dict[str, float], pool: int, filters, extras
    ) -> list[Candidate]:
        """BM25 candidates (light rows, with `extras`), on a connection of its own."""
        if not lexemes:
            return []
        async with self._db.connect() as conn:
            stats = await self._table_stats(conn, table)
            return await repo.keyword_search(
                conn, table, lexemes, df, stats, limit=pool, filters=filters, extras=extras
            )

    async def _with_cosines(
        self,
        table: Literal["events", "sessions"],
        candidates: list[Candidate],
        extras: Extras,
        known: set[Any],
        scored: bool = False,
    ) -> tuple[list[Candidate], dict[Any, float | None]]:
        """Keyword candidates with their cosine to the query (`extras.vector`), except those the
        vector search returned (fusion takes theirs from there), and for events that want them their
        sessions' cosines: (candidates, session id -> cosine). `scored`: the keyword statement had
        the vector and returned both with each row, so nothing is looked up."""
        if scored:
            if not extras.session_cosine:
                return candidates, {}
            return candidates, {c.row.session_id: optional_float(c.row.session_cosine) for c in candidates}
        ids = [c.row.id for c in candidates if c.row.id not in known]
        if not ids or extras.vector is None:
            return candidates, {}
        found = await self._on_own_connection(repo.cosines, table, ids, extras)
        updated = [dataclasses.replace(c, cosine=found[c.row.id][0]) if c.row.id in found else c for c in candidates]
        if not extras.session_cosine:
            return updated, {}
        return updated, {c.row.session_id: found[c.row.id][1] for c in candidates if c.row.id in found}

    async def _vector_soon(
        self, embedding: asyncio.Future[tuple[list[float] | None, str | None]]
    ) -> list[float] | None:
        """The query's vector if it is ready within VECTOR_WAIT_SECONDS, else None (without stopping
        its making): a keyword statement that has it returns its rows' cosines too, one statement
        after fusion fewer; a slow embedding (a remote provider) is not waited for."""
        try:
            vector, _ = await asyncio.wait_for(asyncio.shield(embedding), VECTOR_WAIT_SECONDS)
        except TimeoutError:
            return None
        except Exception:  # the search itself reports it
            return None
        return vector

    @staticmethod
    async def _cancel(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
        started = [task for task in tasks if task is not None and not task.done()]
        for task in started:
            task.cancel()
        await asyncio.gather(*started, return_exceptions=True)

    # --- events --------------------------------------------------------------------------------
    async def search_events(
        self,
        *,
        query: str,
        limit: int = 10,
        threshold: float = 0.7,
        session_id: uuid.UUID | None = None,
        event_type: str | None = None,
        agent: str | None = None,
        project_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        mode: SearchMode = "hybrid",
    ) -> EventSearchResults:
        """Events by meaning and keywords, best first."""
        pool = await self.collect_events(
            query=query,
            limit=limit,
            threshold=threshold,
            session_id=session_id,
            event_type=event_type,
            agent=agent,
            project_id=project_id,
            since=since,
            until=until,
            mode=mode,
        )
        ranked = self.rank_events(pool)
        rows = await self._on_own_connection(repo.events_by_id, [e.row.id for e in ranked])
        hits = [
            EventHit(
                **event_fields(row),
                agent=row.agent,
                similarity=self._similarity(e.cosine),
                score=round(e.score, 4),
                matched_by=e.matched_by,
            )
            for e in ranked
            if (row := rows.get(e.row.id)) is not None  # deleted since it was a candidate
        ]
        return EventSearchResults(results=hits, **_summary(pool))

    async def collect_events(
        self,
        *,
        query: str,
        limit: int = 10,
        threshold: float = 0.7,
        session_id: uuid.UUID | None = None,
        event_type: str | None = None,
        agent: str | None = None,
        project_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        mode: SearchMode = "hybrid",
    ) -> EventPool:
        """The candidate events of a search and their sessions' matches, before ordering (arguments
        validated by `schemas.SearchEventsRequest`)."""
        filters = SearchFilters(
            session_id=session_id,
            event_type=event_type,
            agent=agent,
            project_id=project_id,
            since=since,
            until=until,
        )
        text, lim, thr = query.strip(), limit, threshold
        pool = self._pool(lim)
        # Each candidate event draws on its own session's match (not a search over sessions) and on
        # its neighbours in the session.
        hybrid = mode == "hybrid"
        evidence = hybrid and filters.session_id is None
        # In hybrid mode each candidate also says whether the query names one of its values.
        extras = Extras(neighbours=hybrid, session_cosine=evidence, query_text=text if hybrid else None)
        tables = ("events", "sessions") if evidence else ("events",)

        model = self._embedder.model
        embedding = asyncio.create_task(self._query_vector(text, mode))
        lexemes_found = asyncio.create_task(self._lexemes(text, tables)) if mode != "semantic" else None

        def with_terms(query: Lexemes) -> Extras:
            """With the query's lexemes, each candidate event brings its session's BM25 along."""
            if not (evidence and query.lexemes):
                return extras
            return dataclasses.replace(extras, session_terms=query.session_terms())

        async def keyword() -> tuple[list[Candidate], bool]:
            assert lexemes_found is not None
            query = await lexemes_found
            vector = await self._vector_soon(embedding)
            ask = with_terms(query).with_query(vector, model)
            found = await self._keyword("events", query.lexemes, query.df["events"], pool, filters, ask)
            return found, vector is not None

        # BM25 runs on its own connection while the query is embedded and the vector search runs;
        # so does the count of rows still waiting for a vector, once the search has waited for them.
        found = asyncio.create_task(keyword()) if lexemes_found is not None else None
        backlog: asyncio.Task[int] | None = None
        try:
            vector, notice = await asyncio.shield(embedding)
            backlog = asyncio.create_task(self._pending("events"))
            query_lexemes = await lexemes_found if lexemes_found is not None else Lexemes([], {}, {})
            semantic = await self._semantic("events", vector, pool, filters, with_terms(query_lexemes))
            keyword_events, scored = await found if found is not None else ([], True)
            # Unless BM25 had the query's vector, the keyword-only rows' cosines (and their
            # sessions') are looked up now, beside the count of the backlog.
            with_vector = extras.with_query(vector, model)
            semantic_ids = {c.row.id for c in semantic}
            (keyword_events, session_cosines), pending = await asyncio.gather(
                self._with_cosines("events", keyword_events, with_vector, semantic_ids, scored), backlog
            )
            lists: list[tuple[MatchSource, list[Candidate]]] = []
            if vector is not None:
                lists.append(("semantic", semantic))
            if found is not None:
                lists.append(("keyword", keyword_events))
            events = _fuse(lists)
        except BaseException:
            await self._cancel((found, backlog, embedding, lexemes_found))
            raise
        sessions: dict[Any, Hit] = {}
        if evidence:
            candidates = [*semantic, *keyword_events]
            if vector is not None:
                session_cosines.update((c.row.session_id, c.row.session_cosine) for c in semantic)
            with_bm25 = bool(query_lexemes.lexemes)
            sessions = {
                c.row.session_id: Hit(
                    row=None,
                    cosine=session_cosines.get(c.row.session_id),
                    bm25=float(c.row.session_bm25 or 0.0) if with_bm25 else 0.0,
                )
                for c in candidates
            }
        neighbours: dict[Any, tuple[Any, Any]] = {}
        if extras.neighbours:
            neighbours = {c.row.id: (c.row.previous, c.row.next) for c in [*semantic, *keyword_events]}
        window = self._window(text, filters.since, filters.until) if mode == "hybrid" else None
        return EventPool(mode, thr, lim, window, events, sessions, pending, notice, text, neighbours)

    def rank_events(self, pool: EventPool, weights: ranking.Weights | None = None) -> list[Hit]:
        weights = weights or self.weights
        self._match_all(pool.events, pool.mode, weights)
        self._match_all(pool.sessions, pool.mode, weights)
        time_bonus = weights.time if pool.window is not None else 0.0
        hybrid = pool.mode == "hybrid"
        all_terms_bonus, named_bonus = (weights.all_terms, weights.named_value) if hybrid else (0.0, 0.0)
        kept = [e for e in pool.events.values() if self._keep(e, pool.mode, pool.threshold)]
        for e in kept:
            session = pool.sessions.get(e.row.session_id)
            evidence = session.match if session is not None else 0.0
            weight = weights.session if pool.sessions else 0.0
            bonuses = (
                (_in_window(e.row.timestamp, pool.window), time_bonus),
                (e.all_terms, all_terms_bonus),
                (e.names_value, named_bonus),
            )
            e.score = ranking.with_evidence(e.match, evidence, weight, bonuses)
        if pool.neighbours and weights.neighbour > 0:
            scores = {e.row.id: e.score for e in kept}
            for e in kept:
                around = ranking.neighbour_scores(e.row.id, scores, pool.neighbours, weights.far_neighbour)
                e.score = ranking.with_neighbours(scores[e.row.id], around, weights.neighbour)
        return self._top(kept, pool.limit)

    # --- sessions ------------------------------------------------------------------------------
    async def search_sessions(
        self,
        *,
        query: str,
        limit: int = 10,
        threshold: float = 0.7,
        agent: str | None = None,
        project_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        active_only: bool = False,
        mode: SearchMode = "hybrid",
    ) -> SessionSearchResults:
        """Sessions by meaning and keywords, best first."""
        pool = await self.collect_sessions(
            query=query,
            limit=limit,
            threshold=threshold,
            agent=agent,
            project_id=project_id,
            since=since,
            until=until,
            active_only=active_only,
            mode=mode,
        )
        ranked = self.rank_sessions(pool)
        rows = await self._on_own_connection(repo.sessions_by_id, [s.row.id for s in ranked])
        hits = [
            SessionHit(
                **session_fields(row),
                similarity=self._similarity(s.cosine),
                score=round(s.score, 4),
                matched_by=s.matched_by,
            )
            for s in ranked
            if (row := rows.get(s.row.id)) is not None  # deleted since it was a candidate
        ]
        return SessionSearchResults(results=hits, **_summary(pool))

    async def collect_sessions(
        self,
        *,
        query: str,
        limit: int = 10,
        threshold: float = 0.7,
        agent: str | None = None,
        project_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        active_only: bool = False,
        mode: SearchMode = "hybrid",
    ) -> SessionPool:
        """The candidate sessions of a search, before ordering (arguments validated by
        `schemas.SearchSessionsRequest`)."""
        filters = SearchFilters(agent=agent, project_id=project_id, since=since, until=until, active_only=active_only)
        text, lim, thr = query.strip(), limit, threshold
        pool = self._pool(lim)
        model = self._embedder.model
        # Events vote for their session; time filters apply to the session's start, not the event.
        event_filters = SearchFilters(
            agent=filters.agent, project_id=filters.project_id, active_only=filters.active_only
        )

        # An event candidate brings its session's start and cosine: the sessions found only through
        # their events need no statement of their own.
        event_extras = Extras(session_cosine=True, session_started=True)
        embedding = asyncio.create_task(self._query_vector(text, mode))
        lexemes_found = asyncio.create_task(self._lexemes(text, ("sessions", "events"))) if mode != "semantic" else None

        async def keyword() -> tuple[list[Candidate], list[Candidate], bool]:
            assert lexemes_found is not None
            lexemes, df, _ = await lexemes_found
            vector = await self._vector_soon(embedding)
            sessions_extras, events_extras = Extras().with_query(vector, model), event_extras.with_query(vector, model)
            sessions, events = await asyncio.gather(
                self._keyword("sessions", lexemes, df["sessions"], pool, filters, sessions_extras),
                self._keyword("events", lexemes, df["events"], pool, event_filters, events_extras),
            )
            return sessions, events, vector is not None

        # BM25 over sessions and over events, each on its own connection, while the query is
        # embedded and the vector searches run.
        found = asyncio.create_task(keyword()) if lexemes_found is not None else None
        backlog: asyncio.Task[int] | None = None
        try:
            vector, notice = await asyncio.shield(embedding)
            backlog = asyncio.create_task(self._pending("sessions"))  # after the wait for them
            semantic, semantic_events = await asyncio.gather(
                self._semantic("sessions", vector, pool, filters, Extras()),
                self._semantic("events", vector, pool, event_filters, event_extras),
            )
            keyword_sessions, keyword_events, scored = await found if found is not None else ([], [], True)
            # Unless BM25 had the query's vector, the keyword-only rows' cosines (and for events
            # their sessions') are looked up now, beside the count of the backlog.
            extras = Extras().with_query(vector, model)
            (keyword_sessions, _), (keyword_events, session_cosines), pending = await asyncio.gather(
                self._with_cosines("sessions", keyword_sessions, extras, {c.row.id for c in semantic}, scored),
                self._with_cosines(
                    "events", keyword_events, dataclasses.replace(extras, session_cosine=True),
                    {c.row.id for c in semantic_events}, scored,
                ),
                backlog,
            )  # fmt: skip
            lists: list[tuple[MatchSource, list[Candidate]]] = []
            event_lists: list[tuple[MatchSource, list[Candidate]]] = []
            if vector is not None:
                lists.append(("semantic", semantic))
                event_lists.append(("semantic", semantic_events))
                session_cosines.update(
                    (c.row.session_id, optional_float(c.row.session_cosine)) for c in semantic_events
                )
            if found is not None:
                lists.append(("keyword", keyword_sessions))
                event_lists.append(("keyword", keyword_events))
            sessions = _fuse(lists)
            events = _fuse(event_lists)
        except BaseException:
            await self._cancel((found, backlog, embedding, lexemes_found))
            raise
        # The sessions found only through their events, those that pass the time filters (the others
        # were applied to the events).
        for c in [*semantic_events, *keyword_events]:
            started = c.row.session_started_at
            if c.row.session_id in sessions or not _in_range(started, filters.since, filters.until):
                continue
            key = SessionKey(id=c.row.session_id, started_at=started)
            sessions[key.id] = Hit(row=key, cosine=session_cosines.get(key.id))
        window = self._window(text, filters.since, filters.until) if mode == "hybrid" else None
        return SessionPool(mode, thr, lim, window, sessions, events, pending, notice, text)

    def rank_sessions(self, pool: SessionPool, weights: ranking.Weights | None = None) -> list[Hit]:
        weights = weights or self.weights
        self._match_all(pool.sessions, pool.mode, weights)
        self._match_all(pool.events, pool.mode, weights)
        best_event: dict[uuid.UUID, Hit] = {}
        for e in pool.events.values():
            if not self._keep(e, pool.mode, pool.threshold):
                continue
            current = best_event.get(e.row.session_id)
            if current is None or e.match > current.match:
                best_event[e.row.session_id] = e
        time_bonus = weights.time if pool.window is not None else 0.0
        kept = []
        for sid, s in pool.sessions.items():
            event = best_event.get(sid)
            if event is not None and "events" not in s.matched_by:
                s.matched_by.append("events")
                s.all_terms = s.all_terms or event.all_terms
            if not (self._keep(s, pool.mode, pool.threshold) or event is not None):
                continue
            in_window = _in_window(s.row.started_at, pool.window) or (
                event is not None and _in_window(event.row.timestamp, pool.window)
            )
            evidence = event.match if event is not None else 0.0
            s.score = ranking.with_evidence(s.match, evidence, weights.events, ((in_window, time_bonus),))
            kept.append(s)
        return self._top(kept, pool.limit)
